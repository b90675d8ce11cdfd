// Helpers of the registrar tests: users in a temporary database, a SIP client
// over UDP, TCP or WebSocket (the npm `ws` package), REGISTER with digest
// authentication computed here with node:crypto (RFC 7616, independently of
// wsip's code), and Contact parsing. Not a test file (no .test.mjs).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import WebSocket from 'ws';

import { SipStream, T_REPLY, UdpPeer, parseSip, runWsip, sleep, tmpDir, uniq, wait } from './server.mjs';

// ----------------------------------------------------------------- users

/** A fresh database path with users added by `wsip user add`:
 * users = {'alice@localhost': 'secret', ...}. */
export function makeDb(users, tag = 'reg') {
  const db = path.join(tmpDir(tag), 'wsip.db');
  for (const [aor, pw] of Object.entries(users)) {
    const r = runWsip(['user', 'add', aor, '--password', pw, '--db', db]);
    assert.equal(r.code, 0, `wsip user add ${aor}: ${r.stderr}`);
  }
  return db;
}

/** Bytes of a SQLite database and its WAL (rows may sit in either). */
export function dbBytes(db) {
  const parts = [db, `${db}-wal`, `${db}-journal`].filter((f) => fs.existsSync(f));
  return Buffer.concat(parts.map((f) => fs.readFileSync(f)));
}

/** Waits (bounded) until the database files contain text; true when they do. */
export async function waitDbHas(db, text, ms = T_REPLY) {
  const end = Date.now() + ms;
  for (;;) {
    if (dbBytes(db).includes(text)) return true;
    if (Date.now() > end) return false;
    await sleep(25);
  }
}

// ---------------------------------------------------------------- digest

const H = {
  MD5: (s) => crypto.createHash('md5').update(s).digest('hex'),
  'SHA-256': (s) => crypto.createHash('sha256').update(s).digest('hex'),
};
export const md5 = H.MD5;
export const sha256 = H['SHA-256'];

/** Splits a list on commas outside quotes and angle brackets. */
export function splitList(v) {
  const out = [];
  let cur = '';
  let quote = false;
  let angle = false;
  for (let i = 0; i < v.length; i++) {
    const ch = v[i];
    if (quote) {
      cur += ch;
      if (ch === '\\' && i + 1 < v.length) cur += v[++i];
      else if (ch === '"') quote = false;
      continue;
    }
    if (ch === '"') quote = true;
    else if (ch === '<') angle = true;
    else if (ch === '>') angle = false;
    else if (ch === ',' && !angle) {
      out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/** `Digest realm="r", nonce="n", algorithm=MD5, qop="auth"` ->
 * {scheme, params: {realm, nonce, algorithm, qop, ...}} (names lower-cased,
 * values unquoted), and the parameter names in order. */
export function parseChallenge(value) {
  const m = /^(\S+)\s+(.*)$/s.exec(value.trim());
  assert.ok(m, `not a challenge: ${value}`);
  const params = {};
  const names = [];
  for (const part of splitList(m[2])) {
    const i = part.indexOf('=');
    const name = (i < 0 ? part : part.slice(0, i)).trim().toLowerCase();
    let val = i < 0 ? '' : part.slice(i + 1).trim();
    if (val.startsWith('"') && val.endsWith('"')) val = val.slice(1, -1).replace(/\\(.)/g, '$1');
    params[name] = val;
    names.push(name);
  }
  return { scheme: m[1], params, names };
}

/** The Authorization value for a challenge (RFC 7616 sec 3.4.1; qop auth,
 * or auth-int with o.body). */
export function digestAuthorization(o) {
  const alg = o.algorithm || 'MD5';
  const h = H[alg];
  assert.ok(h, `no hash for ${alg}`);
  const nc = (o.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = o.cnonce || crypto.randomBytes(8).toString('hex');
  const qop = o.qop ?? 'auth';
  const ha1 = h(`${o.user}:${o.realm}:${o.password}`);
  // auth-int: the body is in HA2 (RFC 7616 sec 3.4.3)
  const ha2 = qop === 'auth-int' ? h(`${o.method}:${o.uri}:${h(o.body ?? '')}`) : h(`${o.method}:${o.uri}`);
  const response = qop ? h(`${ha1}:${o.nonce}:${nc}:${cnonce}:${qop}:${ha2}`) : h(`${ha1}:${o.nonce}:${ha2}`);
  const parts = [
    `username="${o.user}"`,
    `realm="${o.realm}"`,
    `nonce="${o.nonce}"`,
    `uri="${o.uri}"`,
    `response="${o.response ?? response}"`,
    `algorithm=${alg}`,
  ];
  if (qop) parts.push(`qop=${qop}`, `nc=${nc}`, `cnonce="${cnonce}"`);
  if (o.opaque !== undefined) parts.push(`opaque="${o.opaque}"`);
  return `Digest ${parts.join(', ')}`;
}

// -------------------------------------------------------------- Contact

/** Splits a header parameter string ";a=1;b="x;y"" into [[name, value]]
 * (names lower-cased, values as written, quotes kept). */
export function splitParams(s) {
  const out = [];
  let i = 0;
  while (i < s.length) {
    while (i < s.length && (s[i] === ';' || s[i] === ' ' || s[i] === '\t')) i++;
    if (i >= s.length) break;
    let name = '';
    while (i < s.length && s[i] !== '=' && s[i] !== ';') name += s[i++];
    let val = '';
    if (s[i] === '=') {
      i++;
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
      if (s[i] === '"') {
        val += s[i++];
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\') val += s[i++];
          val += s[i++];
        }
        val += s[i++] || '';
      } else {
        while (i < s.length && s[i] !== ';') val += s[i++];
      }
    }
    out.push([name.trim().toLowerCase(), val.trim()]);
  }
  return out;
}

/** Parses one Contact value: {uri, params (object, values as written),
 * unq(name) (value without quotes), raw}; {star: true} for "*". */
export function parseContact(v) {
  const raw = v.trim();
  if (raw === '*') return { star: true, raw };
  let uri;
  let rest;
  const lt = raw.indexOf('<');
  if (lt >= 0) {
    const gt = raw.indexOf('>', lt);
    uri = raw.slice(lt + 1, gt);
    rest = raw.slice(gt + 1);
  } else {
    const semi = raw.indexOf(';');
    uri = semi < 0 ? raw : raw.slice(0, semi);
    rest = semi < 0 ? '' : raw.slice(semi);
  }
  const params = Object.fromEntries(splitParams(rest));
  const unq = (n) => {
    const x = params[n];
    return x !== undefined && x.startsWith('"') && x.endsWith('"') ? x.slice(1, -1) : x;
  };
  return { uri, params, unq, raw };
}

/** Every Contact of a response, each header's list split. */
export function contactsOf(res) {
  return res.all('contact').flatMap(splitList).map(parseContact);
}

// ------------------------------------------------------------ transports

/**
 * A SIP client on one transport: 'udp', 'tcp' or 'ws' (npm ws, subprotocol
 * sip). request(text) sends and returns the final response whose Call-ID and
 * CSeq match (1xx skipped), or throws after ms.
 */
export class SipClient {
  static async open(srv, transport, o = {}) {
    const c = new SipClient(transport, srv);
    if (transport === 'udp') {
      c.udp = await UdpPeer.open(o.localAddress || '127.0.0.1');
      c.port = c.udp.port;
      c.sentBy = `${o.localAddress || '127.0.0.1'}:${c.port}`;
      c.via = 'UDP';
    } else if (transport === 'tcp') {
      c.stream = await SipStream.tcp(srv.port('tcp'));
      c.port = c.stream.sock.localPort;
      c.sentBy = `127.0.0.1:${c.port}`;
      c.via = 'TCP';
    } else if (transport === 'ws') {
      c.host = `${uniq('h')}.invalid`;
      c.sentBy = c.host;
      c.via = 'WS';
      c.queue = [];
      c.waiters = new Set();
      c.ws = new WebSocket(`ws://127.0.0.1:${srv.port('ws')}/`, 'sip', { handshakeTimeout: T_REPLY });
      c.wsClosed = new Promise((resolve) => c.ws.once('close', () => resolve(true)));
      c.ws.on('message', (data) => {
        c.queue.push(Buffer.isBuffer(data) ? data : Buffer.from(data));
        for (const w of [...c.waiters]) w();
      });
      c.ws.on('error', () => {});
      await new Promise((resolve, reject) => {
        c.ws.once('open', resolve);
        c.ws.once('error', reject);
        c.ws.once('unexpected-response', (_req, res) => reject(new Error(`WS handshake refused: ${res.statusCode}`)));
      });
    } else {
      throw new Error(`unknown transport ${transport}`);
    }
    return c;
  }

  constructor(transport, srv) {
    this.transport = transport;
    this.srv = srv;
  }

  /** A Contact URI that reaches this client. */
  contactUri(user = 'alice') {
    if (this.transport === 'ws') return `sip:${user}@${this.host};transport=ws`;
    if (this.transport === 'tcp') return `sip:${user}@${this.sentBy};transport=tcp`;
    return `sip:${user}@${this.sentBy}`;
  }

  async send(text) {
    if (this.udp) return this.udp.send(text, this.srv.port('udp'), '127.0.0.1');
    if (this.stream) return this.stream.write(text);
    return new Promise((resolve, reject) => this.ws.send(text, (e) => (e ? reject(e) : resolve())));
  }

  /** The next SIP message received, or null after ms. */
  async next(ms = T_REPLY) {
    if (this.udp) {
      const d = await this.udp.next(ms);
      return d ? parseSip(d.msg) : null;
    }
    if (this.stream) {
      for (;;) {
        const m = await this.stream.next(ms).catch(() => null);
        if (m && m.keepalive) continue;
        return m;
      }
    }
    return new Promise((resolve) => {
      const attempt = () => {
        if (!this.queue.length) return;
        cleanup();
        resolve(parseSip(this.queue.shift()));
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

  /** Sends a request and waits for its final response. */
  async request(text, ms = T_REPLY) {
    const req = parseSip(text);
    const callId = req.get('call-id');
    const cseq = req.get('cseq');
    const end = Date.now() + ms;
    await this.send(text);
    for (;;) {
      const left = end - Date.now();
      const m = await this.next(Math.max(1, left));
      if (!m) throw new Error(`no response to ${req.start} (CSeq ${cseq}) within ${ms} ms over ${this.transport}`);
      if (!m.isResponse || m.get('call-id') !== callId || m.get('cseq') !== cseq) continue;
      if (m.status < 200) continue;
      return m;
    }
  }

  /** Closes; for ws: a clean close handshake (abrupt: TCP reset). */
  async close({ abrupt = false } = {}) {
    if (this.udp) this.udp.close();
    if (this.stream) this.stream.close();
    if (this.ws) {
      if (this.ws.readyState === WebSocket.CLOSED) return;
      if (abrupt) this.ws.terminate();
      else this.ws.close(1000);
      let t;
      await Promise.race([this.wsClosed, new Promise((r) => (t = setTimeout(r, T_REPLY)))]);
      clearTimeout(t);
      if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
    }
  }
}

// -------------------------------------------------------------- REGISTER

/**
 * One registering UA: an AOR, a Call-ID and a CSeq that grows (RFC 3261
 * sec 10.2), credentials. o.user, o.domain ('localhost'), o.password,
 * o.authUser (username of the credentials, default user), o.ruri
 * ('sip:' + domain), o.to (AOR URI), o.callId, o.cseq (first value, 1).
 */
export class Registration {
  constructor(client, o = {}) {
    this.c = client;
    this.user = o.user || 'alice';
    this.domain = o.domain || 'localhost';
    this.password = o.password ?? 'secret';
    this.authUser = o.authUser || this.user;
    this.ruri = o.ruri || `sip:${this.domain}`;
    this.to = o.to || `sip:${this.user}@${this.domain}`;
    this.callId = o.callId || uniq('reg');
    this.cseq = (o.cseq || 1) - 1;
    this.fromTag = uniq('ft');
  }

  /** REGISTER text. o.contacts: list of Contact values (strings, as
   * written after "Contact: "); o.expires: Expires header; o.headers: extra
   * lines; o.authorization: an Authorization value; o.cseq: that CSeq
   * (else the next one). */
  build(o = {}) {
    const cseq = o.cseq ?? ++this.cseq;
    if (o.cseq !== undefined) this.cseq = Math.max(this.cseq, o.cseq);
    const lines = [
      `REGISTER ${this.ruri} SIP/2.0`,
      `Via: SIP/2.0/${this.c.via} ${this.c.sentBy};branch=${uniq('z9hG4bK')};rport`,
      'Max-Forwards: 70',
      `From: <${this.to}>;tag=${this.fromTag}`,
      `To: <${this.to}>`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${cseq} REGISTER`,
      ...(o.contacts || []).map((c) => `Contact: ${c}`),
    ];
    if (o.expires !== undefined) lines.push(`Expires: ${o.expires}`);
    if (o.authorization) lines.push(`Authorization: ${o.authorization}`);
    lines.push(...(o.headers || []), 'User-Agent: wsip-integration-test', 'Content-Length: 0');
    return `${lines.join('\r\n')}\r\n\r\n`;
  }

  /** The Authorization value answering challenge (a WWW-Authenticate value
   * or a parseChallenge result). o: digestAuthorization overrides. */
  answer(challenge, o = {}) {
    const ch = typeof challenge === 'string' ? parseChallenge(challenge) : challenge;
    return digestAuthorization({
      user: this.authUser,
      realm: ch.params.realm,
      password: this.password,
      method: 'REGISTER',
      uri: this.ruri,
      nonce: ch.params.nonce,
      algorithm: ch.params.algorithm || 'MD5',
      ...o,
    });
  }

  /** Sends a REGISTER without credentials, expects a 401, answers the
   * challenge of o.algorithm ('MD5') and returns {challenge (the 401),
   * res (the final response), authorization (what was sent)}. */
  async send(o = {}) {
    const challenge = await this.c.request(this.build(o));
    if (challenge.status !== 401) return { challenge: null, res: challenge };
    const alg = o.algorithm || 'MD5';
    const ch = challenge
      .all('www-authenticate')
      .map(parseChallenge)
      .find((c) => (c.params.algorithm || 'MD5').toUpperCase() === alg.toUpperCase());
    assert.ok(ch, `no ${alg} challenge in ${challenge.all('www-authenticate').join(' | ')}`);
    const authorization = this.answer(ch, o.digest || {});
    const res = await this.c.request(this.build({ ...o, cseq: undefined, authorization }));
    return { challenge, res, authorization, nonce: ch.params.nonce };
  }

  /** send() that must end in 200; returns the 200. */
  async ok(o = {}) {
    const { res } = await this.send(o);
    assert.equal(res.status, 200, `REGISTER ${this.to} over ${this.c.transport}: ${res.start}\n${res.raw.toString('latin1')}`);
    return res;
  }

  /** An authenticated query (no Contact): the current Contacts of the AOR. */
  async query() {
    const res = await this.ok({});
    return contactsOf(res);
  }
}

/** Opens a client on transport, runs fn(client), closes it. */
export async function withClient(srv, transport, fn, o) {
  const c = await SipClient.open(srv, transport, o);
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

/** The bindings of an AOR, queried over a fresh UDP client. */
export async function bindingsOf(srv, user = 'alice', password = 'secret', domain = 'localhost') {
  return withClient(srv, 'udp', (c) => new Registration(c, { user, password, domain }).query());
}

/** Polls bindingsOf until pred(list) holds or ms pass; returns the last list. */
export async function waitBindings(srv, pred, o = {}) {
  const end = Date.now() + (o.ms ?? wait(3000));
  for (;;) {
    const list = await bindingsOf(srv, o.user, o.password, o.domain);
    if (pred(list) || Date.now() > end) return list;
    await sleep(50);
  }
}

export function newInstance() {
  return `urn:uuid:${crypto.randomUUID()}`;
}
