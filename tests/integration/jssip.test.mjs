// JsSIP (npm jssip, unmodified) registering with wsip over WebSocket in
// Node, with the npm ws client as its WebSocket: digest authentication,
// Outbound and GRUU as JsSIP uses them, unregistration, two devices of one
// user, page reload (same instance id), connection loss and recovery.
// wsip runs on its default configuration (no auth or registrar settings):
// what a JsSIP user gets out of the box. Bindings are checked with raw
// authenticated queries (sipreg.mjs), independently of JsSIP.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { RecordingWebSocket, installWebSocket, transcript } from './libws.mjs';
import { SUITE, T_REPLY, sleep, startServer, wait } from './server.mjs';
import { bindingsOf, makeDb, parseChallenge, waitBindings } from './sipreg.mjs';

installWebSocket();
const { default: JsSIP } = await import('jssip');

const uas = [];
const servers = [];
after(async () => {
  for (const ua of uas) await stopUA(ua).catch(() => {});
  const errors = [];
  for (const s of servers) await s.stopOk().catch((e) => errors.push(e));
  if (errors.length) throw errors[0];
});

/** The first of names that ua emits: {name, data}; rejects after ms. */
function waitEvent(ua, names, ms = T_REPLY) {
  return new Promise((resolve, reject) => {
    const handlers = new Map();
    const done = () => {
      clearTimeout(timer);
      for (const [n, h] of handlers) ua.removeListener(n, h);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`JsSIP UA did not emit ${names.join(' or ')} within ${ms} ms\n${transcript(uaSockets(ua))}`));
    }, ms);
    for (const n of names) {
      const h = (data) => {
        done();
        resolve({ name: n, data });
      };
      handlers.set(n, h);
      ua.on(n, h);
    }
  });
}

/** The sockets a UA has used (RecordingWebSocket instances). */
function uaSockets(ua) {
  return ua.__sockets || [];
}

async function stopUA(ua) {
  if (ua.status === JsSIP.UA.C.STATUS_USER_CLOSED) return;
  const p = waitEvent(ua, ['disconnected'], wait(10000)).catch(() => {});
  ua.stop();
  await p;
}

describe('JsSIP', SUITE, () => {
  let srv;
  let url;
  before(async () => {
    const db = makeDb({
      'alice@localhost': 'alice-pw',
      'bob@localhost': 'bob-pw',
      'carol@localhost': 'carol-pw',
      'dave@localhost': 'dave-pw',
      'erin@localhost': 'erin-pw',
    });
    srv = await startServer({ listen: ['udp', 'ws'], args: ['--db', db] });
    servers.push(srv);
    url = `ws://127.0.0.1:${srv.port('ws')}`;
  });

  /** A started UA and the first registration outcome: {ua, name, data, socket}.
   * o.user, o.password, o.instance (instance_id), o.register (true). */
  async function startUA(o) {
    const iface = new JsSIP.WebSocketInterface(url);
    const ua = new JsSIP.UA({
      sockets: [iface],
      uri: `sip:${o.user}@localhost`,
      password: o.password,
      register: o.register ?? true,
      instance_id: o.instance,
      connection_recovery_min_interval: 1,
      connection_recovery_max_interval: 2,
    });
    ua.__sockets = [];
    // which sockets this UA opened: the interface creates one per connection
    ua.on('connected', () => {
      if (iface._ws instanceof RecordingWebSocket && !ua.__sockets.includes(iface._ws)) ua.__sockets.push(iface._ws);
    });
    uas.push(ua);
    const p = waitEvent(ua, ['registered', 'registrationFailed']);
    ua.start();
    const r = await p;
    const socket = iface._ws;
    if (socket && !ua.__sockets.includes(socket)) ua.__sockets.push(socket);
    return { ua, iface, socket, ...r };
  }

  function assertRegistered(r, what) {
    assert.equal(r.name, 'registered', `${what}: ${r.name} ${r.data?.cause ?? ''}\n${transcript(uaSockets(r.ua))}`);
    assert.equal(r.data.response.status_code, 200);
    assert.ok(r.ua.isRegistered());
  }

  /** The REGISTER requests a UA sent (parsed). */
  const registersOf = (ua) => uaSockets(ua).flatMap((s) => s.sip('out')).filter((m) => m.method === 'REGISTER');

  test('alice and bob register: 401, then 200 and "registered"; bindings with their instance and GRUUs', async () => {
    const instance = crypto.randomUUID();
    const a = await startUA({ user: 'alice', password: 'alice-pw', instance });
    assertRegistered(a, 'alice');
    const b = await startUA({ user: 'bob', password: 'bob-pw' });
    assertRegistered(b, 'bob');

    // what went over the wire: a REGISTER without credentials, the 401,
    // the same REGISTER with MD5 credentials
    const regs = registersOf(a.ua);
    assert.ok(regs.length >= 2, `alice sent ${regs.length} REGISTERs`);
    assert.equal(regs[0].get('authorization'), undefined);
    const auth = parseChallenge(regs[1].get('authorization'));
    assert.equal(auth.params.username, 'alice');
    assert.equal(auth.params.algorithm, 'MD5');
    const got = a.socket.sip('in').filter((m) => m.isResponse).map((m) => m.status);
    assert.deepEqual(got.slice(0, 2), [401, 200]);

    // the binding: JsSIP's Contact URI, its +sip.instance, as a query shows
    const contactUri = a.ua.contact.uri.toString();
    const listed = await bindingsOf(srv, 'alice', 'alice-pw');
    assert.equal(listed.length, 1, listed.map((x) => x.raw).join(' | '));
    assert.equal(listed[0].uri, contactUri);
    assert.equal(listed[0].unq('+sip.instance'), `<urn:uuid:${instance}>`);
    assert.equal(listed[0].params['reg-id'], '1');
    // JsSIP took the GRUUs from the 200 (it matched its Contact there)
    assert.equal(a.ua.contact.pub_gruu, `sip:alice@localhost;gr=urn:uuid:${instance}`);
    assert.match(a.ua.contact.temp_gruu || '', /^sip:[^@]+@localhost;gr$/);
    assert.equal((await bindingsOf(srv, 'bob', 'bob-pw')).length, 1);

    await Promise.all([stopUA(a.ua), stopUA(b.ua)]); // each un-REGISTERs
    assert.deepEqual(await bindingsOf(srv, 'alice', 'alice-pw'), []);
    assert.deepEqual(await bindingsOf(srv, 'bob', 'bob-pw'), []);
  });

  test('wrong password -> "registrationFailed" with cause Authentication Error, no binding', async () => {
    const r = await startUA({ user: 'carol', password: 'not-carol-pw' });
    assert.equal(r.name, 'registrationFailed', `${r.name}\n${transcript(uaSockets(r.ua))}`);
    assert.equal(r.data.cause, JsSIP.C.causes.AUTHENTICATION_ERROR);
    assert.equal(r.data.response?.status_code, 401);
    assert.ok(!r.ua.isRegistered());
    assert.deepEqual(await bindingsOf(srv, 'carol', 'carol-pw'), []);
    await stopUA(r.ua);
  });

  test('unregister() -> "unregistered", the binding is gone', async () => {
    const r = await startUA({ user: 'dave', password: 'dave-pw' });
    assertRegistered(r, 'dave');
    assert.equal((await bindingsOf(srv, 'dave', 'dave-pw')).length, 1);
    const p = waitEvent(r.ua, ['unregistered']);
    r.ua.unregister();
    const e = await p;
    assert.ok(!e.data.cause, `unregistered with cause ${e.data.cause}`);
    assert.equal(e.data.response?.status_code, 200);
    // the connection is still open: the binding went with the REGISTER
    assert.ok(r.ua.isConnected());
    assert.deepEqual(await bindingsOf(srv, 'dave', 'dave-pw'), []);
    await stopUA(r.ua);
  });

  test('two devices of one user: both bindings listed; one stopping leaves the other', async () => {
    const a = await startUA({ user: 'erin', password: 'erin-pw' });
    const b = await startUA({ user: 'erin', password: 'erin-pw' });
    assertRegistered(a, 'erin #1');
    assertRegistered(b, 'erin #2');
    const listed = await bindingsOf(srv, 'erin', 'erin-pw');
    assert.deepEqual(listed.map((x) => x.uri).sort(), [a.ua.contact.uri.toString(), b.ua.contact.uri.toString()].sort());
    await stopUA(a.ua);
    const left = await waitBindings(srv, (l) => l.length === 1, { user: 'erin', password: 'erin-pw' });
    assert.deepEqual(
      left.map((x) => x.uri),
      [b.ua.contact.uri.toString()],
    );
    await stopUA(b.ua);
  });

  test('page reload: a new UA with the same instance_id replaces the binding', async () => {
    const instance = crypto.randomUUID();
    const old = await startUA({ user: 'alice', password: 'alice-pw', instance });
    assertRegistered(old, 'before the reload');
    // the reloaded page: a new UA (new Contact host, Call-ID, connection)
    // while the old page's socket has not closed yet
    const fresh = await startUA({ user: 'alice', password: 'alice-pw', instance });
    assertRegistered(fresh, 'after the reload');
    assert.notEqual(fresh.ua.contact.uri.toString(), old.ua.contact.uri.toString());
    let listed = await bindingsOf(srv, 'alice', 'alice-pw');
    assert.deepEqual(
      listed.map((x) => x.uri),
      [fresh.ua.contact.uri.toString()],
      'the reload left a ghost binding',
    );
    assert.equal(fresh.ua.contact.pub_gruu, old.ua.contact.pub_gruu, 'pub-gruu changed across a reload');

    // the old page is gone: its socket drops, nothing more is sent (no
    // un-REGISTER); the new page's binding must stay
    const dropped = waitEvent(old.ua, ['disconnected']);
    old.socket.terminate();
    await dropped;
    await stopUA(old.ua); // not registered any more: sends nothing
    await sleep(wait(300));
    listed = await bindingsOf(srv, 'alice', 'alice-pw');
    assert.deepEqual(
      listed.map((x) => x.uri),
      [fresh.ua.contact.uri.toString()],
      "the old page's connection closing removed the new binding",
    );
    await stopUA(fresh.ua);
    assert.deepEqual(await waitBindings(srv, (l) => l.length === 0, { user: 'alice', password: 'alice-pw' }), []);
  });

  test('connection lost: the binding goes at once; JsSIP reconnects and registers again', async () => {
    const r = await startUA({ user: 'bob', password: 'bob-pw' });
    assertRegistered(r, 'bob');
    assert.equal((await bindingsOf(srv, 'bob', 'bob-pw')).length, 1);
    const lost = waitEvent(r.ua, ['unregistered']);
    const back = lost.then(() => waitEvent(r.ua, ['registered', 'registrationFailed'], wait(15000)));
    r.socket.terminate(); // the network drops (no close frame)
    await lost;
    assert.deepEqual(await waitBindings(srv, (l) => l.length === 0, { user: 'bob', password: 'bob-pw', ms: wait(2000) }), []);
    const again = await back;
    assert.equal(again.name, 'registered', `after reconnecting: ${again.name} ${again.data?.cause ?? ''}`);
    const listed = await bindingsOf(srv, 'bob', 'bob-pw');
    assert.deepEqual(
      listed.map((x) => x.uri),
      [r.ua.contact.uri.toString()],
    );
    await stopUA(r.ua);
  });
});
