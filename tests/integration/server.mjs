// Shared helpers of the integration tests: start and stop `wsip serve` on
// free loopback ports, raw stream/datagram/WebSocket peers with promise
// reads, and SIP message builders and parsers.
//
// Environment: WSIP_BIN (the wsip binary; default build/wsip), WSIP_CORPUS_DIR
// (default ../shared/corpus), WSIP_TEST_TIMEOUT_SCALE (multiplies every wait,
// default 1; the waits are already generous enough for the ASan build),
// WSIP_TEST_KEEP (keep the temporary directories: logs, certificates).
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '..', '..');
export const WSIP_BIN = path.resolve(process.env.WSIP_BIN || path.join(REPO, 'build', 'wsip'));
export const CORPUS = path.resolve(process.env.WSIP_CORPUS_DIR || path.join(REPO, '..', 'shared', 'corpus'));
const SCALE = Number(process.env.WSIP_TEST_TIMEOUT_SCALE) || 1;

/** A generous wait, in ms: never a timing assertion, only a bound on hangs. */
export function wait(ms) {
  return Math.round(ms * SCALE);
}
/** How long a response may take to arrive (ASan builds are slow). */
export const T_REPLY = wait(10000);
/** How long to wait before concluding that something did NOT arrive. */
export const T_SILENCE = wait(1500);
/** Options of every describe(): a bound on a whole suite, so that a hang
 * fails (and the after hooks stop the servers) long before CTest's TIMEOUT. */
export const SUITE = { timeout: wait(180000) };

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves like promise, or with fallback after ms (the timer does not keep
 * the process alive and is cleared as soon as promise settles). */
export function within(promise, ms, fallback = null) {
  let timer;
  const t = new Promise((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
    timer.unref();
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

export function corpusPath(...p) {
  return path.join(CORPUS, ...p);
}

const tmpDirs = [];

/** A fresh temporary directory, removed when the test process exits (kept
 * when WSIP_TEST_KEEP is set, to look at logs and certificates). */
export function tmpDir(tag = 'it') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `wsip-${tag}-`));
  tmpDirs.push(d);
  return d;
}

/** Runs wsip synchronously (check-config, cert): {code, stdout, stderr}. */
export function runWsip(args, opts = {}) {
  const r = spawnSync(WSIP_BIN, args, {
    cwd: opts.cwd || os.tmpdir(),
    encoding: 'utf8',
    timeout: wait(30000),
    env: { ...process.env, ...(opts.env || {}) },
  });
  if (r.error) throw r.error;
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** `wsip cert --self-signed DIR`: {certFile, keyFile, cert (PEM text)}. */
export function makeCert(dir) {
  const r = runWsip(['cert', '--self-signed', dir]);
  if (r.code !== 0) throw new Error(`wsip cert failed (${r.code}): ${r.stderr}`);
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  return { certFile, keyFile, cert: fs.readFileSync(certFile, 'utf8') };
}

// ------------------------------------------------------------------ ports

/** Whether an address family can be used at all (e.g. ::1 on a host without IPv6). */
export async function canBind(host) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port: 0, host, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

function tryTcp(host, port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

function tryUdp(host, port) {
  return new Promise((resolve) => {
    const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind({ port, address: host, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

const usedPorts = new Set();

/** A port free for both TCP and UDP on host. Random in 20000..31999: below
 * the kernel's ephemeral range, so neither bind(0) nor outgoing connections
 * of other processes pick it while wsip starts. */
export async function freePort(host = '127.0.0.1') {
  for (let i = 0; i < 200; i++) {
    const port = 20000 + crypto.randomInt(12000);
    if (usedPorts.has(port)) continue;
    if ((await tryTcp(host, port)) && (await tryUdp(host, port))) {
      usedPorts.add(port);
      return port;
    }
  }
  throw new Error(`no free port on ${host}`);
}

// ----------------------------------------------------------------- server

const live = new Set(); // every child process not yet reaped

process.on('exit', () => {
  for (const p of live) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  if (!process.env.WSIP_TEST_KEEP) for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

function parseUri(u) {
  const m = /^(\w+):\/\/(\[[^\]]+\]|[^:/]+):(\d+)$/.exec(u);
  if (!m) throw new Error(`bad listen URI ${u}`);
  return { scheme: m[1], host: m[2].replace(/^\[|\]$/g, ''), port: Number(m[3]), uri: u };
}

/**
 * Starts `wsip serve`.
 * opts.listen: list of "udp", "tcp", "tls", "ws", "wss" (127.0.0.1, one
 *   free port each), or {scheme, host} objects (host may be "::1").
 * opts.set: {directive: value} passed as --set directive=value.
 * opts.workers: default 2.
 * opts.cert: a makeCert() result (tls.certificate / tls.private_key are set).
 * opts.listenFlag: pass --listen URI (repeated) instead of --set listen=[...].
 * opts.args: more command-line arguments. opts.cwd: else a fresh temp dir.
 */
export async function startServer(opts = {}) {
  let lastErr;
  for (let attempt = 0; attempt < 5; attempt++) {
    const specs = [];
    for (const l of opts.listen || ['udp', 'tcp', 'ws']) {
      const spec = typeof l === 'string' ? { scheme: l, host: '127.0.0.1' } : { ...l };
      spec.port = spec.port || (await freePort(spec.host));
      const h = spec.host.includes(':') ? `[${spec.host}]` : spec.host;
      spec.uri = `${spec.scheme}://${h}:${spec.port}`;
      specs.push(spec);
    }
    try {
      return await spawnServer(specs, opts);
    } catch (e) {
      lastErr = e;
      // another process took a port between the probe and wsip's bind
      if (!/in use|EADDRINUSE/i.test(String(e.message))) throw e;
    }
  }
  throw lastErr;
}

export class Server {
  constructor(proc, specs, dir) {
    this.proc = proc;
    this.pid = proc.pid;
    this.specs = specs;
    this.dir = dir;
    this.stdout = '';
    this.stderr = '';
    this.exit = null; // {code, signal} once reaped
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        this.exit = { code, signal };
        live.delete(proc);
        resolve(this.exit);
      });
    });
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    proc.stdout.on('data', (d) => (this.stdout += d));
    proc.stderr.on('data', (d) => (this.stderr += d));
  }

  /** The first listener of that scheme: {host, port, uri}. */
  addr(scheme) {
    const s = this.specs.find((x) => x.scheme === scheme);
    if (!s) throw new Error(`server has no ${scheme} listener`);
    return s;
  }
  port(scheme) {
    return this.addr(scheme).port;
  }

  /** stderr (the log) for failure messages, last lines only. */
  tail(n = 40) {
    return this.stderr.split('\n').slice(-n).join('\n');
  }

  /** Waits until the log (stderr) matches re; returns the match or null. */
  async waitLog(re, ms = T_REPLY) {
    const end = Date.now() + ms;
    for (;;) {
      const m = re.exec(this.stderr);
      if (m || Date.now() > end || this.exit) return m;
      await sleep(20);
    }
  }

  signal(sig) {
    if (!this.exit) process.kill(this.pid, sig);
  }

  /** Sends sig (SIGTERM) and waits for the exit: {code, signal}. Throws when
   * the process does not exit in time (it is then killed). */
  async stop(sig = 'SIGTERM', ms = wait(15000)) {
    if (!this.exit && sig) this.signal(sig);
    const r = await within(this.exited, ms, null);
    if (!r) {
      this.kill();
      throw new Error(`wsip did not exit within ${ms} ms of ${sig}\n${this.tail()}`);
    }
    return r;
  }

  /** Graceful stop that must end with exit code 0 (part of the spec).
   * sig null: the signal was sent already, only wait. */
  async stopOk(sig = 'SIGTERM') {
    const r = await this.stop(sig);
    if (r.code !== 0 || r.signal) {
      throw new Error(`wsip exited with code ${r.code} signal ${r.signal} after ${sig}\n${this.tail(80)}`);
    }
    return r;
  }

  /** Last resort (after hooks): SIGKILL by PID if still running. */
  kill() {
    if (!this.exit) {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

function spawnServer(specs, opts) {
  const dir = opts.cwd || tmpDir('srv');
  const args = ['serve'];
  if (opts.listenFlag) for (const s of specs) args.push('--listen', s.uri);
  else args.push('--set', `listen=[${specs.map((s) => s.uri).join(',')}]`);
  const set = { workers: opts.workers ?? 2, ...(opts.set || {}) };
  if (opts.cert) {
    set['tls.certificate'] = opts.cert.certFile;
    set['tls.private_key'] = opts.cert.keyFile;
  }
  for (const [k, v] of Object.entries(set)) args.push('--set', `${k}=${v}`);
  args.push(...(opts.args || []));
  const proc = spawn(WSIP_BIN, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  const srv = new Server(proc, specs, dir);
  srv.args = args;
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(poll);
      if (err) {
        srv.kill();
        reject(err);
      } else resolve(srv);
    };
    const check = () => {
      const lines = srv.stdout.split('\n').filter((l) => l.startsWith('listening on '));
      if (lines.length >= specs.length) finish();
    };
    const poll = setInterval(check, 10);
    proc.stdout.on('data', check);
    proc.on('error', (e) => finish(new Error(`cannot run ${WSIP_BIN}: ${e.message}`)));
    srv.exited.then((r) =>
      setImmediate(() =>
        finish(new Error(`wsip serve exited (${r.code}/${r.signal}) before listening: ${args.join(' ')}\n${srv.stderr}`)),
      ),
    );
    const timer = setTimeout(
      () => finish(new Error(`wsip serve did not print its listening lines in time\n${srv.stdout}\n${srv.stderr}`)),
      wait(20000),
    );
  });
}

// -------------------------------------------------------- stream reading

/** Accumulates what a stream socket receives; next() waits for a parsed
 * unit. EOF and errors are recorded, never thrown at the socket level. */
export class Reader {
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.ended = false;
    this.error = null;
    this.waiters = new Set();
    this.closed = new Promise((resolve) => sock.once('close', () => resolve(true)));
    sock.on('data', (d) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.wake();
    });
    sock.on('end', () => {
      this.ended = true;
      this.wake();
    });
    sock.on('error', (e) => {
      this.error = e;
      this.ended = true;
      this.wake();
    });
    sock.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }
  wake() {
    for (const w of [...this.waiters]) w();
  }
  /** parse(buf) returns [value, consumedBytes] or null. Resolves with the
   * value, or null at EOF; rejects after ms. */
  next(parse, ms = T_REPLY, what = 'data') {
    return new Promise((resolve, reject) => {
      const attempt = () => {
        const r = parse(this.buf);
        if (r) {
          this.buf = this.buf.subarray(r[1]);
          cleanup();
          resolve(r[0]);
          return;
        }
        if (this.ended) {
          cleanup();
          resolve(null);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${ms} ms waiting for ${what} (${this.buf.length} bytes unparsed)`));
      }, ms);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(attempt);
      };
      this.waiters.add(attempt);
      attempt();
    });
  }
  /** Resolves true once the socket is closed, false after ms. */
  async waitClosed(ms = T_REPLY) {
    return within(this.closed, ms, false);
  }
}

export function connectTcp(port, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host });
    s.setNoDelay(true);
    s.once('connect', () => {
      s.removeListener('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

export function connectTls(port, cert, host = '127.0.0.1', extra = {}) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host, ca: cert, ...extra });
    s.once('secureConnect', () => {
      s.removeListener('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** A SIP connection over TCP or TLS with stream framing. */
export class SipStream {
  constructor(sock) {
    this.sock = sock;
    this.reader = new Reader(sock);
  }
  static async tcp(port, host) {
    return new SipStream(await connectTcp(port, host));
  }
  static async tls(port, cert, host) {
    return new SipStream(await connectTls(port, cert, host));
  }
  write(data) {
    return new Promise((resolve) => {
      if (this.sock.destroyed) return resolve(false);
      this.sock.write(data, (err) => resolve(!err));
    });
  }
  /** The next SIP message (parsed), {keepalive: true} for a CRLF, null at EOF. */
  next(ms = T_REPLY) {
    return this.reader.next(frameSipStream, ms, 'a SIP message');
  }
  close() {
    this.sock.destroy();
  }
}

/** Stream framing (RFC 3261 sec 18.3): headers, then Content-Length bytes. */
export function frameSipStream(buf) {
  if (buf.length >= 2 && buf[0] === 13 && buf[1] === 10) return [{ keepalive: true }, 2];
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const head = buf.subarray(0, end).toString('latin1');
  const m = /^(?:content-length|l)[ \t]*:[ \t]*(\d+)/im.exec(head);
  const clen = m ? Number(m[1]) : 0;
  if (buf.length < end + 4 + clen) return null;
  return [parseSip(buf.subarray(0, end + 4 + clen)), end + 4 + clen];
}

// ------------------------------------------------------------------ UDP

/** A UDP peer: send datagrams, receive them in order. */
export class UdpPeer {
  static async open(host = '127.0.0.1', port = 0) {
    const p = new UdpPeer(host.includes(':') ? 'udp6' : 'udp4');
    await new Promise((resolve, reject) => {
      p.sock.once('error', reject);
      p.sock.bind({ port, address: host, exclusive: true }, () => {
        p.sock.removeListener('error', reject);
        resolve();
      });
    });
    p.port = p.sock.address().port;
    p.host = host;
    return p;
  }
  constructor(type) {
    this.sock = dgram.createSocket(type);
    this.queue = [];
    this.waiters = new Set();
    this.sock.on('message', (msg, rinfo) => {
      this.queue.push({ msg, rinfo });
      for (const w of [...this.waiters]) w();
    });
    this.sock.on('error', () => {});
  }
  send(data, port, host = this.host) {
    return new Promise((resolve, reject) =>
      this.sock.send(Buffer.from(data), port, host, (e) => (e ? reject(e) : resolve())),
    );
  }
  /** Next datagram {msg, rinfo, sip}, or null after ms. */
  next(ms = T_REPLY) {
    return new Promise((resolve) => {
      const attempt = () => {
        if (!this.queue.length) return;
        cleanup();
        const d = this.queue.shift();
        d.sip = tryParseSip(d.msg);
        resolve(d);
      };
      const timer = setTimeout(() => {
        cleanup();
        resolve(null);
      }, ms);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(attempt);
      };
      this.waiters.add(attempt);
      attempt();
    });
  }
  /** Sends data and returns the next datagram (or null after ms). */
  async request(data, port, ms = T_REPLY) {
    await this.send(data, port);
    return this.next(ms);
  }
  /** Collects datagrams until one matches pred (returned last) or ms pass. */
  async collectUntil(pred, ms = T_REPLY) {
    const got = [];
    const end = Date.now() + ms;
    for (;;) {
      const d = await this.next(Math.max(1, end - Date.now()));
      if (!d) return { got, match: null };
      if (pred(d)) return { got, match: d };
      got.push(d);
    }
  }
  close() {
    try {
      this.sock.close();
    } catch {
      /* closed */
    }
  }
}

// -------------------------------------------------------------------- SIP

let seq = 0;
export function uniq(prefix = 'x') {
  return `${prefix}${process.pid.toString(36)}${(++seq).toString(36)}${crypto.randomBytes(4).toString('hex')}`;
}

/**
 * Builds a SIP request (string, CRLF line ends).
 * o.transport (Via protocol, "UDP"), o.sentBy ("127.0.0.1:5060" or
 * "abc.invalid"), o.rport (default true), o.branch, o.callId, o.cseq,
 * o.ruri ("sip:127.0.0.1"), o.headers (extra lines), o.body,
 * o.contentLength (false: no Content-Length header; a number: that value).
 */
export function sipRequest(method, o = {}) {
  const callId = o.callId || uniq('c');
  const branch = o.branch || uniq('z9hG4bK');
  const transport = o.transport || 'UDP';
  const sentBy = o.sentBy || 'client.invalid';
  const ruri = o.ruri || 'sip:127.0.0.1';
  const body = o.body || '';
  const lines = [
    `${method} ${ruri} SIP/2.0`,
    `Via: SIP/2.0/${transport} ${sentBy};branch=${branch}${o.rport === false ? '' : ';rport'}`,
    'Max-Forwards: 70',
    `From: <sip:tester@client.invalid>;tag=${o.fromTag || uniq('t')}`,
    `To: <${o.to || ruri}>`,
    `Call-ID: ${callId}`,
    `CSeq: ${o.cseq || 1} ${o.cseqMethod || method}`,
    ...(o.headers || []),
  ];
  if (o.contentLength !== false) {
    const n = typeof o.contentLength === 'number' ? o.contentLength : Buffer.byteLength(body);
    lines.push(`Content-Length: ${n}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

export function sipOptions(o = {}) {
  return sipRequest('OPTIONS', o);
}

const compact = { v: 'via', f: 'from', t: 'to', i: 'call-id', m: 'contact', l: 'content-length', c: 'content-type', e: 'content-encoding', s: 'subject', k: 'supported' };

/** Parses a SIP message (Buffer or string): {isResponse, status, reason,
 * method, ruri, headers: [{name, value}], get(name), all(name), body, raw}. */
export function parseSip(data) {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1');
  const end = buf.indexOf('\r\n\r\n');
  const head = buf.subarray(0, end < 0 ? buf.length : end).toString('latin1');
  const body = end < 0 ? Buffer.alloc(0) : buf.subarray(end + 4);
  const [start, ...rest] = head.split('\r\n');
  const msg = { raw: buf, start, headers: [], body };
  let m;
  if ((m = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(start))) {
    msg.isResponse = true;
    msg.status = Number(m[1]);
    msg.reason = m[2];
  } else if ((m = /^(\S+) (\S+) SIP\/2\.0$/.exec(start))) {
    msg.isResponse = false;
    msg.method = m[1];
    msg.ruri = m[2];
  } else {
    throw new Error(`not a SIP start line: ${JSON.stringify(start)}`);
  }
  for (const line of rest) {
    if (/^[ \t]/.test(line) && msg.headers.length) {
      msg.headers[msg.headers.length - 1].value += ` ${line.trim()}`;
      continue;
    }
    const i = line.indexOf(':');
    if (i < 0) continue;
    let name = line.slice(0, i).trim().toLowerCase();
    name = compact[name] || name;
    msg.headers.push({ name, value: line.slice(i + 1).trim() });
  }
  msg.all = (n) => msg.headers.filter((h) => h.name === (compact[n.toLowerCase()] || n.toLowerCase())).map((h) => h.value);
  msg.get = (n) => msg.all(n)[0];
  return msg;
}

export function tryParseSip(data) {
  try {
    return parseSip(data);
  } catch {
    return null;
  }
}

/** A header parameter: param('...;received=1.2.3.4;rport=5', 'rport'). */
export function param(value, name) {
  const m = new RegExp(`;\\s*${name}(?:=([^;,\\s>]*))?`, 'i').exec(value || '');
  if (!m) return undefined;
  return m[1] === undefined ? '' : m[1];
}

// -------------------------------------------------------------- WebSocket

export const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export function wsAccept(key) {
  return crypto.createHash('sha1').update(key + WS_GUID).digest('base64');
}

export const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 };

/** A client frame. o.fin (true), o.mask (true), o.rsv (0..7), o.key (4 bytes). */
export function wsFrame(opcode, payload = Buffer.alloc(0), o = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  const fin = o.fin === false ? 0 : 0x80;
  const mask = o.mask === false ? 0 : 0x80;
  const len = data.length;
  let hdr;
  if (len < 126) {
    hdr = Buffer.from([fin | ((o.rsv || 0) << 4) | opcode, mask | len]);
  } else if (len <= 0xffff) {
    hdr = Buffer.alloc(4);
    hdr[0] = fin | ((o.rsv || 0) << 4) | opcode;
    hdr[1] = mask | 126;
    hdr.writeUInt16BE(len, 2);
  } else {
    hdr = Buffer.alloc(10);
    hdr[0] = fin | ((o.rsv || 0) << 4) | opcode;
    hdr[1] = mask | 127;
    hdr.writeBigUInt64BE(BigInt(len), 2);
  }
  if (!mask) return Buffer.concat([hdr, data]);
  const key = o.key || crypto.randomBytes(4);
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i++) out[i] = data[i] ^ key[i & 3];
  return Buffer.concat([hdr, key, out]);
}

export function closePayload(code, reason = '') {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason));
  b.writeUInt16BE(code, 0);
  b.write(reason, 2);
  return b;
}

/** Parses one server frame: [{fin, rsv, opcode, masked, payload, code?, reason?}, size]. */
export function parseWsFrame(buf) {
  if (buf.length < 2) return null;
  const b0 = buf[0];
  const b1 = buf[1];
  let len = b1 & 0x7f;
  let off = 2;
  if (len === 126) {
    if (buf.length < 4) return null;
    len = buf.readUInt16BE(2);
    off = 4;
  } else if (len === 127) {
    if (buf.length < 10) return null;
    len = Number(buf.readBigUInt64BE(2));
    off = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  let key = null;
  if (masked) {
    if (buf.length < off + 4) return null;
    key = buf.subarray(off, off + 4);
    off += 4;
  }
  if (buf.length < off + len) return null;
  let payload = Buffer.from(buf.subarray(off, off + len));
  if (key) for (let i = 0; i < len; i++) payload[i] ^= key[i & 3];
  const f = { fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked, payload };
  if (f.opcode === OP.CLOSE) {
    f.code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
    f.reason = payload.subarray(2).toString('utf8');
  }
  return [f, off + len];
}

/** Parses an HTTP response head (and a Content-Length body). */
export function parseHttpResponse(buf, noBody = false) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const head = buf.subarray(0, end).toString('latin1');
  const [statusLine, ...lines] = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine);
  if (!m) throw new Error(`not an HTTP status line: ${JSON.stringify(statusLine)}`);
  const headers = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i < 0) continue;
    const k = l.slice(0, i).trim().toLowerCase();
    (headers[k] ||= []).push(l.slice(i + 1).trim());
  }
  const status = Number(m[1]);
  let bodyLen = 0;
  if (!noBody && status !== 101 && headers['content-length']) bodyLen = Number(headers['content-length'][0]);
  if (buf.length < end + 4 + bodyLen) return null;
  const res = {
    statusLine,
    status,
    reason: m[2],
    headers,
    header: (n) => (headers[n.toLowerCase()] || [])[0],
    body: buf.subarray(end + 4, end + 4 + bodyLen),
  };
  return [res, end + 4 + bodyLen];
}

/** Sends raw bytes on a new connection and reads one HTTP response:
 * {res, sock, reader}. res is null when the server closed without one. */
export async function httpExchange(port, request, o = {}) {
  const sock = o.tls ? await connectTls(port, o.tls.ca) : await connectTcp(port);
  const reader = new Reader(sock);
  sock.write(request);
  const head = /^HEAD /.test(String(request));
  const res = await reader.next((b) => parseHttpResponse(b, head), T_REPLY, 'an HTTP response');
  return { res, sock, reader };
}

export function wsKey() {
  return crypto.randomBytes(16).toString('base64');
}

/** The text of an opening handshake. o.path, o.key, o.version, o.protocol
 * (null: no header), o.origin, o.headers (extra lines), o.host. */
export function handshakeRequest(o = {}) {
  const lines = [
    `GET ${o.path || '/'} HTTP/1.1`,
    `Host: ${o.host || '127.0.0.1'}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
  ];
  if (o.key !== null) lines.push(`Sec-WebSocket-Key: ${o.key || wsKey()}`);
  if (o.version !== null) lines.push(`Sec-WebSocket-Version: ${o.version ?? 13}`);
  if (o.protocol !== null) lines.push(`Sec-WebSocket-Protocol: ${o.protocol ?? 'sip'}`);
  if (o.origin) lines.push(`Origin: ${o.origin}`);
  lines.push(...(o.headers || []));
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** A WebSocket opened by hand over a raw socket, for frames `ws` refuses to send. */
export class RawWs {
  /** Connects and completes the handshake (asserting 101). o: handshakeRequest
   * options, o.tls = {ca} for wss. */
  static async open(port, o = {}) {
    const key = wsKey();
    const { res, sock, reader } = await httpExchange(port, handshakeRequest({ ...o, key }), o);
    if (!res || res.status !== 101) {
      sock.destroy();
      throw new Error(`handshake refused: ${res ? res.statusLine : 'connection closed'}`);
    }
    if (res.header('sec-websocket-accept') !== wsAccept(key)) throw new Error('bad Sec-WebSocket-Accept');
    const ws = new RawWs(sock, reader);
    ws.res = res;
    return ws;
  }
  constructor(sock, reader) {
    this.sock = sock;
    this.reader = reader;
  }
  write(data) {
    return new Promise((resolve) => {
      if (this.sock.destroyed) return resolve(false);
      this.sock.write(data, (err) => resolve(!err));
    });
  }
  send(opcode, payload, o) {
    return this.write(wsFrame(opcode, payload, o));
  }
  text(s) {
    return this.send(OP.TEXT, Buffer.from(s, 'utf8'));
  }
  /** Next server frame, or null at EOF. */
  frame(ms = T_REPLY) {
    return this.reader.next(parseWsFrame, ms, 'a WebSocket frame');
  }
  /** Next data frame (pings are answered, pongs skipped unless wanted). */
  async message(ms = T_REPLY) {
    const end = Date.now() + ms;
    for (;;) {
      const f = await this.frame(Math.max(1, end - Date.now()));
      if (!f) return null;
      if (f.opcode === OP.PING) {
        await this.send(OP.PONG, f.payload);
        continue;
      }
      if (f.opcode === OP.PONG) continue;
      return f;
    }
  }
  /** Reads frames until a close frame (returned) or EOF (null); data
   * frames on the way are collected in this.skipped. */
  async untilClose(ms = T_REPLY) {
    this.skipped = [];
    const end = Date.now() + ms;
    for (;;) {
      const f = await this.frame(Math.max(1, end - Date.now()));
      if (!f || f.opcode === OP.CLOSE) return f;
      this.skipped.push(f);
    }
  }
  close() {
    this.sock.destroy();
  }
}

/** The server's close frames are unmasked, carry a code and valid UTF-8. */
export function isValidServerClose(f) {
  return f && f.opcode === OP.CLOSE && !f.masked && f.payload.length !== 1;
}

/** Reads a TSV of the corpus: header from the "#" line, rows as objects. */
export function readTsv(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length);
  const header = lines[0].replace(/^#/, '').split('\t');
  return lines.slice(1).map((l) => {
    const cells = l.split('\t');
    return Object.fromEntries(header.map((h, i) => [h, cells[i]]));
  });
}

/** Registers an after() hook for a test file: runs cleanups (e.g. closing
 * its clients), then stops every server in servers; a server that did not
 * stop cleanly (a crash, a sanitizer report) fails the file. */
export function stopAllAfter(servers, ...cleanups) {
  after(async () => {
    for (const c of cleanups) await c();
    const errors = [];
    for (const s of servers) await s.stopOk().catch((e) => errors.push(e));
    if (errors.length) throw errors[0];
  });
}
