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
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { DOMAIN, PASSWORD, Ua as RawUa, closeAll, dump, tagOf, uriOf } from './rawua.mjs';
import { SUITE, freePort, runWsip, sleep, startServer, tmpDir, uniq, wait, within } from './server.mjs';
import { splitList } from './sipreg.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const SCENARIOS = path.join(here, 'sipp');

const servers = [];
const sipps = [];
after(async () => {
  for (const p of sipps) p.kill();
  await closeAll();
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
   * o.port (local port), o.transport (-t: u1 UDP, default; t1 TCP),
   * o.service (-s), o.user / o.auth_uri (digest),
   * o.keys ({name: value}, -key).
   */
  static start(o) {
    const dir = tmpDir('sipp');
    const name = path.basename(o.scenario, '.xml');
    const p = new Sipp(dir, name);
    const args = [
      o.remote,
      '-sf', path.join(SCENARIOS, o.scenario),
      '-t', o.transport || 'u1',
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

/** Whether something listens on TCP 127.0.0.1:port (polls /proc/net/tcp,
 * without connecting: a probe would be a connection SIPp has to handle). */
async function tcpListening(port, ms = wait(10000)) {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const rows = fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1);
    const listening = rows.some((r) => {
      const f = r.trim().split(/\s+/); // sl local_address rem_address st ...
      return f[1]?.endsWith(hex) && f[3] === '0A'; // 0A: LISTEN
    });
    if (listening) return true;
    await sleep(50);
  }
  return false;
}

// ----------------------------------------------------------- WS agent

function sdpOffer() {
  return ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 192.0.2.10', 't=0 0', 'm=audio 52114 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
}

/** The raw user agent of rawua.mjs (used here over WebSocket, Outbound). */
class Ua extends RawUa {
  static userAgent = 'wsip-sipp-test';

  /** INVITE with SDP: 407, ACK, again with Proxy-Authorization. */
  invite(ruri) {
    const headers = [`Contact: <${this.contact};ob>`, 'Supported: path, outbound, gruu', 'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS'];
    return this.sendAuthed('INVITE', ruri, { body: sdpOffer(), headers });
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
    srv = await startServer({ listen: ['udp', 'tcp', 'ws'], args: ['--db', db] });
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

    const alice = await Ua.open(srv, 'alice', 'ws');
    await alice.register({ checkBinding: false });
    try {
      await callSippUas(alice, uasSipp);
    } catch (e) {
      e.message += `\n${uasSipp.log()}`;
      throw e;
    }
  });

  async function callSippUas(alice, uasSipp, ruri = `sip:bob@${DOMAIN}`) {
    const req = await alice.invite(ruri);
    const trying = await alice.response(req);
    assert.equal(trying.status, 100, `first response to the INVITE: ${dump(trying)}`);
    const ringing = await alice.response(req);
    assert.equal(ringing.status, 180, `second response to the INVITE: ${dump(ringing)}`);
    const ok = await alice.final(req);
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
    const bye = await alice.incoming('BYE', undefined, wait(15000));
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

  test('WS caller -> SIPp UAS over TCP in another domain: wsip opens the connection; 100, 180, 200, ACK; BYE from SIPp over it answered 200', async () => {
    const ports = await sippPorts();
    // no registration: the Request-URI names SIPp's address, outside wsip's
    // domains, so wsip connects to it (RFC 3263: transport=tcp)
    const uasSipp = Sipp.start({ scenario: 'uas.xml', remote: `127.0.0.1:${srv.port('tcp')}`, ...ports, service: 'bob', transport: 't1' });
    assert.ok(await tcpListening(ports.port), `SIPp does not listen on TCP ${ports.port}\n${uasSipp.log()}`);
    const alice = await Ua.open(srv, 'alice', 'ws');
    await alice.register({ checkBinding: false });
    try {
      await callSippUas(alice, uasSipp, `sip:bob@127.0.0.1:${ports.port};transport=tcp`);
    } catch (e) {
      e.message += `\n${uasSipp.log()}`;
      throw e;
    }
  });

  test('SIPp UAC over UDP (digest, 407) -> WS client: 200, ACK, BYE from SIPp answered 200', async () => {
    const bobWs = await Ua.open(srv, 'bob-ws', 'ws');
    await bobWs.register({ checkBinding: false });

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

    const inv = await bobWs.incoming('INVITE', undefined, wait(15000)).catch((e) => {
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
