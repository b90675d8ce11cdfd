// Opens N WebSocket connections to a SIP server, REGISTERs one user on each
// (PREFIX<K> .. PREFIX<K+N-1>, K = --start, default 0; digest with PASSWORD
// when challenged), holds them
// idle, then unregisters nothing and closes them (WS close 1000). For the
// memory of idle registered connections (bench/kamailio/ws_mem.sh measures
// the server while this holds).
//
//   node bench/kamailio/ws_hold.mjs --ws PORT [--wss] [--conns 1000] [--prefix u]
//        [--start 0] [--password secret] [--hold 10] [--concurrency 100]
//
// --wss: TLS to PORT, the server certificate not checked (a test certificate).
//
// Prints "registered N of M in S s" and then "holding" on stdout once every
// REGISTER is answered, "closed" at the end. Exit 0 when all N registered.
// Every wait is bounded (--timeout per REGISTER, default 10 s).
import crypto from 'node:crypto';
import { parseArgs } from 'node:util';

import WebSocket from 'ws';

import { credentials, parseChallenge } from '../../tests/integration/rawua.mjs';
import { parseSip } from '../../tests/integration/server.mjs';

const { values: opt } = parseArgs({
  options: {
    ws: { type: 'string' },
    wss: { type: 'boolean', default: false },
    conns: { type: 'string', default: '1000' },
    prefix: { type: 'string', default: 'u' },
    start: { type: 'string', default: '0' },
    password: { type: 'string', default: 'secret' },
    domain: { type: 'string', default: 'localhost' },
    hold: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '100' },
    timeout: { type: 'string', default: '10' },
  },
});
if (!opt.ws) {
  console.error('usage: ws_hold.mjs --ws PORT [--conns N] [--prefix P] [--start K] [--password PW] [--hold S] [--concurrency K]');
  process.exit(2);
}
const N = Number(opt.conns);
const START = Number(opt.start);
const TIMEOUT = Number(opt.timeout) * 1000;
const rnd = () => crypto.randomBytes(6).toString('hex');

/** The REGISTER of `user` over this connection, with optional credentials. */
function register(user, host, callId, cseq, auth) {
  const aor = `sip:${user}@${opt.domain}`;
  const lines = [
    `REGISTER sip:${opt.domain} SIP/2.0`,
    `Via: SIP/2.0/${opt.wss ? 'WSS' : 'WS'} ${host};branch=z9hG4bK${rnd()};rport`,
    'Max-Forwards: 70',
    `From: <${aor}>;tag=${callId.slice(0, 8)}`,
    `To: <${aor}>`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} REGISTER`,
    `Contact: <sip:${user}@${host};transport=${opt.wss ? 'wss' : 'ws'}>`,
    'Expires: 600',
    ...(auth ? [`Authorization: ${auth}`] : []),
    'Content-Length: 0',
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Opens one connection and registers `user` on it; resolves the socket. */
function openAndRegister(user) {
  return new Promise((resolve, reject) => {
    const host = `${rnd()}.invalid`;
    const callId = rnd() + rnd();
    const url = `${opt.wss ? 'wss' : 'ws'}://127.0.0.1:${opt.ws}/`;
    const ws = new WebSocket(url, 'sip', { handshakeTimeout: TIMEOUT, rejectUnauthorized: false });
    const timer = setTimeout(() => fail(new Error(`${user}: no answer within ${opt.timeout} s`)), TIMEOUT);
    let challenged = false;
    function fail(e) {
      clearTimeout(timer);
      ws.terminate();
      reject(e);
    }
    ws.on('error', fail);
    ws.on('open', () => ws.send(register(user, host, callId, 1)));
    ws.on('message', (data) => {
      const m = parseSip(Buffer.from(data));
      if (!m.isResponse || m.status < 200) return;
      if (m.status === 401 && !challenged) {
        challenged = true;
        const ch = m.all('www-authenticate').map(parseChallenge).find((c) => (c.params.algorithm || 'MD5') === 'MD5');
        if (!ch) return fail(new Error(`${user}: no MD5 challenge`));
        const auth = credentials(ch, { user, password: opt.password, method: 'REGISTER', uri: `sip:${opt.domain}` });
        ws.send(register(user, host, callId, 2, auth));
        return;
      }
      if (m.status !== 200) return fail(new Error(`${user}: REGISTER answered ${m.status} ${m.reason}`));
      clearTimeout(timer);
      ws.removeAllListeners('message');
      ws.on('message', () => {});
      resolve(ws);
    });
  });
}

const sockets = [];
const errors = new Map();
const started = Date.now();
let next = 0;
async function worker() {
  while (next < N) {
    const i = next++;
    try {
      sockets.push(await openAndRegister(`${opt.prefix}${START + i}`));
    } catch (e) {
      const why = String(e.message).replace(/^\S+: /, '');
      errors.set(why, (errors.get(why) || 0) + 1);
    }
  }
}
await Promise.all(Array.from({ length: Math.min(N, Number(opt.concurrency)) }, worker));
const secs = ((Date.now() - started) / 1000).toFixed(2);
console.log(`registered ${sockets.length} of ${N} in ${secs} s`);
for (const [why, n] of errors) console.log(`  failed ${n}: ${why}`);
console.log('holding');
await new Promise((r) => setTimeout(r, Number(opt.hold) * 1000));
await Promise.all(
  sockets.map(
    (ws) =>
      new Promise((resolve) => {
        const t = setTimeout(() => {
          ws.terminate();
          resolve();
        }, TIMEOUT);
        ws.once('close', () => {
          clearTimeout(t);
          resolve();
        });
        ws.close(1000);
      }),
  ),
);
console.log('closed');
process.exit(sockets.length === N ? 0 : 1);
