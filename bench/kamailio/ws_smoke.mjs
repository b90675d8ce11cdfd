// Functional smoke check of a benchmark target over WebSocket and UDP:
// Kamailio with bench/kamailio/kamailio.cfg, or bench/null_responder. Raw SIP
// user agents from tests/integration/rawua.mjs (npm ws), every wait bounded.
// Exits 0 when every step passed, 1 with the failing step otherwise.
//
//   node bench/kamailio/ws_smoke.mjs --target kamailio|null --ws PORT --udp PORT
//        [--auth] [--log FILE]
//
// kamailio: alice and bob register over WS, carol over UDP (digest: 401 then
// 200 with --auth, else 200 at once); MESSAGE alice -> bob (arrives on bob's
// WebSocket) and alice -> carol (UDP); a call alice -> bob over WS (INVITE,
// 180, 200, ACK, BYE from the caller); a call carol (UDP) -> bob (WS) hung up
// by the callee through the Record-Route set (double RR: UDP and WS); an
// INVITE alice -> bob cancelled while ringing (200 for the CANCEL, 487).
// With --auth every request of our domain outside a dialog is challenged
// first (407) and sent again with credentials. Password: "secret".
// null: every request gets its 200 from the responder itself.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { parseArgs } from 'node:util';

import { DOMAIN, PASSWORD, Ua, closeAll, credentials, dump, parseChallenge, tagOf, uriOf, values } from '../../tests/integration/rawua.mjs';

const { values: opt } = parseArgs({
  options: {
    target: { type: 'string' },
    ws: { type: 'string' },
    udp: { type: 'string' },
    auth: { type: 'boolean', default: false },
    log: { type: 'string' },
  },
});
if (!['kamailio', 'null'].includes(opt.target) || !opt.ws || !opt.udp) {
  console.error('usage: ws_smoke.mjs --target kamailio|null --ws PORT --udp PORT [--auth] [--log FILE]');
  process.exit(2);
}

// What rawua's Ua needs of a server: its ports, and a log tail for failures.
const srv = {
  port: (kind) => Number(kind === 'ws' ? opt.ws : opt.udp),
  tail: (n) => {
    if (!opt.log || !fs.existsSync(opt.log)) return '';
    return `--- ${opt.log} (last ${n} lines):\n${fs.readFileSync(opt.log, 'utf8').split('\n').slice(-n).join('\n')}`;
  },
};

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';

// ------------------------------------------------------------ requests

/** Sends a request from ua; with --auth (and when the target challenges)
 * expects the challenge `status` first (ACKs it for an INVITE) and sends it
 * again with credentials. Returns the request whose answers count. */
async function send(ua, method, ruri, o = {}, status = method === 'REGISTER' ? 401 : 407, password = PASSWORD) {
  const first = ua.build(method, ruri, o);
  await ua.sendReq(first);
  if (!opt.auth) return first;
  const challenge = await ua.final(first);
  assert.equal(challenge.status, status, `${method} ${ruri} without credentials: ${dump(challenge)}`);
  if (method === 'INVITE') await ua.ackNon2xx(first, challenge);
  const header = status === 401 ? 'www-authenticate' : 'proxy-authenticate';
  const ch = challenge.all(header).map(parseChallenge).find((c) => c.scheme === 'Digest');
  assert.ok(ch, `no Digest challenge: ${dump(challenge)}`);
  const auth = credentials(ch, { user: ua.user, password, method, uri: ruri });
  const again = ua.build(method, ruri, {
    ...o,
    branch: undefined,
    callId: first.callId,
    fromTag: first.fromTag,
    cseq: first.cseq + 1,
    headers: [...(o.headers || []), `${status === 401 ? 'Authorization' : 'Proxy-Authorization'}: ${auth}`],
  });
  await ua.sendReq(again);
  return again;
}

async function register(ua, password = PASSWORD) {
  const req = await send(ua, 'REGISTER', `sip:${DOMAIN}`, { to: ua.aor, headers: [`Contact: <${ua.contact}>`, 'Expires: 600'] }, 401, password);
  const res = await ua.final(req);
  if (password !== PASSWORD) {
    assert.equal(res.status, 401, `REGISTER ${ua.aor} with a wrong password: ${dump(res)}`);
    return;
  }
  assert.equal(res.status, 200, `REGISTER ${ua.aor} over ${ua.transport}: ${dump(res)}`);
  if (opt.target === 'kamailio') {
    assert.ok(res.all('contact').some((c) => c.includes(ua.contact)), `200 does not list ${ua.contact}: ${dump(res)}`);
  }
}

// --------------------------------------------------------------- steps

async function message(from, to) {
  const req = await send(from, 'MESSAGE', to.aor, { body: `hello ${to.user}`, contentType: 'text/plain' });
  if (opt.target === 'kamailio') {
    const got = await to.incoming('MESSAGE', req.callId);
    assert.equal(got.body.toString(), `hello ${to.user}`);
    await to.respond(got, 200, 'OK');
  }
  const res = await from.final(req);
  assert.equal(res.status, 200, `MESSAGE ${from.user} -> ${to.user}: ${dump(res)}`);
}

/** INVITE caller -> callee up to the caller's ACK of the 200. Returns the
 * dialog as each side sees it. */
async function callUp(caller, callee) {
  const req = await send(caller, 'INVITE', callee.aor, { body: SDP, headers: [`Contact: <${caller.contact}>`] });
  let inv = null;
  if (opt.target === 'kamailio') {
    inv = await callee.incoming('INVITE', req.callId);
    const toTag = `callee-${Date.now()}`;
    await callee.respond(inv, 180, 'Ringing', { toTag, recordRoute: true, contact: `<${callee.contact}>` });
    const ringing = await caller.must((m) => m.isResponse && m.status === 180 && m.get('call-id') === req.callId, '180');
    assert.equal(tagOf(ringing.get('to')), toTag);
    await callee.respond(inv, 200, 'OK', { toTag, recordRoute: true, contact: `<${callee.contact}>`, body: SDP });
  }
  const ok = await caller.final(req);
  assert.equal(ok.status, 200, `INVITE ${caller.user} -> ${callee.user}: ${dump(ok)}`);
  assert.ok(tagOf(ok.get('to')), `200 without a To tag: ${dump(ok)}`);
  const callerRoutes = values(ok, 'record-route').reverse();
  const target = opt.target === 'kamailio' ? uriOf(ok.get('contact')) : req.ruri;
  const ack = caller.build('ACK', target, {
    callId: req.callId,
    fromTag: req.fromTag,
    cseq: req.cseq,
    toHeader: ok.get('to'),
    routes: callerRoutes,
  });
  await caller.sendReq(ack);
  if (opt.target === 'kamailio') {
    await callee.incoming('ACK', req.callId);
    if (caller.transport !== callee.transport) {
      assert.equal(values(inv, 'record-route').length, 2, `one transport to another: two Record-Route values (double RR): ${dump(inv)}`);
    }
  }
  return { req, ok, inv, target, callerRoutes, cseq: req.cseq };
}

/** BYE from the caller through its route set; the callee answers 200. */
async function byeFromCaller(caller, callee, d) {
  const bye = caller.build('BYE', d.target, {
    callId: d.req.callId,
    fromTag: d.req.fromTag,
    cseq: d.cseq + 1,
    toHeader: d.ok.get('to'),
    routes: d.callerRoutes,
  });
  await caller.sendReq(bye);
  if (opt.target === 'kamailio') {
    const got = await callee.incoming('BYE', d.req.callId);
    await callee.respond(got, 200, 'OK');
  }
  const res = await caller.final(bye);
  assert.equal(res.status, 200, `BYE ${caller.user} -> ${callee.user}: ${dump(res)}`);
}

/** BYE from the callee: to the caller's Contact (as relayed, with the alias
 * Kamailio added for a WS caller) through the Record-Route values in order. */
async function byeFromCallee(caller, callee, d) {
  const toTag = tagOf(d.ok.get('to'));
  const bye = callee.build('BYE', uriOf(d.inv.get('contact')), {
    callId: d.req.callId,
    fromTag: toTag,
    cseq: 1,
    toHeader: d.inv.get('from'),
    routes: values(d.inv, 'record-route'),
    headers: [],
  });
  // build() names the From after the callee's AoR with our tag: as the callee.
  await callee.sendReq(bye);
  const got = await caller.incoming('BYE', d.req.callId);
  await caller.respond(got, 200, 'OK');
  const res = await callee.final(bye);
  assert.equal(res.status, 200, `BYE ${callee.user} -> ${caller.user}: ${dump(res)}`);
}

async function cancelled(caller, callee) {
  const req = await send(caller, 'INVITE', callee.aor, { body: SDP, headers: [`Contact: <${caller.contact}>`] });
  const inv = await callee.incoming('INVITE', req.callId);
  await callee.respond(inv, 180, 'Ringing', { toTag: 'ringing-1', recordRoute: true, contact: `<${callee.contact}>` });
  await caller.must((m) => m.isResponse && m.status === 180 && m.get('call-id') === req.callId, '180');
  const cancel = caller.build('CANCEL', req.ruri, {
    branch: req.branch,
    callId: req.callId,
    fromTag: req.fromTag,
    cseq: req.cseq,
  });
  await caller.sendReq(cancel);
  const ok = await caller.final(cancel);
  assert.equal(ok.status, 200, `CANCEL: ${dump(ok)}`);
  const got = await callee.incoming('CANCEL', req.callId);
  await callee.respond(got, 200, 'OK');
  await callee.respond(inv, 487, 'Request Terminated', { toTag: 'ringing-1' });
  const res = await caller.final(req);
  assert.equal(res.status, 487, `INVITE after CANCEL: ${dump(res)}`);
  await caller.ackNon2xx(req, res);
  // The proxy ACKs the 487 hop by hop (RFC 3261 sec 17.1.1.3).
  await callee.incoming('ACK', req.callId);
}

async function options(ua) {
  const req = ua.build('OPTIONS', `sip:127.0.0.1:${srv.port(ua.transport)}`);
  await ua.sendReq(req);
  const res = await ua.final(req);
  assert.equal(res.status, 200, `OPTIONS over ${ua.transport}: ${dump(res)}`);
}

// ---------------------------------------------------------------- main

const steps = [];
function step(name, fn) {
  steps.push({ name, fn });
}

let alice, bob, carol;
step('open alice (ws), bob (ws), carol (udp)', async () => {
  alice = await Ua.open(srv, 'alice', 'ws');
  bob = await Ua.open(srv, 'bob', 'ws');
  carol = await Ua.open(srv, 'carol', 'udp');
});
step('OPTIONS over WS and UDP answered 200', async () => {
  await options(alice);
  await options(carol);
});
if (opt.auth) {
  step('REGISTER with a wrong password: 401 again', () => register(alice, 'wrong'));
  step('MESSAGE from a user not in the table: 407 again (passwords "" and "0")', async () => {
    const mallory = await Ua.open(srv, 'mallory', 'ws');
    for (const password of ['', '0']) {
      const req = await send(mallory, 'MESSAGE', 'sip:bob@localhost', { body: 'hi', contentType: 'text/plain' }, 407, password);
      const res = await mallory.final(req);
      assert.equal(res.status, 407, `MESSAGE from an unknown user with password "${password}": ${dump(res)}`);
    }
  });
  step('REGISTER of a user not in the table: 401 again', async () => {
    const mallory = await Ua.open(srv, 'mallory', 'ws');
    const req = await send(mallory, 'REGISTER', `sip:${DOMAIN}`, { to: mallory.aor, headers: [`Contact: <${mallory.contact}>`] }, 401, '0');
    const res = await mallory.final(req);
    assert.equal(res.status, 401, `REGISTER of an unknown user with credentials: ${dump(res)}`);
  });
}
step(`REGISTER alice, bob (ws), carol (udp)${opt.auth ? ': 401 then 200' : ': 200'}`, async () => {
  await register(alice);
  await register(bob);
  await register(carol);
});
step('MESSAGE alice (ws) -> bob (ws): 200', () => message(alice, bob));
step('MESSAGE alice (ws) -> carol (udp): 200', () => message(alice, carol));
step(`call alice (ws) -> bob (ws): INVITE ${opt.target === 'kamailio' ? '180 ' : ''}200 ACK, BYE from the caller`, async () => {
  const d = await callUp(alice, bob);
  await byeFromCaller(alice, bob, d);
});
if (opt.target === 'kamailio') {
  step('call carol (udp) -> bob (ws), double Record-Route, BYE from the callee', async () => {
    const d = await callUp(carol, bob);
    await byeFromCallee(carol, bob, d);
  });
  step('call alice (ws) -> bob (ws) cancelled while ringing: 200 for the CANCEL, 487, ACK', () => cancelled(alice, bob));
} else {
  step('call carol (udp) -> alice: INVITE 200 ACK BYE 200', async () => {
    const d = await callUp(carol, alice);
    await byeFromCaller(carol, alice, d);
  });
}

let failed = false;
for (const s of steps) {
  try {
    await s.fn();
    console.log(`ok   ${s.name}`);
  } catch (e) {
    console.log(`FAIL ${s.name}\n${e.stack || e}`);
    failed = true;
    break;
  }
}
await closeAll();
process.exit(failed ? 1 : 0);
