// Calls (INVITE dialogs, RFC 3261 sec 12-16) through wsip's proxy between
// scripted raw SIP user agents over UDP and WebSocket (RFC 7118, Outbound
// RFC 5626), no media: proxy authentication of the INVITE (407, digest
// computed here with node:crypto), Record-Route (double when the two sides
// reach wsip differently, RFC 7118 sec 8.2 / RFC 5658 style, with the flow
// token of a connection side), in-dialog routing of ACK and BYE by the Route
// set, busy (486), CANCEL, forking with "Call completed elsewhere",
// retransmitted 2xx (forwarded statelessly), a callee flow that dies, 483
// for Max-Forwards 0, and 408 when nobody answers.
//
// The header handling is compared with the call flow of RFC 7118 sec 8.2
// (F1..F11 in the shared corpus, flows/rfc7118/): the structure of every
// message (which headers, how many Via / Record-Route / Route values,
// Max-Forwards), not the hosts.
//
// The raw user agents are written against the RFCs only (no code of
// wsip's); every wait is bounded.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { Ua as RawUa, closeAll, usersDb, dump, routeUri, tagOf, uriOf, values, viaCore, viaParts } from './rawua.mjs';
import { corpusPath, parseSip, startServer, stopAllAfter, SUITE, T_REPLY, T_SILENCE, uniq, within } from './server.mjs';

const servers = [];
stopAllAfter(servers, closeAll);

async function server(users, set = {}) {
  const s = await startServer({ listen: ['udp', 'ws'], args: ['--db', usersDb(users, 'call')], set });
  servers.push(s);
  return s;
}

// ------------------------------------------------------------------ SDP

/** A WebRTC offer of realistic size (~1.7 KB: ICE, DTLS, Opus and friends). */
function webrtcOffer() {
  const sess = crypto.randomInt(1e9);
  const ufrag = crypto.randomBytes(3).toString('hex');
  const pwd = crypto.randomBytes(12).toString('base64');
  const fp = [...crypto.randomBytes(32)].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');
  const ssrc = crypto.randomInt(1e9);
  const msid = crypto.randomUUID();
  const track = crypto.randomUUID();
  const cname = crypto.randomBytes(8).toString('base64');
  return [
    'v=0',
    `o=- ${sess}${sess} 2 IN IP4 127.0.0.1`,
    's=-',
    't=0 0',
    'a=group:BUNDLE 0',
    'a=extmap-allow-mixed',
    `a=msid-semantic: WMS ${msid}`,
    'm=audio 52114 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126',
    'c=IN IP4 192.0.2.10',
    'a=rtcp:9 IN IP4 0.0.0.0',
    'a=candidate:1467250027 1 udp 2122260223 192.0.2.10 52114 typ host generation 0 network-id 1',
    'a=candidate:435653019 1 tcp 1518280447 192.0.2.10 9 typ host tcptype active generation 0 network-id 1',
    'a=candidate:3528925834 1 udp 1686052607 198.51.100.7 52114 typ srflx raddr 192.0.2.10 rport 52114 generation 0 network-id 1',
    `a=ice-ufrag:${ufrag}`,
    `a=ice-pwd:${pwd}`,
    'a=ice-options:trickle',
    `a=fingerprint:sha-256 ${fp}`,
    'a=setup:actpass',
    'a=mid:0',
    'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
    'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
    'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
    'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
    'a=sendrecv',
    `a=msid:${msid} ${track}`,
    'a=rtcp-mux',
    'a=rtpmap:111 opus/48000/2',
    'a=rtcp-fb:111 transport-cc',
    'a=fmtp:111 minptime=10;useinbandfec=1',
    'a=rtpmap:63 red/48000/2',
    'a=fmtp:63 111/111',
    'a=rtpmap:9 G722/8000',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:13 CN/8000',
    'a=rtpmap:110 telephone-event/48000',
    'a=rtpmap:126 telephone-event/8000',
    `a=ssrc:${ssrc} cname:${cname}`,
    `a=ssrc:${ssrc} msid:${msid} ${track}`,
    '',
  ].join('\r\n');
}

/** A plain RTP answer, as a phone or gateway sends it. */
function rtpAnswer() {
  const sess = crypto.randomInt(1e9);
  return [
    'v=0',
    `o=phone ${sess} ${sess} IN IP4 192.0.2.22`,
    's=call',
    'c=IN IP4 192.0.2.22',
    't=0 0',
    'm=audio 40000 RTP/AVP 0 8 101',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-16',
    'a=ptime:20',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

// ------------------------------------------------------- header helpers

/** Asserts a Record-Route / Route value wsip wrote for one side: its
 * address for that transport, lr, transport=udp or transport=ws, and a flow
 * token (wsf) exactly for a connection side. Returns the flow token. */
function assertOurRr(v, srv, side, what) {
  const u = routeUri(v);
  const scheme = side === 'ws' ? 'ws' : 'udp';
  assert.equal(u.host, '127.0.0.1', `${what}: host of ${v}`);
  assert.equal(u.port, srv.port(scheme), `${what}: ${v} is not wsip's ${scheme} listener (${srv.port(scheme)})`);
  assert.equal(u.params.transport, scheme, `${what}: transport of ${v}`);
  assert.ok('lr' in u.params, `${what}: ${v} without lr (loose routing, RFC 3261 sec 16.6 step 4)`);
  if (side === 'ws') assert.match(u.params.wsf || '', /^[0-9a-f]{16}-[0-9a-f]{16}$/i, `${what}: the WebSocket side ${v} carries no flow token (wsf)`);
  else assert.equal(u.params.wsf, undefined, `${what}: the UDP side ${v} carries a flow token`);
  return u.params.wsf;
}

// --------------------------------------------- RFC 7118 sec 8.2 structure

const corpusCache = new Map();
function corpusMsg(file) {
  if (!corpusCache.has(file)) corpusCache.set(file, parseSip(fs.readFileSync(corpusPath('flows', 'rfc7118', file))));
  return corpusCache.get(file);
}

const tpClass = (t) => (t === 'WSS' ? 'WS' : t);

/**
 * Asserts that got has the structure of the message of RFC 7118 sec 8.2 in
 * file: same method / status, same number of Via, Record-Route and Route
 * values, the top Via's transport (WSS counts as WS), Max-Forwards when the
 * flow has one, and every other header of the flow present.
 */
function assertLikeRfc7118(got, file) {
  const ref = corpusMsg(file);
  const what = `compared with RFC 7118 sec 8.2 ${file}`;
  if (ref.isResponse) assert.equal(got.status, ref.status, `${what}: ${dump(got)}`);
  else assert.equal(got.method, ref.method, `${what}: ${dump(got)}`);
  for (const h of ['via', 'record-route', 'route']) {
    assert.equal(values(got, h).length, values(ref, h).length, `${what}: ${h} values ${JSON.stringify(values(got, h))}\n${dump(got)}`);
  }
  assert.equal(
    tpClass(viaParts(values(got, 'via')[0]).transport),
    tpClass(viaParts(values(ref, 'via')[0]).transport),
    `${what}: top Via ${values(got, 'via')[0]}`,
  );
  if (ref.get('max-forwards') !== undefined) assert.equal(got.get('max-forwards'), ref.get('max-forwards'), `${what}: Max-Forwards`);
  for (const { name } of ref.headers) {
    assert.ok(got.get(name) !== undefined, `${what}: no ${name} header\n${dump(got)}`);
  }
}

// --------------------------------------------------------- user agent

class Ua extends RawUa {
  static userAgent = 'wsip-calls-test';
}

// -------------------------------------------------------------- dialogs

/** One side's view of a dialog (RFC 3261 sec 12.1): what its in-dialog
 * requests carry. */
class Dialog {
  constructor(ua, o) {
    Object.assign(this, o);
    this.ua = ua;
  }

  /** An in-dialog request (sec 12.2.1.1): Request-URI the remote target,
   * Route the route set, From / To with both tags. o: build() options. */
  request(method, o = {}) {
    this.cseq = method === 'ACK' ? this.cseq : this.cseq + 1;
    return this.ua.build(method, this.remoteTarget, {
      callId: this.callId,
      fromTag: this.localTag,
      to: this.remoteUri,
      toTag: this.remoteTag,
      cseq: o.cseq || this.cseq,
      routes: this.routeSet,
      ...o,
    });
  }
}

/**
 * An in-dialog request from one side received by the other: sent, relayed
 * with wsip's Route entries gone, answered 200, the 200 back at the sender
 * with exactly its Via. Returns {req, got, res}.
 */
async function inDialog(from, to, method, o = {}) {
  const req = from.request(method, o);
  await from.ua.sendReq(req);
  const got = await to.ua.incoming(method, req.callId);
  assert.equal(got.ruri, req.ruri, `${method}: Request-URI changed on the way: ${got.start}`);
  assert.deepEqual(values(got, 'route'), [], `${method}: wsip's own Route entries were not removed: ${dump(got)}`);
  assert.deepEqual(got.all('record-route'), [], `${method}: an in-dialog request got a Record-Route`);
  const vias = values(got, 'via');
  assert.equal(vias.length, 2, `${method}: want wsip's Via over the sender's: ${vias.join(' | ')}`);
  assert.equal(viaCore(vias[1]), viaCore(req.vias[0]), `${method}: the sender's Via changed`);
  assert.equal(viaParts(vias[0]).transport, to.ua.viaTransport, `${method}: wsip's Via ${vias[0]}`);
  assert.equal(got.get('max-forwards'), '69', `${method}: Max-Forwards`);
  assert.equal(got.get('cseq'), `${req.cseq} ${method}`);
  assert.equal(tagOf(got.get('from')), from.localTag);
  assert.equal(tagOf(got.get('to')), from.remoteTag);
  if (to.ua.ws) assert.equal(got.binary, false, `${method} over WebSocket in a BINARY frame`);
  if (method === 'ACK') return { req, got };
  await to.ua.respond(got, 200, 'OK');
  const res = await from.ua.final(req);
  assert.equal(res.status, 200, dump(res));
  assert.deepEqual(res.all('via').map(viaCore), req.vias.map(viaCore), `Vias of the 200 to ${method}: ${res.all('via').join(' | ')}`);
  return { req, got, res };
}

/**
 * A call up to the 200 (not ACKed yet): caller INVITEs callee's AOR (407,
 * then with credentials), gets 100, the callee rings (180) and answers 200
 * with its Contact and the Record-Routes. Returns what each side saw.
 * o.answer: false: stop after the 180 (the caller got it).
 */
async function ringAndAnswer(caller, callee, o = {}) {
  const offer = webrtcOffer();
  const req = await caller.sendAuthed('INVITE', callee.aor, {
    body: offer,
    headers: [`Contact: ${caller.dialogContact}`, 'Supported: path, outbound, gruu', 'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS'],
  });
  const trying = await caller.response(req);
  assert.equal(trying.status, 100, `first response to the INVITE: ${dump(trying)}`);
  const inv = await callee.incoming('INVITE', req.callId);
  const calleeTag = uniq('ct');
  await callee.respond(inv, 180, 'Ringing', { toTag: calleeTag, recordRoute: true, contact: callee.dialogContact });
  const ringing = await caller.response(req);
  assert.equal(ringing.status, 180, `second response to the INVITE: ${dump(ringing)}`);
  const out = { req, offer, trying, inv, ringing, calleeTag };
  if (o.answer === false) return out;
  const answer = rtpAnswer();
  out.answer = answer;
  out.okBytes = await callee.respond(inv, 200, 'OK', { toTag: calleeTag, recordRoute: true, contact: callee.dialogContact, body: answer });
  out.ok = await caller.final(req);
  assert.equal(out.ok.status, 200, dump(out.ok));
  return out;
}

/**
 * The caller cancels a ringing call c (from ringAndAnswer(..., {answer:
 * false})): 200 for the CANCEL, the callee gets a CANCEL from wsip with the
 * branch of its INVITE, answers 200 and 487, gets wsip's ACK for the 487;
 * the caller gets the 487 after the 200 and ACKs it; nothing more on either side.
 */
async function cancelRinging(caller, callee, c) {
  const cancel = caller.build('CANCEL', c.req.ruri, {
    branch: c.req.branch,
    callId: c.req.callId,
    fromTag: c.req.fromTag,
    cseq: c.req.cseq,
    routes: c.req.routes,
  });
  await caller.sendReq(cancel);
  const ok = await caller.final(cancel);
  assert.equal(ok.status, 200, `CANCEL: ${dump(ok)}`);
  assert.deepEqual(ok.all('via').map(viaCore), cancel.vias.map(viaCore));

  const got = await callee.incoming('CANCEL', c.req.callId);
  const invBranch = viaParts(values(c.inv, 'via')[0]).branch;
  assert.equal(viaParts(values(got, 'via')[0]).branch, invBranch, 'CANCEL branch differs from the INVITE (RFC 3261 sec 9.1)');
  assert.equal(values(got, 'via').length, 1, `a CANCEL wsip generates carries its Via only: ${got.all('via').join(' | ')}`);
  assert.equal(got.ruri, c.inv.ruri);
  assert.equal(got.get('cseq'), `${c.req.cseq} CANCEL`);
  assert.equal(tagOf(got.get('to')), undefined, 'CANCEL To with a tag');
  assert.equal(tagOf(got.get('from')), c.req.fromTag);
  await callee.respond(got, 200, 'OK');
  await callee.respond(c.inv, 487, 'Request Terminated', { toTag: c.calleeTag });
  const ack = await callee.incoming('ACK', c.req.callId);
  assert.equal(viaParts(values(ack, 'via')[0]).branch, invBranch, "wsip's ACK for the 487: branch");

  const res = await caller.final(c.req);
  assert.equal(res.status, 487, dump(res));
  assert.ok(ok.seq < res.seq, 'the 487 came before the 200 for the CANCEL');
  assert.deepEqual(res.all('via').map(viaCore), c.req.vias.map(viaCore));
  await caller.ackNon2xx(c.req, res);
  assert.equal(await callee.stray(c.req.callId, (m) => m.method !== 'INVITE'), null, 'the callee got more');
  assert.equal(await caller.stray(c.req.callId, () => true, 1), null, 'the caller got more');
}

/** The two dialogs of an answered call (RFC 3261 sec 12.1.1 / 12.1.2). */
function dialogsOf(caller, callee, c) {
  const callerDlg = new Dialog(caller, {
    callId: c.req.callId,
    localTag: c.req.fromTag,
    remoteTag: tagOf(c.ok.get('to')),
    remoteUri: callee.aor,
    remoteTarget: uriOf(c.ok.get('contact')),
    routeSet: values(c.ok, 'record-route').reverse(),
    cseq: c.req.cseq,
  });
  const calleeDlg = new Dialog(callee, {
    callId: c.req.callId,
    localTag: c.calleeTag,
    remoteTag: c.req.fromTag,
    remoteUri: caller.aor,
    remoteTarget: uriOf(c.inv.get('contact')),
    routeSet: values(c.inv, 'record-route'),
    cseq: 1000,
  });
  return { callerDlg, calleeDlg };
}

/** A whole call up to the ACK at the callee: {c, callerDlg, calleeDlg, ack}. */
async function establish(caller, callee) {
  const c = await ringAndAnswer(caller, callee);
  const d = dialogsOf(caller, callee, c);
  const ack = await inDialog(d.callerDlg, d.calleeDlg, 'ACK', { cseq: c.req.cseq });
  return { c, ...d, ack };
}

/** Asserts the INVITE as the callee got it: Request-URI its contact, one
 * Via more (the caller's untouched below), Max-Forwards 69, the body and
 * the dialog headers untouched. */
function assertRelayedInvite(got, req, callee, offer) {
  assert.equal(got.ruri, callee.contact, `Request-URI not rewritten to the contact: ${got.start}`);
  const vias = values(got, 'via');
  assert.equal(vias.length, 2, `want wsip's Via over the caller's: ${vias.join(' | ')}`);
  assert.equal(viaCore(vias[1]), viaCore(req.vias[0]), `the caller's Via changed: ${vias.join(' | ')}`);
  const top = viaParts(vias[0]);
  assert.equal(top.transport, callee.viaTransport, `top Via ${vias[0]}`);
  assert.ok(top.branch && top.branch.startsWith('z9hG4bK') && top.branch !== req.branch, `top Via branch ${vias[0]}`);
  assert.equal(got.get('max-forwards'), '69', 'Max-Forwards not decremented from 70');
  assert.equal(got.get('call-id'), req.callId);
  assert.equal(got.get('cseq'), `${req.cseq} INVITE`);
  assert.equal(tagOf(got.get('from')), req.fromTag);
  assert.ok(!tagOf(got.get('to')), `To got a tag: ${got.get('to')}`);
  assert.ok(got.body.equals(Buffer.from(offer, 'utf8')), `SDP body changed on the way:\n${got.body.toString('latin1')}`);
  assert.equal(got.get('content-length'), String(Buffer.byteLength(offer)));
  assert.equal(got.get('content-type'), 'application/sdp');
  if (callee.ws) assert.equal(got.binary, false, 'an INVITE with an SDP body must come in a TEXT frame');
}

// ================================================================ tests

describe('calls through the proxy (RFC 3261 sec 16, RFC 7118 sec 8.2)', SUITE, () => {
  let srv;
  let alice; // WS, Outbound
  let bob; // UDP
  let dave; // WS, Outbound

  before(async () => {
    srv = await server(['alice', 'bob', 'carol', 'dave', 'heidi', 'rt0', 'rt1', 'rt2', 'rt3', 'rt4', 'rt5']);
    alice = await Ua.open(srv, 'alice', 'ws');
    bob = await Ua.open(srv, 'bob', 'udp');
    dave = await Ua.open(srv, 'dave', 'ws');
    await alice.register();
    await bob.register();
    await dave.register();
  });

  test('flow tokens cannot be forged or replayed to reach another user: injected Route gets 403/404, the WS user receives nothing', async () => {
    // a real, signed token of alice's flow, learnt from a call's Record-Route
    const c = await ringAndAnswer(dave, alice, { answer: false });
    const rr = values(c.inv, 'record-route');
    const real = routeUri(rr[0]).params.wsf;
    assert.match(real, /^[0-9a-f]{16}-[0-9a-f]{16}$/i);
    const forged = real.slice(0, 17) + (real[17] === '0' ? '1' : '0') + real.slice(18);
    const sock = dgram.createSocket('udp4');
    await new Promise((r) => sock.bind(0, '127.0.0.1', r));
    const port = sock.address().port;
    const replies = [];
    sock.on('message', (b) => replies.push(b.toString('latin1')));
    const send = (wsf, toTag) => {
      const cid = uniq('inject');
      const msg =
        `MESSAGE sip:x@abc.invalid;transport=ws SIP/2.0\r\n` +
        `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK${uniq('b')};rport\r\n` +
        `Max-Forwards: 70\r\n` +
        `Route: <sip:127.0.0.1:${srv.port('ws')};transport=ws;lr;wsf=${wsf}>\r\n` +
        `From: <sip:mallory@attacker.example>;tag=m1\r\n` +
        `To: <sip:alice@localhost>${toTag ? ';tag=t1' : ''}\r\n` +
        `Call-ID: ${cid}\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello`;
      sock.send(Buffer.from(msg, 'latin1'), srv.port('udp'), '127.0.0.1');
      return cid;
    };
    // out of dialog: wsip is no relay for an unauthenticated stranger
    const cid1 = send(real, false);
    // in dialog with a forged MAC: not a token of ours, so no flow
    const cid2 = send(forged, true);
    // a bare sequential token (the old format) is refused too
    const cid3 = send(real.slice(0, 16), true);
    const three = (async () => {
      while (replies.length < 3) await new Promise((r) => setTimeout(r, 20));
    })();
    await within(three, T_REPLY);
    const status = (cid) => {
      const r = replies.find((x) => x.includes(`Call-ID: ${cid}`));
      return r ? Number(r.split(' ')[1]) : 0;
    };
    assert.equal(status(cid1), 403, `out-of-dialog injection: ${replies.join('\n---\n')}`);
    assert.ok([404, 430].includes(status(cid2)), `forged token: ${replies.join('\n---\n')}`);
    assert.ok([404, 430].includes(status(cid3)), `unsigned token: ${replies.join('\n---\n')}`);
    const leaked = await alice.take((m) => !m.isResponse && m.method === 'MESSAGE', T_SILENCE);
    assert.equal(leaked, null, `alice received an injected MESSAGE: ${leaked && leaked.start}`);
    sock.close();
    await cancelRinging(dave, alice, c);
  });

  test('WS caller -> UDP callee (RFC 7118 sec 8.2): 100, 180, 200; double Record-Route; ACK and BYE (from the callee) routed by the Route set', async () => {
    const c = await ringAndAnswer(alice, bob);

    // F3: the INVITE as bob gets it
    assertRelayedInvite(c.inv, c.req, bob, c.offer);
    const rr = values(c.inv, 'record-route');
    assert.equal(rr.length, 2, `want two Record-Route values (the sides differ): ${rr.join(' | ')}\n${dump(c.inv)}`);
    assertOurRr(rr[0], srv, 'udp', "bob's own side first");
    const wsf = assertOurRr(rr[1], srv, 'ws', "alice's side second");
    assert.equal(c.inv.get('contact'), alice.dialogContact, 'Contact changed');
    assert.equal(c.inv.get('supported'), 'path, outbound, gruu');
    assertLikeRfc7118(c.inv, '8.2-F3-INVITE.sip');
    assert.equal(c.inv.rinfo.port, srv.port('udp'), 'the INVITE came from another port than the UDP listener');

    // F2: 100 Trying from wsip, with exactly alice's Via, no To tag needed
    assertLikeRfc7118(c.trying, '8.2-F2-100-Trying.sip');
    assert.deepEqual(c.trying.all('via').map(viaCore), c.req.vias.map(viaCore));
    assert.ok(c.trying.seq < c.ringing.seq && c.ringing.seq < c.ok.seq, 'responses out of order');
    assert.equal(c.ringing.binary, false);
    assert.deepEqual(values(c.ringing, 'record-route'), rr, 'the 180 lost its Record-Routes');

    // F5: the 200 as alice gets it
    assert.deepEqual(c.ok.all('via').map(viaCore), c.req.vias.map(viaCore), `Vias of the 200: ${c.ok.all('via').join(' | ')}`);
    assert.deepEqual(values(c.ok, 'record-route'), rr, 'the 200 must carry the same Record-Route values, in the same order');
    assert.equal(uriOf(c.ok.get('contact')), bob.contact);
    assert.equal(tagOf(c.ok.get('to')), c.calleeTag);
    assert.ok(c.ok.body.equals(Buffer.from(c.answer, 'utf8')), 'the SDP answer changed on the way');
    assert.equal(c.ok.binary, false);
    assertLikeRfc7118(c.ok, '8.2-F5-200-OK.sip');

    // F6 / F7: ACK with Route = the Record-Routes reversed; bob gets it without them
    const { callerDlg, calleeDlg } = dialogsOf(alice, bob, c);
    assert.deepEqual(callerDlg.routeSet, [rr[1], rr[0]]);
    const { req: ack, got: ackGot } = await inDialog(callerDlg, calleeDlg, 'ACK', { cseq: c.req.cseq });
    assert.equal(ackGot.ruri, bob.contact);
    assert.equal(ackGot.get('cseq'), `${c.req.cseq} ACK`);
    assertLikeRfc7118(ackGot, '8.2-F7-ACK.sip');
    assert.notEqual(viaParts(values(ackGot, 'via')[0]).branch, viaParts(values(c.inv, 'via')[0]).branch, 'the ACK for a 2xx is a new transaction');
    assert.deepEqual(ack.routes, [rr[1], rr[0]], 'F6: the ACK carries the Record-Routes reversed');

    // F8..F11: BYE from bob (UDP) to alice's contact, Route = the Record-Routes
    // in order; it reaches alice over her WebSocket
    const bye = await inDialog(calleeDlg, callerDlg, 'BYE');
    assert.equal(bye.got.ruri, uriOf(alice.dialogContact), 'BYE Request-URI');
    assert.equal(viaParts(values(bye.got, 'via')[0]).transport, 'WS');
    assertLikeRfc7118(bye.got, '8.2-F9-BYE.sip');
    assertLikeRfc7118(bye.res, '8.2-F11-200-OK.sip');
    // the BYE went down the flow the WS-side Record-Route named
    assert.ok(wsf && bye.got.binary === false);

    // nothing else for this call on either side (no retransmissions, no strays)
    assert.equal(await bob.stray(c.req.callId), null, 'bob got more');
    assert.equal(await alice.stray(c.req.callId, () => true, 1), null, 'alice got more');
  });

  test('WS caller -> UDP callee again, the BYE from the caller this time', async () => {
    const { c, callerDlg, calleeDlg } = await establish(alice, bob);
    const rr = values(c.inv, 'record-route');
    assert.equal(rr.length, 2);
    assertOurRr(rr[0], srv, 'udp', 'callee side');
    assertOurRr(rr[1], srv, 'ws', 'caller side');
    const bye = await inDialog(callerDlg, calleeDlg, 'BYE');
    assert.equal(bye.got.ruri, bob.contact);
    assert.equal(bye.got.rinfo.port, srv.port('udp'));
    assert.equal(await bob.stray(c.req.callId), null, 'bob got more');
  });

  test('RFC 7118 F1 as written: INVITE with a preloaded Route to wsip (its outbound proxy) still reaches the callee through the location service', async () => {
    // RFC 3261 sec 16.4: wsip removes its own Route; with no Route left and a
    // Request-URI in its domain it looks the callee up (sec 16.5), as for an
    // INVITE without a Route
    const offer = webrtcOffer();
    const route = `<sip:127.0.0.1:${srv.port('ws')};transport=ws;lr>`;
    const req = await alice.sendAuthed('INVITE', bob.aor, {
      body: offer,
      routes: [route],
      headers: [`Contact: ${alice.dialogContact}`, 'Supported: path, outbound, gruu'],
    });
    const first = await alice.response(req);
    assert.equal(first.status, 100, `want 100 then the call to bob: ${dump(first)}`);
    const inv = await bob.incoming('INVITE', req.callId);
    assertRelayedInvite(inv, req, bob, offer);
    assertLikeRfc7118(inv, '8.2-F3-INVITE.sip');
    await bob.respond(inv, 486, 'Busy Here');
    const res = await alice.final(req);
    assert.equal(res.status, 486);
    await alice.ackNon2xx(req, res);
  });

  test('UDP caller -> WS callee: double Record-Route (callee side with its flow first), the callee gets INVITE / ACK / BYE over its WebSocket; BYE from each side', async () => {
    for (const byeFrom of ['callee', 'caller']) {
      const c = await ringAndAnswer(bob, alice);
      assertRelayedInvite(c.inv, c.req, alice, c.offer);
      const rr = values(c.inv, 'record-route');
      assert.equal(rr.length, 2, `want two Record-Route values: ${rr.join(' | ')}`);
      assertOurRr(rr[0], srv, 'ws', "alice's own side first");
      assertOurRr(rr[1], srv, 'udp', "bob's side second");
      assert.deepEqual(values(c.ok, 'record-route'), rr, 'Record-Route of the 200');
      assert.deepEqual(c.ok.all('via').map(viaCore), c.req.vias.map(viaCore));
      assert.equal(c.ok.rinfo.port, srv.port('udp'));
      const { callerDlg, calleeDlg } = dialogsOf(bob, alice, c);
      await inDialog(callerDlg, calleeDlg, 'ACK', { cseq: c.req.cseq });
      const bye = byeFrom === 'callee' ? await inDialog(calleeDlg, callerDlg, 'BYE') : await inDialog(callerDlg, calleeDlg, 'BYE');
      if (byeFrom === 'callee') {
        assert.equal(bye.got.ruri, bob.contact);
        assert.equal(bye.got.rinfo.port, srv.port('udp'));
      } else {
        assert.equal(bye.got.ruri, uriOf(alice.dialogContact));
      }
      assert.equal(await alice.stray(c.req.callId), null, `alice got more (BYE from the ${byeFrom})`);
      assert.equal(await bob.stray(c.req.callId, () => true, 1), null, `bob got more (BYE from the ${byeFrom})`);
    }
  });

  test('WS caller -> WS callee (two connections): two Record-Routes with transport=ws and different flow tokens; ACK and BYE reach the right connection', async () => {
    for (const byeFrom of ['callee', 'caller']) {
      const c = await ringAndAnswer(alice, dave);
      assertRelayedInvite(c.inv, c.req, dave, c.offer);
      const rr = values(c.inv, 'record-route');
      assert.equal(rr.length, 2, `want two Record-Route values (two flows): ${rr.join(' | ')}`);
      const fDave = assertOurRr(rr[0], srv, 'ws', "dave's side");
      const fAlice = assertOurRr(rr[1], srv, 'ws', "alice's side");
      assert.notEqual(fDave, fAlice, 'the two sides carry the same flow token');
      assert.deepEqual(values(c.ok, 'record-route'), rr);
      const { callerDlg, calleeDlg } = dialogsOf(alice, dave, c);
      await inDialog(callerDlg, calleeDlg, 'ACK', { cseq: c.req.cseq });
      if (byeFrom === 'callee') await inDialog(calleeDlg, callerDlg, 'BYE');
      else await inDialog(callerDlg, calleeDlg, 'BYE');
      // nothing went to the wrong connection (a BYE looped back to its sender)
      assert.equal(await dave.stray(c.req.callId), null, 'dave got more');
      assert.equal(await alice.stray(c.req.callId, () => true, 1), null, 'alice got more');
    }
  });

  test("busy: the callee's 486 reaches the caller; wsip ACKs the 486 itself (same branch); the caller's ACK is absorbed", async () => {
    const req = await alice.sendAuthed('INVITE', bob.aor, { body: webrtcOffer(), headers: [`Contact: ${alice.dialogContact}`] });
    assert.equal((await alice.response(req)).status, 100);
    const inv = await bob.incoming('INVITE', req.callId);
    const tag = uniq('busy');
    await bob.respond(inv, 486, 'Busy Here', { toTag: tag });

    // wsip's client transaction acknowledges (RFC 3261 sec 17.1.1.3)
    const ack = await bob.incoming('ACK', req.callId);
    assert.equal(ack.ruri, inv.ruri, 'ACK Request-URI differs from the INVITE');
    const ackVias = values(ack, 'via');
    assert.equal(ackVias.length, 1, `a hop-by-hop ACK carries wsip's Via only: ${ackVias.join(' | ')}`);
    assert.equal(viaParts(ackVias[0]).branch, viaParts(values(inv, 'via')[0]).branch, 'ACK branch differs from the INVITE');
    assert.equal(ack.get('cseq'), `${req.cseq} ACK`);
    assert.equal(tagOf(ack.get('to')), tag, 'ACK To tag');
    assert.equal(tagOf(ack.get('from')), req.fromTag);
    assert.deepEqual(values(ack, 'route'), []);

    const res = await alice.final(req);
    assert.equal(res.status, 486, dump(res));
    assert.equal(tagOf(res.get('to')), tag);
    assert.deepEqual(res.all('via').map(viaCore), req.vias.map(viaCore));
    await alice.ackNon2xx(req, res);
    assert.equal(await bob.stray(req.callId), null, "the caller's ACK for the 486 was forwarded (or more came)");
    assert.equal(await alice.stray(req.callId, () => true, 1), null, 'alice got more');
  });

  test('CANCEL before the answer: 200 for the CANCEL then 487; the callee gets a CANCEL from wsip (same branch as its INVITE)', async () => {
    const c = await ringAndAnswer(alice, bob, { answer: false });
    await cancelRinging(alice, bob, c);
  });

  test('forking to two devices: the first 200 reaches the caller; the other device gets a CANCEL with Reason "Call completed elsewhere"; its 487 goes nowhere', async () => {
    const d1 = await Ua.open(srv, 'carol', 'ws');
    const d2 = await Ua.open(srv, 'carol', 'ws');
    await d1.register();
    await d2.register();
    const offer = webrtcOffer();
    const req = await bob.sendAuthed('INVITE', d1.aor, { body: offer, headers: [`Contact: ${bob.dialogContact}`] });
    assert.equal((await bob.response(req)).status, 100);
    const [i1, i2] = await Promise.all([d1.incoming('INVITE', req.callId), d2.incoming('INVITE', req.callId)]);
    assertRelayedInvite(i1, req, d1, offer);
    assertRelayedInvite(i2, req, d2, offer);
    assert.notEqual(viaParts(values(i1, 'via')[0]).branch, viaParts(values(i2, 'via')[0]).branch, 'two branches with one branch id');
    const t1 = uniq('d1');
    const t2 = uniq('d2');
    await d1.respond(i1, 180, 'Ringing', { toTag: t1, recordRoute: true, contact: d1.dialogContact });
    await d2.respond(i2, 180, 'Ringing', { toTag: t2, recordRoute: true, contact: d2.dialogContact });
    const r1 = await bob.response(req);
    const r2 = await bob.response(req);
    assert.deepEqual([r1.status, r2.status], [180, 180]);
    assert.deepEqual(new Set([tagOf(r1.get('to')), tagOf(r2.get('to'))]), new Set([t1, t2]), 'both early dialogs reach the caller');

    await d1.respond(i1, 200, 'OK', { toTag: t1, recordRoute: true, contact: d1.dialogContact, body: rtpAnswer() });
    const ok = await bob.final(req);
    assert.equal(ok.status, 200, dump(ok));
    assert.equal(tagOf(ok.get('to')), t1);

    const cancel = await d2.incoming('CANCEL', req.callId);
    assert.equal(viaParts(values(cancel, 'via')[0]).branch, viaParts(values(i2, 'via')[0]).branch, 'CANCEL branch');
    const reason = cancel.get('reason') || '';
    assert.match(reason, /^SIP\s*;/i, `Reason: ${reason}`);
    assert.match(reason, /cause\s*=\s*200/i, `Reason: ${reason}`);
    assert.match(reason, /text\s*=\s*"Call completed elsewhere"/i, `Reason (RFC 3326): ${reason}`);
    await d2.respond(cancel, 200, 'OK');
    await d2.respond(i2, 487, 'Request Terminated', { toTag: t2 });
    const ack2 = await d2.incoming('ACK', req.callId);
    assert.equal(viaParts(values(ack2, 'via')[0]).branch, viaParts(values(i2, 'via')[0]).branch, "wsip's ACK for the 487: branch");
    assert.equal(await bob.stray(req.callId), null, 'the caller got more after the 200 (the 487 of the cancelled branch?)');
    assert.equal(d1.inbox.filter((m) => m.get('call-id') === req.callId).length, 0, 'device 1 got more (a CANCEL?)');

    // the call goes on with device 1 only
    const c = { req, inv: i1, ok, calleeTag: t1 };
    const { callerDlg, calleeDlg } = dialogsOf(bob, d1, c);
    await inDialog(callerDlg, calleeDlg, 'ACK', { cseq: req.cseq });
    await inDialog(calleeDlg, callerDlg, 'BYE');
    assert.equal(d2.inbox.filter((m) => m.get('call-id') === req.callId).length, 0, 'device 2 got the ACK or BYE of the call');
    await d1.close();
    await d2.close();
  });

  test('a retransmitted 200 (callee over UDP, before the ACK) reaches the caller again, by its Via (stateless forwarding); several callee sockets, so that both workers see one', async () => {
    for (let i = 0; i < 6; i++) {
      const callee = await Ua.open(srv, `rt${i}`, 'udp');
      await callee.register();
      const c = await ringAndAnswer(alice, callee);
      await callee.sendResponse(c.inv, c.okBytes);
      const again = await alice.take((m) => m.isResponse && m.get('call-id') === c.req.callId, T_REPLY);
      assert.ok(again, `call ${i}: the retransmitted 200 did not reach the caller within ${T_REPLY} ms\n${srv.tail(10)}`);
      assert.equal(again.status, 200, dump(again));
      assert.equal(again.get('cseq'), `${c.req.cseq} INVITE`);
      assert.equal(tagOf(again.get('to')), c.calleeTag);
      assert.deepEqual(again.all('via').map(viaCore), c.req.vias.map(viaCore), `call ${i}: Vias of the retransmitted 200`);
      assert.ok(again.body.equals(c.ok.body), 'body of the retransmitted 200');
      const { callerDlg, calleeDlg } = dialogsOf(alice, callee, c);
      await inDialog(callerDlg, calleeDlg, 'ACK', { cseq: c.req.cseq });
      await inDialog(callerDlg, calleeDlg, 'BYE');
      await callee.close();
    }
  });

  test("the callee's WebSocket drops while the INVITE rings: the caller gets 430 (or 480) within seconds, not 408 after 64*T1", async () => {
    const heidi = await Ua.open(srv, 'heidi', 'ws');
    await heidi.register();
    const c = await ringAndAnswer(bob, heidi, { answer: false });
    await heidi.close({ abrupt: true });
    const t0 = Date.now();
    const res = await bob.take((m) => m.isResponse && m.status >= 200 && m.get('call-id') === c.req.callId, T_REPLY);
    if (!res) {
      const late = await bob.take((m) => m.isResponse && m.status >= 200 && m.get('call-id') === c.req.callId, 64 * 500 + T_REPLY);
      assert.fail(`no final response within ${T_REPLY} ms of the flow's end; then ${late ? `${late.status} after ${Date.now() - t0} ms` : 'nothing'}`);
    }
    assert.ok([430, 480].includes(res.status), `want 430 (RFC 5626 sec 5.3) or 480: ${dump(res)}`);
    assert.deepEqual(res.all('via').map(viaCore), c.req.vias.map(viaCore));
    await bob.ackNon2xx(c.req, res);
  });

  test('an in-dialog request with Max-Forwards: 0 gets 483 from wsip and goes no further', async () => {
    const { c, callerDlg, calleeDlg } = await establish(alice, bob);
    const bye0 = callerDlg.request('BYE', { maxForwards: 0 });
    await alice.sendReq(bye0);
    const res = await alice.final(bye0);
    assert.equal(res.status, 483, dump(res));
    assert.deepEqual(res.all('via').map(viaCore), bye0.vias.map(viaCore));
    assert.equal(await bob.stray(c.req.callId), null, 'the request went on with Max-Forwards 0');
    await inDialog(callerDlg, calleeDlg, 'BYE');
  });
});

// the two tests run side by side: each waits 64*T1
describe('calls with T1 = 100 ms (64*T1 = 6.4 s)', { ...SUITE, concurrency: true }, () => {
  const T1 = 100;
  let srv;
  let alice; // WS
  let bob; // UDP

  before(async () => {
    srv = await server(['alice', 'bob'], { 'sip.t1': T1 });
    alice = await Ua.open(srv, 'alice', 'ws');
    bob = await Ua.open(srv, 'bob', 'udp');
    await alice.register();
    await bob.register();
  });

  test('the callee never answers (not even 180): 408 after 64*T1 (timer B)', async () => {
    const offer = webrtcOffer();
    const req = await alice.sendAuthed('INVITE', bob.aor, { body: offer, headers: [`Contact: ${alice.dialogContact}`] });
    assert.equal((await alice.response(req)).status, 100);
    const inv = await bob.incoming('INVITE', req.callId);
    assertRelayedInvite(inv, req, bob, offer);
    const res = await alice.final(req, 64 * T1 + T_REPLY);
    assert.equal(res.status, 408, dump(res));
    assert.deepEqual(res.all('via').map(viaCore), req.vias.map(viaCore));
    await alice.ackNon2xx(req, res);
    // the INVITE went out again over UDP (timer A) with the same branch
    const again = bob.inbox.filter((m) => m.method === 'INVITE' && m.get('call-id') === req.callId);
    assert.ok(again.length >= 1, 'no INVITE retransmission over UDP');
    for (const m of again) assert.equal(viaParts(values(m, 'via')[0]).branch, viaParts(values(inv, 'via')[0]).branch);
  });

  test('the callee rings (180) and never answers: no 408 after 64*T1 (timer B ends with the Calling state, RFC 3261 sec 17.1.1.2; a proxy waits for timer C, > 3 min, sec 16.6 step 11); the caller can still CANCEL', async () => {
    const c = await ringAndAnswer(alice, bob, { answer: false });
    const early = await alice.take((m) => m.isResponse && m.status >= 200 && m.get('call-id') === c.req.callId, 64 * T1 + 2000);
    if (early) await alice.ackNon2xx(c.req, early);
    assert.equal(early, null, `a final response while the callee rings: ${dump(early)}`);
    assert.equal(await bob.stray(c.req.callId, (m) => m.method !== 'INVITE', 1), null, 'the callee got something while ringing (a CANCEL?)');
    await cancelRinging(alice, bob, c);
  });
});
