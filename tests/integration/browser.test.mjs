// JsSIP (npm jssip 3.13) and SIP.js (npm sip.js 0.21), unmodified, in
// headless Chromium (Debian's /usr/bin/chromium through playwright-core)
// against wsip: the page and the library bundles are served by wsip itself
// (http.root on the WebSocket port, as a web phone is deployed), each SIP
// device is a page of its own browser context, calls use real WebRTC
// (fake audio devices, ICE on 127.0.0.1). Every scenario runs once per
// library, and mixed calls run JsSIP <-> SIP.js. What the libraries report
// is checked together with what crossed their WebSocket (recorded in the
// page) and, where it says more, the server's state (bindings listed by a
// raw REGISTER query, sipreg.mjs).
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';

import { Agent, LIBRARIES, buildPage, launchBrowser } from './browser/harness.mjs';
import { T_REPLY, T_SILENCE, sleep, startServer, tmpDir, wait } from './server.mjs';
import { bindingsOf, makeDb, parseChallenge, waitBindings } from './sipreg.mjs';

const DOMAIN = 'localhost';
const PASSWORD = 'secret';
/** Non-ASCII UTF-8: Latin-1 range, BMP symbols, CJK and an astral emoji. */
const UTF8_TEXT = 'héllo ✓ 日本語 🎉';

/** Users of each library's tests (one per role, so that no test sees the
 * bindings of another), suffixed with the library: "bob_jssip". */
const ROLES = ['reg', 'wrong', 'caller', 'fork', 'reload', 'msga', 'msgb', 'offline', 'hang1', 'hang2', 'busy', 'cancel', 'drop'];
const MIXED = ['mixa', 'mixb', 'mixc'];
const userOf = (lib, role) => `${role}_${lib}`;

/** The CSeq method of a message ("INVITE" of "2 INVITE"). */
const cseqMethod = (m) => (m.get('cseq') || '').trim().split(/\s+/)[1];
const isResponseTo = (method, status) => (m) => m.isResponse && cseqMethod(m) === method && (status === undefined || m.status === status);
const isRequest = (method) => (m) => !m.isResponse && m.method === method;

// a bound above SUITE's (22 tests, each with browser pages and calls) and
// below CTest's TIMEOUT, so that a hang still ends in the after hooks
describe('browsers (JsSIP, SIP.js in Chromium) against wsip', { timeout: wait(420000) }, () => {
  let srv;
  let browser;
  let base;
  let server;
  const opened = [];

  before(async () => {
    const root = tmpDir('web');
    await buildPage(root);
    const users = {};
    for (const lib of Object.keys(LIBRARIES)) for (const r of ROLES) users[`${userOf(lib, r)}@${DOMAIN}`] = PASSWORD;
    for (const r of MIXED) users[`${r}@${DOMAIN}`] = PASSWORD;
    srv = await startServer({
      listen: ['udp', 'ws'],
      args: ['--db', makeDb(users, 'browser')],
      // every page, bundle and WebSocket comes from 127.0.0.1: lift the
      // per-address handshake rate meant for the Internet
      set: { 'http.root': root, 'net.handshakes_per_ip_per_second': 100000 },
    });
    base = `http://127.0.0.1:${srv.port('ws')}`;
    server = `ws://127.0.0.1:${srv.port('ws')}`;
    browser = await launchBrowser();
  });

  afterEach(async () => {
    for (const a of opened.splice(0)) await a.close().catch(() => {});
  });

  after(async () => {
    for (const a of opened.splice(0)) await a.close().catch(() => {});
    if (browser) await browser.close();
    if (srv) await srv.stopOk();
  });

  /** A connected (not registered) device of user in a fresh context (or
   * o.context: another tab of that one). o.password, o.instanceId
   * ('stored': kept in localStorage). */
  async function open(lib, user, o = {}) {
    const a = await Agent.open({ browser, base, server, lib, user, domain: DOMAIN, password: o.password ?? PASSWORD, instanceId: o.instanceId, context: o.context });
    opened.push(a);
    return a;
  }

  /** open() and register, which must succeed. */
  async function registered(lib, user, o = {}) {
    const a = await open(lib, user, o);
    const r = await a.run('register');
    assert.ok(r.ok, `${a.name} register: ${JSON.stringify(r)}\n${await a.report()}`);
    return a;
  }

  /** Waits (bounded) until a message matching pred crossed a's WebSocket
   * in direction dir; returns it. */
  async function onWire(a, dir, pred, what, ms = T_REPLY) {
    const end = Date.now() + ms;
    for (;;) {
      const m = (await a.wire(dir)).find(pred);
      if (m) return m;
      if (Date.now() > end) throw new Error(`${a.name}: no ${what} ${dir === 'in' ? 'received' : 'sent'} within ${ms} ms\n${await a.report()}`);
      await sleep(50);
    }
  }

  /** Waits until a's call has working media: ICE connected and audio RTP
   * received (the SDP went through wsip intact). Returns the statistics. */
  async function mediaFlows(a) {
    const end = Date.now() + wait(20000);
    for (;;) {
      const s = await a.run('media');
      if (s && s.connectionState === 'connected' && s.bytesReceived > 0) return s;
      if (Date.now() > end) throw new Error(`${a.name}: no media: ${JSON.stringify(s)}\n${await a.report()}`);
      await sleep(100);
    }
  }

  /** caller calls callee; the callee rings (180 at the caller) and answers;
   * both sides see the call established with audio flowing. */
  async function establish(caller, callee) {
    await caller.run('call', callee.user);
    const inc = await callee.take('incoming');
    assert.equal(inc.from, `sip:${caller.user}@${DOMAIN}`);
    const ringing = await caller.take('progress');
    assert.equal(ringing.status, 180);
    await callee.run('answer');
    await caller.take('confirmed');
    await callee.take('confirmed');
    // the 2xx reached the caller, its ACK the callee, through wsip
    await onWire(caller, 'in', isResponseTo('INVITE', 200), '200 to the INVITE');
    await onWire(callee, 'in', isRequest('ACK'), 'ACK');
    await mediaFlows(caller);
    await mediaFlows(callee);
  }

  /** hanger sends BYE; the other side sees the call end by the remote. */
  async function hangUp(hanger, other) {
    await hanger.run('hangup');
    const mine = await hanger.take('ended');
    assert.equal(mine.by, 'local');
    const theirs = await other.take('ended');
    assert.equal(theirs.by, 'remote', `${other.name}: ${JSON.stringify(theirs)}`);
    await onWire(other, 'in', isRequest('BYE'), 'BYE');
    await onWire(hanger, 'in', isResponseTo('BYE', 200), '200 to the BYE');
  }

  for (const [lib, L] of Object.entries(LIBRARIES)) {
    const u = (role) => userOf(lib, role);

    test(`${L}: REGISTER with digest (401, then 200), the binding is the page's Contact and instance; refresh keeps one binding; unregister removes it`, async () => {
      const a = await open(lib, u('reg'));
      const r = await a.run('register');
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.status, 200);

      const regs = (await a.wire('out')).filter(isRequest('REGISTER'));
      const got = (await a.wire('in')).filter(isResponseTo('REGISTER')).map((m) => m.status);
      assert.deepEqual(got.slice(0, 2), [401, 200], `${await a.report()}`);
      assert.equal(regs[0].get('authorization'), undefined);
      // wsip offers SHA-256 and MD5 over WS, MD5 last: the one the library answers
      const challenge = (await a.wire('in')).find(isResponseTo('REGISTER', 401));
      const offered = challenge.all('www-authenticate').map((v) => parseChallenge(v).params.algorithm);
      assert.equal(offered[offered.length - 1], 'MD5', `challenges: ${offered}`);
      const creds = parseChallenge(regs[1].get('authorization'));
      assert.equal(creds.params.username, u('reg'));
      assert.equal(creds.params.algorithm || 'MD5', 'MD5');

      let listed = await bindingsOf(srv, u('reg'), PASSWORD);
      assert.deepEqual(
        listed.map((b) => b.uri),
        [a.contact],
      );
      assert.equal(listed[0].unq('+sip.instance'), `<urn:uuid:${a.instanceId}>`);

      // refresh: the same registration again (same Call-ID, next CSeq)
      const again = await a.run('register');
      assert.ok(again.ok, `refresh: ${JSON.stringify(again)}\n${await a.report()}`);
      const regs2 = (await a.wire('out')).filter(isRequest('REGISTER'));
      const last = regs2[regs2.length - 1];
      assert.equal(last.get('call-id'), regs[0].get('call-id'));
      assert.ok(parseInt(last.get('cseq'), 10) > parseInt(regs[1].get('cseq'), 10));
      listed = await bindingsOf(srv, u('reg'), PASSWORD);
      assert.deepEqual(
        listed.map((b) => b.uri),
        [a.contact],
        'a refresh added a binding',
      );

      const un = await a.run('unregister');
      assert.ok(un.ok, JSON.stringify(un));
      assert.equal(un.status, 200);
      const unreg = (await a.wire('out')).filter(isRequest('REGISTER')).pop();
      assert.ok(unreg.get('expires') === '0' || /;\s*expires=0\b/.test(unreg.get('contact')), `un-REGISTER: ${unreg.start}`);
      assert.deepEqual(await bindingsOf(srv, u('reg'), PASSWORD), []);
    });

    test(`${L}: a wrong password is refused (401 again), no binding is stored; a MESSAGE and a call to that user get 480`, async () => {
      const w = await open(lib, u('wrong'), { password: 'not-the-password' });
      const r = await w.run('register');
      assert.ok(!r.ok, `registered with a wrong password: ${JSON.stringify(r)}`);
      assert.equal(r.status, 401);
      // one answer to the challenge, then the library gave up
      const regs = (await w.wire('out')).filter(isRequest('REGISTER'));
      assert.equal(regs.length, 2, `${await w.report()}`);
      assert.deepEqual(await bindingsOf(srv, u('wrong'), PASSWORD), []);

      const c = await open(lib, u('caller'));
      const m = await c.run('message', u('wrong'), 'are you there?');
      assert.equal(m.status, 480, JSON.stringify(m));
      await c.run('call', u('wrong'));
      const f = await c.take('failed');
      assert.equal(f.status, 480, JSON.stringify(f));
      assert.deepEqual(await w.events('message'), []);
      assert.deepEqual(await w.events('incoming'), []);
    });

    test(`${L}: two devices of one user both ring (forking); one answers, the other gets a CANCEL and stops ringing; the caller hangs up`, async () => {
      const d1 = await registered(lib, u('fork'));
      const d2 = await registered(lib, u('fork'));
      assert.notEqual(d1.instanceId, d2.instanceId);
      const listed = await bindingsOf(srv, u('fork'), PASSWORD);
      assert.deepEqual(listed.map((b) => b.uri).sort(), [d1.contact, d2.contact].sort());

      const c = await open(lib, u('caller'));
      await c.run('call', u('fork'));
      const [i1, i2] = [await d1.take('incoming'), await d2.take('incoming')];
      assert.equal(i1.callId, i2.callId, 'the forks carry the Call-ID of the call');
      await c.take('progress');

      await d2.run('answer');
      await c.take('confirmed');
      await d2.take('confirmed');
      const cancel = await onWire(d1, 'in', isRequest('CANCEL'), 'CANCEL');
      assert.equal(cancel.get('call-id'), i1.callId);
      const stopped = await d1.take('canceled');
      // RFC 3326: why the other device stopped ringing
      assert.match(stopped.reason || '', /cause=200/, JSON.stringify(stopped));
      await onWire(d1, 'out', isResponseTo('INVITE', 487), '487 to the INVITE');
      await mediaFlows(c);
      await mediaFlows(d2);
      // the caller saw one answer only
      assert.equal((await c.wire('in')).filter(isResponseTo('INVITE', 200)).length, 1);

      await hangUp(c, d2);
      assert.deepEqual(await d1.events('confirmed'), []);
    });

    test(`${L}: a page reload re-registers with the instance id kept in localStorage; the new binding replaces the old one`, async () => {
      const p = await registered(lib, u('reload'), { instanceId: 'stored' });
      const first = { instance: p.instanceId, contact: p.contact };
      assert.deepEqual(
        (await bindingsOf(srv, u('reload'), PASSWORD)).map((b) => b.uri),
        [first.contact],
      );

      await p.reload();
      assert.equal(p.instanceId, first.instance, 'the reloaded page has another instance id');
      assert.notEqual(p.contact, first.contact, 'the library kept its Contact across a reload');
      const r = await p.run('register');
      assert.ok(r.ok, JSON.stringify(r));
      const listed = await waitBindings(srv, (l) => l.length === 1 && l[0].uri === p.contact, { user: u('reload'), password: PASSWORD });
      assert.deepEqual(
        listed.map((b) => b.uri),
        [p.contact],
        'not exactly the new binding after the reload',
      );
      assert.equal(listed[0].unq('+sip.instance'), `<urn:uuid:${first.instance}>`);

      // the user is reachable on the reloaded page
      const c = await open(lib, u('caller'));
      const m = await c.run('message', u('reload'), 'after the reload');
      assert.equal(m.status, 200, JSON.stringify(m));
      assert.equal((await p.take('message')).body, 'after the reload');

      // a second tab of the same profile (same stored instance) while the
      // first one's WebSocket is still open: the same instance and reg-id
      // replace the binding (RFC 5626 sec 6), the old flow gets nothing more
      const tab = await registered(lib, u('reload'), { instanceId: 'stored', context: p.context });
      assert.equal(tab.instanceId, first.instance);
      assert.deepEqual(
        (await bindingsOf(srv, u('reload'), PASSWORD)).map((b) => b.uri),
        [tab.contact],
        'two bindings for one instance',
      );
      const m2 = await c.run('message', u('reload'), 'to the new tab');
      assert.equal(m2.status, 200, JSON.stringify(m2));
      assert.equal((await tab.take('message')).body, 'to the new tab');
      await sleep(T_SILENCE);
      assert.equal((await p.wire('in')).filter(isRequest('MESSAGE')).length, 1, 'the replaced flow still gets requests');
      // the old tab closing (its flow ends) leaves the new binding alone
      await p.close();
      await sleep(wait(300));
      assert.deepEqual(
        (await bindingsOf(srv, u('reload'), PASSWORD)).map((b) => b.uri),
        [tab.contact],
        "the old tab's flow closing removed the new binding",
      );
    });

    test(`${L}: MESSAGE with a non-ASCII UTF-8 body both ways, text equal; to a known offline user 480, to an unknown user 404`, async () => {
      const a = await registered(lib, u('msga'));
      const b = await registered(lib, u('msgb'));

      const ab = await a.run('message', u('msgb'), UTF8_TEXT);
      assert.deepEqual([ab.ok, ab.status], [true, 200], JSON.stringify(ab));
      const got = await b.take('message');
      assert.equal(got.body, UTF8_TEXT);
      assert.equal(got.from, `sip:${u('msga')}@${DOMAIN}`);
      const onB = await onWire(b, 'in', isRequest('MESSAGE'), 'MESSAGE');
      assert.equal(Number(onB.get('content-length')), Buffer.byteLength(UTF8_TEXT));

      const reply = `${UTF8_TEXT} ↩`;
      const ba = await b.run('message', u('msga'), reply);
      assert.deepEqual([ba.ok, ba.status], [true, 200], JSON.stringify(ba));
      assert.equal((await a.take('message')).body, reply);

      const offline = await a.run('message', u('offline'), UTF8_TEXT);
      assert.deepEqual([offline.ok, offline.status], [false, 480], JSON.stringify(offline));
      const unknown = await a.run('message', 'nobody', UTF8_TEXT);
      assert.deepEqual([unknown.ok, unknown.status], [false, 404], JSON.stringify(unknown));
      // both were authenticated first (407), as every request of a WS client
      const statuses = (await a.wire('in')).filter(isResponseTo('MESSAGE')).map((m) => m.status);
      assert.ok(statuses.includes(407), `MESSAGE responses: ${statuses}`);
    });

    test(`${L}: a WebRTC audio call answered; both sides established with audio over loopback; the caller hangs up (BYE)`, async () => {
      const callee = await registered(lib, u('hang1'));
      const caller = await open(lib, u('caller'));
      await establish(caller, callee);
      await hangUp(caller, callee);
    });

    test(`${L}: a WebRTC audio call between two registered pages (their dialog Contacts are pub-GRUUs); the callee hangs up, the BYE to the caller's GRUU reaches it`, async () => {
      const callee = await registered(lib, u('hang2'));
      const caller = await registered(lib, u('caller'));
      await establish(caller, callee);
      const invite = (await caller.wire('out')).filter(isRequest('INVITE')).pop();
      assert.match(invite.get('contact'), new RegExp(`<sip:${u('caller')}@${DOMAIN};gr=urn:uuid:${caller.instanceId}>`));
      await hangUp(callee, caller);
      const bye = (await callee.wire('out')).find(isRequest('BYE'));
      assert.match(bye.ruri, /;gr=urn:uuid:/);
    });

    test(`${L}: busy: the callee rejects with 486, the caller sees 486`, async () => {
      const callee = await registered(lib, u('busy'));
      const caller = await open(lib, u('caller'));
      await caller.run('call', u('busy'));
      await callee.take('incoming');
      await callee.run('reject', 486);
      const f = await caller.take('failed');
      assert.equal(f.by, 'remote');
      assert.equal(f.status, 486, JSON.stringify(f));
      await onWire(caller, 'in', isResponseTo('INVITE', 486), '486');
      assert.deepEqual(await caller.events('confirmed'), []);
    });

    test(`${L}: the caller cancels before the answer: the callee sees the CANCEL, the caller gets 487`, async () => {
      const callee = await registered(lib, u('cancel'));
      const caller = await open(lib, u('caller'));
      await caller.run('call', u('cancel'));
      await callee.take('incoming');
      await caller.take('progress'); // ringing: the CANCEL has an INVITE to cancel
      await caller.run('hangup');
      const c = await callee.take('canceled');
      assert.doesNotMatch(c.reason || '', /cause=200/, 'a plain CANCEL said "answered elsewhere"');
      await onWire(callee, 'in', isRequest('CANCEL'), 'CANCEL');
      await onWire(caller, 'in', isResponseTo('CANCEL', 200), '200 to the CANCEL');
      await onWire(caller, 'in', isResponseTo('INVITE', 487), '487 to the INVITE');
      // SIP.js reports the 487; JsSIP fails the call as Canceled when it
      // sends the CANCEL and leaves the 487 to its transaction layer
      const f = await caller.take('failed');
      assert.ok(f.status === 487 || (lib === 'jssip' && f.cause === 'Canceled'), JSON.stringify(f));
      assert.deepEqual(await callee.events('confirmed'), []);
    });

    test(`${L}: the callee's page closes while registered: the next MESSAGE and INVITE to it get 430 or 480 at once, its binding goes`, async () => {
      const callee = await registered(lib, u('drop'));
      const caller = await open(lib, u('caller'));
      assert.equal((await bindingsOf(srv, u('drop'), PASSWORD)).length, 1);
      await callee.close(); // the tab is gone: the browser closes its WebSocket

      // "at once": far below the 32 s of a transaction timeout (408)
      const m = await caller.run('message', u('drop'), 'still there?');
      assert.ok([430, 480].includes(m.status), `MESSAGE after the drop: ${JSON.stringify(m)}`);
      await caller.run('call', u('drop'));
      const f = await caller.take('failed', wait(8000));
      const inv = await onWire(caller, 'in', (x) => isResponseTo('INVITE')(x) && x.status >= 300 && x.status !== 407, 'final response to the INVITE');
      assert.ok([430, 480].includes(inv.status), `INVITE after the drop: ${inv.start} ${JSON.stringify(f)}`);
      assert.deepEqual(await waitBindings(srv, (l) => l.length === 0, { user: u('drop'), password: PASSWORD }), []);
    });
  }

  test('mixed: JsSIP calls SIP.js, answered with audio both ways, the SIP.js callee hangs up; UTF-8 MESSAGEs both ways', async () => {
    const j = await registered('jssip', 'mixa');
    const s = await registered('sipjs', 'mixb');
    await establish(j, s);
    await hangUp(s, j);

    const js = await j.run('message', 'mixb', UTF8_TEXT);
    assert.equal(js.status, 200, JSON.stringify(js));
    assert.equal((await s.take('message')).body, UTF8_TEXT);
    const sj = await s.run('message', 'mixa', UTF8_TEXT);
    assert.equal(sj.status, 200, JSON.stringify(sj));
    assert.equal((await j.take('message')).body, UTF8_TEXT);
  });

  test('mixed: SIP.js calls a user with a JsSIP and a SIP.js device; the JsSIP device answers, the SIP.js device is cancelled; the caller hangs up', async () => {
    const jd = await registered('jssip', 'mixc');
    const sd = await registered('sipjs', 'mixc');
    const caller = await open('sipjs', 'mixa');
    await caller.run('call', 'mixc');
    await jd.take('incoming');
    await sd.take('incoming');
    await caller.take('progress');
    await jd.run('answer');
    await caller.take('confirmed');
    await jd.take('confirmed');
    const stopped = await sd.take('canceled');
    assert.match(stopped.reason || '', /cause=200/, JSON.stringify(stopped));
    await mediaFlows(caller);
    await mediaFlows(jd);
    await hangUp(caller, jd);
    assert.deepEqual(await sd.events('confirmed'), []);
  });
});
