// SIP over UDP, TCP and TLS (RFC 3261 sec 18, RFC 3581): OPTIONS answered,
// other methods refused, framing, keepalives, size limits, malformed input
// (RFC 4475 corpus), garbage, per-IP connection limit, IPv6 loopback.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import crypto from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';

import {
  Reader,
  SipStream,
  T_REPLY,
  T_SILENCE,
  UdpPeer,
  canBind,
  connectTcp,
  corpusPath,
  makeCert,
  param,
  readTsv,
  sipOptions,
  sipRequest,
  sleep,
  startServer,
  tmpDir,
  uniq,
  wait,
  within,
  SUITE,
} from './server.mjs';

const servers = [];
const closers = [];
after(async () => {
  for (const c of closers) c();
  const errors = [];
  for (const s of servers) await s.stopOk().catch((e) => errors.push(e));
  if (errors.length) throw errors[0];
});

async function server(o) {
  const s = await startServer(o);
  servers.push(s);
  return s;
}
async function udp(host) {
  const p = await UdpPeer.open(host);
  closers.push(() => p.close());
  return p;
}
async function tcp(port, host) {
  const s = await SipStream.tcp(port, host);
  closers.push(() => s.close());
  return s;
}

/** Sends bad, then an OPTIONS probe; returns what arrived before the
 * probe's 200 (the server answers one source in order). */
async function answersTo(peer, port, bad) {
  await peer.send(bad, port);
  // The probe shares the bad message's Call-ID where it has one: wsip hands
  // UDP requests to a worker by Call-ID, so only then is the bad one
  // handled first (requests of different calls are not ordered).
  const callId = /^(?:call-id|i)[ \t]*:[ \t]*(\S+)/im.exec(bad.toString('latin1'))?.[1] ?? uniq('probe');
  const branch = uniq('z9hG4bKprobe');
  await peer.send(sipOptions({ callId, branch, sentBy: `127.0.0.1:${peer.port}` }), port);
  const { got, match } = await peer.collectUntil((d) => d.sip?.get('via')?.includes(branch));
  assert.ok(match, 'the probe OPTIONS got no answer');
  assert.equal(match.sip.status, 200);
  return got;
}

describe('SIP over UDP, TCP and TLS', SUITE, () => {
  let srv;
  let cert;
  before(async () => {
    cert = makeCert(tmpDir('cert'));
    srv = await server({
      listen: ['udp', 'tcp', 'tls'],
      cert,
      set: { 'sip.max_udp_message_size': 2000, 'sip.max_message_size': 8192 },
    });
  });

  // ------------------------------------------------------------- UDP

  test('UDP: OPTIONS -> 200 with To-tag, Via rport and received filled in', async () => {
    const u = await udp();
    const branch = uniq('z9hG4bK');
    const r = await u.request(sipOptions({ sentBy: 'client.invalid', branch }), srv.port('udp'));
    assert.ok(r, 'no answer');
    assert.equal(r.sip.status, 200, r.sip.start);
    assert.equal(r.rinfo.port, srv.port('udp'), 'the answer must come from the port the request went to');
    const via = r.sip.get('via');
    assert.equal(param(via, 'branch'), branch);
    assert.equal(param(via, 'rport'), String(u.port));
    assert.equal(param(via, 'received'), '127.0.0.1');
    assert.ok(param(r.sip.get('to'), 'tag'), 'To-tag missing');
    assert.match(r.sip.get('allow') || '', /OPTIONS/);
  });

  test('UDP: Via with a port and no rport -> answer sent to that port (RFC 3261 sec 18.2.2)', async () => {
    const sender = await udp();
    const receiver = await udp();
    const msg = sipOptions({ sentBy: `host.invalid:${receiver.port}`, rport: false });
    await sender.send(msg, srv.port('udp'));
    const r = await receiver.next();
    assert.ok(r, 'nothing arrived at the Via port');
    assert.equal(r.sip.status, 200);
    assert.equal(param(r.sip.get('via'), 'received'), '127.0.0.1');
    assert.equal(param(r.sip.get('via'), 'rport'), undefined);
    assert.equal(await sender.next(T_SILENCE), null, 'the answer also went to the source port');
  });

  test('UDP: INVITE and MESSAGE -> 501 with Allow', async () => {
    const u = await udp();
    for (const m of ['INVITE', 'MESSAGE', 'SUBSCRIBE']) {
      const r = await u.request(sipRequest(m, { sentBy: `127.0.0.1:${u.port}` }), srv.port('udp'));
      assert.ok(r, `${m}: no answer`);
      assert.equal(r.sip.status, 501, `${m}: ${r.sip.start}`);
      assert.equal(r.sip.get('cseq'), `1 ${m}`);
      assert.ok(r.sip.get('allow'), `${m}: 501 without Allow`);
    }
  });

  test('UDP: ACK, responses and CRLF keepalives get no answer', async () => {
    const u = await udp();
    const port = srv.port('udp');
    const response = [
      'SIP/2.0 200 OK',
      `Via: SIP/2.0/UDP 127.0.0.1:${u.port};branch=${uniq('z9hG4bK')}`,
      'From: <sip:a@client.invalid>;tag=1',
      'To: <sip:b@127.0.0.1>;tag=2',
      `Call-ID: ${uniq('c')}`,
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    for (const bad of [sipRequest('ACK', { sentBy: `127.0.0.1:${u.port}` }), response, '\r\n\r\n', '\r\n']) {
      const got = await answersTo(u, port, bad);
      assert.deepEqual(got.map((d) => d.sip?.start ?? d.msg.toString()), [], `answered: ${bad.split('\r\n')[0]}`);
    }
  });

  test('UDP: malformed request (bad CSeq) -> 400 with a reason phrase', async () => {
    const u = await udp();
    const msg = sipOptions({ sentBy: `127.0.0.1:${u.port}` }).replace(/CSeq: 1 OPTIONS/, 'CSeq: one OPTIONS');
    const r = await u.request(msg, srv.port('udp'));
    assert.ok(r, 'no answer');
    assert.equal(r.sip.status, 400);
    assert.ok(r.sip.reason.trim().length > 0, 'no reason phrase');
  });

  test('UDP: datagram over sip.max_udp_message_size (2000) -> 513', async () => {
    const u = await udp();
    const msg = sipOptions({ sentBy: `127.0.0.1:${u.port}`, headers: ['Content-Type: text/plain'], body: 'x'.repeat(2800) });
    assert.ok(Buffer.byteLength(msg) > 3000);
    const r = await u.request(msg, srv.port('udp'));
    assert.ok(r, 'no answer');
    assert.equal(r.sip.status, 513, r.sip.start);
    // and one just under the limit is fine
    const ok = sipOptions({ sentBy: `127.0.0.1:${u.port}`, headers: ['Content-Type: text/plain'], body: 'x'.repeat(1500) });
    assert.ok(Buffer.byteLength(ok) < 2000);
    const r2 = await u.request(ok, srv.port('udp'));
    assert.equal(r2?.sip.status, 200);
  });

  describe('UDP: RFC 4475 invalid messages', SUITE, () => {
    const rows = readTsv(corpusPath('rfc4475', 'EXPECT.tsv')).filter((r) => r.file.startsWith('invalid/'));
    const hasVia = (b) => /^(via|v)[ \t]*:/im.test(b.toString('latin1'));
    const chosen = rows.filter((r) => r.verdict === 'discard' || ((r.verdict === 'reject-400' || r.verdict === 'reject-505') && hasVia(fs.readFileSync(corpusPath('rfc4475', r.file)))));
    test('the corpus has reject-400 and discard cases', () => {
      assert.ok(chosen.filter((r) => r.verdict === 'reject-400').length >= 4);
      assert.ok(chosen.filter((r) => r.verdict === 'discard').length >= 2);
    });
    for (const row of chosen) {
      const want = row.verdict === 'discard' ? 'no answer' : row.verdict.replace('reject-', '');
      test(`${row.file} (${row.verdict}) -> ${want}`, async (t) => {
        const bytes = fs.readFileSync(corpusPath('rfc4475', row.file));
        const text = bytes.toString('latin1');
        // the answer goes to the top Via's port when it names one without rport
        const via = /^(?:via|v)[ \t]*:[ \t]*SIP\/[\d.]+\/\w+[ \t]+(\[[^\]]*\]|[^;:,\s]+)(?::(\d+))?([^\r\n]*)/im.exec(text);
        let u;
        if (via && via[2] && !/;\s*rport/i.test(via[3])) {
          u = await UdpPeer.open('127.0.0.1', Number(via[2])).catch(() => null);
          if (!u) return t.skip(`port ${via[2]} of the Via is busy here`);
          closers.push(() => u.close());
        } else {
          u = await udp();
        }
        const got = await answersTo(u, srv.port('udp'), bytes);
        if (row.verdict === 'discard') {
          assert.deepEqual(got.map((d) => d.sip?.start), []);
          return;
        }
        assert.equal(got.length, 1, `expected one answer, got ${got.length}\n${srv.tail(5)}`);
        const r = got[0].sip;
        assert.equal(r.status, Number(want), r.start);
        assert.ok(r.reason.trim().length > 0, 'no reason phrase');
        const callId = /^(?:call-id|i)[ \t]*:[ \t]*(\S+)/im.exec(text)?.[1];
        if (callId) assert.equal(r.get('call-id'), callId);
        t.diagnostic(r.start);
      });
    }
  });

  // ------------------------------------------------------------- TCP

  test('TCP: OPTIONS -> 200 with Via rport and received', async () => {
    const s = await tcp(srv.port('tcp'));
    await s.write(sipOptions({ transport: 'TCP' }));
    const r = await s.next();
    assert.ok(r, 'connection closed');
    assert.equal(r.status, 200);
    assert.equal(param(r.get('via'), 'rport'), String(s.sock.localPort));
    assert.equal(param(r.get('via'), 'received'), '127.0.0.1');
  });

  test('TCP: INVITE -> 501, ACK -> nothing, a response -> nothing', async () => {
    const s = await tcp(srv.port('tcp'));
    const probe = uniq('probe');
    await s.write(
      sipRequest('INVITE', { transport: 'TCP' }) +
        sipRequest('ACK', { transport: 'TCP' }) +
        'SIP/2.0 180 Ringing\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: r1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n' +
        sipOptions({ transport: 'TCP', callId: probe }),
    );
    const a = await s.next();
    assert.equal(a?.status, 501);
    assert.equal(a.get('cseq'), '1 INVITE');
    const b = await s.next();
    assert.equal(b?.get('call-id'), probe, 'something was answered between the 501 and the probe');
    assert.equal(b.status, 200);
  });

  test('TCP: a message written byte by byte -> 200', async () => {
    const s = await tcp(srv.port('tcp'));
    const msg = Buffer.from(sipOptions({ transport: 'TCP', body: 'hello', headers: ['Content-Type: text/plain'] }));
    for (let i = 0; i < msg.length; i++) {
      await s.write(msg.subarray(i, i + 1));
      if (i % 16 === 0) await sleep(1); // let some bytes travel alone
    }
    const r = await s.next();
    assert.equal(r?.status, 200);
  });

  test('TCP: two messages in one write -> two 200s in order', async () => {
    const s = await tcp(srv.port('tcp'));
    const a = uniq('a');
    const b = uniq('b');
    await s.write(sipOptions({ transport: 'TCP', callId: a, cseq: 1 }) + sipOptions({ transport: 'TCP', callId: b, cseq: 2, body: 'x', headers: ['Content-Type: text/plain'] }));
    const r1 = await s.next();
    const r2 = await s.next();
    assert.equal(r1?.get('call-id'), a);
    assert.equal(r2?.get('call-id'), b);
    assert.equal(r1.status, 200);
    assert.equal(r2.status, 200);
  });

  test('TCP: CRLFCRLF keepalive -> CRLF; the connection stays usable', async () => {
    const s = await tcp(srv.port('tcp'));
    await s.write('\r\n\r\n');
    const k = await s.next();
    assert.deepEqual(k, { keepalive: true });
    await s.write(sipOptions({ transport: 'TCP' }));
    assert.equal((await s.next())?.status, 200);
  });

  test('TCP: missing Content-Length -> 400, then the connection is closed', async () => {
    const s = await tcp(srv.port('tcp'));
    await s.write(sipOptions({ transport: 'TCP', contentLength: false }));
    const r = await s.next();
    assert.ok(r, 'closed without an answer');
    assert.equal(r.status, 400, r.start);
    assert.ok(await s.reader.waitClosed(), 'connection left open');
  });

  test('TCP: Content-Length over sip.max_message_size -> 513, then the connection is closed', async () => {
    const s = await tcp(srv.port('tcp'));
    await s.write(sipOptions({ transport: 'TCP', contentLength: 100000, headers: ['Content-Type: text/plain'] }));
    const r = await s.next();
    assert.ok(r, 'closed without an answer');
    assert.equal(r.status, 513, r.start);
    assert.ok(await s.reader.waitClosed(), 'connection left open');
  });

  test('TCP: headers over sip.max_message_size without an end -> connection closed', async () => {
    const s = await tcp(srv.port('tcp'));
    const head = sipOptions({ transport: 'TCP' }).split('\r\n\r\n')[0];
    await s.write(`${head}\r\n`);
    for (let i = 0; i < 20 && !s.sock.destroyed; i++) await s.write(`X-Pad-${i}: ${'p'.repeat(1000)}\r\n`);
    assert.ok(await s.reader.waitClosed(), 'connection left open');
  });

  test('TCP: 5 MB of random bytes -> that connection is closed; another one still works', async () => {
    const good = await tcp(srv.port('tcp'));
    const bad = await tcp(srv.port('tcp'));
    const chunk = crypto.randomBytes(64 * 1024);
    let sent = 0;
    while (sent < 5 * 1024 * 1024 && !bad.sock.destroyed && !bad.reader.ended) {
      const flushed = bad.sock.write(chunk);
      sent += chunk.length;
      if (!flushed) await within(once(bad.sock, 'drain').catch(() => {}), wait(2000));
    }
    assert.ok(await bad.reader.waitClosed(), `the garbage connection is still open after ${sent} bytes`);
    await good.write(sipOptions({ transport: 'TCP' }));
    assert.equal((await good.next())?.status, 200);
  });

  // ------------------------------------------------------------- TLS

  test('TLS: OPTIONS -> 200; two messages in one write -> two 200s', async () => {
    const s = await SipStream.tls(srv.port('tls'), cert.cert);
    closers.push(() => s.close());
    await s.write(sipOptions({ transport: 'TLS' }));
    const r = await s.next();
    assert.equal(r?.status, 200);
    assert.equal(param(r.get('via'), 'rport'), String(s.sock.localPort));
    const a = uniq('a');
    const b = uniq('b');
    await s.write(sipOptions({ transport: 'TLS', callId: a }) + sipOptions({ transport: 'TLS', callId: b }));
    assert.equal((await s.next())?.get('call-id'), a);
    assert.equal((await s.next())?.get('call-id'), b);
  });

  test('TLS: garbage instead of a ClientHello -> closed; TLS clients still served', async () => {
    const g = await connectTcp(srv.port('tls'));
    closers.push(() => g.destroy());
    const r = new Reader(g);
    // (a first byte that is no TLS record type: random bytes may look like
    // the start of a long record, which a server rightly waits for)
    g.write(Buffer.concat([Buffer.from([0x00, 0x00, 0x00, 0x00, 0x00]), crypto.randomBytes(4091)]));
    assert.ok(await r.waitClosed(), 'garbage connection left open');
    const s = await SipStream.tls(srv.port('tls'), cert.cert);
    closers.push(() => s.close());
    await s.write(sipOptions({ transport: 'TLS' }));
    assert.equal((await s.next())?.status, 200);
  });

  test('SIGTERM -> exit code 0', async () => {
    // a TCP connection open at shutdown does not hold the server up
    const s = await tcp(srv.port('tcp'));
    await s.write(sipOptions({ transport: 'TCP' }));
    assert.equal((await s.next())?.status, 200);
    await srv.stopOk();
    assert.ok(await s.reader.waitClosed(), 'connection not closed at shutdown');
  });
});

describe('per-IP connection limit', SUITE, () => {
  test('net.max_connections_per_ip=5: the 6th connection is closed at once, the first 5 still work', async () => {
    const srv = await server({ listen: ['tcp'], set: { 'net.max_connections_per_ip': 5 } });
    const port = srv.port('tcp');
    const conns = [];
    for (let i = 0; i < 5; i++) {
      const s = await tcp(port);
      await s.write(sipOptions({ transport: 'TCP' }));
      assert.equal((await s.next())?.status, 200, `connection ${i + 1}`);
      conns.push(s);
    }
    const sixth = await tcp(port);
    await sixth.write(sipOptions({ transport: 'TCP' })).catch(() => {});
    const r = await sixth.next().catch((e) => e);
    assert.equal(r, null, `the 6th connection got ${r?.start ?? r}`);
    assert.ok(await sixth.reader.waitClosed(), '6th connection left open');
    for (const [i, s] of conns.entries()) {
      await s.write(sipOptions({ transport: 'TCP' }));
      assert.equal((await s.next())?.status, 200, `connection ${i + 1} after the refusal`);
    }
    // a slot freed is a slot available again
    conns[0].close();
    await conns[0].reader.waitClosed();
    let again = null;
    const end = Date.now() + T_REPLY;
    while (!again && Date.now() < end) {
      const s = await tcp(port);
      await s.write(sipOptions({ transport: 'TCP' })).catch(() => {});
      const res = await s.next().catch(() => null);
      if (res?.status === 200) again = s;
      else await sleep(50); // the server may not have seen the close yet
    }
    assert.ok(again, 'no connection accepted after one of the 5 closed');
    await srv.stopOk();
  });
});

describe('IPv6 loopback', SUITE, () => {
  test('udp://[::1] and tcp://[::1]: OPTIONS -> 200', async (t) => {
    if (!(await canBind('::1'))) {
      t.diagnostic('skipped: this machine cannot bind ::1 (no IPv6 loopback)');
      return t.skip('no ::1 on this machine');
    }
    const srv = await server({ listen: [{ scheme: 'udp', host: '::1' }, { scheme: 'tcp', host: '::1' }] });
    const u = await udp('::1');
    const r = await u.request(sipOptions({ sentBy: '[::1]', ruri: 'sip:[::1]' }), srv.port('udp'));
    assert.ok(r, 'no answer over UDP/IPv6');
    assert.equal(r.sip.status, 200, r.sip.start);
    assert.equal(param(r.sip.get('via'), 'rport'), String(u.port));
    assert.match(r.sip.get('via'), /^SIP\/2\.0\/UDP \[::1\];/);
    const s = await tcp(srv.port('tcp'), '::1');
    await s.write(sipOptions({ transport: 'TCP', sentBy: 'client.invalid', ruri: 'sip:[::1]' }));
    const r2 = await s.next();
    assert.equal(r2?.status, 200);
    assert.ok(['::1', '[::1]'].includes(param(r2.get('via'), 'received')), r2.get('via'));
    await srv.stopOk();
  });
});
