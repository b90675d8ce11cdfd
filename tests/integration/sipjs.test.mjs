// SIP.js (npm sip.js, unmodified: UserAgent + Registerer) registering with
// wsip over WebSocket in Node, with the npm ws client as its WebSocket:
// digest authentication, unregistration, a wrong password, Outbound + GRUU
// (Registerer regId), and repeated re-REGISTERs. wsip runs on its default
// configuration. Bindings are checked with raw authenticated queries.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { installWebSocket, transcript } from './libws.mjs';
import { SUITE, T_REPLY, startServer } from './server.mjs';
import { bindingsOf, makeDb, parseChallenge, waitBindings } from './sipreg.mjs';

installWebSocket();
const { UserAgent, Registerer, RegistererState } = await import('sip.js');

const agents = [];
const servers = [];
after(async () => {
  for (const ua of agents) await ua.stop().catch(() => {});
  const errors = [];
  for (const s of servers) await s.stopOk().catch((e) => errors.push(e));
  if (errors.length) throw errors[0];
});

/** Resolves when reg reaches one of states (now or later); rejects after ms. */
function waitState(reg, states, ms = T_REPLY, ua = null) {
  return new Promise((resolve, reject) => {
    if (states.includes(reg.state)) return resolve(reg.state);
    const timer = setTimeout(() => {
      reg.stateChange.removeListener(h);
      reject(new Error(`Registerer stayed ${reg.state}, not ${states.join('|')}, for ${ms} ms\n${ua ? transcript([ua.transport.ws].filter(Boolean)) : ''}`));
    }, ms);
    timer.unref(); // a wait that lost a race must not keep the process alive
    const h = (s) => {
      if (!states.includes(s)) return;
      clearTimeout(timer);
      reg.stateChange.removeListener(h);
      resolve(s);
    };
    reg.stateChange.addListener(h);
  });
}

describe('SIP.js', SUITE, () => {
  let srv;
  let server;
  before(async () => {
    const db = makeDb({
      'alice@localhost': 'alice-pw',
      'bob@localhost': 'bob-pw',
      'carol@localhost': 'carol-pw',
    });
    srv = await startServer({ listen: ['udp', 'ws'], args: ['--db', db] });
    servers.push(srv);
    server = `ws://127.0.0.1:${srv.port('ws')}`;
  });

  async function startUA(user, password, extra = {}) {
    const ua = new UserAgent({
      uri: UserAgent.makeURI(`sip:${user}@localhost`),
      transportOptions: { server },
      authorizationUsername: user,
      authorizationPassword: password,
      logBuiltinEnabled: false,
      reconnectionAttempts: 0,
      ...extra,
    });
    agents.push(ua);
    await ua.start();
    return ua;
  }

  /** register() and the outcome: {state, rejected (status or null)}. */
  async function register(ua, reg) {
    let rejected = null;
    const outcome = new Promise((resolve) => {
      reg
        .register({ requestDelegate: { onReject: (r) => resolve((rejected = r.message.statusCode)) } })
        .catch((e) => resolve(`register() threw ${e.message}`));
      waitState(reg, [RegistererState.Registered], T_REPLY, ua).then(resolve, resolve);
    });
    const r = await outcome;
    return { state: reg.state, rejected, detail: r };
  }

  async function unregister(ua, reg) {
    let rejected = null;
    await reg.unregister({ requestDelegate: { onReject: (r) => (rejected = r.message.statusCode) } });
    await waitState(reg, [RegistererState.Unregistered], T_REPLY, ua).catch(() => {});
    return { state: reg.state, rejected };
  }

  const registers = (ua) => ua.transport.ws.sip('out').filter((m) => m.method === 'REGISTER');

  test('register with digest -> Registered; the binding is SIP.js\'s Contact; unregister -> Unregistered, binding gone', async () => {
    const ua = await startUA('alice', 'alice-pw');
    const reg = new Registerer(ua, { logConfiguration: false });
    const r = await register(ua, reg);
    assert.equal(r.state, RegistererState.Registered, `rejected ${r.rejected}\n${transcript([ua.transport.ws])}`);
    const sent = registers(ua);
    assert.equal(sent[0].get('authorization'), undefined);
    assert.equal(parseChallenge(sent[1].get('authorization')).params.algorithm, 'MD5');
    const listed = await bindingsOf(srv, 'alice', 'alice-pw');
    assert.deepEqual(
      listed.map((x) => x.uri),
      [ua.contact.uri.toString()],
    );

    const u = await unregister(ua, reg);
    assert.equal(u.state, RegistererState.Unregistered, `un-REGISTER rejected ${u.rejected}\n${transcript([ua.transport.ws])}`);
    assert.equal(u.rejected, null);
    assert.deepEqual(await bindingsOf(srv, 'alice', 'alice-pw'), []);
    await ua.stop();
  });

  test('wrong password -> rejected with 401, Unregistered, no binding', async () => {
    const ua = await startUA('carol', 'not-carol-pw');
    const reg = new Registerer(ua, { logConfiguration: false });
    const r = await register(ua, reg);
    assert.equal(r.rejected, 401, `${r.state} ${r.detail}\n${transcript([ua.transport.ws])}`);
    assert.notEqual(reg.state, RegistererState.Registered);
    // SIP.js answered the challenge once, then gave up
    assert.equal(registers(ua).length, 2);
    assert.deepEqual(await bindingsOf(srv, 'carol', 'carol-pw'), []);
    await ua.stop();
  });

  test('Outbound: Registerer with regId -> reg-id and +sip.instance, Require: outbound, SIP.js keeps the pub-gruu', async () => {
    const instanceId = crypto.randomUUID();
    const ua = await startUA('bob', 'bob-pw', { instanceId});
    const reg = new Registerer(ua, { regId: 1, logConfiguration: false });
    const r = await register(ua, reg);
    assert.equal(r.state, RegistererState.Registered, `rejected ${r.rejected}\n${transcript([ua.transport.ws])}`);
    const ok = ua.transport.ws.sip('in').find((m) => m.status === 200);
    assert.match(ok.get('require') || '', /outbound/);
    const [b] = await bindingsOf(srv, 'bob', 'bob-pw');
    assert.equal(b.unq('+sip.instance'), `<urn:uuid:${instanceId}>`);
    assert.equal(b.params['reg-id'], '1');
    assert.equal(String(ua.contact.pubGruu), `sip:bob@localhost;gr=urn:uuid:${instanceId}`);
    assert.ok(ua.contact.tempGruu, 'no temp-gruu kept');

    // the page reloads: a new UserAgent with the same instance id
    const ua2 = await startUA('bob', 'bob-pw', { instanceId });
    const reg2 = new Registerer(ua2, { regId: 1, logConfiguration: false });
    assert.equal((await register(ua2, reg2)).state, RegistererState.Registered);
    assert.deepEqual(
      (await bindingsOf(srv, 'bob', 'bob-pw')).map((x) => x.uri),
      [ua2.contact.uri.toString()],
    );
    await ua.stop(); // SIP.js un-REGISTERs first: instance + reg-id name the new binding too
    await ua2.stop();
    assert.deepEqual(await waitBindings(srv, (l) => l.length === 0, { user: 'bob', password: 'bob-pw' }), []);
  });

  test('six register/unregister cycles: SIP.js re-sends its last credentials (same nonce, nc, cnonce) and keeps working', async () => {
    const ua = await startUA('alice', 'alice-pw');
    const reg = new Registerer(ua, { logConfiguration: false });
    for (let i = 0; i < 6; i++) {
      const r = await register(ua, reg);
      assert.equal(r.state, RegistererState.Registered, `cycle ${i + 1}: REGISTER rejected ${r.rejected}`);
      const u = await unregister(ua, reg);
      assert.equal(u.state, RegistererState.Unregistered, `cycle ${i + 1}: un-REGISTER rejected ${u.rejected}`);
      assert.equal(u.rejected, null, `cycle ${i + 1}: un-REGISTER rejected ${u.rejected}`);
    }
    // what made this a test: SIP.js sends a request with the Authorization
    // of the previous one (a replayed nc); wsip must answer with a fresh
    // challenge and never count it as a failed password
    const auths = registers(ua).map((m) => m.get('authorization')).filter(Boolean);
    assert.ok(auths.some((a, i) => auths.indexOf(a) !== i), 'SIP.js no longer re-sends old credentials');
    assert.deepEqual(await bindingsOf(srv, 'alice', 'alice-pw'), []);
    await ua.stop();
  });
});
