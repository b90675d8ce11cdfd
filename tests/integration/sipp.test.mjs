// Interop with SIPp (Debian package sip-tester, binary sipp) over UDP, issue
// #4: a WebSocket caller (raw, Outbound, digest) calls a SIPp UAS registered
// over UDP, which hangs up (BYE from the callee); a SIPp UAC over UDP calls a
// WebSocket client and hangs up (BYE from the caller). The scenarios are the
// XML files in tests/integration/sipp/; SIPp exits 0 only when its scenario
// passed (every expected message, nothing unexpected).
//
// SIPp 3.6 answers only the FIRST challenge of a 401/407 and only MD5 (it
// aborts with "createAuthHeader: authentication must use MD5 or AKAv1-MD5"
// otherwise): wsip offers MD5 first to UDP/TCP/TLS clients by default
// (auth.algorithms; WS clients get MD5 last, auth.algorithms_ws). SIPp also
// computes the digest over uri="sip:<remote ip>:<remote port>" by default,
// which wsip rightly refuses ("Digest uri does not match the Request-URI"):
// every SIPp run gets -auth_uri set to its Request-URI.
//
// Each SIPp runs with -m 1, -timeout 20s -timeout_error, -trace_err and
// -trace_msg (logs in a temporary directory, quoted on failure), on fixed
// free loopback ports, and is killed by PID in the after hook.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import WebSocket from 'ws';

import { SUITE, T_REPLY, freePort, parseSip, runWsip, sleep, startServer, tmpDir, uniq, wait, within } from './server.mjs';
import { splitList } from './sipreg.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const SCENARIOS = path.join(here, 'sipp');
const DOMAIN = 'localhost';
const PASSWORD = 'secret';

const servers = [];
const sipps = [];
const uas = [];
after(async () => {
  for (const p of sipps) p.kill();
  for (const u of uas) await u.close().catch(() => {});
  const errors = [];
  for (const s of servers) await s.stopOk().catch((e) => errors.push(e));
  if (errors.length) throw errors[0];
});

// ----------------------------------------------------------------- SIPp

function sippBinary() {
  const r = spawnSync('sipp', ['-v'], { encoding: 'utf8', timeout: wait(10000) });
  if (r.error) {
    throw new Error(`sipp (Debian package sip-tester) is not installed: run scripts/deps (it installs the check set) — ${r.error.message}`);
  }
  return 'sipp';
}

/** One SIPp process: exited resolves {code, signal}; log() quotes its error
 * and message logs for failure messages. */
class Sipp {
  /**
   * o.scenario (file in tests/integration/sipp/), o.remote (host:port),
   * o.port (local UDP port), o.service (-s), o.user / o.auth_uri (digest),
   * o.keys ({name: value}, -key).
   */
  static start(o) {
    const dir = tmpDir('sipp');
    const name = path.basename(o.scenario, '.xml');
    const p = new Sipp(dir, name);
    const args = [
      o.remote,
      '-sf', path.join(SCENARIOS, o.scenario),
      '-t', 'u1',
      '-i', '127.0.0.1',
      '-p', String(o.port),
      '-mp', String(o.mediaPort),
      '-cp', String(o.controlPort),
      '-m', '1',
      '-timeout', '20s',
      '-timeout_error',
      '-nostdin',
      '-trace_err', '-error_file', p.errorFile,
      '-trace_msg', '-message_file', p.messageFile,
      '-s', o.service,
      '-key', 'domain', DOMAIN,
    ];
    if (o.user) args.push('-au', o.user, '-ap', PASSWORD, '-auth_uri', o.authUri);
    for (const [k, v] of Object.entries(o.keys || {})) args.push('-key', k, v);
    p.args = args;
    p.proc = spawn(sippBinary(), args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    p.pid = p.proc.pid;
    sipps.push(p);
    p.proc.stdout.on('data', () => {}); // the screen: not kept
    p.proc.stderr.setEncoding('utf8');
    p.proc.stderr.on('data', (d) => (p.stderr += d));
    p.exited = new Promise((resolve) => {
      p.proc.on('error', (e) => {
        p.exit = { code: -1, signal: null, error: e };
        resolve(p.exit);
      });
      p.proc.on('exit', (code, signal) => {
        p.exit = { code, signal };
        resolve(p.exit);
      });
    });
    return p;
  }

  constructor(dir, name) {
    this.dir = dir;
    this.name = name;
    this.errorFile = path.join(dir, `${name}_errors.log`);
    this.messageFile = path.join(dir, `${name}_messages.log`);
    this.stderr = '';
    this.exit = null;
  }

  log() {
    const read = (f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '(none)');
    return `sipp ${this.args.join(' ')}\n--- stderr:\n${this.stderr}\n--- errors log:\n${read(this.errorFile)}\n--- messages log (last 6000 chars):\n${read(this.messageFile).slice(-6000)}`;
  }

  /** Waits for the exit (bounded above SIPp's own -timeout) and asserts 0. */
  async passed(what) {
    const r = await within(this.exited, wait(40000), null);
    if (!r) {
      this.kill();
      assert.fail(`${what}: SIPp did not exit in time\n${this.log()}`);
    }
    assert.equal(r.code, 0, `${what}: SIPp exited ${r.code} / ${r.signal} (scenario failed)\n${this.log()}`);
  }

  kill() {
    if (!this.exit && this.pid) {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

// ----------------------------------------------------------- WS agent

function parseChallenge(value) {
  const m = /^(\S+)\s+(.*)$/s.exec(value.trim());
  assert.ok(m, `not a challenge: ${value}`);
  const params = {};
  const re = /\s*([^=\s,]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,]*)\s*(?:,|$)/gy;
  let p;
  while ((p = re.exec(m[2])) && p[0].length) {
    let v = p[2].trim();
    if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    params[p[1].toLowerCase()] = v;
  }
  return { scheme: m[1], params };
}

const md5 = (s) => crypto.createHash('md5').update(s).digest('hex');

function credentials(ch, o) {
  const nc = '00000001';
  const cnonce = crypto.randomBytes(8).toString('hex');
  const ha1 = md5(`${o.user}:${ch.params.realm}:${PASSWORD}`);
  const ha2 = md5(`${o.method}:${o.uri}`);
  const response = md5(`${ha1}:${ch.params.nonce}:${nc}:${cnonce}:auth:${ha2}`);
  const parts = [
    `username="${o.user}"`,
    `realm="${ch.params.realm}"`,
    `nonce="${ch.params.nonce}"`,
    `uri="${o.uri}"`,
    `response="${response}"`,
    'algorithm=MD5',
    'qop=auth',
    `nc=${nc}`,
    `cnonce="${cnonce}"`,
  ];
  if (ch.params.opaque !== undefined) parts.push(`opaque="${ch.params.opaque}"`);
  return `Digest ${parts.join(', ')}`;
}

function tagOf(v) {
  const m = /;\s*tag=([^;,\s>]+)/i.exec(v || '');
  return m ? m[1] : undefined;
}

function uriOf(v) {
  const m = /<([^>]*)>/.exec(v || '');
  return m ? m[1] : (v || '').split(';')[0].trim();
}

function dump(m) {
  return m ? m.raw.toString('latin1') : '(nothing)';
}

function sdpOffer() {
  return ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 192.0.2.10', 't=0 0', 'm=audio 52114 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
}

/** A raw SIP user agent over WebSocket (subprotocol sip, Outbound). */
class WsUa {
  static async open(srv, user) {
    const ua = new WsUa(srv, user);
    uas.push(ua);
    ua.ws = new WebSocket(`ws://127.0.0.1:${srv.port('ws')}/`, 'sip', { handshakeTimeout: T_REPLY });
    ua.wsClosed = new Promise((resolve) => ua.ws.once('close', () => resolve(true)));
    ua.ws.on('error', () => {});
    ua.ws.on('message', (data) => ua.deliver(Buffer.isBuffer(data) ? data : Buffer.from(data)));
    await new Promise((resolve, reject) => {
      ua.ws.once('open', resolve);
      ua.ws.once('error', reject);
    });
    return ua;
  }

  constructor(srv, user) {
    this.srv = srv;
    this.user = user;
    this.aor = `sip:${user}@${DOMAIN}`;
    this.sentBy = `${uniq('h')}.invalid`;
    this.contact = `sip:${user}@${this.sentBy};transport=ws`;
    this.inbox = [];
    this.seen = []; // start lines of everything received, in order
    this.waiters = new Set();
  }

  deliver(buf) {
    if (/^[\r\n]*$/.test(buf.toString('latin1'))) return;
    let m;
    try {
      m = parseSip(buf);
    } catch {
      return;
    }
    this.seen.push(`${m.start} (CSeq ${m.get('cseq')})`);
    this.inbox.push(m);
    for (const w of [...this.waiters]) w();
  }

  async must(pred, what, ms = T_REPLY) {
    const m = await new Promise((resolve) => {
      let timer = null;
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(attempt);
      };
      const attempt = () => {
        const i = this.inbox.findIndex(pred);
        if (i < 0) return false;
        const [got] = this.inbox.splice(i, 1);
        cleanup();
        resolve(got);
        return true;
      };
      if (attempt()) return;
      timer = setTimeout(() => {
        cleanup();
        resolve(null);
      }, ms);
      this.waiters.add(attempt);
    });
    if (!m) throw new Error(`${this.user}: no ${what} within ${ms} ms (seen: ${this.seen.join(' | ') || 'nothing'})\n${this.srv.tail(20)}`);
    return m;
  }

  incoming(method, ms) {
    return this.must((m) => !m.isResponse && m.method === method, `${method} request`, ms);
  }

  response(req, final = false, ms = T_REPLY) {
    return this.must(
      (m) => m.isResponse && (!final || m.status >= 200) && m.get('call-id') === req.callId && m.get('cseq') === `${req.cseq} ${req.method}`,
      `${final ? 'final ' : ''}response to ${req.method} (CSeq ${req.cseq})`,
      ms,
    );
  }

  send(data) {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8');
    return new Promise((resolve, reject) => this.ws.send(buf, { binary: false }, (e) => (e ? reject(e) : resolve())));
  }

  build(method, ruri, o = {}) {
    const req = {
      method,
      ruri,
      branch: o.branch || uniq('z9hG4bK'),
      callId: o.callId || uniq('c'),
      fromTag: o.fromTag || uniq('ft'),
      cseq: o.cseq || 1,
      routes: o.routes || [],
    };
    const body = Buffer.from(o.body || '', 'utf8');
    const lines = [
      `${method} ${ruri} SIP/2.0`,
      `Via: SIP/2.0/WS ${this.sentBy};branch=${req.branch};rport`,
      ...req.routes.map((r) => `Route: ${r}`),
      'Max-Forwards: 70',
      `From: <${this.aor}>;tag=${req.fromTag}`,
      `To: ${o.toHeader || `<${o.to || ruri}>`}`,
      `Call-ID: ${req.callId}`,
      `CSeq: ${req.cseq} ${method}`,
      ...(o.headers || []),
    ];
    if (body.length) lines.push('Content-Type: application/sdp');
    lines.push('User-Agent: wsip-sipp-test', `Content-Length: ${body.length}`);
    req.buf = Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
    return req;
  }

  /** REGISTER with digest and Outbound (instance, reg-id 1). */
  async register() {
    const callId = uniq('reg');
    const fromTag = uniq('rt');
    const headers = [`Contact: <${this.contact}>;+sip.instance="<urn:uuid:${crypto.randomUUID()}>";reg-id=1`, 'Expires: 600', 'Supported: path, outbound, gruu'];
    const first = this.build('REGISTER', `sip:${DOMAIN}`, { to: this.aor, callId, fromTag, cseq: 1, headers });
    await this.send(first.buf);
    const challenge = await this.response(first, true);
    assert.equal(challenge.status, 401, `REGISTER without credentials: ${dump(challenge)}`);
    const ch = challenge.all('www-authenticate').map(parseChallenge).find((c) => (c.params.algorithm || 'MD5') === 'MD5');
    assert.ok(ch, `no MD5 challenge: ${dump(challenge)}`);
    const auth = credentials(ch, { user: this.user, method: 'REGISTER', uri: `sip:${DOMAIN}` });
    const req = this.build('REGISTER', `sip:${DOMAIN}`, { to: this.aor, callId, fromTag, cseq: 2, headers: [...headers, `Authorization: ${auth}`] });
    await this.send(req.buf);
    const res = await this.response(req, true);
    assert.equal(res.status, 200, `REGISTER ${this.aor}: ${dump(res)}`);
    this.outbound = true;
    return res;
  }

  /** INVITE with SDP: 407, ACK, again with Proxy-Authorization. */
  async invite(ruri) {
    const headers = [`Contact: <${this.contact};ob>`, 'Supported: path, outbound, gruu', 'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS'];
    const first = this.build('INVITE', ruri, { body: sdpOffer(), headers });
    await this.send(first.buf);
    const challenge = await this.response(first, true);
    assert.equal(challenge.status, 407, `INVITE without credentials: ${dump(challenge)}`);
    const ack = this.build('ACK', ruri, { branch: first.branch, callId: first.callId, fromTag: first.fromTag, cseq: 1, toHeader: challenge.get('to') });
    await this.send(ack.buf);
    const ch = challenge.all('proxy-authenticate').map(parseChallenge).find((c) => (c.params.algorithm || 'MD5') === 'MD5');
    assert.ok(ch, `no MD5 challenge: ${dump(challenge)}`);
    const auth = credentials(ch, { user: this.user, method: 'INVITE', uri: ruri });
    const req = this.build('INVITE', ruri, {
      body: sdpOffer(),
      callId: first.callId,
      fromTag: first.fromTag,
      cseq: 2,
      headers: [...headers, `Proxy-Authorization: ${auth}`],
    });
    await this.send(req.buf);
    return req;
  }

  async respond(req, status, reason, o = {}) {
    const to = req.get('to');
    const lines = [
      `SIP/2.0 ${status} ${reason}`,
      ...req.all('via').map((v) => `Via: ${v}`),
      ...(o.recordRoute ? req.all('record-route').map((v) => `Record-Route: ${v}`) : []),
      `From: ${req.get('from')}`,
      `To: ${tagOf(to) ? to : `${to};tag=${o.toTag || uniq('tt')}`}`,
      `Call-ID: ${req.get('call-id')}`,
      `CSeq: ${req.get('cseq')}`,
      ...(o.contact ? [`Contact: ${o.contact}`] : []),
    ];
    const body = Buffer.from(o.body || '', 'utf8');
    if (body.length) lines.push('Content-Type: application/sdp');
    lines.push(`Content-Length: ${body.length}`);
    await this.send(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]));
  }

  async close() {
    if (this.ws && this.ws.readyState !== WebSocket.CLOSED) {
      this.ws.close(1000);
      await within(this.wsClosed, T_REPLY);
      if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
    }
  }
}

// ================================================================ tests

describe('SIPp over UDP <-> WebSocket clients through wsip (issue #4)', SUITE, () => {
  let srv;

  before(async () => {
    sippBinary(); // fails (not skips) when sipp is missing
    const db = path.join(tmpDir('sipp-db'), 'wsip.db');
    for (const u of ['alice', 'bob', 'bob-ws']) {
      const r = runWsip(['user', 'add', `${u}@${DOMAIN}`, '--password', PASSWORD, '--db', db]);
      assert.equal(r.code, 0, `wsip user add ${u}: ${r.stderr}`);
    }
    // SIPp answers only the first challenge, and only MD5: see the top comment
    srv = await startServer({ listen: ['udp', 'ws'], args: ['--db', db], });
    servers.push(srv);
  });

  async function sippPorts() {
    return { port: await freePort(), mediaPort: await freePort(), controlPort: await freePort() };
  }

  test('WS caller -> SIPp UAS registered over UDP (digest): 100, 180, 200, ACK; BYE from SIPp answered 200', async () => {
    const ports = await sippPorts();
    const remote = `127.0.0.1:${srv.port('udp')}`;
    const reg = Sipp.start({ scenario: 'register.xml', remote, ...ports, service: 'bob', user: 'bob', authUri: DOMAIN });
    await reg.passed('SIPp REGISTER bob over UDP (401, then digest)');

    const uasSipp = Sipp.start({ scenario: 'uas.xml', remote, ...ports, service: 'bob' });
    await sleep(wait(300)); // not needed for correctness: wsip retransmits the INVITE over UDP
    assert.equal(uasSipp.exit, null, `SIPp UAS exited at once (scenario refused?)\n${uasSipp.log()}`);

    const alice = await WsUa.open(srv, 'alice');
    await alice.register();
    try {
      await callSippUas(alice, uasSipp);
    } catch (e) {
      e.message += `\n${uasSipp.log()}`;
      throw e;
    }
  });

  async function callSippUas(alice, uasSipp) {
    const req = await alice.invite(`sip:bob@${DOMAIN}`);
    const trying = await alice.response(req);
    assert.equal(trying.status, 100, `first response to the INVITE: ${dump(trying)}`);
    const ringing = await alice.response(req);
    assert.equal(ringing.status, 180, `second response to the INVITE: ${dump(ringing)}`);
    const ok = await alice.response(req, true);
    assert.equal(ok.status, 200, `final response to the INVITE: ${dump(ok)}`);
    assert.match(ok.get('content-type') || '', /application\/sdp/i, 'the 200 lost its SDP');
    assert.ok(tagOf(ok.get('to')), 'the 200 has no To tag');

    // ACK (RFC 3261 sec 13.2.2.4) to the callee's Contact through the route set
    const routes = ok.all('record-route').flatMap(splitList).reverse();
    assert.ok(routes.length >= 1, `the 200 carries no Record-Route: ${dump(ok)}`);
    const ack = alice.build('ACK', uriOf(ok.get('contact')), {
      callId: req.callId,
      fromTag: req.fromTag,
      cseq: req.cseq,
      routes,
      toHeader: ok.get('to'),
    });
    await alice.send(ack.buf);

    // SIPp hangs up: BYE over alice's WebSocket, answered 200
    const bye = await alice.incoming('BYE', wait(15000));
    assert.equal(bye.get('call-id'), req.callId, `BYE of another call: ${dump(bye)}`);
    assert.equal(tagOf(bye.get('to')), req.fromTag, `BYE To tag: ${dump(bye)}`);
    assert.equal(tagOf(bye.get('from')), tagOf(ok.get('to')), `BYE From tag: ${dump(bye)}`);
    await alice.respond(bye, 200, 'OK');
    await uasSipp.passed('SIPp UAS bob');
    assert.deepEqual(
      alice.seen.filter((s) => !/REGISTER\)$|^SIP\/2\.0 407 /.test(s)).map((s) => s.replace(/^SIP\/2\.0 (\d+).*/, '$1').replace(/^(\w+) .*/, '$1')),
      ['100', '180', '200', 'BYE'],
      `what alice saw: ${alice.seen.join(' | ')}`,
    );
  }

  test('SIPp UAC over UDP (digest, 407) -> WS client: 200, ACK, BYE from SIPp answered 200', async () => {
    const bobWs = await WsUa.open(srv, 'bob-ws');
    await bobWs.register();

    const ports = await sippPorts();
    const remote = `127.0.0.1:${srv.port('udp')}`;
    const uac = Sipp.start({
      scenario: 'uac.xml',
      remote,
      ...ports,
      service: 'bob-ws',
      user: 'alice',
      authUri: `bob-ws@${DOMAIN}`,
      keys: { caller: 'alice' },
    });

    const inv = await bobWs.incoming('INVITE', wait(15000)).catch((e) => {
      throw new Error(`${e.message}\n${uac.log()}`);
    });
    assert.equal(inv.ruri, bobWs.contact, `INVITE Request-URI: ${inv.start}`);
    assert.match(inv.get('from'), /sip:alice@localhost/, `INVITE From: ${dump(inv)}`);
    const toTag = uniq('bt');
    const answer = ['v=0', 'o=- 2 2 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 192.0.2.20', 't=0 0', 'm=audio 40000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
    await bobWs.respond(inv, 180, 'Ringing', { toTag, recordRoute: true, contact: `<${bobWs.contact};ob>` });
    await bobWs.respond(inv, 200, 'OK', { toTag, recordRoute: true, contact: `<${bobWs.contact};ob>`, body: answer });

    const ack = await bobWs.incoming('ACK').catch((e) => {
      throw new Error(`${e.message}\n${uac.log()}`);
    });
    assert.equal(ack.get('call-id'), inv.get('call-id'));
    assert.equal(tagOf(ack.get('to')), toTag, `ACK To tag: ${dump(ack)}`);
    const bye = await bobWs.incoming('BYE').catch((e) => {
      throw new Error(`${e.message}\n${uac.log()}`);
    });
    assert.equal(bye.get('call-id'), inv.get('call-id'));
    assert.equal(tagOf(bye.get('to')), toTag, `BYE To tag: ${dump(bye)}`);
    await bobWs.respond(bye, 200, 'OK');
    await uac.passed('SIPp UAC alice');
    assert.deepEqual(
      bobWs.seen.filter((s) => !/REGISTER\)$/.test(s)).map((s) => s.split(' ')[0]),
      ['INVITE', 'ACK', 'BYE'],
      `what bob-ws saw: ${bobWs.seen.join(' | ')}`,
    );
  });
});
