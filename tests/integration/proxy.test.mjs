// Proxy request validation (RFC 3261 sec 16.3): Max-Forwards (483 for a
// request to one of our users, an OPTIONS with Max-Forwards 0 answered by
// wsip itself, sec 16.3 step 2 / sec 11) and loop detection (sec 16.3 step
// 4, sec 16.6 step 8): a request wsip forwarded that comes back in the same
// state is a loop (482), one that comes back changed (another Request-URI)
// is a spiral and goes on.
//
// The peers are raw SIP user agents over UDP (rawua.mjs); the one that sends
// a request back to wsip plays a misconfigured forwarder. Every wait is
// bounded.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { DOMAIN, PASSWORD, Ua, closeAll, dump, viaParts } from './rawua.mjs';
import { startServer, stopAllAfter, SUITE, uniq } from './server.mjs';
import { makeDb } from './sipreg.mjs';

const servers = [];
stopAllAfter(servers, closeAll);

/** A caller of another domain: its requests to our users are not
 * challenged (the callee's domain is ours, the caller's is not). */
async function foreignCaller(srv) {
  const ua = await Ua.open(srv, 'zed', 'udp');
  ua.aor = 'sip:zed@example.org';
  return ua;
}

/** Request msg (as ua received it) sent on by ua as a proxy would: its own
 * Via on top, Max-Forwards one less, Request-URI ruri, everything else as
 * received. Returns {buf, branch}. */
function forwardAgain(ua, msg, ruri) {
  const branch = uniq('z9hG4bK');
  const lines = [`${msg.method} ${ruri} SIP/2.0`, `Via: SIP/2.0/UDP ${ua.sentBy};branch=${branch};rport`];
  for (const h of msg.headers) lines.push(h.name === 'max-forwards' ? `Max-Forwards: ${Number(h.value) - 1}` : `${h.name}: ${h.value}`);
  return { buf: Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), msg.body]), branch };
}

/** The final response to a request sent with forwardAgain (by its branch). */
function finalTo(ua, callId, branch) {
  return ua.must(
    (m) => m.isResponse && m.status >= 200 && m.get('call-id') === callId && viaParts(m.all('via')[0]).branch === branch,
    `final response to the request sent again (branch ${branch})`,
  );
}

describe('proxy: Max-Forwards and loop detection (RFC 3261 sec 16.3)', SUITE, () => {
  let srv;
  let bob; // registered over UDP; also plays the forwarder that sends requests back
  let carol;
  let zed; // example.org: not challenged

  before(async () => {
    srv = await startServer({ listen: ['udp', 'ws'], args: ['--db', makeDb({ [`bob@${DOMAIN}`]: PASSWORD, [`carol@${DOMAIN}`]: PASSWORD }, 'proxy')] });
    servers.push(srv);
    bob = await Ua.open(srv, 'bob', 'udp');
    carol = await Ua.open(srv, 'carol', 'udp');
    await bob.register();
    await carol.register();
    zed = await foreignCaller(srv);
  });

  test('MESSAGE to a registered user with Max-Forwards: 0 -> 483, nothing forwarded; with 1 it arrives with 0', async () => {
    const req = zed.build('MESSAGE', bob.aor, { body: 'hop?', maxForwards: 0 });
    await zed.send(req.buf);
    const res = await zed.final(req);
    assert.equal(res.status, 483, dump(res));
    assert.equal(await bob.stray(req.callId), null, 'forwarded with Max-Forwards 0');

    const one = zed.build('MESSAGE', bob.aor, { body: 'last hop', maxForwards: 1 });
    await zed.send(one.buf);
    const got = await bob.incoming('MESSAGE', one.callId);
    assert.equal(got.get('max-forwards'), '0');
    await bob.respond(got, 200, 'OK');
    assert.equal((await zed.final(one)).status, 200);
  });

  test('OPTIONS with Max-Forwards: 0 is answered 200 by wsip (addressed to wsip, or to a user: sec 16.3 step 2), never forwarded', async () => {
    for (const ruri of [`sip:${DOMAIN}`, `sip:127.0.0.1:${srv.port('udp')}`, bob.aor]) {
      const req = zed.build('OPTIONS', ruri, { maxForwards: 0 });
      await zed.send(req.buf);
      const res = await zed.final(req);
      assert.equal(res.status, 200, `OPTIONS ${ruri}: ${dump(res)}`);
      assert.match(res.get('allow') || '', /\bOPTIONS\b/, `OPTIONS ${ruri}: no Allow: ${dump(res)}`);
      assert.match(res.get('server') || '', /^wsip\//, `OPTIONS ${ruri}: not wsip's answer: ${dump(res)}`);
      assert.equal(await bob.stray(req.callId), null, `OPTIONS ${ruri} was forwarded`);
    }
    // pre-routed through wsip (sec 16.4) with Max-Forwards 0: the same
    const routed = zed.build('OPTIONS', bob.aor, { maxForwards: 0, routes: [`<sip:127.0.0.1:${srv.port('udp')};lr>`] });
    await zed.sendReq(routed);
    const res = await zed.final(routed);
    assert.equal(res.status, 200, dump(res));
    assert.equal(await bob.stray(routed.callId), null, 'the routed OPTIONS was forwarded');
    // and with Max-Forwards left, the OPTIONS goes to bob
    const fwd = zed.build('OPTIONS', bob.aor);
    await zed.send(fwd.buf);
    const got = await bob.incoming('OPTIONS', fwd.callId);
    await bob.respond(got, 200, 'OK');
    assert.equal((await zed.final(fwd)).status, 200);
  });

  test('loop: the MESSAGE wsip forwarded to bob comes back unchanged (Request-URI the AOR again) -> 482 Loop Detected', async () => {
    const req = zed.build('MESSAGE', bob.aor, { body: 'round and round' });
    await zed.send(req.buf);
    const got = await bob.incoming('MESSAGE', req.callId);
    assert.equal(got.all('via').length, 2, `one Via of wsip's above zed's: ${got.all('via').join(' | ')}`);

    const again = forwardAgain(bob, got, bob.aor);
    await bob.send(again.buf);
    const res = await finalTo(bob, req.callId, again.branch);
    assert.equal(res.status, 482, dump(res));
    assert.equal(res.reason, 'Loop Detected');
    // (the first MESSAGE may come again meanwhile: UDP retransmissions, two Vias)
    const looped = await bob.stray(req.callId, (m) => !m.isResponse && m.all('via').length > 2);
    assert.equal(looped, null, `the looped request was forwarded: ${dump(looped)}`);
    assert.equal(await carol.stray(req.callId), null);

    // the first pass is untouched: bob's answer reaches zed
    await bob.respond(got, 200, 'OK');
    assert.equal((await zed.final(req)).status, 200);
  });

  test('loop over the Route path: the same request back with a Route to wsip both times -> 482', async () => {
    const route = `<sip:127.0.0.1:${srv.port('udp')};lr>`;
    const req = zed.build('MESSAGE', bob.aor, { body: 'routed', routes: [route] });
    await zed.sendReq(req);
    const got = await bob.incoming('MESSAGE', req.callId);
    assert.equal(got.all('route').length, 0, 'wsip did not pop its own Route');
    const again = forwardAgain(bob, got, bob.aor);
    // the same top Route as the first time
    const withRoute = Buffer.from(again.buf.toString('latin1').replace(/\r\nMax-Forwards:/i, `\r\nRoute: ${route}\r\nMax-Forwards:`), 'latin1');
    await bob.send(withRoute);
    const res = await finalTo(bob, req.callId, again.branch);
    assert.equal(res.status, 482, dump(res));
    await bob.respond(got, 200, 'OK');
    assert.equal((await zed.final(req)).status, 200);
  });

  test('spiral: the same MESSAGE back with another Request-URI (bob forwards to carol) is not a loop: carol gets it through wsip twice, the answers go back the same way', async () => {
    const req = zed.build('MESSAGE', bob.aor, { body: 'for carol, via bob' });
    await zed.send(req.buf);
    const got = await bob.incoming('MESSAGE', req.callId);

    const again = forwardAgain(bob, got, carol.aor);
    await bob.send(again.buf);
    const atCarol = await carol.incoming('MESSAGE', req.callId);
    assert.equal(atCarol.ruri, carol.contact);
    const vias = atCarol.all('via').map(viaParts);
    assert.equal(vias.length, 4, `wsip, bob, wsip, zed: ${atCarol.all('via').join(' | ')}`);
    assert.deepEqual(
      [vias[0].port, vias[2].port],
      [srv.port('udp'), srv.port('udp')],
      `wsip's Via on top and third: ${atCarol.all('via').join(' | ')}`,
    );
    // the loop hash (the part after the worker) differs: another Request-URI
    const loopPart = (b) => b.split('-')[2];
    assert.notEqual(loopPart(vias[0].branch), loopPart(vias[2].branch));
    assert.equal(atCarol.body.toString('utf8'), 'for carol, via bob');

    await carol.respond(atCarol, 200, 'OK');
    const res = await finalTo(bob, req.callId, again.branch);
    assert.equal(res.status, 200, dump(res));
    await bob.respond(got, 200, 'OK');
    assert.equal((await zed.final(req)).status, 200);
  });
});
