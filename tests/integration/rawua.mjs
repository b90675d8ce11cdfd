// A raw SIP user agent for the integration tests (calls, message, sipp):
// UDP (node:dgram) or WebSocket (npm ws, subprotocol sip, RFC 7118), digest
// computed here with node:crypto (RFC 7616), and the header helpers the
// tests share. Written against the RFCs only (no code of wsip's); every
// wait is bounded.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import dgram from 'node:dgram';

import WebSocket from 'ws';

import { T_REPLY, T_SILENCE, parseSip, uniq, within } from './server.mjs';
import { digestAuthorization, makeDb, parseChallenge, splitList } from './sipreg.mjs';

export const DOMAIN = 'localhost';
export const PASSWORD = 'secret';

/** A database with users (names in DOMAIN) added by `wsip user add`, all
 * with PASSWORD. */
export function usersDb(names, tag) {
  return makeDb(Object.fromEntries(names.map((u) => [`${u}@${DOMAIN}`, PASSWORD])), tag);
}

// ------------------------------------------------------------- digest

// parsing and answering challenges is sipreg.mjs's; re-exported here so
// the suites built on this UA import from one place
export { parseChallenge };

/** A credentials value for a parsed challenge (RFC 7616 sec 3.4, qop=auth). */
export function credentials(ch, o) {
  const { realm, nonce, opaque, algorithm } = ch.params;
  return digestAuthorization({ ...o, realm, nonce, opaque, algorithm });
}

/** Asserts the challenges of a 401 / 407: one Digest challenge for MD5 and
 * one for SHA-256 (RFC 8760), realm localhost, qop auth. Their order is
 * checked by a test of its own. Returns them parsed, in order. */
export function assertChallenges(res, header) {
  const chs = res.all(header).map(parseChallenge);
  assert.deepEqual(
    chs.map((c) => `${c.scheme} ${c.params.algorithm}`).sort(),
    ['Digest MD5', 'Digest SHA-256'],
    `${res.status}: want one ${header} for MD5 and one for SHA-256, got ${res.all(header).join(' | ')}`,
  );
  for (const c of chs) {
    assert.equal(c.params.realm, DOMAIN);
    assert.ok(c.params.nonce, 'challenge without a nonce');
    assert.ok((c.params.qop || '').split(',').map((s) => s.trim()).includes('auth'), `qop ${c.params.qop}`);
  }
  return chs;
}

// ------------------------------------------------------- header helpers

/** A Via value without received and rport (what a server may stamp). */
export function viaCore(v) {
  return v
    .replace(/;\s*received=[^;,\s]*/gi, '')
    .replace(/;\s*rport(=[^;,\s]*)?/gi, '')
    .trim();
}

/** {transport, host, port, branch} of a Via value. */
export function viaParts(v) {
  const m = /^SIP\s*\/\s*2\.0\s*\/\s*(\w+)\s+(\[[^\]]+\]|[^:;\s]+)(?::(\d+))?/i.exec(v);
  assert.ok(m, `malformed Via: ${v}`);
  const b = /;\s*branch=([^;,\s]+)/i.exec(v);
  return { transport: m[1].toUpperCase(), host: m[2], port: m[3] ? Number(m[3]) : 5060, branch: b ? b[1] : undefined };
}

export function tagOf(v) {
  const m = /;\s*tag=([^;,\s>]+)/i.exec(v || '');
  return m ? m[1] : undefined;
}

/** The URI of a name-addr / addr-spec value (inside <> when there are any). */
export function uriOf(v) {
  const m = /<([^>]*)>/.exec(v || '');
  return m ? m[1] : (v || '').split(';')[0].trim();
}

/** Every value of a header that may be a comma list (Via, Route, Record-Route). */
export function values(msg, name) {
  return msg.all(name).flatMap(splitList);
}

/** <sip:user@host:port;p=v;lr> -> {user, host, port, params: {p: v, lr: ''}}. */
export function routeUri(v) {
  const m = /^<?sips?:(?:([^@;>]+)@)?(\[[^\]]+\]|[^:;>]+)(?::(\d+))?([^>]*)>?/i.exec(v.trim());
  assert.ok(m, `not a SIP URI: ${v}`);
  const params = {};
  for (const p of m[4].split(';').slice(1)) {
    const i = p.indexOf('=');
    params[(i < 0 ? p : p.slice(0, i)).toLowerCase()] = i < 0 ? '' : p.slice(i + 1);
  }
  return { user: m[1], host: m[2], port: m[3] ? Number(m[3]) : undefined, params };
}

export function dump(m) {
  return m ? m.raw.toString('latin1') : '(nothing)';
}

// --------------------------------------------------------- user agent

let arrivals = 0;

/** Every Ua opened (by this test file's process), for closeAll(). */
const opened = [];

/** Closes every Ua opened so far (errors ignored): for an after hook. */
export async function closeAll() {
  for (const u of opened) await u.close().catch(() => {});
}

/**
 * A raw SIP user agent for one user over 'udp' or 'ws' (npm ws, subprotocol
 * sip). Everything it receives goes into an inbox; take(pred) removes and
 * returns the first message matching pred, waiting (bounded) for it.
 * A test file subclasses it to set userAgent (the User-Agent of its
 * requests) and contentType (the default Content-Type of a request body).
 */
export class Ua {
  static userAgent = 'wsip-rawua';
  static contentType = 'application/sdp';

  static async open(srv, user, transport) {
    const ua = new this(srv, user, transport);
    opened.push(ua);
    if (transport === 'udp') {
      ua.sock = dgram.createSocket('udp4');
      ua.sock.on('error', () => {});
      ua.sock.on('message', (buf, rinfo) => ua.deliver(buf, { rinfo }));
      await new Promise((resolve, reject) => {
        ua.sock.once('error', reject);
        ua.sock.bind(0, '127.0.0.1', () => {
          ua.sock.removeListener('error', reject);
          resolve();
        });
      });
      ua.sentBy = `127.0.0.1:${ua.sock.address().port}`;
      ua.viaTransport = 'UDP';
      ua.contact = `sip:${user}@${ua.sentBy}`;
    } else {
      ua.sentBy = `${uniq('h')}.invalid`;
      ua.viaTransport = 'WS';
      ua.contact = `sip:${user}@${ua.sentBy};transport=ws`;
      ua.ws = new WebSocket(`ws://127.0.0.1:${srv.port('ws')}/`, 'sip', { handshakeTimeout: T_REPLY });
      ua.wsClosed = new Promise((resolve) => ua.ws.once('close', () => resolve(true)));
      ua.ws.on('error', () => {});
      ua.ws.on('message', (data, isBinary) => ua.deliver(Buffer.isBuffer(data) ? data : Buffer.from(data), { binary: isBinary }));
      await new Promise((resolve, reject) => {
        ua.ws.once('open', resolve);
        ua.ws.once('error', reject);
        ua.ws.once('unexpected-response', (_req, res) => reject(new Error(`WebSocket handshake refused: ${res.statusCode}`)));
      });
    }
    return ua;
  }

  constructor(srv, user, transport) {
    this.srv = srv;
    this.user = user;
    this.aor = `sip:${user}@${DOMAIN}`;
    this.transport = transport;
    this.inbox = [];
    this.seen = []; // start lines (and CSeq) of everything parsed, in order
    this.waiters = new Set();
    this.reg = { callId: uniq('reg'), fromTag: uniq('rt'), cseq: 0 };
  }

  /** The Contact of our dialogs: with ;ob over an Outbound flow (RFC 5626 sec 5.4). */
  get dialogContact() {
    return this.outbound ? `<${this.contact};ob>` : `<${this.contact}>`;
  }

  deliver(buf, meta) {
    if (buf.length <= 4 && /^[\r\n]*$/.test(buf.toString('latin1'))) return; // keep-alive
    let m;
    try {
      m = parseSip(buf);
    } catch {
      m = { unparsable: true, raw: buf, all: () => [], get: () => undefined };
    }
    if (!m.unparsable) this.seen.push(`${m.start} (CSeq ${m.get('cseq')})`);
    Object.assign(m, meta, { seq: ++arrivals });
    this.inbox.push(m);
    for (const w of [...this.waiters]) w();
  }

  /** Removes and returns the first message matching pred, or null after ms. */
  take(pred, ms = T_REPLY) {
    return new Promise((resolve) => {
      let timer = null;
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(attempt);
      };
      const attempt = () => {
        const i = this.inbox.findIndex((m) => !m.unparsable && pred(m));
        if (i < 0) return false;
        const [m] = this.inbox.splice(i, 1);
        cleanup();
        resolve(m);
        return true;
      };
      if (attempt()) return;
      timer = setTimeout(() => {
        cleanup();
        resolve(null);
      }, ms);
      this.waiters.add(attempt);
    });
  }

  /** take() that must succeed. */
  async must(pred, what, ms = T_REPLY) {
    const m = await this.take(pred, ms);
    if (!m) {
      const seen = this.inbox.map((x) => x.start || '(unparsable)').join(' | ') || 'nothing';
      throw new Error(`${this.user}/${this.transport}: no ${what} within ${ms} ms (inbox: ${seen})\n${this.srv.tail(20)}`);
    }
    return m;
  }

  /** A request arriving for us (method, and Call-ID when given). */
  incoming(method, callId, ms) {
    return this.must((m) => !m.isResponse && m.method === method && (!callId || m.get('call-id') === callId), `${method} request`, ms);
  }

  /** The next response (any status) to a request we sent. */
  response(req, ms = T_REPLY) {
    return this.must(
      (m) => m.isResponse && m.get('call-id') === req.callId && m.get('cseq') === `${req.cseq} ${req.method}`,
      `response to ${req.method} (CSeq ${req.cseq})`,
      ms,
    );
  }

  /** The final response to a request built by build(). */
  final(req, ms = T_REPLY) {
    return this.must(
      (m) => m.isResponse && m.status >= 200 && m.get('call-id') === req.callId && m.get('cseq') === `${req.cseq} ${req.method}`,
      `final response to ${req.method} (CSeq ${req.cseq})`,
      ms,
    );
  }

  /** Nothing of this call (Call-ID) matching pred arrives within ms: null, else the message. */
  stray(callId, pred = () => true, ms = T_SILENCE) {
    return this.take((m) => m.get('call-id') === callId && pred(m), ms);
  }

  /** Sends bytes; o.host / o.port: the UDP destination (default wsip's UDP listener). */
  send(data, o = {}) {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8');
    if (this.sock) {
      return new Promise((resolve, reject) =>
        this.sock.send(buf, o.port || this.srv.port('udp'), o.host || '127.0.0.1', (e) => (e ? reject(e) : resolve())),
      );
    }
    return new Promise((resolve, reject) => this.ws.send(buf, { binary: !!o.binary }, (e) => (e ? reject(e) : resolve())));
  }

  /**
   * Builds a request: {buf, method, ruri, callId, fromTag, cseq, branch, vias, routes}.
   * o.callId, o.fromTag, o.cseq, o.branch; o.vias: more Via values below
   * ours; o.to (URI, default the
   * Request-URI) and o.toTag, or o.toHeader (the whole value); o.routes
   * (Route values, in order); o.headers (extra lines); o.body (string or
   * Buffer), o.contentType (default the class's contentType); o.maxForwards (70); o.cseqMethod.
   */
  build(method, ruri, o = {}) {
    const branch = o.branch || uniq('z9hG4bK');
    const vias = [`SIP/2.0/${this.viaTransport} ${this.sentBy};branch=${branch};rport`, ...(o.vias || [])];
    const body = o.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(o.body) ? o.body : Buffer.from(o.body, 'utf8');
    const req = {
      method,
      ruri,
      callId: o.callId || uniq('c'),
      fromTag: o.fromTag || uniq('ft'),
      cseq: o.cseq || 1,
      branch,
      vias,
      routes: o.routes || [],
      body,
    };
    const lines = [
      `${method} ${ruri} SIP/2.0`,
      ...vias.map((v) => `Via: ${v}`),
      ...req.routes.map((r) => `Route: ${r}`),
      `Max-Forwards: ${o.maxForwards ?? 70}`,
      `From: <${this.aor}>;tag=${req.fromTag}`,
      `To: ${o.toHeader || `<${o.to || ruri}>${o.toTag ? `;tag=${o.toTag}` : ''}`}`,
      `Call-ID: ${req.callId}`,
      `CSeq: ${req.cseq} ${o.cseqMethod || method}`,
      ...(o.headers || []),
    ];
    if (body.length) lines.push(`Content-Type: ${o.contentType || this.constructor.contentType}`);
    lines.push(`User-Agent: ${this.constructor.userAgent}`, `Content-Length: ${body.length}`);
    req.buf = Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
    return req;
  }

  /** Sends a request built by build(): over UDP to its first Route when it
   * has one (which must be wsip's UDP listener), else to wsip's UDP port. */
  sendReq(req) {
    if (this.sock && req.routes.length) {
      const u = routeUri(req.routes[0]);
      assert.equal(`${u.host}:${u.port}`, `127.0.0.1:${this.srv.port('udp')}`, `first Route ${req.routes[0]} is not wsip's UDP listener`);
      return this.send(req.buf, { host: u.host, port: u.port });
    }
    return this.send(req.buf);
  }

  /** The hop-by-hop ACK for a non-2xx final response to INVITE req (RFC 3261 sec 17.1.1.3). */
  async ackNon2xx(req, res) {
    const ack = this.build('ACK', req.ruri, {
      branch: req.branch,
      callId: req.callId,
      fromTag: req.fromTag,
      cseq: req.cseq,
      toHeader: res.get('to'),
      routes: req.routes,
    });
    await this.sendReq(ack);
    return ack;
  }

  /**
   * Sends a request without credentials, expects a 407 with a Digest MD5
   * challenge (ACKing it when the request is an INVITE), and sends it again
   * (CSeq + 1, new branch) with Proxy-Authorization. Returns the request
   * sent with credentials; its responses are left to the caller.
   */
  async sendAuthed(method, ruri, o = {}) {
    const first = this.build(method, ruri, o);
    await this.sendReq(first);
    const challenge = await this.final(first);
    assert.equal(challenge.status, 407, `${method} ${ruri} without credentials: ${dump(challenge)}`);
    if (method === 'INVITE') await this.ackNon2xx(first, challenge);
    const ch = challenge
      .all('proxy-authenticate')
      .map(parseChallenge)
      .find((c) => c.scheme === 'Digest' && (c.params.algorithm || 'MD5') === 'MD5');
    assert.ok(ch, `no Digest MD5 challenge: ${dump(challenge)}`);
    const req = this.retryWithCredentials(first, ch, 'Proxy-Authorization', o);
    await this.sendReq(req);
    return req;
  }

  /** first again with credentials for ch in header (Authorization or
   * Proxy-Authorization): CSeq + 1, a new branch, the same Call-ID and From
   * tag; o.password (PASSWORD) and the rest of o as for build. */
  retryWithCredentials(first, ch, header, o = {}) {
    const auth = credentials(ch, { user: this.user, password: o.password ?? PASSWORD, method: first.method, uri: first.ruri });
    return this.build(first.method, first.ruri, {
      ...o,
      branch: undefined,
      callId: first.callId,
      fromTag: first.fromTag,
      cseq: first.cseq + 1,
      headers: [...(o.headers || []), `${header}: ${auth}`],
    });
  }

  /** REGISTER with digest; over WS with Outbound (an instance, reg-id 1).
   * Asserts the 200 lists our Contact and (over WS) requires outbound,
   * unless o.checkBinding is false. Returns the 200. */
  async register(o = {}) {
    const r = this.reg;
    const ob = this.ws ? `;+sip.instance="<urn:uuid:${crypto.randomUUID()}>";reg-id=1` : '';
    const headers = [`Contact: <${this.contact}>${ob}`, 'Expires: 600'];
    if (this.ws) headers.push('Supported: path, outbound, gruu');
    r.cseq += 1;
    const first = this.build('REGISTER', `sip:${DOMAIN}`, { to: this.aor, callId: r.callId, fromTag: r.fromTag, cseq: r.cseq, headers });
    await this.send(first.buf);
    const challenge = await this.final(first);
    assert.equal(challenge.status, 401, `REGISTER without credentials: ${dump(challenge)}`);
    const ch = challenge
      .all('www-authenticate')
      .map(parseChallenge)
      .find((c) => (c.params.algorithm || 'MD5') === 'MD5');
    assert.ok(ch, `no MD5 challenge: ${dump(challenge)}`);
    r.cseq += 1;
    const auth = credentials(ch, { user: this.user, password: PASSWORD, method: 'REGISTER', uri: `sip:${DOMAIN}` });
    const req = this.build('REGISTER', `sip:${DOMAIN}`, {
      to: this.aor,
      callId: r.callId,
      fromTag: r.fromTag,
      cseq: r.cseq,
      headers: [...headers, `Authorization: ${auth}`],
    });
    await this.send(req.buf);
    const res = await this.final(req);
    assert.equal(res.status, 200, `REGISTER ${this.aor} over ${this.transport}: ${dump(res)}`);
    if (o.checkBinding !== false) {
      assert.ok(
        res.all('contact').some((c) => c.includes(this.contact)),
        `200 to REGISTER does not list ${this.contact}: ${res.all('contact').join(' | ')}`,
      );
    }
    if (this.ws) {
      if (o.checkBinding !== false) assert.ok(/outbound/i.test(res.get('require') || ''), `Outbound not used: ${dump(res)}`);
      this.outbound = true;
    }
    return res;
  }

  /** Answers a received request. o.toTag; o.recordRoute: copy its Record-Route
   * (RFC 3261 sec 12.1.1); o.contact; o.body; o.bytes: exact bytes are
   * returned in .text for a retransmission. */
  async respond(req, status, reason, o = {}) {
    const to = req.get('to');
    const lines = [
      `SIP/2.0 ${status} ${reason}`,
      ...req.all('via').map((v) => `Via: ${v}`),
      ...(o.recordRoute ? req.all('record-route').map((v) => `Record-Route: ${v}`) : []),
      `From: ${req.get('from')}`,
      `To: ${tagOf(to) ? to : `${to};tag=${o.toTag || uniq('tt')}`}`,
      `Call-ID: ${req.get('call-id')}`,
      `CSeq: ${req.get('cseq')}`,
      ...(o.contact ? [`Contact: ${o.contact}`] : []),
      ...(o.headers || []),
    ];
    const body = o.body ? Buffer.from(o.body, 'utf8') : Buffer.alloc(0);
    if (body.length) lines.push('Content-Type: application/sdp');
    lines.push(`Content-Length: ${body.length}`);
    const bytes = Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
    await this.sendResponse(req, bytes);
    return bytes;
  }

  /** Sends response bytes for req: over UDP to the top Via's sent-by
   * (RFC 3261 sec 18.2.2; wsip's Via has no received / rport). */
  sendResponse(req, bytes) {
    if (this.sock) {
      const top = viaParts(req.all('via')[0]);
      assert.equal(top.transport, 'UDP', `top Via of a request over UDP: ${req.all('via')[0]}`);
      return this.send(bytes, { host: top.host.replace(/^\[|\]$/g, ''), port: top.port });
    }
    return this.send(bytes);
  }

  /** Closes: ws cleanly (1000, waits for the server's close) or abruptly. */
  async close({ abrupt = false } = {}) {
    if (this.sock) {
      try {
        this.sock.close();
      } catch {
        /* closed */
      }
      this.sock = null;
    }
    if (this.ws && this.ws.readyState !== WebSocket.CLOSED) {
      if (abrupt) this.ws.terminate();
      else this.ws.close(1000);
      await within(this.wsClosed, T_REPLY);
      if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
    }
  }
}
