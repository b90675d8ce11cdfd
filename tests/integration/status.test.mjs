// The admin pages on the HTTP/WebSocket port (issue #6): /status.json lists
// the registrations made over WebSocket and UDP with their fields, /metrics
// is valid Prometheus text (format 0.0.4, checked line by line here) whose
// counters follow the traffic (REGISTER, MESSAGE, calls made by
// `wsip bench call`, WebSocket pings and closes), /status is the embedded
// HTML page; admin.allowed_networks refuses other addresses (403) and
// admin.password asks for HTTP Basic credentials (401), both applied again
// on SIGHUP; status.json stays valid JSON while connections come and go.
//
// The raw user agents are rawua.mjs's; every wait is bounded and nothing
// here asserts a time.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { metric, parseMetrics } from './metrics.mjs';
import { DOMAIN, PASSWORD, Ua as RawUa, closeAll, usersDb } from './rawua.mjs';
import { httpExchange, OP, RawWs, runWsip, sleep, startServer, stopAllAfter, SUITE, T_REPLY, tmpDir, wait, WSIP_BIN } from './server.mjs';

const execFileP = promisify(execFile);
const servers = [];
stopAllAfter(servers, closeAll);

/** User-Agent of the requests: quotes and a backslash, to be escaped in JSON. */
class Ua extends RawUa {
  static userAgent = 'wsip-status-test "q" \\ 1.0';
  static contentType = 'text/plain;charset=UTF-8';
}

/** A database with users (PASSWORD) and bench1..bench4 for `wsip bench`. */
function makeDb(users) {
  const db = usersDb(users, 'status');
  const r = runWsip(['user', 'add', '--bulk', `bench@${DOMAIN}`, '4', '--password', PASSWORD, '--db', db]);
  assert.equal(r.code, 0, `wsip user add --bulk: ${r.stderr}`);
  return db;
}

// ------------------------------------------------------------------ HTTP

function basic(user, password) {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

/** One request on a new connection: the response ({status, header(), body}). */
async function http(srv, target, o = {}) {
  const lines = [`${o.method || 'GET'} ${target} HTTP/1.1`, 'Host: 127.0.0.1'];
  if (o.auth) lines.push(`Authorization: ${o.auth}`);
  const { res, sock, reader } = await httpExchange(srv.port('ws'), `${lines.join('\r\n')}\r\n\r\n`);
  assert.ok(res, `no HTTP response to ${o.method || 'GET'} ${target}`);
  // every admin answer ends with the connection: nothing may follow it
  assert.ok(await reader.waitClosed(), `${target}: connection left open`);
  assert.equal(reader.buf.length, 0, `${target}: ${reader.buf.length} bytes after the response`);
  sock.destroy();
  return res;
}

async function statusJson(srv, o = {}) {
  const res = await http(srv, '/status.json', o);
  assert.equal(res.status, 200, `/status.json: ${res.statusLine}\n${res.body}`);
  assert.equal(res.header('content-type'), 'application/json');
  assert.equal(res.header('cache-control'), 'no-store');
  assert.equal(Number(res.header('content-length')), res.body.length);
  return JSON.parse(res.body.toString('utf8'));
}

async function metrics(srv, o = {}) {
  const res = await http(srv, '/metrics', o);
  assert.equal(res.status, 200, `/metrics: ${res.statusLine}\n${res.body}`);
  assert.equal(res.header('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  assert.equal(res.header('cache-control'), 'no-store');
  return parseMetrics(res.body.toString('utf8'));
}

/** Polls status.json until pred(doc) holds (bounded); returns the last doc. */
async function waitStatus(srv, pred, what, ms = T_REPLY) {
  const end = Date.now() + ms;
  for (;;) {
    const d = await statusJson(srv);
    if (pred(d)) return d;
    assert.ok(Date.now() < end, `${what}: not seen within ${ms} ms; last status.json:\n${JSON.stringify(d, null, 1)}`);
    await sleep(100);
  }
}

/** `wsip bench ARGS` in a child process (never blocking this event loop,
 * whose WebSockets answer the server's pings): {code, stdout, stderr}. */
async function bench(args) {
  try {
    const { stdout, stderr } = await execFileP(WSIP_BIN, ['bench', ...args], { timeout: wait(120000) });
    return { code: 0, stdout, stderr };
  } catch (e) {
    return { code: e.code ?? e.signal, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A MESSAGE from one UA to another, answered 200 by the callee. */
async function message(from, to, text) {
  const req = await from.sendAuthed('MESSAGE', to.aor, { body: text });
  const got = await to.incoming('MESSAGE', req.callId);
  assert.equal(got.body.toString('utf8'), text);
  await to.respond(got, 200, 'OK');
  const res = await from.final(req);
  assert.equal(res.status, 200, `MESSAGE ${from.user} -> ${to.user}: ${res.start}`);
}

// ================================================================= tests

describe('status.json and /metrics follow the traffic', SUITE, () => {
  let srv;
  let alice; // WS, Outbound
  let bob; // WS, Outbound
  let carol; // UDP

  before(async () => {
    srv = await startServer({
      listen: ['udp', 'ws'],
      args: ['--db', makeDb(['alice', 'bob', 'carol'])],
      // pings after 1 s of silence: the WebSocket counters move quickly
      set: { 'ws.ping_interval': 1, 'net.handshakes_per_ip_per_second': 1000 },
    });
    servers.push(srv);
    alice = await Ua.open(srv, 'alice', 'ws');
    bob = await Ua.open(srv, 'bob', 'ws');
    carol = await Ua.open(srv, 'carol', 'udp');
  });

  test('a fresh server: no registrations, valid documents, version and uptime', async () => {
    const d = await statusJson(srv);
    assert.equal(typeof d.version, 'string');
    assert.ok(d.version.length > 0);
    assert.ok(Number.isInteger(d.uptime_ms) && d.uptime_ms >= 0);
    assert.equal(d.workers, 2);
    assert.equal(d.registrations.enabled, true);
    assert.equal(d.registrations.bindings, 0);
    assert.deepEqual(d.registrations.list, []);
    assert.deepEqual(Object.keys(d.connections.open).sort(), ['tcp', 'tls', 'ws', 'wss']);
    const m = await metrics(srv);
    assert.equal(metric(m, 'wsip_build_info', { version: d.version }), 1);
    assert.equal(metric(m, 'wsip_registrations'), 0);
    assert.equal(metric(m, 'wsip_workers'), 2);
  });

  test('two users over WebSocket and one over UDP register and exchange MESSAGEs: the list and the counters show it', async () => {
    const before = await metrics(srv);
    await alice.register();
    await bob.register();
    await carol.register();
    await message(alice, bob, 'hello bob');
    await message(carol, alice, 'hello alice');
    await message(bob, carol, 'hello carol');

    const d = await statusJson(srv);
    const r = d.registrations;
    assert.equal(r.bindings, 3);
    assert.equal(r.aors, 3);
    assert.equal(r.listed, 3);
    assert.equal(r.truncated, false);
    const byAor = Object.fromEntries(r.list.map((b) => [b.aor, b]));
    assert.deepEqual(Object.keys(byAor).sort(), [alice.aor, bob.aor, carol.aor].sort());
    for (const ua of [alice, bob, carol]) {
      const b = byAor[ua.aor];
      assert.equal(b.contact, ua.contact, `contact of ${ua.aor}`);
      assert.equal(b.transport, ua.transport, `transport of ${ua.aor}`);
      assert.ok(Number.isInteger(b.expires_in) && b.expires_in > 0 && b.expires_in <= 600, `expires_in of ${ua.aor}: ${b.expires_in}`);
      assert.equal(b.user_agent, Ua.userAgent, `user_agent of ${ua.aor}`);
      if (ua.transport === 'ws') {
        assert.match(b.instance, /urn:uuid:[0-9a-f-]{36}/, `instance of ${ua.aor}`);
        assert.equal(b.reg_id, 1);
        assert.equal(b.flow, true);
      } else {
        assert.equal(b.instance, '');
        assert.equal(b.flow, false);
        assert.match(b.received, /^udp:127\.0\.0\.1:\d+$/);
      }
    }
    assert.ok(d.connections.open.ws >= 2, `open ws connections: ${d.connections.open.ws}`);

    const m = await metrics(srv);
    const delta = (name, labels) => metric(m, name, labels) - metric(before, name, labels);
    // a REGISTER without credentials (401), then with them (200): two each
    assert.ok(delta('wsip_sip_requests_total', { method: 'REGISTER' }) >= 6, 'REGISTER requests');
    // each MESSAGE challenged (407) once, then relayed: 6 received
    assert.ok(delta('wsip_sip_requests_total', { method: 'MESSAGE' }) >= 6, 'MESSAGE requests');
    assert.ok(delta('wsip_sip_responses_total', { class: '2xx' }) >= 6, '2xx responses');
    assert.ok(delta('wsip_sip_responses_total', { class: '4xx' }) >= 6, '4xx responses (401 and 407)');
    assert.ok(delta('wsip_sip_messages_received_total') >= 15, 'messages received');
    assert.ok(delta('wsip_sip_messages_sent_total') >= 15, 'messages sent');
    assert.ok(delta('wsip_auth_challenges_total') >= 6, 'challenges');
    assert.ok(delta('wsip_auth_checks_total', { result: 'ok' }) >= 6, 'digest checks passed');
    assert.equal(metric(m, 'wsip_registrations'), 3);
    assert.equal(metric(m, 'wsip_registered_aors'), 3);
    assert.ok(metric(m, 'wsip_connections_open', { transport: 'ws' }) >= 2);
    assert.ok(metric(m, 'wsip_connections_total', { transport: 'ws' }) >= 2);
    assert.equal(metric(m, 'wsip_connections_open', { transport: 'tcp' }), 0);
    // the same numbers in both documents (the counters only grow between them)
    assert.ok(d.requests.REGISTER <= metric(m, 'wsip_sip_requests_total', { method: 'REGISTER' }));
    assert.ok(d.requests.REGISTER >= 6);
    assert.ok(d.auth.challenges >= 6);
  });

  test('bad messages and unknown methods are counted', async () => {
    const before = await statusJson(srv);
    // no Via at all: refused as invalid
    await carol.send('OPTIONS sip:127.0.0.1 SIP/2.0\r\nMax-Forwards: 70\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: bad1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n');
    const req = carol.build('FOO', 'sip:127.0.0.1', {});
    await carol.send(req.buf);
    const res = await carol.final(req);
    assert.equal(res.status, 501);
    const d = await waitStatus(srv, (x) => x.messages.bad > before.messages.bad, 'a bad message counted');
    assert.ok(d.requests.other > before.requests.other, 'FOO counted as other');
    assert.ok(d.responses['5xx'] > before.responses['5xx'], '501 counted');
  });

  test('calls made by wsip bench: answered and ended counted, none left in progress', async () => {
    const before = await statusJson(srv);
    const r = await bench(['call', '--url', `ws://127.0.0.1:${srv.port('ws')}`, '--concurrency', '2', '--count', '4', '--password', PASSWORD, '--quiet']);
    assert.equal(r.code, 0, `wsip bench call failed:\n${r.stdout}\n${r.stderr}`);
    const d = await statusJson(srv);
    assert.equal(d.calls.answered - before.calls.answered, 4, JSON.stringify(d.calls));
    assert.equal(d.calls.ended - before.calls.ended, 4, JSON.stringify(d.calls));
    assert.equal(d.calls.in_progress, 0);
    assert.ok(d.requests.INVITE - before.requests.INVITE >= 4);
    assert.ok(d.requests.BYE - before.requests.BYE >= 4);
    assert.ok(d.requests.ACK - before.requests.ACK >= 4);
    const m = await metrics(srv);
    assert.equal(metric(m, 'wsip_calls_in_progress'), 0);
    assert.ok(metric(m, 'wsip_calls_answered_total') >= 4);
  });

  test('WebSocket pings, missed pongs and the close that follows are counted', async () => {
    const before = await statusJson(srv);
    // a peer that reads nothing and answers no ping
    const ws = await RawWs.open(srv.port('ws'));
    try {
      const d = await waitStatus(srv, (x) => x.websocket.closes['1001'] > before.websocket.closes['1001'], 'the silent peer closed with 1001');
      assert.ok(d.websocket.pings_sent > before.websocket.pings_sent, 'pings sent');
      assert.ok(d.websocket.pongs_missed > before.websocket.pongs_missed, 'pongs missed');
      const m = await metrics(srv);
      assert.ok(metric(m, 'wsip_ws_closes_total', { code: '1001' }) >= 1);
      assert.ok(metric(m, 'wsip_ws_pings_total') >= 1);
      // the server's frames to it: pings, then the close 1001
      const frames = [];
      for (;;) {
        const f = await ws.frame();
        if (!f) break;
        frames.push(f);
        if (f.opcode === OP.CLOSE) break;
      }
      assert.ok(frames.some((f) => f.opcode === OP.PING), 'no ping received');
      assert.equal(frames.at(-1)?.code, 1001);
    } finally {
      ws.close();
    }
    // the registered browsers answered their pings and are still there
    const d = await statusJson(srv);
    assert.equal(d.registrations.bindings, 3);
  });

  test('HEAD: the same head as GET, no body; /status is the embedded page; other methods 405', async () => {
    for (const [target, type] of [
      ['/status.json', 'application/json'],
      ['/metrics', 'text/plain; version=0.0.4; charset=utf-8'],
      ['/status', 'text/html; charset=utf-8'],
    ]) {
      const res = await http(srv, target, { method: 'HEAD' });
      assert.equal(res.status, 200, `HEAD ${target}`);
      assert.equal(res.header('content-type'), type);
      assert.equal(res.header('cache-control'), 'no-store');
      assert.ok(Number(res.header('content-length')) > 0, `HEAD ${target}: Content-Length`);
      assert.equal(res.body.length, 0);
    }
    const page = await http(srv, '/status');
    assert.equal(page.status, 200);
    const head = await http(srv, '/status', { method: 'HEAD' });
    assert.equal(Number(head.header('content-length')), page.body.length, 'HEAD and GET of the page disagree on its length');
    const html = page.body.toString('utf8');
    for (const id of ['registrations-body', 'chart-requests', 'chart-responses', 'chart-connections', 'status-state', 'pause']) {
      assert.ok(html.includes(`id="${id}"`), `page lacks #${id}`);
    }
    assert.ok(html.includes("fetch('status.json'"), 'the page does not poll status.json');
    assert.match(page.header('content-security-policy') || '', /default-src 'none'/);
    const post = await http(srv, '/status.json', { method: 'POST' });
    assert.equal(post.status, 405);
    assert.match(post.header('allow') || '', /GET, HEAD/);
  });

  test('status.json stays valid while connections come and go', async () => {
    const start = await statusJson(srv);
    const stop = { done: false };
    const churn = (async () => {
      let n = 0;
      for (let i = 0; i < 40 && !stop.done; i++) {
        const ws = await RawWs.open(srv.port('ws'));
        if (i % 2) await ws.send(OP.CLOSE, Buffer.from([0x03, 0xe8]));
        ws.close();
        n++;
      }
      return n;
    })();
    const docs = [];
    for (let i = 0; i < 25; i++) {
      const res = await http(srv, '/status.json');
      assert.equal(res.status, 200);
      let d;
      assert.doesNotThrow(() => {
        d = JSON.parse(res.body.toString('utf8'));
      }, `status.json #${i} is not JSON:\n${res.body}`);
      for (const [k, v] of Object.entries(d.connections.open)) assert.ok(Number.isInteger(v) && v >= 0, `open ${k}: ${v}`);
      docs.push(d);
    }
    stop.done = true;
    const opened = await churn;
    assert.ok(opened > 0);
    // alice's and bob's WebSockets, and the connection of this very request
    const last = await waitStatus(srv, (x) => x.connections.open.ws === 3, 'churned connections closed');
    assert.ok(last.connections.total.ws >= start.connections.total.ws + opened + docs.length, 'every churned connection counted');
    assert.equal(last.registrations.bindings, 3);
  });
});

describe('admin.allowed_networks and admin.password', SUITE, () => {
  let srv;
  let conf;

  function writeConf(networks, password) {
    fs.writeFileSync(conf, `admin = {\n  allowed_networks = [${networks.map((n) => `"${n}"`).join(', ')}];\n  password = "${password}";\n};\n`);
  }

  before(async () => {
    conf = path.join(tmpDir('status-conf'), 'wsip.conf');
    // the server listens on 127.0.0.1 only: nobody may read the pages
    writeConf(['10.0.0.0/8'], '');
    srv = await startServer({ listen: ['udp', 'ws'], args: ['-c', conf, '--db', makeDb([])] });
    servers.push(srv);
  });

  async function reload(networks, password) {
    writeConf(networks, password);
    const n = (srv.stderr.match(/SIGHUP: configuration reloaded/g) || []).length;
    srv.signal('SIGHUP');
    const end = Date.now() + T_REPLY;
    while ((srv.stderr.match(/SIGHUP: configuration reloaded/g) || []).length === n) {
      assert.ok(Date.now() < end, `no reload in the log:\n${srv.tail()}`);
      await sleep(20);
    }
  }

  test('a client outside admin.allowed_networks gets 403 on every admin page, GET and HEAD; SIP over WebSocket still works', async () => {
    for (const target of ['/status', '/status.json', '/metrics']) {
      for (const method of ['GET', 'HEAD']) {
        const res = await http(srv, target, { method });
        assert.equal(res.status, 403, `${method} ${target}: ${res.statusLine}`);
        assert.equal(res.header('cache-control'), 'no-store');
        if (method === 'GET') assert.match(res.body.toString(), /admin\.allowed_networks/);
        else assert.equal(res.body.length, 0);
      }
    }
    // credentials do not open a closed network
    const res = await http(srv, '/metrics', { auth: basic('admin', 'anything') });
    assert.equal(res.status, 403);
    const ws = await RawWs.open(srv.port('ws'));
    ws.close();
  });

  test('admin.password: 401 with a Basic challenge without or with wrong credentials, 200 with them (any user name)', async () => {
    await reload(['127.0.0.0/8', '::1/128'], 's3cret pw');
    for (const target of ['/status', '/status.json', '/metrics']) {
      const none = await http(srv, target);
      assert.equal(none.status, 401, `${target} without credentials: ${none.statusLine}`);
      assert.equal(none.header('www-authenticate'), 'Basic realm="wsip admin", charset="UTF-8"');
      assert.equal(none.header('cache-control'), 'no-store');
      const wrong = await http(srv, target, { auth: basic('admin', 's3cret') });
      assert.equal(wrong.status, 401, `${target} with a wrong password`);
      const right = await http(srv, target, { auth: basic('admin', 's3cret pw') });
      assert.equal(right.status, 200, `${target} with the password: ${right.statusLine}`);
      const head = await http(srv, target, { method: 'HEAD', auth: basic('ops', 's3cret pw') });
      assert.equal(head.status, 200, `HEAD ${target}`);
    }
    const d = await statusJson(srv, { auth: basic('', 's3cret pw') });
    assert.equal(d.registrations.bindings, 0);
    const bad = await http(srv, '/metrics', { auth: 'Basic !!!notbase64' });
    assert.equal(bad.status, 401);
    const digest = await http(srv, '/metrics', { auth: 'Digest username="admin"' });
    assert.equal(digest.status, 401);
  });

  test('SIGHUP applies a new password and new networks', async () => {
    await reload(['127.0.0.0/8', '::1/128'], 'second');
    assert.equal((await http(srv, '/metrics', { auth: basic('a', 's3cret pw') })).status, 401);
    assert.equal((await http(srv, '/metrics', { auth: basic('a', 'second') })).status, 200);
    await reload(['127.0.0.0/8', '::1/128'], '');
    assert.equal((await http(srv, '/metrics')).status, 200, 'no password: open to the allowed networks');
    await reload(['192.0.2.0/24'], '');
    assert.equal((await http(srv, '/metrics')).status, 403);
  });
});
