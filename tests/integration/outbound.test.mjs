// Requests from our users to other domains (RFC 3261 sec 16.5-16.6, sec 18,
// RFC 3263 A/AAAA without NAPTR/SRV): wsip opens the connection to the next
// hop itself. A WebSocket user (digest-authenticated, 407 first) sends
// MESSAGE and INVITE to sip:bob@127.0.0.1:<port>;transport=tcp (or tls, or
// a host name) where a node TCP/TLS server plays the far side:
// - the request arrives over a NEW connection that wsip opened, with wsip's
//   Via for that transport, Max-Forwards decremented, our realm's
//   Proxy-Authorization removed, and (INVITE) a double Record-Route: the
//   TCP/TLS side without a flow token, the WS side with one;
// - the 200 goes back to the WebSocket; a second request reuses the same
//   connection (one accept on the far side); ACK and BYE travel over it too,
//   a BYE from the far side on that connection reaches the WebSocket user;
// - TLS: the far side's certificate is checked against tls.ca_file (a cert
//   made by `wsip cert --self-signed`), a certificate from elsewhere is
//   refused (503);
// - connection refused, a TLS handshake that never ends (tcp.connect_timeout),
//   a far side that closes under a pending INVITE and an unresolvable name
//   fail at once with 503 and a reason (no 32 s wait for timer B/F);
// - an idle outgoing connection closes after tcp.idle_timeout;
// - a stranger is never relayed: 403 for a foreign From, 407 for a From in
//   our domain without credentials; a trusted network is relayed without.
//
// The peers are written against the RFCs only; every wait is bounded.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';

import { DOMAIN, PASSWORD, Ua as RawUa, closeAll, credentials, dump, parseChallenge, routeUri, tagOf, uriOf, values, viaParts } from './rawua.mjs';
import { SUITE, T_REPLY, T_SILENCE, freePort, frameSipStream, makeCert, startServer, tmpDir, uniq, within } from './server.mjs';
import { makeDb } from './sipreg.mjs';

const servers = [];
const peers = [];
after(async () => {
  await closeAll();
  for (const p of peers) p.close();
  const errors = [];
  for (const s of servers) await s.stopOk().catch((e) => errors.push(e));
  if (errors.length) throw errors[0];
});

class Ua extends RawUa {
  static userAgent = 'wsip-outbound-test';
}

/** A database with our users (all with PASSWORD). */
function usersDb(users) {
  return makeDb(Object.fromEntries(users.map((u) => [`${u}@${DOMAIN}`, PASSWORD])), 'outbound');
}

const SDP = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 192.0.2.10', 't=0 0', 'm=audio 40000 RTP/AVP 0', ''].join('\r\n');

// ------------------------------------------------------ the far side

/**
 * A SIP peer over TCP or TLS (o.tls = {cert, key}) on 127.0.0.1: counts the
 * connections it accepts and keeps every message it receives (with the
 * socket it came on) in an inbox.
 */
class StreamPeer {
  static async listen(o = {}) {
    const p = new StreamPeer();
    const onConn = (sock) => p.accept(sock);
    p.server = o.tls ? tls.createServer({ cert: o.tls.cert, key: o.tls.key }, onConn) : net.createServer(onConn);
    p.server.on('tlsClientError', (e) => p.tlsErrors.push(e));
    p.server.on('connection', () => p.tcpAccepts++);
    await new Promise((resolve, reject) => {
      p.server.once('error', reject);
      p.server.listen({ port: 0, host: '127.0.0.1' }, resolve);
    });
    p.port = p.server.address().port;
    peers.push(p);
    return p;
  }

  constructor() {
    this.accepts = 0; // connections that carried SIP (TLS: handshake done)
    this.tcpAccepts = 0;
    this.socks = [];
    this.inbox = [];
    this.tlsErrors = [];
    this.waiters = new Set();
  }

  accept(sock) {
    this.accepts++;
    this.socks.push(sock);
    sock.setNoDelay(true);
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      for (;;) {
        const r = frameSipStream(buf);
        if (!r) break;
        buf = buf.subarray(r[1]);
        if (r[0].keepalive) continue;
        r[0].sock = sock;
        this.inbox.push(r[0]);
      }
      for (const w of [...this.waiters]) w();
    });
  }

  take(pred, ms = T_REPLY) {
    return new Promise((resolve) => {
      let timer = null;
      const attempt = () => {
        const i = this.inbox.findIndex(pred);
        if (i < 0) return;
        const [m] = this.inbox.splice(i, 1);
        clearTimeout(timer);
        this.waiters.delete(attempt);
        resolve(m);
      };
      timer = setTimeout(() => {
        this.waiters.delete(attempt);
        resolve(null);
      }, ms);
      this.waiters.add(attempt);
      attempt();
    });
  }

  async must(pred, what, ms = T_REPLY) {
    const m = await this.take(pred, ms);
    if (!m) throw new Error(`far side: no ${what} within ${ms} ms (inbox: ${this.inbox.map((x) => x.start).join(' | ') || 'nothing'})`);
    return m;
  }

  request(method, callId) {
    return this.must((m) => !m.isResponse && m.method === method && m.get('call-id') === callId, `${method} (Call-ID ${callId})`);
  }

  write(sock, text) {
    return new Promise((resolve, reject) => sock.write(Buffer.from(text, 'latin1'), (e) => (e ? reject(e) : resolve())));
  }

  /** Answers req on the connection it came on (RFC 3261 sec 18.2.2).
   * o.recordRoute: copy its Record-Route; o.ownRecordRoute: a value put on
   * top, as a proxy on the far side records itself. */
  respond(req, status, reason, o = {}) {
    const to = req.get('to');
    const body = o.body || '';
    const lines = [
      `SIP/2.0 ${status} ${reason}`,
      ...req.all('via').map((v) => `Via: ${v}`),
      ...(o.ownRecordRoute ? [`Record-Route: ${o.ownRecordRoute}`] : []),
      ...(o.recordRoute ? req.all('record-route').map((v) => `Record-Route: ${v}`) : []),
      `From: ${req.get('from')}`,
      `To: ${tagOf(to) ? to : `${to};tag=${o.toTag || uniq('bt')}`}`,
      `Call-ID: ${req.get('call-id')}`,
      `CSeq: ${req.get('cseq')}`,
      ...(o.contact ? [`Contact: ${o.contact}`] : []),
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ];
    return this.write(req.sock, lines.join('\r\n'));
  }

  close() {
    for (const s of this.socks) s.destroy();
    this.server.close();
  }
}

// ------------------------------------------------------------ checks

/** The request as wsip forwarded it to the far side over `transport`. */
function assertForwarded(m, srv, transport, what) {
  const vias = values(m, 'via');
  assert.equal(vias.length, 2, `${what}: wsip's Via and the caller's: ${vias.join(' | ')}`);
  const top = viaParts(vias[0]);
  assert.equal(top.transport, transport.toUpperCase(), `${what}: top Via ${vias[0]}`);
  assert.equal(top.host, '127.0.0.1', `${what}: top Via ${vias[0]}`);
  assert.equal(top.port, srv.port(transport), `${what}: top Via ${vias[0]} is not wsip's ${transport} listener`);
  assert.match(top.branch || '', /^z9hG4bK/, `${what}: branch of ${vias[0]}`);
  assert.equal(viaParts(vias[1]).transport, 'WS', `${what}: the caller's Via ${vias[1]}`);
  assert.equal(m.get('max-forwards'), '69', `${what}: Max-Forwards`);
  assert.equal(m.all('proxy-authorization').length, 0, `${what}: our realm's credentials went on`);
}

/** A double Record-Route: the far side's (transport, no flow token) on top,
 * the WebSocket side (transport=ws, flow token) below it. */
function assertRecordRoute(m, srv, transport, what) {
  const rr = values(m, 'record-route');
  assert.equal(rr.length, 2, `${what}: want a double Record-Route, got ${rr.join(' | ')}`);
  const far = routeUri(rr[0]);
  assert.equal(far.port, srv.port(transport), `${what}: ${rr[0]} is not wsip's ${transport} listener`);
  assert.equal(far.params.transport, transport, `${what}: ${rr[0]}`);
  assert.ok('lr' in far.params, `${what}: ${rr[0]} without lr`);
  assert.equal(far.params.wsf, undefined, `${what}: ${rr[0]}: an outgoing connection is no RFC 5626 flow`);
  const ws = routeUri(rr[1]);
  assert.equal(ws.port, srv.port('ws'), `${what}: ${rr[1]}`);
  assert.equal(ws.params.transport, 'ws', `${what}: ${rr[1]}`);
  assert.match(ws.params.wsf || '', /^[0-9a-f]{16}-[0-9a-f]{16}$/i, `${what}: ${rr[1]} carries no flow token`);
  return rr;
}

// ============================================================== tests

describe('requests to other domains over connections wsip opens (RFC 3261 sec 16.6, RFC 3263)', SUITE, () => {
  let srv;
  let cert;

  before(async () => {
    cert = makeCert(tmpDir('outbound-cert'));
    srv = await startServer({
      listen: ['udp', 'tcp', 'tls', 'ws'],
      cert,
      args: ['--db', usersDb(['alice', 'eve'])],
      // the far side's certificate is the self-signed one: trust it here;
      // loopback connects at once, a stalled TLS handshake gives up in 1 s
      set: { 'tls.ca_file': cert.certFile, 'tcp.connect_timeout': 1 },
    });
    servers.push(srv);
  });

  async function alice() {
    const ua = await Ua.open(srv, 'alice', 'ws');
    await ua.register();
    return ua;
  }

  async function sendMessage(ua, ruri, text = 'hello') {
    return ua.sendAuthed('MESSAGE', ruri, { body: text, contentType: 'text/plain' });
  }

  test('MESSAGE over TCP: a new connection, Via/Max-Forwards/credentials right, 200 relayed; a second MESSAGE reuses it', async () => {
    const peer = await StreamPeer.listen();
    const a = await alice();
    const ruri = `sip:bob@127.0.0.1:${peer.port};transport=tcp`;
    const req = await sendMessage(a, ruri, 'first');
    const got = await peer.request('MESSAGE', req.callId);
    assert.equal(got.ruri, ruri, 'Request-URI of a target outside our domains is left as it is');
    assertForwarded(got, srv, 'tcp', 'MESSAGE');
    assert.equal(got.all('record-route').length, 0, 'MESSAGE creates no dialog: no Record-Route');
    assert.equal(got.body.toString(), 'first');
    assert.equal(peer.accepts, 1, 'one connection from wsip');
    await peer.respond(got, 200, 'OK');
    const res = await a.final(req);
    assert.equal(res.status, 200, dump(res));
    assert.equal(values(res, 'via').length, 1, `wsip's Via is off the response: ${dump(res)}`);

    const req2 = await sendMessage(a, ruri, 'second');
    const got2 = await peer.request('MESSAGE', req2.callId);
    assert.equal(got2.sock, got.sock, 'the second MESSAGE came over the same connection');
    assert.equal(peer.accepts, 1, 'no second connection');
    await peer.respond(got2, 202, 'Accepted');
    assert.equal((await a.final(req2)).status, 202);
  });

  test('a MESSAGE pre-routed through wsip (Route to its WebSocket address, as JsSIP sends it): our Route popped, forwarded', async () => {
    const peer = await StreamPeer.listen();
    const a = await alice();
    const routes = [`<sip:127.0.0.1:${srv.port('ws')};transport=ws;lr>`];
    const req = await a.sendAuthed('MESSAGE', `sip:bob@127.0.0.1:${peer.port};transport=tcp`, { body: 'routed', contentType: 'text/plain', routes });
    const got = await peer.request('MESSAGE', req.callId);
    assertForwarded(got, srv, 'tcp', 'pre-routed MESSAGE');
    assert.equal(got.all('route').length, 0, `our Route went on: ${dump(got)}`);
    await peer.respond(got, 200, 'OK');
    assert.equal((await a.final(req)).status, 200);
  });

  test('INVITE over TCP: double Record-Route, 180/200 relayed, ACK and BYE both ways over the one connection (next hop by host name)', async () => {
    const peer = await StreamPeer.listen();
    const a = await alice();
    const ruri = `sip:bob@127.0.0.1:${peer.port};transport=tcp`;
    // bob's Contact names a host: alice's in-dialog requests need DNS
    const bobContact = `<sip:bob@localhost:${peer.port};transport=tcp>`;

    // call 1: the far side hangs up
    const req = await a.sendAuthed('INVITE', ruri, { body: SDP, headers: [`Contact: ${a.dialogContact}`] });
    assert.equal((await a.response(req)).status, 100, 'a stateful proxy answers 100 to an INVITE');
    const inv = await peer.request('INVITE', req.callId);
    assertForwarded(inv, srv, 'tcp', 'INVITE');
    const rr = assertRecordRoute(inv, srv, 'tcp', 'INVITE');
    const toTag = uniq('bt');
    await peer.respond(inv, 180, 'Ringing', { toTag, recordRoute: true, contact: bobContact });
    assert.equal((await a.response(req)).status, 180);
    await peer.respond(inv, 200, 'OK', { toTag, recordRoute: true, contact: bobContact, body: SDP });
    const ok = await a.final(req);
    assert.equal(ok.status, 200, dump(ok));
    assert.deepEqual(values(ok, 'record-route'), rr, 'the caller sees the Record-Route the callee saw');
    const routeSet = [...rr].reverse(); // sec 12.1.2: the UAC reverses it
    const ack = a.build('ACK', uriOf(ok.get('contact')), {
      callId: req.callId,
      fromTag: req.fromTag,
      cseq: req.cseq,
      toHeader: ok.get('to'),
      routes: routeSet,
    });
    await a.send(ack.buf);
    const gotAck = await peer.request('ACK', req.callId);
    assert.equal(gotAck.sock, inv.sock, 'the ACK came over the INVITE connection');
    assert.equal(values(gotAck, 'route').length, 0, `our Route entries are popped: ${dump(gotAck)}`);

    const byeLines = [
      `BYE ${uriOf(inv.get('contact'))} SIP/2.0`,
      `Via: SIP/2.0/TCP 127.0.0.1:${peer.port};branch=${uniq('z9hG4bK')}`,
      ...rr.map((r) => `Route: ${r}`), // the UAS's route set: the Record-Route in order
      'Max-Forwards: 70',
      `From: ${ok.get('to')}`,
      `To: ${inv.get('from')}`,
      `Call-ID: ${req.callId}`,
      'CSeq: 1 BYE',
      'Content-Length: 0',
      '',
      '',
    ];
    await peer.write(inv.sock, byeLines.join('\r\n'));
    const bye = await a.incoming('BYE', req.callId);
    assert.equal(values(bye, 'route').length, 0, `both our Route entries are popped: ${dump(bye)}`);
    await a.respond(bye, 200, 'OK');
    const byeOk = await peer.must((m) => m.isResponse && m.get('call-id') === req.callId && /BYE/.test(m.get('cseq')), '200 to BYE');
    assert.equal(byeOk.status, 200);
    assert.equal(byeOk.sock, inv.sock, 'the 200 to the BYE came back over the same connection');

    // call 2: the far side records a route of its own, by host name, and
    // alice hangs up: after our two entries the next Route is that name
    const req2 = await a.sendAuthed('INVITE', ruri, { body: SDP, headers: [`Contact: ${a.dialogContact}`] });
    const inv2 = await peer.request('INVITE', req2.callId);
    assert.equal(inv2.sock, inv.sock, 'the second INVITE reuses the connection');
    const farRr = `<sip:localhost:${peer.port};transport=tcp;lr>`;
    await peer.respond(inv2, 200, 'OK', { toTag, ownRecordRoute: farRr, recordRoute: true, contact: bobContact, body: SDP });
    const ok2 = await a.final(req2);
    assert.equal(ok2.status, 200, dump(ok2));
    const routes2 = values(ok2, 'record-route').reverse();
    assert.equal(routes2.length, 3, `route set: ${routes2.join(' | ')}`);
    const dlg = { callId: req2.callId, fromTag: req2.fromTag, toHeader: ok2.get('to'), routes: routes2 };
    await a.send(a.build('ACK', uriOf(ok2.get('contact')), { ...dlg, cseq: req2.cseq }).buf);
    await peer.request('ACK', req2.callId);
    const bye2 = a.build('BYE', uriOf(ok2.get('contact')), { ...dlg, cseq: req2.cseq + 1 });
    await a.send(bye2.buf);
    const gotBye = await peer.request('BYE', req2.callId);
    assert.equal(gotBye.ruri, uriOf(bobContact), 'the BYE goes to the remote target');
    assert.deepEqual(values(gotBye, 'route'), [farRr], 'our entries popped, the far side\'s left for it');
    assert.equal(gotBye.sock, inv.sock, 'the BYE to the next Route (a host name) found the same connection');
    await peer.respond(gotBye, 200, 'OK');
    assert.equal((await a.final(bye2)).status, 200);
    assert.equal(peer.accepts, 1, 'one connection carried both calls');
  });

  test('TLS to an outbound proxy named by a host name in the Route: DNS, certificate checked against tls.ca_file, Via TLS, 200 relayed, connection reused', async () => {
    const peer = await StreamPeer.listen({ tls: { cert: cert.cert, key: readKey(cert) } });
    const a = await alice();
    // localhost is one of wsip's domains, so the name is the next Route
    // (the far side as an outbound proxy, sec 16.6 step 7) rather than the
    // Request-URI; the certificate must name "localhost"
    const ruri = 'sip:bob@far.example';
    const routes = [`<sip:localhost:${peer.port};transport=tls;lr>`];
    const req = await a.sendAuthed('MESSAGE', ruri, { body: 'over TLS', contentType: 'text/plain', routes });
    const got = await peer.request('MESSAGE', req.callId);
    assertForwarded(got, srv, 'tls', 'MESSAGE over TLS');
    assert.equal(got.ruri, ruri);
    assert.deepEqual(values(got, 'route'), routes, 'the next hop\'s own Route stays for it to pop');
    await peer.respond(got, 200, 'OK');
    assert.equal((await a.final(req)).status, 200);

    const req2 = await a.sendAuthed('INVITE', ruri, { body: SDP, routes, headers: [`Contact: ${a.dialogContact}`] });
    const inv = await peer.request('INVITE', req2.callId);
    assert.equal(inv.sock, got.sock, 'the INVITE reuses the TLS connection');
    assertRecordRoute(inv, srv, 'tls', 'INVITE over TLS');
    await peer.respond(inv, 486, 'Busy Here', { toTag: uniq('bt') });
    const busy = await a.final(req2);
    assert.equal(busy.status, 486, dump(busy));
    await a.ackNon2xx(req2, busy);
    assert.equal(peer.accepts, 1);
  });

  test('TLS to a server whose certificate is not trusted: 503 with the reason, nothing delivered', async () => {
    const other = makeCert(tmpDir('outbound-other'));
    const peer = await StreamPeer.listen({ tls: { cert: other.cert, key: readKey(other) } });
    const a = await alice();
    const req = await sendMessage(a, `sip:bob@127.0.0.1:${peer.port};transport=tls`);
    const res = await a.final(req);
    assert.equal(res.status, 503, dump(res));
    assert.match(res.reason, /certificate|verify/i, `reason: ${res.reason}`);
    assert.equal(peer.inbox.length, 0, 'nothing may reach a server that failed the check');
  });

  test('connection refused: 503 at once (not after timer B/F), for MESSAGE and INVITE', async () => {
    const closed = await freePort();
    const a = await alice();
    const ruri = `sip:bob@127.0.0.1:${closed};transport=tcp`;
    // T_REPLY is far below the 32 s of timer F: an answer within it is "at once"
    const req = await sendMessage(a, ruri);
    const res = await a.final(req, T_REPLY);
    assert.equal(res.status, 503, dump(res));
    assert.match(res.reason, /refused/i, `reason: ${res.reason}`);

    const inv = await a.sendAuthed('INVITE', ruri, { body: SDP, headers: [`Contact: ${a.dialogContact}`] });
    const fin = await a.final(inv, T_REPLY);
    assert.equal(fin.status, 503, dump(fin));
    await a.ackNon2xx(inv, fin);
  });

  test('a server that never finishes the TLS handshake: 503 once tcp.connect_timeout is over', async () => {
    const peer = await StreamPeer.listen(); // plain TCP: it never answers a ClientHello
    const a = await alice();
    const req = await sendMessage(a, `sip:bob@127.0.0.1:${peer.port};transport=tls`);
    const res = await a.final(req, T_REPLY);
    assert.equal(res.status, 503, dump(res));
    assert.match(res.reason, /handshake timed out/i, `reason: ${res.reason}`);
    assert.equal(peer.tcpAccepts, 1, 'wsip connected');
  });

  test('the far side closes the connection under a pending INVITE: 503 at once, the next request opens a new connection', async () => {
    const peer = await StreamPeer.listen();
    const a = await alice();
    const ruri = `sip:bob@127.0.0.1:${peer.port};transport=tcp`;
    const req = await a.sendAuthed('INVITE', ruri, { body: SDP, headers: [`Contact: ${a.dialogContact}`] });
    const inv = await peer.request('INVITE', req.callId);
    inv.sock.destroy();
    const res = await a.final(req, T_REPLY);
    assert.equal(res.status, 503, dump(res));
    assert.match(res.reason, /closed/i, `reason: ${res.reason}`);
    await a.ackNon2xx(req, res);
    const req2 = await sendMessage(a, ruri);
    const got = await peer.request('MESSAGE', req2.callId);
    assert.notEqual(got.sock, inv.sock);
    assert.equal(peer.accepts, 2, 'a closed connection is not reused');
    await peer.respond(got, 200, 'OK');
    assert.equal((await a.final(req2)).status, 200);
  });

  test('a host name that does not resolve: 503 saying the lookup failed', async () => {
    const a = await alice();
    const req = await sendMessage(a, 'sip:bob@nonexistent.invalid;transport=tcp');
    const res = await a.final(req, T_REPLY);
    assert.ok(res.status === 503 || res.status === 404, dump(res));
    assert.match(res.reason, /DNS|resolve|host/i, `reason: ${res.reason}`);
  });

  test('strangers are not relayed: 403 for a foreign From, 407 for our domain without credentials; nothing reaches the far side', async () => {
    const peer = await StreamPeer.listen();
    const ruri = `sip:bob@127.0.0.1:${peer.port};transport=tcp`;
    const mallory = await Ua.open(srv, 'mallory', 'udp');
    mallory.aor = 'sip:mallory@evil.example';
    const m1 = mallory.build('MESSAGE', ruri, { body: 'spam', contentType: 'text/plain' });
    await mallory.send(m1.buf);
    const r1 = await mallory.final(m1);
    assert.equal(r1.status, 403, dump(r1));
    assert.match(r1.reason, /relay/i);

    const eve = await Ua.open(srv, 'eve', 'udp'); // a user of ours, without credentials
    const m2 = eve.build('MESSAGE', ruri, { body: 'spam', contentType: 'text/plain' });
    await eve.send(m2.buf);
    const r2 = await eve.final(m2);
    assert.equal(r2.status, 407, dump(r2));
    assert.ok(r2.all('proxy-authenticate').some((c) => c.includes(`realm="${DOMAIN}"`)), dump(r2));

    // a wrong password is not enough either
    const ch = parseChallenge(r2.all('proxy-authenticate').find((c) => /MD5/.test(c)));
    const m3 = eve.build('MESSAGE', ruri, {
      body: 'spam',
      contentType: 'text/plain',
      callId: m2.callId,
      fromTag: m2.fromTag,
      cseq: m2.cseq + 1,
      headers: [`Proxy-Authorization: ${credentials(ch, { user: 'eve', password: 'wrong', method: 'MESSAGE', uri: ruri })}`],
    });
    await eve.send(m3.buf);
    const r3 = await eve.final(m3);
    assert.equal(r3.status, 407, `a wrong password gets a fresh challenge: ${dump(r3)}`);

    assert.equal(await peer.take(() => true, T_SILENCE), null, 'a request was relayed for a stranger');
    assert.equal(peer.tcpAccepts, 0, 'wsip connected to the far side for a stranger');
  });
});

describe('idle outgoing connections', SUITE, () => {
  test('close after tcp.idle_timeout like accepted ones; the next request connects again', async () => {
    const srv = await startServer({ listen: ['udp', 'tcp', 'ws'], args: ['--db', usersDb(['alice'])], set: { 'tcp.idle_timeout': 1 } });
    servers.push(srv);
    const peer = await StreamPeer.listen();
    const a = await Ua.open(srv, 'alice', 'ws');
    const ruri = `sip:bob@127.0.0.1:${peer.port};transport=tcp`;
    const req = await a.sendAuthed('MESSAGE', ruri, { body: 'one', contentType: 'text/plain' });
    const got = await peer.request('MESSAGE', req.callId);
    const closed = new Promise((resolve) => got.sock.once('close', () => resolve(true)));
    await peer.respond(got, 200, 'OK');
    assert.equal((await a.final(req)).status, 200);
    assert.ok(await within(closed, T_REPLY, false), 'wsip kept an idle outgoing connection open past tcp.idle_timeout');
    const req2 = await a.sendAuthed('MESSAGE', ruri, { body: 'two', contentType: 'text/plain' });
    const got2 = await peer.request('MESSAGE', req2.callId);
    assert.equal(peer.accepts, 2, 'the second MESSAGE needed a new connection');
    await peer.respond(got2, 200, 'OK');
    assert.equal((await a.final(req2)).status, 200);
  });
});

describe('trusted networks are relayed without credentials', SUITE, () => {
  test('a foreign From from 127.0.0.0/8 (trusted) reaches the far side, 200 relayed', async () => {
    const srv = await startServer({ listen: ['udp', 'tcp', 'ws'], args: ['--db', usersDb([])], set: { trusted: '[127.0.0.0/8]' } });
    servers.push(srv);
    const peer = await StreamPeer.listen();
    const gw = await Ua.open(srv, 'gw', 'udp');
    gw.aor = 'sip:gw@pbx.example';
    const req = gw.build('MESSAGE', `sip:bob@127.0.0.1:${peer.port};transport=tcp`, { body: 'hi', contentType: 'text/plain' });
    await gw.send(req.buf);
    const got = await peer.request('MESSAGE', req.callId);
    const vias = values(got, 'via');
    assert.equal(viaParts(vias[0]).transport, 'TCP');
    assert.equal(viaParts(vias[0]).port, srv.port('tcp'));
    assert.match(vias[1], /received=127\.0\.0\.1/, `the UDP Via gets received (RFC 3581): ${vias[1]}`);
    await peer.respond(got, 200, 'OK');
    assert.equal((await gw.final(req)).status, 200);
  });
});

function readKey(c) {
  return fs.readFileSync(c.keyFile, 'utf8');
}
