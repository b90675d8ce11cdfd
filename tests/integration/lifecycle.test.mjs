// The server process: defaults, configuration from the command line and
// from a file, configuration errors, signals (SIGTERM/SIGINT graceful exit,
// SIGHUP log reopen, SIGPIPE ignored).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import WebSocket from 'ws';

import {
  SipStream,
  T_REPLY,
  UdpPeer,
  WSIP_BIN,
  connectTcp,
  freePort,
  parseSip,
  runWsip,
  sipOptions,
  sleep,
  startServer,
  tmpDir,
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

async function udpOptions(port, host = '127.0.0.1') {
  const u = await UdpPeer.open(host);
  try {
    const r = await u.request(sipOptions({ sentBy: `${host}:${u.port}` }), port);
    return r?.sip ?? null;
  } finally {
    u.close();
  }
}

/** The dump of check-config -v as {"ws.ping_interval": "30", ...}. */
function parseDump(text) {
  const out = {};
  const groups = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = (pending + raw).trim();
    if (!line || line.startsWith('#') || line === 'configuration OK') continue;
    let m;
    if ((m = /^([\w.]+)\s*=\s*\{$/.exec(line))) {
      groups.push(m[1]);
    } else if (line === '};') {
      groups.pop();
    } else if ((m = /^([\w.]+)\s*=\s*(.*);$/.exec(line))) {
      out[[...groups, m[1]].join('.')] = m[2];
      pending = '';
      continue;
    } else if (/^[\w.]+\s*=/.test(line)) {
      pending = `${line} `; // a value continued on the next line
      continue;
    }
    pending = '';
  }
  return out;
}

/** Spawns wsip with args; resolves {code, signal, stdout, stderr}. */
function runAsync(args, o = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(WSIP_BIN, args, { cwd: o.cwd || tmpDir('run'), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), wait(20000));
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe('defaults and configuration', SUITE, () => {
  test('check-config -v with no file: the documented defaults (DESIGN.md sec 6)', () => {
    const r = runWsip(['check-config', '-v'], { cwd: tmpDir('cfg') });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout + r.stderr, /configuration OK/);
    const c = parseDump(r.stdout);
    assert.equal(c.listen, '[ "udp://127.0.0.1:5060", "tcp://127.0.0.1:5060", "ws://127.0.0.1:8080" ]');
    assert.equal(c.domains, '[ "localhost" ]');
    const expected = {
      'sip.max_message_size': '65536',
      'sip.max_udp_message_size': '65507',
      'sip.max_headers': '128',
      'sip.max_header_line': '8192',
      'sip.t1': '500',
      'sip.t2': '4000',
      'sip.t4': '5000',
      'ws.path': '"/"',
      'ws.ping_interval': '30',
      'ws.max_missed_pongs': '2',
      'ws.max_frame_size': '65536',
      'ws.max_message_size': '65536',
      'net.max_connections_per_ip': '100',
      'net.handshakes_per_ip_per_second': '20',
      'net.send_queue_limit': '1048576',
      'registrar.min_expires': '60',
      'registrar.default_expires': '600',
      'registrar.max_expires': '3600',
    };
    for (const [k, v] of Object.entries(expected)) assert.equal(c[k], v, k);
  });

  test('check-config: overrides on the command line show in the dump', () => {
    const r = runWsip(['check-config', '-v', '--set', 'ws.ping_interval=20', '--set', 'workers=3'], { cwd: tmpDir('cfg') });
    assert.equal(r.code, 0, r.stderr);
    const c = parseDump(r.stdout);
    assert.equal(c['ws.ping_interval'], '20');
    assert.equal(c.workers, '3');
  });

  test('check-config on a bad file: FILE:LINE for each error, exit 1', () => {
    const dir = tmpDir('cfg');
    const bad = path.join(dir, 'bad.conf');
    fs.writeFileSync(bad, 'workers = 2;\nws = { ping_interval = "abc"; };\nsip = {\n  max_headers = 5;\n};\nno_such_thing = 1;\n');
    const r = runWsip(['check-config', '-c', bad], { cwd: dir });
    assert.equal(r.code, 1, `exit ${r.code}\n${r.stdout}${r.stderr}`);
    const out = r.stderr + r.stdout;
    assert.match(out, new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: .*ping_interval`));
    assert.match(out, /bad\.conf:4: .*max_headers/);
    assert.match(out, /bad\.conf:6: .*no_such_thing/);
    assert.doesNotMatch(out, /configuration OK/);
  });

  test('check-config on a file with a syntax error: FILE:LINE, exit 1', () => {
    const dir = tmpDir('cfg');
    const bad = path.join(dir, 'syntax.conf');
    fs.writeFileSync(bad, 'workers = 2;\nws = {\n  ping_interval = 5\n');
    const r = runWsip(['check-config', '-c', bad], { cwd: dir });
    assert.equal(r.code, 1);
    assert.match(r.stderr + r.stdout, /syntax\.conf:\d+: /);
  });

  test('serve with a bad configuration file: FILE:LINE, exit 1, nothing listening', async () => {
    const dir = tmpDir('cfg');
    const bad = path.join(dir, 'bad.conf');
    fs.writeFileSync(bad, 'workers = 1;\nlisten = [ "udp://127.0.0.1:99999" ];\n');
    const r = await runAsync(['serve', '-c', bad], { cwd: dir });
    assert.equal(r.code, 1, `exit ${r.code}/${r.signal}\n${r.stderr}`);
    assert.match(r.stderr, /bad\.conf:2: /);
    assert.doesNotMatch(r.stdout, /listening on/);
  });

  test('serve on a port another process holds: exit 1 with a message', async () => {
    const port = await freePort();
    const holder = net.createServer();
    await new Promise((resolve) => holder.listen({ port, host: '127.0.0.1', exclusive: true }, resolve));
    try {
      const r = await runAsync(['serve', '--set', `listen=[tcp://127.0.0.1:${port}]`, '--set', 'workers=1']);
      assert.equal(r.code, 1, `exit ${r.code}/${r.signal}\n${r.stderr}`);
      assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
    } finally {
      holder.close();
    }
  });

  test('serve with no options listens on the defaults (skipped when 5060/8080 are busy)', async (t) => {
    const free = async (p, udp) =>
      new Promise((resolve) => {
        if (udp) {
          import('node:dgram').then(({ default: dgram }) => {
            const s = dgram.createSocket('udp4');
            s.once('error', () => resolve(false));
            s.bind({ port: p, address: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
          });
        } else {
          const s = net.createServer();
          s.once('error', () => resolve(false));
          s.listen({ port: p, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
        }
      });
    if (!(await free(5060, true)) || !(await free(5060, false)) || !(await free(8080, false))) {
      t.diagnostic('skipped: 127.0.0.1:5060 or :8080 is in use on this machine');
      return t.skip('default ports busy');
    }
    const dir = tmpDir('defaults');
    const p = spawn(WSIP_BIN, ['serve'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    closers.push(() => p.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const exited = once(p, 'exit');
    const end = Date.now() + wait(20000);
    while ((stdout.match(/listening on/g) || []).length < 3 && Date.now() < end && p.exitCode === null) await sleep(20);
    assert.deepEqual(
      stdout.trim().split('\n'),
      ['listening on udp://127.0.0.1:5060', 'listening on tcp://127.0.0.1:5060', 'listening on ws://127.0.0.1:8080'],
      stderr,
    );
    const r = await udpOptions(5060);
    assert.equal(r?.status, 200);
    const c = new WebSocket('ws://127.0.0.1:8080/', 'sip', { handshakeTimeout: T_REPLY });
    closers.push(() => c.terminate());
    await once(c, 'open');
    c.close();
    p.kill('SIGTERM');
    const [code, signal] = await within(exited, wait(15000), [null, 'timeout']);
    assert.equal(code, 0, `exit ${code}/${signal}\n${stderr}`);
  });

  test('serve --listen URI --listen URI (repeatable, replaces the default list)', async () => {
    const srv = await server({ listen: ['udp', 'ws'], listenFlag: true });
    assert.equal((await udpOptions(srv.port('udp')))?.status, 200);
    // only what was asked for: the defaults are replaced
    assert.deepEqual(srv.stdout.trim().split('\n'), srv.specs.map((s) => `listening on ${s.uri}`));
    await srv.stopOk();
  });

  test('serve --KEY=VALUE and --KEY VALUE set directives (docs/configuration.md)', async () => {
    const srv = await server({ listen: ['udp', 'tcp'], args: ['--ws.ping_interval=20', '--log.level', 'debug'] });
    assert.equal((await udpOptions(srv.port('udp')))?.status, 200);
    // a TCP connection is logged at debug level only
    const s = await SipStream.tcp(srv.port('tcp'));
    closers.push(() => s.close());
    await s.write(sipOptions({ transport: 'TCP' }));
    assert.equal((await s.next())?.status, 200);
    assert.ok(await srv.waitLog(/DEBUG/), `no debug line with --log.level debug\n${srv.tail()}`);
    await srv.stopOk();
  });

  test('serve -c FILE: listeners and settings from the file', async () => {
    const dir = tmpDir('cfgfile');
    const port = await freePort();
    const file = path.join(dir, 'wsip.conf');
    fs.writeFileSync(file, `listen = [ "udp://127.0.0.1:${port}", "tcp://127.0.0.1:${port}" ];\nworkers = 1;\nlog = { level = "debug"; };\n`);
    const p = spawn(WSIP_BIN, ['serve', '-c', file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    closers.push(() => p.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const exited = once(p, 'exit');
    const end = Date.now() + wait(20000);
    while ((stdout.match(/listening on/g) || []).length < 2 && Date.now() < end && p.exitCode === null) await sleep(20);
    assert.match(stdout, new RegExp(`listening on tcp://127\\.0\\.0\\.1:${port}`), stderr);
    assert.equal((await udpOptions(port))?.status, 200);
    const s = await SipStream.tcp(port);
    closers.push(() => s.close());
    await s.write(sipOptions({ transport: 'TCP' }));
    assert.equal((await s.next())?.status, 200);
    assert.match(stderr, /1 workers?|DEBUG/);
    p.kill('SIGTERM');
    const [code] = await within(exited, wait(15000), [null]);
    assert.equal(code, 0, stderr);
  });
});

describe('signals', SUITE, () => {
  test('SIGTERM -> exit code 0', async () => {
    const srv = await server({ listen: ['udp', 'tcp', 'ws'] });
    assert.equal((await udpOptions(srv.port('udp')))?.status, 200);
    const r = await srv.stopOk('SIGTERM');
    assert.equal(r.code, 0);
  });

  test('SIGINT -> exit code 0', async () => {
    const srv = await server({ listen: ['udp'] });
    assert.equal((await udpOptions(srv.port('udp')))?.status, 200);
    const r = await srv.stopOk('SIGINT');
    assert.equal(r.code, 0);
  });

  test('SIGHUP, SIGTERM right after the listening lines are handled (not the default action)', async () => {
    // a supervisor may signal as soon as it sees "listening on"
    // (expected to fail until wsip hooks its signals before printing the
    // lines; the window is short, hence the rounds)
    for (let i = 0; i < 20; i++) {
      const srv = await startServer({ listen: ['udp'] });
      try {
        srv.signal('SIGHUP');
        await sleep(50);
        assert.equal(srv.exit, null, `round ${i + 1}: SIGHUP right after startup killed the server: ${JSON.stringify(srv.exit)}`);
        srv.signal('SIGTERM');
        const r = await srv.stop(null);
        assert.deepEqual(r, { code: 0, signal: null }, `round ${i + 1}: SIGTERM right after SIGHUP`);
      } finally {
        srv.kill();
      }
    }
  });

  test('SIGHUP: the server keeps running and reopens its log file', async () => {
    const dir = tmpDir('hup');
    const log = path.join(dir, 'wsip.log');
    const srv = await server({ listen: ['udp', 'tcp'], cwd: dir, set: { 'log.file': log } });
    assert.ok(fs.existsSync(log), 'log file not created');
    const waitFile = async (f, re) => {
      const end = Date.now() + T_REPLY;
      while (Date.now() < end) {
        if (fs.existsSync(f) && re.test(fs.readFileSync(f, 'utf8'))) return true;
        await sleep(20);
      }
      return false;
    };
    assert.ok(await waitFile(log, /workers/), 'startup line not in the log file');
    // serving: the workers (and the signal handlers) are running
    assert.equal((await udpOptions(srv.port('udp')))?.status, 200);
    const rotated = `${log}.1`;
    fs.renameSync(log, rotated);
    srv.signal('SIGHUP');
    assert.ok(await waitFile(log, /\S/), `no new log file with lines after SIGHUP (exit: ${JSON.stringify(srv.exit)})`);
    assert.equal(srv.exit, null, 'the server exited on SIGHUP');
    assert.match(fs.readFileSync(log, 'utf8'), /SIGHUP/);
    assert.equal((await udpOptions(srv.port('udp')))?.status, 200);
    const s = await SipStream.tcp(srv.port('tcp'));
    closers.push(() => s.close());
    await s.write(sipOptions({ transport: 'TCP' }));
    assert.equal((await s.next())?.status, 200);
    // a second SIGHUP works too, and lines keep going to the new file
    srv.signal('SIGHUP');
    await sleep(100);
    assert.equal(srv.exit, null);
    assert.equal((await udpOptions(srv.port('udp')))?.status, 200);
    await srv.stopOk();
    const after = fs.readFileSync(log, 'utf8');
    assert.match(after, /stopped|shutting down/, 'shutdown lines not in the reopened log');
    assert.doesNotMatch(fs.readFileSync(rotated, 'utf8'), /shutting down|SIGHUP/, 'still writing to the rotated file');
  });

  test('SIGPIPE does not kill the server (clients vanish mid-response)', async () => {
    const dir = tmpDir('pipe');
    fs.mkdirSync(path.join(dir, 'web'));
    fs.writeFileSync(path.join(dir, 'web', 'big.bin'), Buffer.alloc(8 * 1024 * 1024, 0x5a));
    const srv = await server({ listen: ['udp', 'tcp', 'ws'], cwd: dir, set: { 'http.root': path.join(dir, 'web'), 'net.handshakes_per_ip_per_second': 100000 } });
    for (let round = 0; round < 5; round++) {
      // TCP: many requests, then a reset before the answers are written
      const t = await connectTcp(srv.port('tcp'));
      t.on('error', () => {});
      t.write(Array.from({ length: 300 }, () => sipOptions({ transport: 'TCP' })).join(''));
      await sleep(5);
      t.resetAndDestroy();
      // static file: read the first bytes, then reset
      const h = await connectTcp(srv.port('ws'));
      h.on('error', () => {});
      h.write('GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n');
      await within(once(h, 'data'), T_REPLY);
      h.resetAndDestroy();
      // WebSocket: a burst of requests, then the socket is gone
      const c = new WebSocket(`ws://127.0.0.1:${srv.port('ws')}/`, 'sip', { handshakeTimeout: T_REPLY });
      c.on('error', () => {});
      await within(once(c, 'open'), T_REPLY);
      for (let i = 0; i < 200; i++) c.send(sipOptions({ transport: 'WS' }));
      await sleep(5);
      c._socket?.resetAndDestroy();
    }
    await sleep(200);
    assert.equal(srv.exit, null, `the server died: ${JSON.stringify(srv.exit)}\n${srv.tail()}`);
    assert.equal((await udpOptions(srv.port('udp')))?.status, 200);
    const s = await SipStream.tcp(srv.port('tcp'));
    closers.push(() => s.close());
    await s.write(sipOptions({ transport: 'TCP' }));
    assert.equal((await s.next())?.status, 200);
    await srv.stopOk();
  });
});

test('parseSip helper sanity (compact forms, folding)', () => {
  const m = parseSip('SIP/2.0 200 OK\r\nv: SIP/2.0/UDP a;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP b\r\n  ;received=1.2.3.4\r\ni: x\r\nl: 0\r\n\r\n');
  assert.equal(m.status, 200);
  assert.deepEqual(m.all('via'), ['SIP/2.0/UDP a;branch=z9hG4bK1', 'SIP/2.0/UDP b ;received=1.2.3.4']);
  assert.equal(m.get('Call-ID'), 'x');
});
