// MESSAGE relay (RFC 3428) through wsip's proxy (RFC 3261 sec 16) between
// users registered over UDP and WebSocket (RFC 7118, Outbound RFC 5626):
// proxy authentication (407, RFC 3261 sec 22.3 / RFC 7616, computed here
// with node:crypto), Request-URI and Via handling, bodies relayed byte for
// byte (UTF-8 in TEXT frames, non-UTF-8 in BINARY frames), 404 / 480, flows
// that close, forking to two devices, 408 when the callee never answers, and
// JsSIP UAs sending MESSAGEs to each other.
//
// The raw user agents here are written against the RFCs only (no code of
// wsip's); every wait is bounded.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import WebSocket from 'ws';

import { DOMAIN, PASSWORD, Ua as RawUa, assertChallenges, closeAll, usersDb, credentials, dump, parseChallenge, tagOf, viaCore, viaParts } from './rawua.mjs';
import { sleep, startServer, stopAllAfter, SUITE, T_REPLY, T_SILENCE, uniq, wait, within } from './server.mjs';

/** Non-ASCII UTF-8 text: a TEXT frame must carry it, byte for byte. */
const UTF8_TEXT = 'héllo ✓ 日本';
/** Not UTF-8 at all: a lone continuation byte, 0xff, an overlong NUL, a
 * truncated sequence at the end, and a NUL and CR LF in the middle. */
const BINARY_BODY = Buffer.from([0x00, 0x80, 0xff, 0xfe, 0xc0, 0x80, 0x0d, 0x0a, 0x41, 0xed, 0xa0, 0x80, 0x7f, 0xe2, 0x9c]);

const servers = [];
stopAllAfter(servers, closeAll);

async function server(users, set = {}) {
  const s = await startServer({ listen: ['udp', 'ws'], args: ['--db', usersDb(users, 'msg')], set });
  servers.push(s);
  return s;
}

// --------------------------------------------------------- user agent

/** The raw user agent of rawua.mjs, with this file's own digest exchange:
 * both challenges (MD5 and SHA-256) asserted on every 401 / 407. */
class Ua extends RawUa {
  static userAgent = 'wsip-message-test';
  static contentType = 'text/plain;charset=UTF-8';

  /**
   * Sends a request without credentials, expects 401/407 with MD5 and
   * SHA-256 challenges, and sends it again (CSeq + 1, new branch) with
   * credentials for o.algorithm (MD5) and o.password (PASSWORD). Returns
   * {challenge (the 401/407), first, req (the request sent with credentials)}.
   * The final response to req is left to the caller.
   */
  async sendAuthed(method, ruri, o = {}) {
    const first = this.build(method, ruri, o);
    await this.send(first.buf, o);
    const challenge = await this.final(first);
    const proxy = o.want401 ? false : true;
    assert.equal(challenge.status, proxy ? 407 : 401, `${method} ${ruri} without credentials: ${dump(challenge)}`);
    assert.ok(tagOf(challenge.get('to')), `${challenge.status} without a To tag`);
    const chs = assertChallenges(challenge, proxy ? 'proxy-authenticate' : 'www-authenticate');
    if (proxy) assert.equal(challenge.all('www-authenticate').length, 0, '407 with a WWW-Authenticate');
    const ch = chs.find((c) => c.params.algorithm === (o.algorithm || 'MD5'));
    const req = this.retryWithCredentials(first, ch, proxy ? 'Proxy-Authorization' : 'Authorization', o);
    await this.send(req.buf, o);
    return { challenge, first, req };
  }

  /** REGISTER with digest; o.instance: Outbound (reg-id 1 unless o.regId);
   * o.noContact: a query. Returns the 200. */
  async register(o = {}) {
    const r = this.reg;
    const headers = [];
    if (!o.noContact) {
      const ob = o.instance ? `;+sip.instance="<${o.instance}>";reg-id=${o.regId ?? 1}` : '';
      headers.push(`Contact: <${this.contact}>${ob}`, 'Expires: 600');
    }
    if (o.instance) headers.push('Supported: path, outbound, gruu');
    r.cseq += 2;
    const { req } = await this.sendAuthed('REGISTER', `sip:${DOMAIN}`, {
      want401: true,
      to: this.aor,
      callId: r.callId,
      fromTag: r.fromTag,
      cseq: r.cseq - 1,
      headers,
    });
    const res = await this.final(req);
    assert.equal(res.status, 200, `REGISTER ${this.aor} over ${this.transport}: ${dump(res)}`);
    if (!o.noContact) {
      assert.ok(
        res.all('contact').some((c) => c.includes(this.contact)),
        `200 to REGISTER does not list ${this.contact}: ${res.all('contact').join(' | ')}`,
      );
    }
    if (o.instance) assert.ok(/outbound/i.test(res.get('require') || ''), `Outbound not used: ${dump(res)}`);
    return res;
  }
}

/** The Contacts the registrar holds for user (an authenticated query from
 * a fresh UDP UA). */
async function bindingsOf(srv, user) {
  const q = await Ua.open(srv, user, 'udp');
  try {
    const res = await q.register({ noContact: true });
    return res.all('contact');
  } finally {
    await q.close();
  }
}

/** Polls bindingsOf(user) until it is empty; true if it became so within ms. */
async function waitUnbound(srv, user, ms = wait(5000)) {
  const end = Date.now() + ms;
  for (;;) {
    if ((await bindingsOf(srv, user)).length === 0) return true;
    if (Date.now() > end) return false;
    await sleep(50);
  }
}

/** Asserts a relayed request: Request-URI now the callee's contact, the
 * caller's Vias below exactly one new one, Max-Forwards one less, the
 * dialog-identifying headers untouched. */
function assertRelayed(got, sent, callee, viaTransport) {
  assert.equal(got.ruri, callee.contact, `Request-URI not rewritten to the contact: ${got.start}`);
  const vias = got.all('via');
  assert.equal(vias.length, sent.vias.length + 1, `want one more Via than the ${sent.vias.length} sent: ${vias.join(' | ')}`);
  assert.deepEqual(vias.slice(1).map(viaCore), sent.vias.map(viaCore), `the caller's Vias changed: ${vias.join(' | ')}`);
  const top = viaParts(vias[0]);
  assert.equal(top.transport, viaTransport, `top Via ${vias[0]}`);
  assert.ok(top.branch && top.branch.startsWith('z9hG4bK') && top.branch !== sent.branch, `top Via branch ${vias[0]}`);
  assert.equal(got.get('max-forwards'), '69', 'Max-Forwards not decremented from 70');
  assert.equal(got.get('call-id'), sent.callId);
  assert.equal(got.get('cseq'), `${sent.cseq} ${sent.method}`);
  assert.equal(tagOf(got.get('from')), sent.fromTag);
  assert.ok(!tagOf(got.get('to')), `To got a tag: ${got.get('to')}`);
}

/** Asserts a response as the caller gets it: exactly the caller's Vias
 * (received / rport aside), the callee's To tag. */
function assertUpstream(res, sent, status, toTag) {
  assert.equal(res.status, status, dump(res));
  assert.deepEqual(res.all('via').map(viaCore), sent.vias.map(viaCore), `Vias of the response: ${res.all('via').join(' | ')}`);
  if (toTag) assert.equal(tagOf(res.get('to')), toTag, `To tag of the response: ${res.get('to')}`);
}

// ================================================================ tests

describe('MESSAGE relay (RFC 3428) through the proxy', SUITE, () => {
  let srv;
  let alice; // UDP
  let bob; // WS, Outbound

  before(async () => {
    srv = await server(['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'heidi', 'ivan', 'judy']);
    alice = await Ua.open(srv, 'alice', 'udp');
    bob = await Ua.open(srv, 'bob', 'ws');
    await alice.register();
    await bob.register({ instance: `urn:uuid:${crypto.randomUUID()}` });
  });

  test('alice (UDP) -> bob (WS): 407 (MD5 and SHA-256 challenges); with MD5 credentials the MESSAGE reaches bob in a TEXT frame, body byte-identical; his 200 reaches alice with exactly her Vias', async () => {
    // a second Via below alice's own, as if the request had crossed a stateless proxy
    const upstream = `SIP/2.0/UDP upstream.invalid:5070;branch=${uniq('z9hG4bK')}`;
    const { challenge, first, req } = await alice.sendAuthed('MESSAGE', bob.aor, { body: UTF8_TEXT, vias: [upstream] });
    assertUpstream(challenge, first, 407);

    const got = await bob.incoming('MESSAGE', req.callId);
    assert.equal(got.binary, false, 'a UTF-8 MESSAGE must come in a TEXT frame');
    assert.ok(got.body.equals(Buffer.from(UTF8_TEXT, 'utf8')), `body changed: ${got.body.toString('hex')}`);
    assert.equal(got.get('content-length'), String(Buffer.byteLength(UTF8_TEXT)));
    assert.equal(got.get('content-type'), 'text/plain;charset=UTF-8');
    assertRelayed(got, req, bob, 'WS');

    const toTag = uniq('bt');
    await bob.respond(got, 200, 'OK', { toTag });
    const res = await alice.final(req);
    assertUpstream(res, req, 200, toTag);

    // exactly one final, and bob never saw the request without credentials
    assert.equal(await alice.take((m) => m.isResponse && m.get('call-id') === req.callId, T_SILENCE), null, 'a second response');
    assert.equal(bob.inbox.filter((m) => m.get('call-id') === req.callId).length, 0, 'bob got more than the one MESSAGE');
  });

  test('407 challenge order: MD5 last for a WS client (JsSIP 3.13 and SIP.js 0.21 keep only the last Proxy-Authenticate), MD5 first for a UDP client (SIPp and RFC 8760 clients take the first they support)', async () => {
    for (const [ua, lastOrFirst] of [
      [bob, 'last'],
      [alice, 'first'],
    ]) {
      const req = ua.build('MESSAGE', (ua === bob ? alice : bob).aor, { body: 'order?' });
      await ua.send(req.buf);
      const res = await ua.final(req);
      assert.equal(res.status, 407, dump(res));
      const algs = res.all('proxy-authenticate').map((v) => parseChallenge(v).params.algorithm);
      assert.equal(algs.length, 2, `two challenges: ${algs.join(', ')}`);
      assert.equal(lastOrFirst === 'last' ? algs[algs.length - 1] : algs[0], 'MD5', `${ua === bob ? 'WS' : 'UDP'} client: MD5 ${lastOrFirst}, got ${algs.join(', ')}`);
    }
  });

  test('bob (WS) -> alice (UDP): a non-UTF-8 body in a BINARY frame arrives byte for byte; SHA-256 credentials', async () => {
    const { challenge, first, req } = await bob.sendAuthed('MESSAGE', alice.aor, {
      body: BINARY_BODY,
      contentType: 'application/octet-stream',
      binary: true,
      algorithm: 'SHA-256',
    });
    assertUpstream(challenge, first, 407);

    const got = await alice.incoming('MESSAGE', req.callId);
    assert.ok(got.body.equals(BINARY_BODY), `body changed: ${got.body.toString('hex')} vs ${BINARY_BODY.toString('hex')}`);
    assert.equal(got.get('content-length'), String(BINARY_BODY.length));
    assert.equal(got.get('content-type'), 'application/octet-stream');
    assertRelayed(got, req, alice, 'UDP');
    assert.equal(got.rinfo.port, srv.port('udp'), 'relayed from another port than the UDP listener');

    const toTag = uniq('at');
    await alice.respond(got, 200, 'OK', { toTag });
    const res = await bob.final(req);
    assertUpstream(res, req, 200, toTag);
  });

  test('after authentication: a known user with no binding -> 480, an unknown user -> 404 (both challenged first)', async () => {
    const known = await alice.sendAuthed('MESSAGE', `sip:carol@${DOMAIN}`, { body: 'anyone there?' });
    const r480 = await alice.final(known.req);
    assertUpstream(r480, known.req, 480);

    const unknown = await alice.sendAuthed('MESSAGE', `sip:nobody-${uniq('n')}@${DOMAIN}`, { body: 'anyone there?' });
    const r404 = await alice.final(unknown.req);
    assertUpstream(r404, unknown.req, 404);
  });

  test('wrong password in Proxy-Authorization -> a fresh 407, nothing delivered', async () => {
    const { req } = await alice.sendAuthed('MESSAGE', bob.aor, { body: 'not from alice', password: 'wrong-password' });
    const res = await alice.final(req);
    assert.equal(res.status, 407, dump(res));
    assertChallenges(res, 'proxy-authenticate');
    assert.equal(await bob.take((m) => m.get('call-id') === req.callId, T_SILENCE), null, 'bob got a MESSAGE with bad credentials');
  });

  test('ACK and CANCEL are never challenged: a CANCEL matching no transaction -> 481, an ACK -> no response', async () => {
    const cancel = alice.build('CANCEL', bob.aor);
    await alice.send(cancel.buf);
    const res = await alice.final(cancel);
    assert.equal(res.status, 481, dump(res));
    assert.equal(res.all('proxy-authenticate').length, 0);

    const ack = alice.build('ACK', bob.aor);
    await alice.send(ack.buf);
    assert.equal(await alice.take((m) => m.isResponse && m.get('call-id') === ack.callId, T_SILENCE), null, 'an ACK was answered');

    // the server is still there
    const opt = alice.build('OPTIONS', `sip:${DOMAIN}`);
    await alice.send(opt.buf);
    assert.equal((await alice.final(opt)).status, 200);
  });

  test("callee's WebSocket closed cleanly: the next MESSAGE gets 480 (or 430), not a hang", async () => {
    const dave = await Ua.open(srv, 'dave', 'ws');
    await dave.register({ instance: `urn:uuid:${crypto.randomUUID()}` });
    // reachable first
    const one = await alice.sendAuthed('MESSAGE', dave.aor, { body: 'one' });
    const got = await dave.incoming('MESSAGE', one.req.callId);
    await dave.respond(got, 200, 'OK');
    assert.equal((await alice.final(one.req)).status, 200);

    await dave.close();
    assert.equal(dave.ws.readyState, WebSocket.CLOSED, 'the close handshake did not finish');
    const two = await alice.sendAuthed('MESSAGE', dave.aor, { body: 'two' });
    const res = await alice.final(two.req);
    assert.ok([480, 430].includes(res.status), `want 480 or 430 once the flow closed: ${dump(res)}`);
    assert.deepEqual(await bindingsOf(srv, 'dave'), [], 'the binding outlived its flow');
  });

  test("callee's WebSocket dropped (no close handshake): its binding goes, the next MESSAGE gets 480 (or 430)", async () => {
    const erin = await Ua.open(srv, 'erin', 'ws');
    await erin.register({ instance: `urn:uuid:${crypto.randomUUID()}` });
    assert.equal((await bindingsOf(srv, 'erin')).length, 1);
    await erin.close({ abrupt: true });
    assert.ok(await waitUnbound(srv, 'erin'), 'the binding outlived its flow by more than 5 s');
    const { req } = await alice.sendAuthed('MESSAGE', erin.aor, { body: 'gone?' });
    const res = await alice.final(req);
    assert.ok([480, 430].includes(res.status), `want 480 or 430 once the flow closed: ${dump(res)}`);
  });

  test("callee's WebSocket drops while a MESSAGE to it is pending: the caller gets 480 (or 430) at once, not a 408 after 64*T1", async () => {
    const heidi = await Ua.open(srv, 'heidi', 'ws');
    await heidi.register({ instance: `urn:uuid:${crypto.randomUUID()}` });
    const { req } = await alice.sendAuthed('MESSAGE', heidi.aor, { body: 'still there?' });
    await heidi.incoming('MESSAGE', req.callId);
    // the flow dies with the request in it: it will never be answered (RFC 5626
    // sec 5.3: 430 Flow Failed; the branch has no other target: 480 will do)
    await heidi.close({ abrupt: true });
    const t0 = Date.now();
    const final = (ms) => alice.take((m) => m.isResponse && m.status >= 200 && m.get('call-id') === req.callId, ms);
    const res = await final(T_REPLY);
    if (!res) {
      // let the transaction end (timer F) before the suite stops the server, and say what came
      const late = await final(64 * 500 + T_REPLY); // default T1 = 500 ms
      assert.fail(`no final response within ${T_REPLY} ms of the flow's end; then ${late ? `${late.status} after ${Date.now() - t0} ms` : 'nothing'} (timer F: 64*T1 = 32 s)`);
    }
    assert.ok([430, 480].includes(res.status), `want 430 or 480 when the flow of the only branch closed: ${dump(res)}`);
  });

  test('two devices of frank (two WebSockets, two instances): the MESSAGE forks to both; alice gets exactly one final (the first 200), the second 200 is absorbed', async () => {
    const d1 = await Ua.open(srv, 'frank', 'ws');
    const d2 = await Ua.open(srv, 'frank', 'ws');
    await d1.register({ instance: `urn:uuid:${crypto.randomUUID()}` });
    await d2.register({ instance: `urn:uuid:${crypto.randomUUID()}` });
    assert.equal((await bindingsOf(srv, 'frank')).length, 2, 'want two bindings for frank');

    const { req } = await alice.sendAuthed('MESSAGE', d1.aor, { body: UTF8_TEXT });
    const [m1, m2] = await Promise.all([d1.incoming('MESSAGE', req.callId), d2.incoming('MESSAGE', req.callId)]);
    for (const [m, d] of [
      [m1, d1],
      [m2, d2],
    ]) {
      assert.equal(m.binary, false);
      assert.ok(m.body.equals(Buffer.from(UTF8_TEXT, 'utf8')));
      assertRelayed(m, req, d, 'WS');
    }
    assert.notEqual(viaParts(m1.all('via')[0]).branch, viaParts(m2.all('via')[0]).branch, 'two branches with one branch id');

    const tag1 = uniq('d1');
    await d1.respond(m1, 200, 'OK', { toTag: tag1 });
    const res = await alice.final(req);
    assertUpstream(res, req, 200, tag1);

    await d2.respond(m2, 200, 'OK', { toTag: uniq('d2') });
    const extra = await alice.take((m) => m.isResponse && m.get('call-id') === req.callId, T_SILENCE);
    assert.equal(extra, null, `alice got a second response: ${dump(extra)}`);
    assert.equal(d2.inbox.filter((m) => m.get('call-id') === req.callId).length, 0, 'the other device got more (a CANCEL for a MESSAGE?)');
    await d1.close();
    await d2.close();
  });

  describe('JsSIP UAs (npm jssip, ws as WebSocket)', SUITE, () => {
    let JsSIP;
    const jsUas = [];

    before(async () => {
      globalThis.WebSocket = WebSocket; // what JsSIP.WebSocketInterface opens
      try {
        ({ default: JsSIP } = await import('jssip'));
      } catch (e) {
        throw new Error(`npm package jssip is missing (run npm ci at the repository root): ${e.message}`);
      }
    });

    after(async () => {
      for (const ua of jsUas) {
        const gone = new Promise((resolve) => ua.once('disconnected', resolve));
        ua.stop();
        await within(gone, T_REPLY);
      }
    });

    /** A started, registered JsSIP UA for user. */
    async function jsUa(user) {
      const ua = new JsSIP.UA({
        sockets: [new JsSIP.WebSocketInterface(`ws://127.0.0.1:${srv.port('ws')}/`)],
        uri: `sip:${user}@${DOMAIN}`,
        password: PASSWORD,
        register: true,
        user_agent: 'wsip-message-test JsSIP',
      });
      jsUas.push(ua);
      const reg = new Promise((resolve) => {
        ua.once('registered', () => resolve('registered'));
        ua.once('registrationFailed', (e) => resolve(`registrationFailed: ${e.cause} ${e.response ? e.response.status_code : ''}`));
      });
      ua.start();
      assert.equal(await within(reg, T_REPLY, 'no registration result in time'), 'registered', `JsSIP ${user}`);
      return ua;
    }

    /** ua.sendMessage with its outcome: {succeeded, status} or {failed, cause, status}. */
    function sendMessage(ua, target, body) {
      return within(
        new Promise((resolve) => {
          ua.sendMessage(target, body, {
            eventHandlers: {
              succeeded: (e) => resolve({ succeeded: true, status: e.response && e.response.status_code }),
              failed: (e) => resolve({ failed: true, cause: e.cause, status: e.response && e.response.status_code }),
            },
          });
        }),
        T_REPLY,
        { timeout: true },
      );
    }

    test("JsSIP ivan -> judy: judy's newMessage has the exact body, ivan's MESSAGE succeeds (after the 407)", async () => {
      const ivan = await jsUa('ivan');
      const judy = await jsUa('judy');
      const text = 'héllo ✓';
      const received = new Promise((resolve) =>
        judy.on('newMessage', (e) => {
          if (e.originator === 'remote') resolve({ body: e.request.body, from: e.request.from.uri.toString() });
        }),
      );
      const out = await sendMessage(ivan, `sip:judy@${DOMAIN}`, text);
      assert.deepEqual(out, { succeeded: true, status: 200 });
      const got = await within(received, T_REPLY, null);
      assert.ok(got, 'judy got no newMessage');
      assert.equal(got.body, text);
      assert.equal(got.from, `sip:ivan@${DOMAIN}`);
    });

    test('JsSIP MESSAGE to an unknown user fails with 404 Not Found', async () => {
      const ivan = jsUas[0] || (await jsUa('ivan'));
      const out = await sendMessage(ivan, `sip:nobody-${uniq('j')}@${DOMAIN}`, 'hello?');
      assert.equal(out.failed, true, JSON.stringify(out));
      assert.equal(out.status, 404, `want 404 once JsSIP answered the 407: ${JSON.stringify(out)}`);
      assert.equal(out.cause, JsSIP.C.causes.NOT_FOUND);
    });
  });
});

describe('SIGTERM while a relayed MESSAGE is pending', SUITE, () => {
  test('the callee got the MESSAGE and never answers; wsip still stops cleanly (exit 0; under ASan: nothing leaked)', async () => {
    const srv = await server(['alice', 'grace']);
    const alice = await Ua.open(srv, 'alice', 'udp');
    const grace = await Ua.open(srv, 'grace', 'ws');
    await alice.register();
    await grace.register({ instance: `urn:uuid:${crypto.randomUUID()}` });
    const { req } = await alice.sendAuthed('MESSAGE', grace.aor, { body: 'pending at shutdown' });
    await grace.incoming('MESSAGE', req.callId);
    servers.splice(servers.indexOf(srv), 1); // stopped here, not by the after hook
    await srv.stopOk();
  });
});

describe('MESSAGE to a callee that never answers', SUITE, () => {
  const T1 = 100; // ms: 64*T1 = 6.4 s

  test('alice gets 408 after 64*T1 (timer F); bob got the MESSAGE once (no retransmission over WS); his late 200 reaches alice by the Via (RFC 3261 sec 16.7 step 1, 16.11), forged ones reach nobody', async () => {
    const srv = await server(['alice', 'grace'], { 'sip.t1': T1 });
    const alice = await Ua.open(srv, 'alice', 'udp');
    const grace = await Ua.open(srv, 'grace', 'ws');
    const victim = await Ua.open(srv, 'victim', 'udp'); // never sends a request
    await alice.register();
    await grace.register({ instance: `urn:uuid:${crypto.randomUUID()}` });

    const { req } = await alice.sendAuthed('MESSAGE', grace.aor, { body: UTF8_TEXT });
    const got = await grace.incoming('MESSAGE', req.callId);
    const res = await alice.final(req, 64 * T1 + T_REPLY);
    assertUpstream(res, req, 408);
    assert.equal(grace.inbox.filter((m) => m.get('call-id') === req.callId).length, 0, 'the MESSAGE was retransmitted over a WebSocket');

    // The transaction is gone: what comes now is forwarded by its Vias, and
    // only to the hop wsip's branch was made for. Forged: the next Via
    // pointed at another address, or wsip's branch altered.
    const [ours, aliceVia, ...rest] = got.all('via');
    const withVias = (vias) => Object.assign(Object.create(got), { all: (n) => (/^(via|v)$/i.test(n) ? vias : got.all(n)) });
    const redirected = `SIP/2.0/UDP ${victim.sentBy};branch=${viaParts(aliceVia).branch};rport=${victim.sentBy.split(':')[1]};received=127.0.0.1`;
    await grace.respond(withVias([ours, redirected, ...rest]), 200, 'OK');
    const b = viaParts(ours).branch;
    const tampered = ours.replace(b, b.slice(0, -1) + (b.endsWith('0') ? '1' : '0'));
    await grace.respond(withVias([tampered, aliceVia, ...rest]), 200, 'OK');
    // a 100 is hop by hop: never forwarded
    await grace.respond(got, 100, 'Trying');
    const forged = await Promise.all([victim.take(() => true, T_SILENCE), alice.take((m) => m.get('call-id') === req.callId, T_SILENCE)]);
    assert.deepEqual(forged, [null, null], `forwarded: ${forged.map(dump).join(' | ')}`);

    const toTag = uniq('gt');
    await grace.respond(got, 200, 'OK', { toTag });
    const late = await alice.take((m) => m.isResponse && m.get('call-id') === req.callId);
    assert.ok(late, 'the late 200 did not reach alice');
    assertUpstream(late, req, 200, toTag);
    const extra = await alice.take((m) => m.isResponse && m.get('call-id') === req.callId, T_SILENCE);
    assert.equal(extra, null, `a second response: ${dump(extra)}`);
  });
});
