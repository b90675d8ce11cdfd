// The registrar (RFC 3261 sec 10.3) with digest authentication (RFC 7616,
// RFC 8760), Outbound (RFC 5626), GRUU (RFC 5627) and Path (RFC 3327), in
// raw SIP over UDP, TCP and WebSocket. Digest responses are computed here
// with node:crypto; bindings are observed through authenticated queries
// (REGISTER without Contact), as a UA would.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { SUITE, sleep, startServer, uniq, wait } from './server.mjs';
import {
  Registration,
  SipClient,
  withClient,
  bindingsOf,
  contactsOf,
  dbBytes,
  makeDb,
  newInstance,
  parseChallenge,
  waitBindings,
  waitDbHas,
} from './sipreg.mjs';

const servers = [];
const clients = [];
after(async () => {
  for (const c of clients) await c.close().catch(() => {});
  const errors = [];
  for (const s of servers) {
    if (s.killed) continue;
    await s.stopOk().catch((e) => errors.push(e));
  }
  if (errors.length) throw errors[0];
});

async function server(o) {
  const s = await startServer(o);
  servers.push(s);
  return s;
}

async function client(srv, transport, o) {
  const c = await SipClient.open(srv, transport, o);
  clients.push(c);
  return c;
}

const USERS = [
  'alice',
  'bob',
  'carol',
  'dave',
  'erin',
  'frank',
  'grace',
  'heidi',
  'ivan',
  'judy',
  'mallet',
  'oscar',
  'peggy',
  'trent',
  'victor',
  'walter',
];
const PASSWORD = 'secret';

/** The names of a response's headers in order, and of its challenges'
 * parameters: what must not differ between an unknown user and a wrong
 * password. */
function shape(res) {
  return {
    status: res.status,
    reason: res.reason,
    headers: res.headers.map((h) => h.name),
    challenges: res.all('www-authenticate').map((v) => {
      const c = parseChallenge(v);
      return { scheme: c.scheme, names: c.names, realm: c.params.realm, algorithm: c.params.algorithm, qop: c.params.qop, stale: c.params.stale };
    }),
  };
}

function one(list, what) {
  assert.equal(list.length, 1, `${what}: want exactly one Contact, got ${list.map((c) => c.raw).join(' | ') || 'none'}`);
  return list[0];
}

function expiresOf(contact) {
  const e = contact.params.expires;
  assert.ok(e !== undefined && /^\d+$/.test(e), `Contact without a numeric expires: ${contact.raw}`);
  return Number(e);
}

/** Asserts an expires value: the server counts down, so allow one second. */
function assertExpires(contact, want) {
  const e = expiresOf(contact);
  assert.ok(e <= want && e >= want - 2, `expires=${e}, want ${want}: ${contact.raw}`);
}

describe('registrar', SUITE, () => {
  let srv;
  let db;
  before(async () => {
    const users = Object.fromEntries(USERS.map((u) => [`${u}@localhost`, PASSWORD]));
    users['carol@example.com'] = 'carol-at-example';
    db = makeDb(users);
    srv = await server({
      listen: ['udp', 'tcp', 'ws'],
      args: ['--db', db, '--domain', 'localhost', '--domain', 'example.com'],
    });
  });

  // ---------------------------------------------------- authentication

  describe('digest authentication', SUITE, () => {
    for (const [transport, order] of [
      ['udp', ['MD5', 'SHA-256']],
      ['tcp', ['MD5', 'SHA-256']],
      ['ws', ['SHA-256', 'MD5']],
    ]) {
      test(`${transport}: 401, one Digest challenge per algorithm in the order for this transport (${order.join(', ')}), one nonce`, async () => {
        const c = await client(srv, transport);
        const reg = new Registration(c, { user: 'alice', password: PASSWORD });
        const first = await c.request(reg.build({ contacts: [`<${c.contactUri('alice')}>`] }));
        assert.equal(first.status, 401, first.start);
        const chs = first.all('www-authenticate').map(parseChallenge);
        // Over WS (browsers): JsSIP 3.13 and SIP.js 0.21 keep only the LAST
        // WWW-Authenticate and give up unless it is MD5, so MD5 comes last.
        // Over UDP/TCP (phones, SIPp): RFC 8760 clients take the first they
        // support and SIPp only knows MD5, so MD5 comes first.
        assert.deepEqual(
          chs.map((x) => [x.scheme, x.params.algorithm]),
          order.map((a) => ['Digest', a]),
          `challenge order over ${transport}`,
        );
        assert.equal(new Set(chs.map((x) => x.params.nonce)).size, 1, 'one nonce for all challenges');
      });
    }

    for (const transport of ['udp', 'tcp', 'ws']) {
      test(`${transport}: 401 with MD5 and SHA-256 challenges; MD5 credentials -> 200 listing the Contact`, async () => {
        const c = await client(srv, transport);
        const reg = new Registration(c, { user: 'alice', password: PASSWORD });
        const contact = c.contactUri('alice');
        const first = await c.request(reg.build({ contacts: [`<${contact}>`], expires: 300 }));
        assert.equal(first.status, 401, first.start);
        assert.ok(first.get('to').includes('tag='), '401 without a To tag');
        const chs = first.all('www-authenticate').map(parseChallenge);
        assert.deepEqual(
          chs.map((x) => `${x.scheme} ${x.params.algorithm}`).sort(),
          ['Digest MD5', 'Digest SHA-256'],
          `want one MD5 and one SHA-256 challenge: ${first.all('www-authenticate').join(' | ')}`,
        );
        assert.equal(chs[0].params.nonce, chs[1].params.nonce, 'one nonce for both challenges');
        for (const x of chs) {
          assert.equal(x.params.realm, 'localhost');
          assert.ok(x.params.nonce && x.params.nonce.length >= 16, `short nonce ${x.params.nonce}`);
          assert.ok(x.params.qop.split(',').map((q) => q.trim()).includes('auth'), `qop ${x.params.qop}`);
        }

        const md5 = chs.find((x) => x.params.algorithm === 'MD5');
        const res = await c.request(reg.build({ contacts: [`<${contact}>`], expires: 300, authorization: reg.answer(md5) }));
        assert.equal(res.status, 200, `${res.start}\n${res.raw}`);
        const got = one(contactsOf(res), '200');
        assert.equal(got.uri, contact);
        assertExpires(got, 300);

        // the binding is there for a later query, then goes with expires=0
        assert.deepEqual(
          (await reg.query()).map((x) => x.uri),
          [contact],
        );
        const gone = await reg.ok({ contacts: [`<${contact}>;expires=0`] });
        assert.deepEqual(contactsOf(gone), [], 'the 200 to a removal still lists the Contact');
        assert.deepEqual(await reg.query(), []);
      });
    }

    test('SHA-256 credentials -> 200', async () => {
      const c = await client(srv, 'udp');
      const reg = new Registration(c, { user: 'bob' });
      const { res, authorization } = await reg.send({ contacts: [`<${c.contactUri('bob')}>`], algorithm: 'SHA-256' });
      assert.match(authorization, /algorithm=SHA-256/);
      assert.equal(res.status, 200, res.start);
      assert.equal(one(contactsOf(res), 'SHA-256 200').uri, c.contactUri('bob'));
      await reg.ok({ contacts: ['*'], expires: 0 });
    });

    test('wrong password -> 401 again, no binding; unknown user -> the same 401', async () => {
      const c = await client(srv, 'udp');
      const contact = `<${c.contactUri('carol')}>`;
      const bad = new Registration(c, { user: 'carol', password: 'not-the-password' });
      const { challenge, res: wrong } = await bad.send({ contacts: [contact] });
      assert.equal(wrong.status, 401, `wrong password: ${wrong.start}`);
      assert.equal(wrong.all('www-authenticate').length, 2, 'a fresh challenge pair');
      assert.notEqual(parseChallenge(wrong.get('www-authenticate')).params.stale?.toLowerCase(), 'true', 'stale=true for a wrong password');
      assert.deepEqual(await bindingsOf(srv, 'carol'), [], 'a binding was stored for a wrong password');

      const ghost = new Registration(c, { user: 'nosuchuser', password: PASSWORD });
      const { challenge: ghostFirst, res: unknown } = await ghost.send({ contacts: [`<${c.contactUri('nosuchuser')}>`] });
      assert.equal(unknown.status, 401, `unknown user: ${unknown.start}`);
      assert.deepEqual(shape(unknown), shape(wrong), 'unknown user and wrong password must look alike');
      assert.deepEqual(shape(ghostFirst), shape(challenge), 'first challenges must look alike');
      assert.deepEqual(shape(unknown), shape(challenge), 'a failed attempt looks like a first challenge');
    });

    test('credentials of another user for this AOR -> 403, no binding', async () => {
      const c = await client(srv, 'udp');
      // dave's own credentials, To = erin
      const reg = new Registration(c, { user: 'erin', authUser: 'dave', password: PASSWORD });
      const { res } = await reg.send({ contacts: [`<${c.contactUri('erin')}>`] });
      assert.equal(res.status, 403, res.start);
      assert.deepEqual(await bindingsOf(srv, 'erin'), []);
    });

    test('nonce-count replay -> 401; the same nonce with a higher nc -> 200', async () => {
      const c = await client(srv, 'udp');
      const reg = new Registration(c, { user: 'frank' });
      const contact = `<${c.contactUri('frank')}>`;
      const first = await c.request(reg.build({ contacts: [contact] }));
      assert.equal(first.status, 401);
      const ch = parseChallenge(first.get('www-authenticate'));
      const auth1 = reg.answer(ch, { nc: 1, cnonce: 'aaaa1111' });
      const ok1 = await c.request(reg.build({ contacts: [contact], authorization: auth1 }));
      assert.equal(ok1.status, 200, ok1.start);
      // the very same credentials in a new transaction (new branch, CSeq)
      const replay = await c.request(reg.build({ contacts: [contact], authorization: auth1 }));
      assert.equal(replay.status, 401, `replayed nc=1: ${replay.start}`);
      assert.equal(replay.all('www-authenticate').length, 2);
      // nc must grow: 2 is fine with the same nonce
      const ok2 = await c.request(reg.build({ contacts: [contact], authorization: reg.answer(ch, { nc: 2, cnonce: 'bbbb2222' }) }));
      assert.equal(ok2.status, 200, `nc=2: ${ok2.start}`);
      // and going back to 2 is a replay again
      const back = await c.request(reg.build({ contacts: [contact], authorization: reg.answer(ch, { nc: 2, cnonce: 'cccc3333' }) }));
      assert.equal(back.status, 401, `nc=2 again: ${back.start}`);
      await reg.ok({ contacts: ['*'], expires: 0 });
    });

    test('auth.qop_auth_int: qop="auth,auth-int" offered; auth-int over the (empty) body -> 200, over another body -> 401', async () => {
      const s2 = await server({ listen: ['udp'], args: ['--db', db], set: { 'auth.qop_auth_int': true } });
      try {
        const c = await client(s2, 'udp');
        const reg = new Registration(c, { user: 'frank' });
        const contact = `<${c.contactUri('frank')}>`;
        const first = await c.request(reg.build({ contacts: [contact] }));
        assert.equal(first.status, 401);
        for (const v of first.all('www-authenticate'))
          assert.equal(parseChallenge(v).params.qop, 'auth,auth-int', v);
        const ch = parseChallenge(first.get('www-authenticate'));
        const forged = await c.request(reg.build({ contacts: [contact], authorization: reg.answer(ch, { qop: 'auth-int', body: 'x', nc: 1 }) }));
        assert.equal(forged.status, 401, `auth-int over a body that was not sent: ${forged.start}`);
        const ok = await c.request(reg.build({ contacts: [contact], authorization: reg.answer(ch, { qop: 'auth-int', body: '', nc: 2 }) }));
        assert.equal(ok.status, 200, ok.start);
        await reg.ok({ contacts: ['*'], expires: 0 });
      } finally {
        await s2.stop();
      }
    });

    test('stale nonce (auth.nonce_ttl=2) -> 401 with stale=true, then 200 with the fresh nonce', async () => {
      // 2 s: the fresh nonce must still be fresh when the retry arrives on a loaded machine
      const s2 = await server({ listen: ['udp'], args: ['--db', db], set: { 'auth.nonce_ttl': 2 } });
      const c = await client(s2, 'udp');
      const reg = new Registration(c, { user: 'grace' });
      const first = await c.request(reg.build({ contacts: [`<${c.contactUri('grace')}>`] }));
      assert.equal(first.status, 401);
      await sleep(Math.max(wait(3000), 3000));
      const res = await c.request(
        reg.build({ contacts: [`<${c.contactUri('grace')}>`], authorization: reg.answer(first.get('www-authenticate')) }),
      );
      assert.equal(res.status, 401, res.start);
      for (const v of res.all('www-authenticate')) assert.equal(parseChallenge(v).params.stale?.toLowerCase(), 'true', v);
      const ok = await c.request(
        reg.build({ contacts: [`<${c.contactUri('grace')}>`], authorization: reg.answer(res.get('www-authenticate')) }),
      );
      assert.equal(ok.status, 200, ok.start);
    });

    test('a nonce wsip did not mint (another server, tampered) -> a fresh 401 challenge', async () => {
      const c = await client(srv, 'udp');
      const reg = new Registration(c, { user: 'grace' });
      const contact = `<${c.contactUri('grace')}>`;
      const first = await c.request(reg.build({ contacts: [contact] }));
      const ch = parseChallenge(first.get('www-authenticate'));
      const n = ch.params.nonce;
      const tampered = n.slice(0, -2) + (n.slice(-2) === 'AA' ? 'BB' : 'AA');
      for (const nonce of [tampered, 'bm90LWEtd3NpcC1ub25jZQ']) {
        const res = await c.request(reg.build({ contacts: [contact], authorization: reg.answer({ params: { ...ch.params, nonce } }) }));
        assert.equal(res.status, 401, `nonce ${nonce}: ${res.start}`);
        assert.equal(res.all('www-authenticate').length, 2);
        assert.notEqual(parseChallenge(res.get('www-authenticate')).params.nonce, nonce);
      }
      assert.deepEqual(await bindingsOf(srv, 'grace'), []);
    });

    test("sipML5's first REGISTER (Authorization with empty nonce and response) -> 401, not 400", async () => {
      const c = await client(srv, 'ws');
      const reg = new Registration(c, { user: 'heidi' });
      const contact = `<sip:heidi@df7jal23ls0d.invalid;rtcweb-breaker=no;transport=ws>;expires=200;click2call=no;+g.oma.sip-im;+audio;language="en,fr"`;
      const empty = 'Digest username="heidi",realm="localhost",nonce="",uri="sip:localhost",response=""';
      const res = await c.request(reg.build({ contacts: [contact], authorization: empty }));
      assert.equal(res.status, 401, `${res.start}\n${res.raw}`);
      assert.equal(res.all('www-authenticate').length, 2);
      // and the answer to that challenge registers
      const ok = await c.request(reg.build({ contacts: [contact], authorization: reg.answer(res.get('www-authenticate')) }));
      assert.equal(ok.status, 200, `${ok.start}\n${ok.raw}`);
      const got = one(contactsOf(ok), 'sipML5 200');
      assert.equal(got.uri, 'sip:heidi@df7jal23ls0d.invalid;rtcweb-breaker=no;transport=ws');
      assertExpires(got, 200);
      await reg.ok({ contacts: ['*'], expires: 0 });
    });
  });

  // ----------------------------------------------------------- expires

  describe('expires, wildcard, q, Call-ID/CSeq', SUITE, () => {
    test('Expires header, expires param (wins), default 600, max clamped to 3600', async () => {
      const c = await client(srv, 'udp');
      const reg = new Registration(c, { user: 'ivan' });
      const a = `sip:ivan@${c.sentBy};line=a`;
      const b = `sip:ivan@${c.sentBy};line=b`;
      let res = await reg.ok({ contacts: [`<${a}>`], expires: 120 });
      assertExpires(one(contactsOf(res), 'Expires: 120'), 120);
      res = await reg.ok({ contacts: [`<${a}>;expires=300`], expires: 120 });
      assertExpires(one(contactsOf(res), 'param 300 over header 120'), 300);
      res = await reg.ok({ contacts: [`<${a}>`] });
      assertExpires(one(contactsOf(res), 'no expires'), 600);
      res = await reg.ok({ contacts: [`<${a}>`], expires: 7200 });
      assertExpires(one(contactsOf(res), 'Expires: 7200'), 3600);
      res = await reg.ok({ contacts: [`<${b}>;expires=86400`] });
      const byUri = Object.fromEntries(contactsOf(res).map((x) => [x.uri, x]));
      assert.deepEqual(Object.keys(byUri).sort(), [a, b].sort());
      assertExpires(byUri[b], 3600);
      res = await reg.ok({ contacts: [`<${b}>;expires=60`] }); // the minimum itself is fine
      assertExpires(contactsOf(res).find((x) => x.uri === b), 60);
      await reg.ok({ contacts: ['*'], expires: 0 });
    });

    test('expires below registrar.min_expires (60) -> 423 with Min-Expires: 60, nothing stored', async () => {
      const c = await client(srv, 'udp');
      const reg = new Registration(c, { user: 'judy' });
      for (const o of [{ expires: 30, contacts: [`<${c.contactUri('judy')}>`] }, { contacts: [`<${c.contactUri('judy')}>;expires=59`] }]) {
        const { res } = await reg.send(o);
        assert.equal(res.status, 423, `${JSON.stringify(o)}: ${res.start}`);
        assert.equal(res.get('min-expires'), '60');
      }
      assert.deepEqual(await reg.query(), []);
      // one Contact too brief fails the whole request
      const { res } = await reg.send({ contacts: [`<sip:judy@${c.sentBy};x=1>`, `<sip:judy@${c.sentBy};x=2>;expires=10`] });
      assert.equal(res.status, 423, res.start);
      assert.deepEqual(await reg.query(), [], 'part of a refused REGISTER was applied');
    });

    test('Contact: * with Expires: 0 removes every binding; * with anything else -> 400', async () => {
      const c = await client(srv, 'udp');
      const reg = new Registration(c, { user: 'mallet' });
      const res = await reg.ok({ contacts: [`<sip:mallet@${c.sentBy};n=1>`, `<sip:mallet@${c.sentBy};n=2>`], expires: 600 });
      assert.equal(contactsOf(res).length, 2);
      for (const o of [
        { contacts: ['*'], expires: 60 },
        { contacts: ['*'] },
        { contacts: ['*', `<sip:mallet@${c.sentBy};n=3>`], expires: 0 },
        { contacts: [`<sip:mallet@${c.sentBy};n=3>`, '*'], expires: 0 },
      ]) {
        const { res: bad } = await reg.send(o);
        assert.equal(bad.status, 400, `${JSON.stringify(o)}: ${bad.start}`);
      }
      assert.equal((await reg.query()).length, 2, 'a refused wildcard removed bindings');
      // another Call-ID (another UA of the user) may remove them all
      const other = new Registration(c, { user: 'mallet' });
      const cleared = await other.ok({ contacts: ['*'], expires: 0 });
      assert.deepEqual(contactsOf(cleared), []);
      assert.deepEqual(await reg.query(), []);
    });

    test('q values; two Contacts in one REGISTER (two headers or one list)', async () => {
      const c = await client(srv, 'udp');
      const reg = new Registration(c, { user: 'oscar' });
      const u = (n) => `sip:oscar@${c.sentBy};dev=${n}`;
      let res = await reg.ok({ contacts: [`<${u(1)}>;q=0.5`, `<${u(2)}>;q=1.0`] });
      let got = Object.fromEntries(contactsOf(res).map((x) => [x.uri, x]));
      assert.deepEqual(Object.keys(got).sort(), [u(1), u(2)]);
      assert.equal(Number(got[u(1)].params.q), 0.5, got[u(1)].raw);
      assert.equal(Number(got[u(2)].params.q), 1, got[u(2)].raw);
      res = await reg.ok({ contacts: [`<${u(3)}>;q=0.1, <${u(4)}>`] });
      got = Object.fromEntries(contactsOf(res).map((x) => [x.uri, x]));
      assert.deepEqual(Object.keys(got).sort(), [u(1), u(2), u(3), u(4)]);
      assert.equal(Number(got[u(3)].params.q), 0.1, got[u(3)].raw);
      assert.equal(got[u(4)].params.q === undefined || Number(got[u(4)].params.q) === 1, true, got[u(4)].raw);
      // a refresh may change q
      res = await reg.ok({ contacts: [`<${u(1)}>;q=0.9`] });
      assert.equal(Number(contactsOf(res).find((x) => x.uri === u(1)).params.q), 0.9);
      await reg.ok({ contacts: ['*'], expires: 0 });
    });

    test('refresh keeps one binding (same Call-ID; a new Call-ID too)', async () => {
      const c = await client(srv, 'udp');
      const reg = new Registration(c, { user: 'peggy' });
      const contact = `<${c.contactUri('peggy')}>`;
      await reg.ok({ contacts: [contact], expires: 600 });
      await reg.ok({ contacts: [contact], expires: 600 });
      let res = await reg.ok({ contacts: [contact], expires: 300 });
      assertExpires(one(contactsOf(res), 'refresh, same Call-ID'), 300);
      // the UA restarted: a new Call-ID, the same Contact
      const again = new Registration(c, { user: 'peggy' });
      res = await again.ok({ contacts: [contact], expires: 900 });
      assertExpires(one(contactsOf(res), 'refresh, new Call-ID'), 900);
      assert.equal((await reg.query()).length, 1);
      await reg.ok({ contacts: ['*'], expires: 0 });
    });

    test('same Call-ID, lower CSeq after a higher one -> 500, binding unchanged', async () => {
      const c = await client(srv, 'udp');
      const reg = new Registration(c, { user: 'trent', cseq: 10 });
      const contact = `<${c.contactUri('trent')}>`;
      await reg.ok({ contacts: [contact], expires: 600 }); // CSeq 10 (401), 11 (200)
      // CSeq 5 then 6: both below 11
      const stale = new Registration(c, { user: 'trent', callId: reg.callId, cseq: 5 });
      const { res } = await stale.send({ contacts: [contact], expires: 120 });
      assert.equal(res.status, 500, res.start);
      assertExpires(one(await reg.query(), 'after the 500'), 600);
      // CSeq equal to the last one is out of order as well (a retransmission
      // would have the same branch; this one is a new transaction)
      const { res: same } = await new Registration(c, { user: 'trent', callId: reg.callId, cseq: 10 }).send({ contacts: [contact], expires: 120 });
      assert.ok(same.status === 500, `CSeq equal to the stored one: ${same.start}`);
      await reg.ok({ contacts: ['*'], expires: 0 });
    });
  });

  // ----------------------------------------------- Outbound, GRUU, flows

  describe('Outbound and GRUU over WebSocket', SUITE, () => {
    const SUPPORTED = 'Supported: path, gruu, outbound';
    const obContact = (c, instance) =>
      `<sip:${uniq('x')}@${c.host};transport=ws>;reg-id=1;+sip.instance="<${instance}>"`;

    test('REGISTER with reg-id and +sip.instance -> 200 with Require: outbound, Flow-Timer, pub-gruu and temp-gruu', async () => {
      const c = await client(srv, 'ws');
      const reg = new Registration(c, { user: 'victor' });
      const instance = newInstance();
      const contact = obContact(c, instance);
      const res = await reg.ok({ contacts: [contact], headers: [SUPPORTED] });
      assert.match(res.get('require') || '', /\boutbound\b/i, 'Require: outbound missing');
      assert.match(res.get('flow-timer') || '', /^\d+$/, `Flow-Timer: ${res.get('flow-timer')}`);
      assert.ok(Number(res.get('flow-timer')) > 0);
      const got = one(contactsOf(res), 'outbound 200');
      assert.equal(got.uri, /<([^>]*)>/.exec(contact)[1]);
      assert.equal(got.unq('+sip.instance'), `<${instance}>`);
      assert.equal(got.params['reg-id'], '1');
      assert.equal(got.unq('pub-gruu'), `sip:victor@localhost;gr=${instance}`);
      const temp = got.unq('temp-gruu');
      assert.ok(temp, `no temp-gruu: ${got.raw}`);
      assert.match(temp, /^sip:[^@;]+@localhost;gr$/, `temp-gruu ${temp}`);
      assert.ok(!temp.includes(instance.slice(9)), 'temp-gruu reveals the instance');
      assert.ok(!temp.includes('victor'), 'temp-gruu reveals the user');
      await c.close();
      assert.deepEqual(await waitBindings(srv, (l) => l.length === 0, { user: 'victor' }), []);
    });

    test('without Supported: outbound and gruu: no Require, no GRUUs', async () => {
      const c = await client(srv, 'ws');
      const reg = new Registration(c, { user: 'walter' });
      const res = await reg.ok({ contacts: [obContact(c, newInstance())] });
      assert.equal(res.get('require'), undefined, `Require: ${res.get('require')}`);
      const got = one(contactsOf(res), '200');
      assert.equal(got.params['pub-gruu'], undefined);
      assert.equal(got.params['temp-gruu'], undefined);
      await c.close();
    });

    test('page reload: the same instance on a new connection replaces the binding; the old connection closing keeps it', async () => {
      const instance = newInstance();
      const ws1 = await client(srv, 'ws');
      const r1 = new Registration(ws1, { user: 'victor' });
      const c1 = obContact(ws1, instance);
      const res1 = await r1.ok({ contacts: [c1], headers: [SUPPORTED] });
      const pub = one(contactsOf(res1), 'first').unq('pub-gruu');

      // the reloaded page: a new connection, Contact host and Call-ID
      const ws2 = await client(srv, 'ws');
      const r2 = new Registration(ws2, { user: 'victor' });
      const c2 = obContact(ws2, instance);
      const res2 = await r2.ok({ contacts: [c2], headers: [SUPPORTED] });
      const got = one(contactsOf(res2), 'the 200 after the reload');
      assert.equal(got.uri, /<([^>]*)>/.exec(c2)[1]);
      assert.equal(got.unq('pub-gruu'), pub, 'pub-gruu changed across a reload');
      const listed = one(await bindingsOf(srv, 'victor'), 'query after the reload');
      assert.equal(listed.uri, got.uri);

      // the old page's connection goes away: the new binding stays
      await ws1.close();
      await sleep(wait(300));
      assert.equal(one(await bindingsOf(srv, 'victor'), 'after the old flow closed').uri, got.uri);

      // two instances of one user are two bindings
      const ws3 = await client(srv, 'ws');
      await new Registration(ws3, { user: 'victor' }).ok({ contacts: [obContact(ws3, newInstance())], headers: [SUPPORTED] });
      assert.equal((await bindingsOf(srv, 'victor')).length, 2);
      await ws3.close({ abrupt: true });
      await ws2.close();
      assert.deepEqual(await waitBindings(srv, (l) => l.length === 0, { user: 'victor' }), []);
    });

    for (const abrupt of [false, true]) {
      test(`closing the WebSocket (${abrupt ? 'TCP reset, no close frame' : 'close handshake'}) removes its bindings at once`, async () => {
        const ws = await client(srv, 'ws');
        const reg = new Registration(ws, { user: 'walter' });
        // an Outbound flow and a plain WS Contact on the same connection
        await reg.ok({ contacts: [obContact(ws, newInstance())], headers: [SUPPORTED] });
        const res = await reg.ok({ contacts: [`<sip:plain@${ws.host};transport=ws>`] });
        assert.equal(contactsOf(res).length, 2);
        // and a UDP binding of the same user, which the close must not touch
        const u = await client(srv, 'udp');
        await new Registration(u, { user: 'walter' }).ok({ contacts: [`<${u.contactUri('walter')}>`] });
        assert.equal((await bindingsOf(srv, 'walter')).length, 3);
        await ws.close({ abrupt });
        const left = await waitBindings(srv, (l) => l.length === 1, { user: 'walter', ms: wait(2000) });
        assert.deepEqual(
          left.map((x) => x.uri),
          [u.contactUri('walter')],
          'the WebSocket bindings outlived their connection',
        );
        await new Registration(u, { user: 'walter' }).ok({ contacts: ['*'], expires: 0 });
      });
    }

    test('TCP: closing the connection removes its bindings too', async () => {
      const t = await client(srv, 'tcp');
      await new Registration(t, { user: 'walter' }).ok({ contacts: [`<${t.contactUri('walter')}>`] });
      assert.equal((await bindingsOf(srv, 'walter')).length, 1);
      await t.close();
      assert.deepEqual(await waitBindings(srv, (l) => l.length === 0, { user: 'walter', ms: wait(2000) }), []);
    });
  });

  // ----------------------------------------------------- Path, domains

  describe('Path, domains, To', SUITE, () => {
    test('Path: the 200 echoes the Path headers in order', async () => {
      const c = await client(srv, 'udp');
      const reg = new Registration(c, { user: 'dave' });
      const res = await reg.ok({
        contacts: [`<${c.contactUri('dave')}>`],
        headers: ['Supported: path', 'Path: <sip:edge1.example.net;lr>', 'Path: <sip:edge2.example.net;lr>'],
      });
      assert.deepEqual(res.all('path').flatMap((v) => v.split(/\s*,\s*/)), ['<sip:edge1.example.net;lr>', '<sip:edge2.example.net;lr>']);
      await reg.ok({ contacts: ['*'], expires: 0 });
    });

    test('a second domain (--domain example.com): its own users and realm', async () => {
      const c = await client(srv, 'udp');
      const reg = new Registration(c, { user: 'carol', domain: 'example.com', password: 'carol-at-example' });
      const { challenge, res } = await reg.send({ contacts: [`<${c.contactUri('carol')}>`] });
      assert.equal(parseChallenge(challenge.get('www-authenticate')).params.realm, 'example.com');
      assert.equal(res.status, 200, res.start);
      assert.deepEqual(await bindingsOf(srv, 'carol'), [], 'carol@example.com is not carol@localhost');
      await reg.ok({ contacts: ['*'], expires: 0 });
    });

    test('To in a domain not served -> 404', async () => {
      const c = await client(srv, 'udp');
      const toOther = new Registration(c, { user: 'alice', ruri: 'sip:localhost', to: 'sip:alice@example.org' });
      const r1 = await c.request(toOther.build({ contacts: [`<${c.contactUri('alice')}>`] }));
      assert.equal(r1.status, 404, r1.start);
    });

    test('REGISTER sip:example.org (a domain not served) -> 404', async () => {
      // RFC 3261 sec 10.3 step 1: the Request-URI names the registrar's
      // domain; wsip is no proxy yet, so nobody can take this request
      const c = await client(srv, 'udp');
      const other = new Registration(c, { user: 'alice', domain: 'example.org' });
      const r2 = await c.request(other.build({ contacts: [`<${c.contactUri('alice')}>`] }));
      assert.equal(r2.status, 404, `REGISTER sip:example.org: ${r2.start}`);
    });

    test('Require: an option wsip lacks -> 420 naming it in Unsupported', async () => {
      // RFC 3261 sec 8.2.2.3: the 420 lists the unsupported option tags
      const c = await client(srv, 'udp');
      const reg = new Registration(c, { user: 'alice' });
      const res = await c.request(reg.build({ contacts: [`<${c.contactUri('alice')}>`], headers: ['Require: outbound, foo-bar'] }));
      assert.equal(res.status, 420, res.start);
      const tags = res
        .all('unsupported')
        .flatMap((v) => v.split(','))
        .map((t) => t.trim());
      assert.deepEqual(tags, ['foo-bar'], `Unsupported: ${res.all('unsupported').join(', ')}`);
    });

    test('To not a sip: URI, or without a user -> 400', async () => {
      const c = await client(srv, 'udp');
      for (const to of ['tel:+15551234567', 'sip:localhost']) {
        const reg = new Registration(c, { user: 'alice', to });
        const res = await c.request(reg.build({ contacts: [`<${c.contactUri('alice')}>`] }));
        assert.equal(res.status, 400, `To <${to}>: ${res.start}`);
      }
    });
  });
});

// --------------------------------------------------- failure limiting

describe('registrar: replayed credentials are not password guesses', SUITE, () => {
  // A server of its own: when this fails, the address is blocked for a
  // minute, which must not spill into the other tests.
  test('eleven replays of a valid Authorization from one address, then a fresh REGISTER -> 200, not 403', async () => {
    const db = makeDb({ 'alice@localhost': PASSWORD }, 'reg-replay');
    const s = await server({ listen: ['udp'], args: ['--db', db] });
    const c = await client(s, 'udp');
    const reg = new Registration(c, { user: 'alice' });
    const contact = `<${c.contactUri('alice')}>`;
    const first = await c.request(reg.build({ contacts: [contact] }));
    const auth = reg.answer(first.get('www-authenticate'));
    assert.equal((await c.request(reg.build({ contacts: [contact], authorization: auth }))).status, 200);
    // what SIP.js 0.21 does on every re-REGISTER and un-REGISTER: the
    // previous request's Authorization again (same nonce, nc, cnonce)
    for (let i = 0; i < 11; i++) {
      const r = await c.request(reg.build({ contacts: [contact], authorization: auth }));
      assert.equal(r.status, 401, `replay ${i + 1}: ${r.start}`);
    }
    const { res } = await reg.send({ contacts: [contact] });
    assert.equal(res.status, 200, `a correct REGISTER after the replays: ${res.start}`);
  });
});

// ------------------------------------------------------------- restarts

describe('registrar: bindings across a restart', SUITE, () => {
  test('a UDP binding survives kill -9 and a restart on the same --db with its Contact params (q, +sip.instance, reg-id, methods, temp-gruu) and still receives requests; a WS binding does not', async () => {
    const db = makeDb({ 'alice@localhost': PASSWORD }, 'reg-restart');
    const s1 = await server({ listen: ['udp', 'ws'], args: ['--db', db] });
    const u = await client(s1, 'udp');
    const w = await client(s1, 'ws');
    const udpContact = `sip:alice@${u.sentBy};persist=${uniq('p')}`;
    const instance = newInstance();
    const params = `;q=0.7;+sip.instance="<${instance}>";reg-id=1;methods="INVITE,MESSAGE"`;
    await new Registration(u, { user: 'alice' }).ok({ contacts: [`<${udpContact}>${params}`], expires: 1800 });
    const wsContact = `sip:alice@${w.host};transport=ws`;
    await new Registration(w, { user: 'alice' }).ok({
      contacts: [`<${wsContact}>;reg-id=1;+sip.instance="<${newInstance()}>"`],
      headers: ['Supported: path, gruu, outbound'],
    });
    assert.equal((await bindingsOf(s1, 'alice')).length, 2);
    /** The UDP binding as a fetch REGISTER (Supported: gruu) lists it. */
    const fetchUdp = async (srv) => {
      const list = await withClient(srv, 'udp', async (c) =>
        contactsOf(await new Registration(c, { user: 'alice' }).ok({ headers: ['Supported: gruu'] })),
      );
      return list.find((x) => x.uri === udpContact);
    };
    const was = await fetchUdp(s1);
    assert.ok(was, 'the UDP binding is not listed');
    assert.equal(was.params.q, '0.700', was.raw);
    assert.equal(was.unq('+sip.instance'), `<${instance}>`, was.raw);
    assert.equal(was.params['reg-id'], '1', was.raw);
    assert.equal(was.unq('methods'), 'INVITE,MESSAGE', was.raw);
    assert.ok(was.unq('temp-gruu'), `no temp-gruu: ${was.raw}`);
    // written behind: wait until the row is in the database, then kill
    assert.ok(await waitDbHas(db, udpContact), `the UDP binding ${udpContact} never reached ${db}`);
    s1.killed = true;
    const r = await s1.stop('SIGKILL');
    assert.equal(r.signal, 'SIGKILL');
    assert.ok(!dbBytes(db).includes(w.host), 'the WebSocket binding was written to the database');

    const s2 = await server({ listen: ['udp', 'ws'], args: ['--db', db] });
    const after = await bindingsOf(s2, 'alice');
    assert.deepEqual(
      after.map((x) => x.uri),
      [udpContact],
      'after the restart',
    );
    const e = expiresOf(after[0]);
    assert.ok(e > 1700 && e <= 1800, `expires=${e} after the restart`);
    // the same Contact, every parameter as before (expires counts down)
    const now = await fetchUdp(s2);
    assert.ok(now, 'the UDP binding is not listed after the restart');
    const noExpires = (c) => Object.entries(c.params).filter(([n]) => n !== 'expires');
    assert.deepEqual(noExpires(now), noExpires(was), `before: ${was.raw}\nafter:  ${now.raw}`);

    // and it still leads to the UA: a MESSAGE from another domain (not
    // challenged) reaches the same socket, with the contact as Request-URI
    const callId = uniq('after-restart');
    const sender = await client(s2, 'udp');
    await sender.send(
      [
        'MESSAGE sip:alice@localhost SIP/2.0',
        `Via: SIP/2.0/UDP ${sender.sentBy};branch=${uniq('z9hG4bK')};rport`,
        'Max-Forwards: 70',
        `From: <sip:zed@example.org>;tag=${uniq('ft')}`,
        'To: <sip:alice@localhost>',
        `Call-ID: ${callId}`,
        'CSeq: 1 MESSAGE',
        'Content-Type: text/plain',
        'Content-Length: 5',
        '',
        'hello',
      ].join('\r\n'),
    );
    let got = null;
    for (let m = await u.next(); m; m = await u.next()) {
      if (!m.isResponse && m.method === 'MESSAGE' && m.get('call-id') === callId) {
        got = m;
        break;
      }
    }
    assert.ok(got, 'the MESSAGE did not reach the restored binding');
    assert.equal(got.ruri, udpContact);
    // answer it, so that its transaction ends now
    const via0 = got.all('via')[0];
    const [, host, port] = /SIP\/2\.0\/UDP ([^:;\s]+):(\d+)/i.exec(via0);
    await u.udp.send(
      [
        'SIP/2.0 200 OK',
        ...got.all('via').map((v) => `Via: ${v}`),
        `From: ${got.get('from')}`,
        `To: ${got.get('to')};tag=${uniq('tt')}`,
        `Call-ID: ${callId}`,
        `CSeq: ${got.get('cseq')}`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      Number(port),
      host,
    );
    const ok = await sender.next();
    assert.ok(ok && ok.isResponse && ok.status === 200 && ok.get('call-id') === callId, `the sender got ${ok ? ok.start : 'nothing'}`);
  });
});

// -------------------------------------------------------------- SIGHUP

describe('registrar: SIGHUP', SUITE, () => {
  test('a changed registrar.max_expires / min_expires applies to the next REGISTER; a changed trusted list is kept until a restart, and the log says so', async () => {
    const db = makeDb({ 'alice@localhost': PASSWORD }, 'reg-hup');
    const conf = path.join(path.dirname(db), 'wsip.conf');
    const write = (max, min, trusted) =>
      fs.writeFileSync(conf, `registrar = { max_expires = ${max}; min_expires = ${min}; };\ntrusted = [ "${trusted}" ];\n`);
    write(3600, 60, '192.0.2.0/24');
    const s = await server({ listen: ['udp'], args: ['-c', conf, '--db', db] });
    const c = await client(s, 'udp');
    const reg = new Registration(c, { user: 'alice' });
    const contact = `<${c.contactUri('alice')}>`;
    let res = await reg.ok({ contacts: [contact], expires: 3000 });
    assertExpires(contactsOf(res)[0], 3000);

    write(1200, 120, '127.0.0.0/8');
    s.signal('SIGHUP');
    assert.ok(await s.waitLog(/trusted: changed, but only a restart applies it/), `no note about trusted:\n${s.tail()}`);
    assert.ok(await s.waitLog(/SIGHUP: configuration reloaded/), s.tail());
    res = await reg.ok({ contacts: [contact], expires: 3000 });
    assertExpires(contactsOf(res)[0], 1200);
    const { res: brief } = await reg.send({ contacts: [contact], expires: 90 });
    assert.equal(brief.status, 423, brief.start);
    assert.equal(brief.get('min-expires'), '120');
    // 127.0.0.1 did not become trusted: still challenged
    const unauth = await c.request(reg.build({ contacts: [contact] }));
    assert.equal(unauth.status, 401, unauth.start);
  });
});
