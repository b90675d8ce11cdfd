// UDP requests spread over the workers by their Call-ID: the kernel hands
// every datagram of one source address to one worker's socket, and wsip
// passes each request on to the worker a keyed hash of its Call-ID names,
// which answers from its own socket on the same address. All requests of
// one call (the INVITE, its retransmission, CANCEL, the ACKs) must meet on
// one worker, whose transaction table matches them (RFC 3261 sec 17.2.3).
//
// One UDP socket per peer, workers = 2; /status.json (per_worker) and
// /metrics say which worker handled what. Every wait is bounded.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import { metric, parseMetrics } from './metrics.mjs';
import { DOMAIN, PASSWORD, Ua, closeAll, dump, tagOf, values, viaCore, viaParts } from './rawua.mjs';
import { httpExchange, startServer, stopAllAfter, SUITE, uniq } from './server.mjs';
import { makeDb } from './sipreg.mjs';

const servers = [];
stopAllAfter(servers, closeAll);

async function httpGet(srv, target) {
  const { res, sock } = await httpExchange(srv.port('ws'), `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  sock.destroy();
  assert.ok(res && res.status === 200, `GET ${target}: ${res && res.statusLine}`);
  return res.body.toString('utf8');
}

/** status.json's per_worker list: [{requests, udp_handed_over}]. */
async function perWorker(srv) {
  const d = JSON.parse(await httpGet(srv, '/status.json'));
  assert.equal(d.workers, 2);
  assert.equal(d.per_worker.length, 2, `per_worker: ${JSON.stringify(d.per_worker)}`);
  return d.per_worker;
}

const sum = (pw, k) => pw.reduce((a, w) => a + w[k], 0);

describe('UDP requests from one source spread over two workers by Call-ID', SUITE, () => {
  let srv;
  let udpPorts; // two UDP listeners: answers must leave from the one asked
  let carol; // caller over UDP: one socket for everything
  let bob; // callee over UDP

  before(async () => {
    srv = await startServer({
      listen: ['udp', 'udp', 'ws'],
      workers: 2,
      args: ['--db', makeDb({ [`bob@${DOMAIN}`]: PASSWORD, [`carol@${DOMAIN}`]: PASSWORD }, 'spread')],
    });
    servers.push(srv);
    udpPorts = srv.specs.filter((s) => s.scheme === 'udp').map((s) => s.port);
    carol = await Ua.open(srv, 'carol', 'udp');
    bob = await Ua.open(srv, 'bob', 'udp');
    await carol.register();
    await bob.register();
  });

  test('OPTIONS with 80 Call-IDs from one socket: both workers answer, about half were handed over, each 200 from the port asked', async () => {
    const ua = await Ua.open(srv, 'zed', 'udp');
    const before = await perWorker(srv);
    const N = 80;
    for (let i = 0; i < N; i += 10) {
      const batch = [];
      for (let j = i; j < i + 10; j++) {
        const port = udpPorts[j % 2];
        const req = ua.build('OPTIONS', `sip:127.0.0.1:${port}`);
        batch.push(ua.send(req.buf, { port }).then(() => ua.final(req)).then((res) => ({ req, res, port })));
      }
      for (const { res, port } of await Promise.all(batch)) {
        assert.equal(res.status, 200, dump(res));
        assert.equal(res.rinfo.port, port, `the 200 came from port ${res.rinfo.port}, the OPTIONS went to ${port}`);
      }
    }
    const now = await perWorker(srv);
    const handled = now.map((w, i) => w.requests - before[i].requests);
    assert.equal(handled[0] + handled[1], N, `each OPTIONS handled exactly once: ${handled}`);
    assert.ok(handled[0] > 0 && handled[1] > 0, `one worker handled them all: ${handled}`);
    const handed = sum(now, 'udp_handed_over') - sum(before, 'udp_handed_over');
    assert.ok(handed > 0 && handed < N, `handed over ${handed} of ${N}`);

    const m = parseMetrics(await httpGet(srv, '/metrics'));
    for (const w of [0, 1]) {
      assert.equal(metric(m, 'wsip_udp_handed_over_total', { worker: String(w) }), now[w].udp_handed_over);
      assert.equal(metric(m, 'wsip_worker_requests_total', { worker: String(w) }), now[w].requests);
    }
  });

  /** A call carol -> bob over UDP that rings and is cancelled, with the
   * INVITE retransmitted by carol. Returns the requests carol sent. */
  async function ringRetransmitCancel() {
    const req = await carol.sendAuthed('INVITE', bob.aor, { headers: [`Contact: <${carol.contact}>`] });
    assert.equal((await carol.response(req)).status, 100);
    const inv = await bob.incoming('INVITE', req.callId);
    const calleeTag = uniq('ct');
    await bob.respond(inv, 180, 'Ringing', { toTag: calleeTag, contact: `<${bob.contact}>` });
    assert.equal((await carol.response(req)).status, 180);

    // the retransmission meets the server transaction: the last provisional
    // again, nothing forwarded (RFC 3261 sec 17.2.1)
    await carol.sendReq(req);
    const again = await carol.response(req);
    assert.equal(again.status, 180, `answer to the retransmitted INVITE: ${dump(again)}`);
    assert.equal(await bob.stray(req.callId, (m) => m.method === 'INVITE'), null, 'the retransmitted INVITE was forwarded');

    const cancel = carol.build('CANCEL', req.ruri, { branch: req.branch, callId: req.callId, fromTag: req.fromTag, cseq: req.cseq });
    await carol.sendReq(cancel);
    const ok = await carol.final(cancel);
    assert.equal(ok.status, 200, `CANCEL: ${dump(ok)}`);
    const got = await bob.incoming('CANCEL', req.callId);
    assert.equal(viaParts(values(got, 'via')[0]).branch, viaParts(values(inv, 'via')[0]).branch, 'CANCEL branch');
    await bob.respond(got, 200, 'OK');
    await bob.respond(inv, 487, 'Request Terminated', { toTag: calleeTag });
    await bob.incoming('ACK', req.callId);
    const res = await carol.final(req);
    assert.equal(res.status, 487, dump(res));
    assert.equal(tagOf(res.get('to')), calleeTag);
    assert.deepEqual(res.all('via').map(viaCore), req.vias.map(viaCore));
    await carol.ackNon2xx(req, res);
    // the ACK is the server transaction's: absorbed, never forwarded
    assert.equal(await bob.stray(req.callId), null, 'bob got more (the ACK for the 487?)');
    assert.equal(await carol.stray(req.callId, () => true, 1), null, 'carol got more');
    // INVITE (407), ACK, INVITE, its retransmission, CANCEL, ACK
    return 6;
  }

  test('calls from one UDP socket: INVITE retransmission absorbed, CANCEL matched (487), ACK absorbed, whether the Call-ID names the receiving worker or the other', async () => {
    const seen = { local: 0, handedOver: 0 };
    for (let i = 0; i < 16 && (seen.local === 0 || seen.handedOver === 0); i++) {
      const before = sum(await perWorker(srv), 'udp_handed_over');
      const sent = await ringRetransmitCancel();
      const handed = sum(await perWorker(srv), 'udp_handed_over') - before;
      // one call, one worker: all of its requests or none handed over
      assert.ok(handed === 0 || handed === sent, `call ${i}: ${handed} of its ${sent} requests handed over`);
      if (handed) seen.handedOver++;
      else seen.local++;
    }
    assert.ok(seen.local > 0 && seen.handedOver > 0, `16 calls, all on one side: ${JSON.stringify(seen)}`);
  });
});

describe('UDP requests in flight between workers at shutdown', SUITE, () => {
  test('a burst of OPTIONS from one socket, SIGTERM at once: a clean exit (whatever was queued for a closing worker is dropped and freed)', async () => {
    const srv = await startServer({ listen: ['udp', 'ws'], workers: 2 });
    const ua = await Ua.open(srv, 'zed', 'udp');
    const sends = [];
    for (let i = 0; i < 300; i++) sends.push(ua.send(ua.build('OPTIONS', `sip:127.0.0.1:${srv.port('udp')}`).buf));
    await Promise.all(sends);
    // answers show the burst is being handled; the stop comes in the middle of it
    await ua.must((m) => m.isResponse && m.status === 200, 'a 200 to the burst');
    await srv.stopOk();
  });
});
