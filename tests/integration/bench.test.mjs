// `wsip bench` in its SIP modes (register, message, call, churn) against a
// real wsip: each mode runs briefly (--count 50, a generous --duration) over
// WS, WSS, UDP and TCP, with digest (MD5 and SHA-256, the nonce reused or
// not) and without (wsip's `trusted` for 127.0.0.0/8), and the summary line
// must say that every operation started succeeded and none failed. The users
// come from `wsip user add --bulk`. Failures must show as failures: a wrong
// password makes every operation an error, and the rate counts none of them.
// No timing is asserted: only counts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { SUITE, WSIP_BIN, makeCert, runWsip, startServer, tmpDir, wait, within } from './server.mjs';

const PASSWORD = 'b3nch-pw';
const USERS = 12;
const COUNT = 50;

const servers = [];
const children = new Set();
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  const errors = [];
  for (const s of servers) await s.stopOk().catch((e) => errors.push(e));
  if (errors.length) throw errors[0];
});

/** `wsip user add --bulk bench@localhost USERS` into a new database. */
function makeDb(tag) {
  const db = path.join(tmpDir(`bench-${tag}`), 'wsip.db');
  const r = runWsip(['user', 'add', '--bulk', 'bench@localhost', String(USERS), '--password', PASSWORD, '--db', db]);
  assert.equal(r.code, 0, `wsip user add --bulk: ${r.stderr}`);
  assert.equal(r.stdout, `added ${USERS} users bench1..bench${USERS}@localhost (realm localhost)\n`);
  return db;
}

async function server(tag, set = {}) {
  const cert = makeCert(tmpDir('bench-cert'));
  const s = await startServer({
    listen: ['udp', 'tcp', 'ws', 'wss'],
    cert,
    args: ['--db', makeDb(tag)],
    // churn opens a connection per cycle, faster than a browser would
    set: { 'net.handshakes_per_ip_per_second': 100000, 'log.level': 'warn', ...set },
  });
  servers.push(s);
  return s;
}

/** Runs `wsip bench ARGS`: {code, stdout, stderr, summary} where summary is
 * the bench= line as an object (null when there is none). */
function bench(args) {
  return new Promise((resolve, reject) => {
    const p = spawn(WSIP_BIN, ['bench', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(p);
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8');
    p.stderr.setEncoding('utf8');
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    const timer = setTimeout(() => p.kill('SIGKILL'), wait(150000));
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(p);
      const lines = stdout.split('\n').filter((l) => l.startsWith('bench='));
      resolve({ code, signal, stdout, stderr, summary: lines.length === 1 ? parseSummary(lines[0]) : null });
    });
  });
}

/** "bench=call transport=ws ok=50 ..." -> {bench: 'call', transport: 'ws', ok: '50', ...} */
function parseSummary(line) {
  const out = {};
  for (const kv of line.trim().split(' ')) {
    const i = kv.indexOf('=');
    assert.ok(i > 0, `summary item without '=': ${kv} in ${line}`);
    const k = kv.slice(0, i);
    assert.ok(!(k in out), `key ${k} twice in ${line}`);
    out[k] = kv.slice(i + 1);
  }
  return out;
}

function url(srv, scheme) {
  return `${scheme}://127.0.0.1:${srv.port(scheme)}`;
}

/** Runs one mode and asserts that all COUNT operations succeeded. */
async function runOk(srv, mode, scheme, extra = [], concurrency = 4) {
  const args = [mode, '--url', url(srv, scheme), '--concurrency', String(concurrency), '--count', String(COUNT), '--duration', '120', '--timeout', '30', '--quiet', ...extra];
  const r = await bench(args);
  const what = `wsip bench ${args.join(' ')}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}\nserver:\n${srv.tail(20)}`;
  assert.ok(r.summary, `no summary line: ${what}`);
  const s = r.summary;
  assert.equal(s.bench, mode, what);
  assert.equal(s.transport, scheme, what);
  assert.equal(s.started, String(COUNT), what);
  assert.equal(s.ok, String(COUNT), what);
  assert.equal(s.errors, '0', what);
  assert.equal(s.timeouts, '0', what);
  assert.equal(s.statuses, undefined, `no status made an operation fail: ${what}`);
  assert.ok(Number(s.rate_per_s) > 0, what);
  assert.ok(Number(s.lat_max_us) >= Number(s.lat_p50_us), what);
  assert.equal(r.code, 0, `exit status: ${what}`);
  assert.match(r.stdout, new RegExp(`^wsip bench ${mode} `, 'm'), 'the human table comes first');
  assert.equal(r.stderr, '', `--quiet: nothing on stderr: ${what}`);
  if (mode !== 'churn') {
    assert.equal(s.established, String(concurrency), what);
    assert.equal(s.failed, '0', what);
    // every flow that registered unregistered at the end
    assert.equal(s.unregistered, String(concurrency), what);
    assert.equal(s.unreg_fail, '0', what);
  }
  return s;
}

describe('wsip bench SIP modes, digest', SUITE, () => {
  let srv;
  before(async () => {
    srv = await server('digest');
  });

  test('register over WS: MD5 challenge once per flow, then the nonce is reused', async () => {
    const s = await runOk(srv, 'register', 'ws', ['--password', PASSWORD]);
    assert.equal(s.auth, 'MD5');
    assert.equal(s.user_prefix, 'bench');
    // one 401 per flow for the first REGISTER and none after (nc grows)
    assert.equal(s.challenges, '4');
  });

  test('register over UDP with SHA-256, credentials only after a challenge', async () => {
    const s = await runOk(srv, 'register', 'udp', ['--password', PASSWORD, '--algorithm', 'SHA-256', '--no-auth-reuse']);
    assert.equal(s.auth, 'SHA-256');
    assert.equal(s.auth_reuse, '0');
    // every REGISTER and every unREGISTER is challenged
    assert.equal(s.challenges, String(COUNT + 4));
  });

  test('message over WS and UDP: pairs send to each other, receivers answer 200', async () => {
    for (const scheme of ['ws', 'udp']) {
      const s = await runOk(srv, 'message', scheme, ['--password', PASSWORD]);
      assert.ok(Number(s.uas_answers) >= COUNT, `the receivers answered: ${s.uas_answers}`);
      assert.equal(s.uas_unexpected, '0');
    }
  });

  test('call over WS, WSS, UDP and TCP: INVITE challenged with 407, 180, 200, ACK, BYE', async () => {
    for (const scheme of ['ws', 'wss', 'udp', 'tcp']) {
      const s = await runOk(srv, 'call', scheme, ['--password', PASSWORD, '--no-auth-reuse']);
      // setup REGISTERs, every INVITE (407), the unREGISTERs
      assert.equal(s.challenges, String(4 + COUNT + 4), `${scheme}: challenges`);
      assert.ok(Number(s.call_max_us) >= Number(s.call_p50_us));
      // the callee answered 180 and 200 to every INVITE and 200 to every BYE
      assert.ok(Number(s.uas_answers) >= 3 * COUNT, `${scheme}: uas_answers ${s.uas_answers}`);
    }
  });

  test('call over WS with the nonce reused: one 407 per caller only', async () => {
    const s = await runOk(srv, 'call', 'ws', ['--password', PASSWORD, '--algorithm', 'SHA-256']);
    assert.equal(s.challenges, String(4 + 4));
  });

  test('churn over WS and UDP: connect, REGISTER (401), unREGISTER, disconnect', async () => {
    for (const scheme of ['ws', 'udp']) {
      const s = await runOk(srv, 'churn', scheme, ['--password', PASSWORD]);
      assert.equal(s.connect_fail, '0');
      // every cycle is a fresh client: its first REGISTER is challenged
      assert.equal(s.challenges, String(COUNT));
    }
  });

  test('usage errors: too few users for the pairs, a bad algorithm, --connections', async () => {
    let r = await bench(['call', '--url', url(srv, 'ws'), '--concurrency', '4', '--users', '2']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /needs a user of its own/);
    r = await bench(['register', '--url', url(srv, 'ws'), '--algorithm', 'SHA-512']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad value for --algorithm/);
    r = await bench(['message', '--url', url(srv, 'ws'), '--connections', '4']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /use --concurrency/);
  });
});

describe('wsip bench SIP modes, trusted source (no digest)', SUITE, () => {
  let srv;
  before(async () => {
    srv = await server('trusted', { trusted: '[127.0.0.0/8]' });
  });

  test('register, message, call, churn without a password', async () => {
    for (const [mode, scheme] of [
      ['register', 'tcp'],
      ['message', 'ws'],
      ['call', 'udp'],
      ['churn', 'tcp'],
    ]) {
      const s = await runOk(srv, mode, scheme);
      assert.equal(s.auth, 'none');
      assert.equal(s.challenges, '0', `${mode}: nothing is challenged`);
    }
  });
});

describe('wsip bench --rate in the SIP modes: operations on a schedule', SUITE, () => {
  let srv;
  before(async () => {
    srv = await server('rate', { trusted: '[127.0.0.0/8]' });
  });

  // Operation k (from 0) may start k/R seconds into the run at the earliest,
  // however fast or slow the machine: lower bounds on time, upper bounds on
  // counts.
  test('register over UDP at 100/s: 50 REGISTERs take at least 0.49 s', async () => {
    const s = await runOk(srv, 'register', 'udp', ['--rate', '100']);
    assert.equal(s.target_rate, '100.0');
    assert.ok(Number(s.elapsed_s) >= 0.49, `elapsed ${s.elapsed_s} s: faster than the schedule`);
  });

  test('call over WS at 20/s with --duration 1: at most 20 calls start, all succeed', async () => {
    const args = ['call', '--url', url(srv, 'ws'), '--concurrency', '4', '--count', '1000', '--duration', '1', '--timeout', '30', '--rate', '20', '--quiet'];
    const r = await bench(args);
    const s = r.summary;
    assert.ok(s, `no summary line: ${r.stdout}\n${r.stderr}`);
    assert.equal(r.code, 0, r.stdout);
    assert.ok(Number(s.started) >= 1 && Number(s.started) <= 20, `started ${s.started}`);
    assert.equal(s.ok, s.started);
    assert.equal(s.errors, '0');
    assert.equal(s.target_rate, '20.0');
  });

  test('without --rate the loop is closed (target_rate=0); churn refuses --rate', async () => {
    const s = await runOk(srv, 'message', 'ws');
    assert.equal(s.target_rate, '0.0');
    const r = await bench(['churn', '--url', url(srv, 'ws'), '--rate', '10']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--rate is not supported/);
  });
});

describe('wsip bench counts failures as failures', SUITE, () => {
  let srv;
  before(async () => {
    srv = await server('wrong');
  });

  test('a wrong password: every REGISTER fails, none is counted in the rate', async () => {
    // 4 REGISTERs cost wsip 6 failed digests (a refused kept nonce gets one
    // fresh challenge): below its limit of 10 per address and minute
    const r = await bench(['register', '--url', url(srv, 'udp'), '--concurrency', '2', '--count', '4', '--duration', '120', '--timeout', '30', '--password', 'wrong', '--quiet']);
    assert.equal(r.code, 1, r.stdout);
    const s = r.summary;
    assert.ok(s, r.stdout);
    assert.equal(s.started, '4');
    assert.equal(s.ok, '0');
    assert.equal(s.errors, '4');
    assert.equal(s.rate_per_s, '0.0');
    assert.match(s.statuses, /^401:4$/, r.stdout);
    assert.equal(s.err_top, 'authentication_failed');
    // each REGISTER answered one challenge: the first of a flow the one it
    // got without credentials, the next the one that refused the kept nonce
    assert.equal(s.challenges, '4');
  });

  test('a user without a binding: MESSAGE to a peer that failed to register is never sent', async () => {
    // users 12 and 13: 13 does not exist, so its REGISTER fails at setup
    // and user 12 has no peer; nothing is sent, and the exit status says so
    const r = await bench(['message', '--url', url(srv, 'ws'), '--concurrency', '2', '--user-start', String(USERS), '--count', '4', '--duration', '120', '--timeout', '30', '--password', PASSWORD, '--quiet']);
    assert.equal(r.code, 1, r.stdout);
    const s = r.summary;
    assert.ok(s, r.stdout);
    assert.equal(s.established, '1');
    assert.equal(s.failed, '1');
    assert.equal(s.unpaired, '1');
    assert.equal(s.started, '0');
    assert.equal(s.ok, '0');
  });
});
