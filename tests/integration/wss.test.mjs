// SIP over secure WebSocket: a certificate from `wsip cert --self-signed`,
// a wss:// listener, a real `ws` client, and TLS failures that must not
// disturb other clients.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import WebSocket from 'ws';

import {
  OP,
  RawWs,
  Reader,
  T_REPLY,
  connectTcp,
  httpExchange,
  handshakeRequest,
  makeCert,
  param,
  parseSip,
  sipOptions,
  tryParseSip,
  startServer,
  tmpDir,
  uniq,
  within,
  SUITE,
} from './server.mjs';

const servers = [];
const sockets = [];
after(async () => {
  for (const s of sockets) s.terminate?.() ?? s.destroy?.();
  const errors = [];
  for (const s of servers) await s.stopOk().catch((e) => errors.push(e));
  if (errors.length) throw errors[0];
});

function wsRequest(c, msg) {
  const callId = parseSip(Buffer.from(msg)).get('call-id');
  return new Promise((resolve, reject) => {
    const onMsg = (data, isBinary) => {
      const sip = tryParseSip(Buffer.from(data));
      if (sip?.get('call-id') !== callId) return;
      clearTimeout(timer);
      c.off('message', onMsg);
      resolve({ sip, isBinary });
    };
    const timer = setTimeout(() => {
      c.off('message', onMsg);
      reject(new Error('no SIP response over wss'));
    }, T_REPLY);
    c.on('message', onMsg);
    c.send(msg);
  });
}

describe('WSS', SUITE, () => {
  let srv;
  let cert;
  let port;
  before(async () => {
    cert = makeCert(tmpDir('cert'));
    srv = await startServer({ listen: ['wss'], cert, set: { 'net.handshakes_per_ip_per_second': 100000 } });
    servers.push(srv);
    port = srv.port('wss');
  });

  async function client(o = { ca: cert.cert }) {
    const c = new WebSocket(`wss://127.0.0.1:${port}/`, 'sip', { handshakeTimeout: T_REPLY, ...o });
    sockets.push(c);
    await once(c, 'open');
    return c;
  }

  test('wsip cert --self-signed writes a certificate for 127.0.0.1 that verifies', () => {
    assert.match(cert.cert, /BEGIN CERTIFICATE/);
    const x = new crypto.X509Certificate(cert.cert);
    assert.match(x.subjectAltName, /IP Address:127\.0\.0\.1/);
    assert.ok(x.checkIP('127.0.0.1'));
  });

  test('handshake + OPTIONS over wss:// (certificate verified with ca) -> 200 in a text frame', async () => {
    const c = await client();
    assert.equal(c.protocol, 'sip');
    const r = await wsRequest(c, sipOptions({ transport: 'WSS' }));
    assert.equal(r.isBinary, false);
    assert.equal(r.sip.status, 200);
    assert.ok(param(r.sip.get('to'), 'tag'));
    assert.match(r.sip.get('via'), /^SIP\/2\.0\/WSS client\.invalid;/);
    assert.equal(param(r.sip.get('via'), 'received'), '127.0.0.1');
    assert.equal(param(r.sip.get('via'), 'rport'), String(c._socket.localPort));
    c.close(1000);
  });

  test('handshake + OPTIONS with rejectUnauthorized: false', async () => {
    const c = await client({ rejectUnauthorized: false });
    const r = await wsRequest(c, sipOptions({ transport: 'WSS' }));
    assert.equal(r.sip.status, 200);
    c.close();
  });

  test('handshake rules apply over TLS too (no sip offered -> 400)', async () => {
    const { res, sock } = await httpExchange(port, handshakeRequest({ protocol: 'chat' }), { tls: { ca: cert.cert } });
    sockets.push(sock);
    assert.equal(res?.status, 400);
    assert.equal(res.header('sec-websocket-protocol'), 'sip');
  });

  test('raw frames over TLS: fragmented OPTIONS with a ping -> pong, then 200', async () => {
    const ws = await RawWs.open(port, { tls: { ca: cert.cert } });
    sockets.push(ws.sock);
    const callId = uniq('c');
    const msg = Buffer.from(sipOptions({ transport: 'WSS', callId }));
    await ws.send(OP.TEXT, msg.subarray(0, 50), { fin: false });
    await ws.send(OP.PING, Buffer.from('tls-ping'));
    await ws.send(OP.CONT, msg.subarray(50), { fin: true });
    const f1 = await ws.frame();
    assert.equal(f1?.opcode, OP.PONG);
    assert.equal(f1.payload.toString(), 'tls-ping');
    const f2 = await ws.frame();
    assert.equal(f2?.opcode, OP.TEXT);
    assert.equal(parseSip(f2.payload).get('call-id'), callId);
    // an unmasked frame is still a protocol error
    await ws.send(OP.TEXT, 'x', { mask: false });
    const f3 = await ws.untilClose();
    assert.equal(f3?.code, 1002);
  });

  test('TLS handshake failures (garbage, plain HTTP, wrong protocol) do not disturb another client', async () => {
    const c = await client();
    const before = await wsRequest(c, sipOptions({ transport: 'WSS' }));
    assert.equal(before.sip.status, 200);
    const attempts = [
      // random, after a first byte that is no TLS record type (random bytes
      // may look like the start of a long record, which is waited for)
      Buffer.concat([Buffer.from([0x00, 0x00, 0x00, 0x00, 0x00]), crypto.randomBytes(2043)]),
      Buffer.from(handshakeRequest()), // plain ws:// handshake on the wss port
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00]), // truncated ClientHello
    ];
    for (const bytes of attempts) {
      const g = await connectTcp(port);
      sockets.push(g);
      const r = new Reader(g); // reads (and so sees the end) and records errors
      g.write(bytes);
      assert.ok(await r.waitClosed(), `connection with ${bytes.subarray(0, 8).toString('hex')}... left open`);
    }
    // a client that gives up in the middle of the TLS handshake
    const half = await connectTcp(port);
    half.on('error', () => {});
    half.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    half.destroy();
    // a TLS client that does not trust the certificate
    const untrusting = tls.connect({ port, host: '127.0.0.1' });
    const err = await within(once(untrusting, 'error').then(([e]) => e), T_REPLY, null);
    assert.ok(err, 'an untrusted self-signed certificate was accepted');
    untrusting.destroy();
    // the first client is still served, and new ones are accepted
    assert.equal(c.readyState, WebSocket.OPEN);
    assert.equal((await wsRequest(c, sipOptions({ transport: 'WSS' }))).sip.status, 200);
    const c2 = await client();
    assert.equal((await wsRequest(c2, sipOptions({ transport: 'WSS' }))).sip.status, 200);
    c.close();
    c2.close();
  });

  test('SIGTERM with a wss client connected: close 1001, exit code 0', async () => {
    const c = await client();
    assert.equal((await wsRequest(c, sipOptions({ transport: 'WSS' }))).sip.status, 200);
    const closed = once(c, 'close');
    srv.signal('SIGTERM');
    const [code] = await within(closed, T_REPLY, [null]);
    assert.equal(code, 1001);
    await srv.stopOk(null);
  });
});
