// The web phone (web/, issue #6) as users see it: the bundle the build
// wrote (build/web, WSIP_WEB_ROOT), served by wsip itself, in headless
// Debian Chromium (playwright-core, fake audio and video devices). Every
// step goes through the page's own controls (fields, buttons, keys) and is
// checked on what the page shows; for media the test also reads the peer
// connections' statistics. Screenshots of the phone are written to
// <build>/test-artifacts/phone-*.png and checked not to be blank; the page
// weight (HTML + JS + CSS + config.json bytes transferred) is printed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';

import { launchBrowser } from './browser/harness.mjs';
import { REPO, T_REPLY, freePort, makeCert, sleep, startServer, tmpDir, wait } from './server.mjs';
import { makeDb } from './sipreg.mjs';

const WEB = path.resolve(process.env.WSIP_WEB_ROOT || path.join(REPO, 'build', 'web'));
const ARTIFACTS = path.join(path.dirname(WEB), 'test-artifacts');
const PASSWORD = 'secret';
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace'];
/** Bound of one step a user waits for (a registration, a call set up). */
const T_STEP = 2 * T_REPLY;

/** Test-only instrumentation, run in every page before its scripts: ICE
 * kept on 127.0.0.1 (the remote descriptions lose their other candidates,
 * so that no packet leaves loopback), every peer connection recorded in
 * window.__pcs for the media checks, and the oscillators of the ring
 * counted. The phone itself is unmodified. */
function instrument() {
  window.__pcs = [];
  const Native = window.RTCPeerConnection;
  const setRemote = Native.prototype.setRemoteDescription;
  Native.prototype.setRemoteDescription = function setRemoteDescription(desc, ...rest) {
    if (desc && desc.sdp) {
      const sdp = desc.sdp
        .split('\r\n')
        .filter((l) => !l.startsWith('a=candidate:') || / 127\.0\.0\.1 \d+ typ host/.test(l))
        .join('\r\n');
      desc = { type: desc.type, sdp };
    }
    return setRemote.call(this, desc, ...rest);
  };
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.__pcs.push(this);
    }
  };
  // the ring: tones made while the audio context runs
  window.__tones = 0;
  const createOscillator = AudioContext.prototype.createOscillator;
  AudioContext.prototype.createOscillator = function counted() {
    if (this.state === 'running') window.__tones++;
    return createOscillator.call(this);
  };
}

describe('web phone (JsSIP in Chromium) served by wsip', { timeout: wait(300000) }, () => {
  let srv;
  let browser;
  let base;
  let db;
  const opened = [];

  before(async () => {
    for (const f of ['index.html', 'phone.js', 'phone.css']) {
      assert.ok(fs.existsSync(path.join(WEB, f)), `${WEB}/${f} is missing: the build writes the phone there (CMake target web)`);
    }
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    db = makeDb(Object.fromEntries(USERS.map((u) => [`${u}@localhost`, PASSWORD])), 'phone');
    srv = await startServer({
      listen: ['ws', 'wss'],
      cert: makeCert(tmpDir('cert')),
      args: ['--db', db],
      set: { 'http.root': WEB, 'net.handshakes_per_ip_per_second': 100000 },
    });
    base = `http://127.0.0.1:${srv.port('ws')}`;
    browser = await launchBrowser();
  });

  afterEach(async () => {
    for (const p of opened.splice(0)) await p.context.close().catch(() => {});
  });

  after(async () => {
    for (const p of opened.splice(0)) await p.context.close().catch(() => {});
    if (browser) await browser.close();
    if (srv) await srv.stopOk();
  });

  /** A fresh browser profile on the phone page: {page, context, name,
   * responses, errors}. */
  async function openPhone(name, url = `${base}/`) {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1000, height: 800 } });
    await context.addInitScript(instrument);
    const page = await context.newPage();
    const p = { page, context, name, responses: [], errors: [] };
    opened.push(p);
    page.on('response', (r) => p.responses.push(r));
    page.on('pageerror', (e) => p.errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') p.errors.push(`console: ${m.text()}`.slice(0, 300));
    });
    await page.goto(url);
    await page.locator('#login').waitFor({ state: 'visible', timeout: T_STEP });
    return p;
  }

  /** What a page shows, for failure messages. */
  async function shows(p) {
    if (p.page.isClosed()) return `${p.name}: page closed`;
    const s = await p.page.evaluate(() => {
      const t = (id) => (document.getElementById(id) ? document.getElementById(id).textContent.trim().replace(/\s+/g, ' ') : '');
      const vis = (id) => !document.getElementById(id).hidden;
      return { conn: t('conn'), notice: vis('notice') ? t('notice-text') : '', reg: t('reg-state'), call: vis('call') ? t('call-state') : '-', incoming: vis('incoming') ? t('incoming-from') : '-', last: t('last-call') };
    });
    return `--- ${p.name} shows ${JSON.stringify(s)}\n${p.errors.slice(-5).join('\n')}`;
  }

  /** Waits until element id's text matches re; returns the text. */
  async function waitText(p, id, re, ms = T_STEP) {
    try {
      await p.page.waitForFunction(([i, src, flags]) => new RegExp(src, flags).test(document.getElementById(i).textContent), [id, re.source, re.flags], { timeout: ms });
    } catch {
      throw new Error(`${p.name}: #${id} never matched ${re}\n${await shows(p)}`);
    }
    return p.page.locator(`#${id}`).textContent();
  }

  async function waitVisible(p, selector, ms = T_STEP) {
    try {
      await p.page.locator(selector).waitFor({ state: 'visible', timeout: ms });
    } catch {
      throw new Error(`${p.name}: ${selector} never became visible\n${await shows(p)}`);
    }
  }

  const focused = (p) => p.page.evaluate(() => document.activeElement && document.activeElement.id);

  /** Signs in through the form (Enter in the password field) and waits
   * until the page says it is registered. */
  async function signIn(p, user, password = PASSWORD) {
    await p.page.fill('#login-user', user);
    await p.page.fill('#login-password', password);
    await p.page.press('#login-password', 'Enter');
  }

  async function registered(name, url) {
    const p = await openPhone(name, url);
    await signIn(p, name);
    await waitVisible(p, '#phone');
    await waitText(p, 'reg-state', /^Registered$/);
    assert.equal(await p.page.locator('#reg-state').getAttribute('data-state'), 'registered');
    assert.equal(await p.page.locator('#me').textContent(), `${name}@localhost`);
    return p;
  }

  /** Statistics of the page's last peer connection: state, RTP bytes. */
  function media(p) {
    return p.page.evaluate(async () => {
      const pc = window.__pcs[window.__pcs.length - 1];
      if (!pc) return null;
      const out = { state: pc.connectionState, audioIn: 0, videoIn: 0, audioOut: 0 };
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp') out[s.kind === 'video' ? 'videoIn' : 'audioIn'] += s.bytesReceived || 0;
        if (s.type === 'outbound-rtp' && s.kind === 'audio') out.audioOut += s.bytesSent || 0;
      });
      out.audioEnabled = pc
        .getSenders()
        .filter((s) => s.track && s.track.kind === 'audio')
        .map((s) => s.track.enabled);
      return out;
    });
  }

  /** Waits until media flows into p's call (ICE connected, RTP received
   * of the kinds wanted). */
  async function mediaFlows(p, kinds = ['audio']) {
    const end = Date.now() + wait(20000);
    for (;;) {
      const m = await media(p);
      if (m && m.state === 'connected' && kinds.every((k) => m[`${k}In`] > 0)) return m;
      if (Date.now() > end) throw new Error(`${p.name}: no ${kinds} media: ${JSON.stringify(m)}\n${await shows(p)}`);
      await sleep(100);
    }
  }

  /** Saves a screenshot of the page into the artifacts and checks it is a
   * real picture of the phone: decoded by the browser, more than a few
   * colours, no colour covering nearly all of it. Returns the path. */
  async function screenshot(p, name) {
    const file = path.join(ARTIFACTS, `phone-${name}.png`);
    const png = await p.page.screenshot({ path: file, fullPage: true });
    const look = await p.page.evaluate(async (b64) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.naturalWidth;
      c.height = img.naturalHeight;
      const g = c.getContext('2d');
      g.drawImage(img, 0, 0);
      const d = g.getImageData(0, 0, c.width, c.height).data;
      const counts = new Map();
      for (let i = 0; i < d.length; i += 4) {
        const k = (d[i] << 16) | (d[i + 1] << 8) | d[i + 2];
        counts.set(k, (counts.get(k) || 0) + 1);
      }
      return { width: c.width, height: c.height, colours: counts.size, top: Math.max(...counts.values()) / (d.length / 4) };
    }, png.toString('base64'));
    assert.ok(look.width >= 300 && look.height >= 300, `${file}: ${JSON.stringify(look)}`);
    assert.ok(look.colours >= 16 && look.top < 0.97, `${file} looks blank: ${JSON.stringify(look)}`);
    console.log(`screenshot ${file} (${look.width}x${look.height}, ${look.colours} colours)`);
    return file;
  }

  test('the page, its bundle and /config.json come from wsip; page weight printed; the form knows the server; labels everywhere', async () => {
    const p = await openPhone('visitor');
    // what the phone learnt from /config.json and the page's address
    assert.equal(await p.page.inputValue('#login-domain'), 'localhost');
    assert.equal(await p.page.inputValue('#login-server'), `ws://127.0.0.1:${srv.port('ws')}/`);
    assert.equal(await focused(p), 'login-user');

    const byName = {};
    for (const r of p.responses) byName[new URL(r.url()).pathname] = r;
    let total = 0;
    const parts = [];
    for (const [file, type] of [
      ['/', /^text\/html/],
      ['/phone.js', /^text\/javascript/],
      ['/phone.css', /^text\/css/],
      ['/config.json', /^application\/json/],
    ]) {
      const r = byName[file];
      assert.ok(r, `no response for ${file}: ${Object.keys(byName)}`);
      assert.equal(r.status(), 200, file);
      assert.match(r.headers()['content-type'], type, file);
      const sizes = await r.request().sizes();
      const bytes = sizes.responseHeadersSize + sizes.responseBodySize;
      assert.ok(sizes.responseBodySize > 0, `${file}: empty`);
      parts.push(`${file} ${bytes}`);
      total += bytes;
      if (file === '/phone.js') {
        // minified: a bundle of JsSIP as it is in npm is about 600 kB
        assert.ok(sizes.responseBodySize < 400000, `phone.js is ${sizes.responseBodySize} bytes: not minified?`);
      }
    }
    console.log(`page weight: ${total} bytes transferred (${parts.join(', ')})`);
    // wsip says where the phone is, for each WebSocket listener
    assert.ok(await srv.waitLog(new RegExp(`web phone: http://127\\.0\\.0\\.1:${srv.port('ws')}/ `)), srv.tail());
    assert.ok(await srv.waitLog(new RegExp(`web phone: https://127\\.0\\.0\\.1:${srv.port('wss')}/ `)), srv.tail());
    const cfg = await (await byName['/config.json'].body()).toString();
    assert.deepEqual(JSON.parse(cfg), { domains: ['localhost'], ws_path: '/' });

    // every form field has a label; the live regions exist
    const unlabelled = await p.page.evaluate(() => [...document.querySelectorAll('input')].filter((i) => !i.labels.length && !i.getAttribute('aria-label')).map((i) => i.id));
    assert.deepEqual(unlabelled, []);
    assert.equal(await p.page.locator('#notice').getAttribute('role'), 'alert');
    assert.equal(await p.page.locator('#call-state').getAttribute('aria-live'), 'assertive');
    await screenshot(p, 'login');
    assert.deepEqual(p.errors, []);
  });

  test('a wrong password: "Wrong user name or password", back at the form with the password field focused', async () => {
    const p = await openPhone('alice (wrong password)');
    await signIn(p, 'alice', 'not-the-password');
    await waitVisible(p, '#notice');
    assert.match(await p.page.locator('#notice-text').textContent(), /^Wrong user name or password\.$/);
    await waitVisible(p, '#login');
    assert.equal(await p.page.locator('#phone').isHidden(), true);
    assert.equal(await focused(p), 'login-password');
    assert.equal(await p.page.inputValue('#login-user'), 'alice');
    assert.match(await p.page.locator('#login-submit').textContent(), /^Sign in$/);
    await screenshot(p, 'wrong-password');
    // the same user with the right password then gets in
    await signIn(p, 'alice');
    await waitText(p, 'reg-state', /^Registered$/);
  });

  test('no server at the WebSocket URL: the page says so in words and stays at the form', async () => {
    const p = await openPhone('alice (no server)');
    const dead = `ws://127.0.0.1:${await freePort()}/`;
    await p.page.click('#login-more summary');
    await p.page.fill('#login-server', dead);
    await signIn(p, 'alice');
    await waitText(p, 'notice-text', new RegExp(`^Cannot reach the server at ${dead.replace(/\./g, '\\.')}: network error`));
    await waitVisible(p, '#login');
    assert.equal(await p.page.locator('#conn').textContent(), 'Not signed in');
    // a URL that is no WebSocket URL is refused before any attempt
    await p.page.fill('#login-server', 'http://127.0.0.1/');
    await signIn(p, 'alice');
    await waitText(p, 'notice-text', /^The WebSocket URL must start with ws:\/\/ or wss:\/\/\.$/);
    assert.equal(await focused(p), 'login-server');
  });

  test('audio call: alice calls bob, bob is alerted and answers, both connected with audio; mute, hold, DTMF; alice hangs up, both show the end', async () => {
    const alice = await registered('alice');
    const bob = await registered('bob');

    await alice.page.fill('#target', 'bob');
    await alice.page.click('#call-audio');
    await waitVisible(bob, '#incoming');
    assert.match(await bob.page.locator('#incoming-from').textContent(), /^alice is calling\.$/);
    assert.equal(await focused(bob), 'answer', 'the answer button has the focus');
    assert.match(await bob.page.title(), /Call from alice/);
    await waitText(alice, 'call-state', /^Ringing bob…$/);
    await screenshot(bob, 'incoming');
    // the ring sounds (WebAudio, the default "Ring sound" on)
    assert.ok(await bob.page.evaluate(() => window.__tones) >= 2, 'no ring tone played');
    assert.equal(await bob.page.locator('#call-audio').isDisabled(), true, 'a second call can be placed while one rings');

    await bob.page.click('#answer');
    await waitText(alice, 'call-state', /^Connected$/);
    await waitText(bob, 'call-state', /^Connected$/);
    assert.equal(await bob.page.locator('#incoming').isHidden(), true);
    assert.equal(await alice.page.locator('#call-peer').textContent(), 'bob');
    assert.equal(await bob.page.locator('#call-peer').textContent(), 'alice');
    await mediaFlows(alice);
    await mediaFlows(bob);

    // DTMF as RFC 4733 events in the audio stream: the page shows what the
    // browser's DTMF sender played
    for (const k of ['1', '2', '#']) await alice.page.click(`#dtmf-pad [data-key="${k}"]`);
    await waitText(alice, 'dtmf-sent', /^12#$/);
    // and from the keyboard while the call panel has the focus
    await alice.page.focus('#hangup');
    await alice.page.keyboard.press('5');
    await waitText(alice, 'dtmf-sent', /^12#5$/);

    // mute: the microphone track stops, the button says so
    await alice.page.click('#mute');
    assert.equal(await alice.page.locator('#mute').getAttribute('aria-pressed'), 'true');
    assert.deepEqual((await media(alice)).audioEnabled, [false]);
    await alice.page.click('#mute');
    assert.deepEqual((await media(alice)).audioEnabled, [true]);
    assert.equal(await alice.page.locator('#mute').getAttribute('aria-pressed'), 'false');

    // hold and resume: re-INVITEs through wsip, both sides show the state
    await alice.page.click('#hold');
    await waitText(alice, 'call-state', /^On hold$/);
    await waitText(bob, 'call-state', /^alice put the call on hold$/);
    await alice.page.click('#hold');
    await waitText(alice, 'call-state', /^Connected$/);
    await waitText(bob, 'call-state', /^Connected$/);
    await screenshot(alice, 'call');

    await alice.page.click('#hangup');
    await waitText(alice, 'last-call', /^Call with bob ended by you, \d+:\d\d\.$/);
    await waitText(bob, 'last-call', /^Call with alice ended by alice, \d+:\d\d\.$/);
    assert.equal(await alice.page.locator('#call').isHidden(), true);
    assert.equal(await bob.page.locator('#call').isHidden(), true);
    assert.equal(await focused(bob), 'target');
    assert.equal(await bob.page.locator('#call-audio').isDisabled(), false);
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  });

  test('video call: carol calls dave with video, dave answers with video, both see the other; dave hangs up', async () => {
    const carol = await registered('carol');
    const dave = await registered('dave');
    await carol.page.fill('#target', 'dave@localhost');
    await carol.page.click('#call-video');
    await waitVisible(dave, '#incoming');
    assert.match(await dave.page.locator('#incoming-from').textContent(), /^carol is calling \(video call\)\.$/);
    assert.equal(await focused(dave), 'answer-video');
    await dave.page.click('#answer-video');
    await waitText(carol, 'call-state', /^Connected$/);
    await waitText(dave, 'call-state', /^Connected$/);
    await mediaFlows(carol, ['audio', 'video']);
    await mediaFlows(dave, ['audio', 'video']);
    for (const p of [carol, dave]) {
      await waitVisible(p, '#videos');
      await p.page.waitForFunction(() => document.getElementById('remote-video').videoWidth > 0, null, { timeout: T_STEP });
    }
    assert.equal(await carol.page.locator('#call-kind').textContent(), 'Video call');
    await screenshot(carol, 'video-call');
    await dave.page.click('#hangup');
    await waitText(carol, 'last-call', /^Call with dave ended by dave/);
    await waitText(dave, 'last-call', /^Call with carol ended by you/);
  });

  test('messages: a conversation per peer both ways, non-ASCII text intact; to an offline user and to no user the page says why', async () => {
    const erin = await registered('erin');
    const frank = await registered('frank');
    const text = 'héllo ✓ 日本語 🎉 <b>not bold</b>';

    await erin.page.fill('#target', 'frank');
    await erin.page.click('#open-chat');
    await waitVisible(erin, '#chat');
    assert.equal(await focused(erin), 'compose-text');
    await erin.page.fill('#compose-text', text);
    await erin.page.press('#compose-text', 'Enter');
    await erin.page.locator('#chat-log li.msg.out[data-state="sent"]').waitFor({ timeout: T_STEP });

    // frank had no conversation open: the new one opens by itself
    await waitVisible(frank, '#chat');
    assert.equal(await frank.page.locator('#chat-peer').textContent(), 'erin');
    const got = frank.page.locator('#chat-log li.msg.in .text');
    await got.first().waitFor({ timeout: T_STEP });
    assert.equal(await got.first().textContent(), text);
    assert.equal(await frank.page.locator('#chat-log b').count(), 0, 'message text was parsed as HTML');

    await frank.page.fill('#compose-text', 'hi erin');
    await frank.page.click('#compose-send');
    await erin.page.locator('#chat-log li.msg.in .text').first().waitFor({ timeout: T_STEP });
    assert.equal(await erin.page.locator('#chat-log li.msg.in .text').first().textContent(), 'hi erin');

    // a second peer gets a conversation of its own; grace exists, offline
    await erin.page.fill('#target', 'grace');
    await erin.page.click('#open-chat');
    assert.equal(await erin.page.locator('#chat-peer').textContent(), 'grace');
    assert.equal(await erin.page.locator('#chat-log li').count(), 0);
    await erin.page.fill('#compose-text', 'are you there?');
    await erin.page.press('#compose-text', 'Enter');
    const failed = erin.page.locator('#chat-log li.msg.out[data-state="failed"] .meta');
    await failed.waitFor({ timeout: T_STEP });
    assert.match(await failed.textContent(), /not delivered: grace is offline\.$/);
    await erin.page.fill('#target', 'nobody');
    await erin.page.click('#open-chat');
    await erin.page.fill('#compose-text', 'hello?');
    await erin.page.press('#compose-text', 'Enter');
    await failed.waitFor({ timeout: T_STEP });
    assert.match(await failed.textContent(), /not delivered: No such user: nobody\.$/);
    assert.equal(await erin.page.locator('#chats li').count(), 3);

    // back to frank's conversation: both messages still there
    await erin.page.click('#chats button:has-text("frank")');
    assert.deepEqual(await erin.page.locator('#chat-log li .text').allTextContents(), [text, 'hi erin']);
    await screenshot(erin, 'messages');
    assert.deepEqual([...erin.errors, ...frank.errors], []);
  });

  test('calls that do not happen: offline (480), no such user (404), declined (603), cancelled by the caller (missed call)', async () => {
    const alice = await registered('alice');
    await alice.page.fill('#target', 'grace');
    await alice.page.click('#call-audio');
    await waitText(alice, 'notice-text', /^grace is offline\.$/);
    await waitText(alice, 'last-call', /^Call to grace failed: grace is offline\.$/);
    await alice.page.fill('#target', 'nobody');
    await alice.page.click('#call-audio');
    await waitText(alice, 'notice-text', /^No such user: nobody\.$/);

    const bob = await registered('bob');
    await alice.page.fill('#target', 'bob');
    await alice.page.click('#call-audio');
    await waitVisible(bob, '#incoming');
    await bob.page.click('#decline');
    await waitText(alice, 'notice-text', /^bob declined the call\.$/);
    await waitText(bob, 'last-call', /^Declined the call from alice\.$/);

    await alice.page.click('#call-audio');
    await waitVisible(bob, '#incoming');
    await waitText(alice, 'call-state', /^Ringing bob…$/);
    await alice.page.click('#hangup');
    await waitText(alice, 'last-call', /^Call to bob cancelled\.$/);
    await waitText(bob, 'last-call', /^Missed call from alice\.$/);
    assert.equal(await bob.page.locator('#incoming').isHidden(), true);
  });

  test('unregister and register again from the page; sign out returns to the form', async () => {
    const p = await registered('carol');
    await p.page.click('#reg-toggle');
    await waitText(p, 'reg-state', /^Not registered$/);
    assert.equal(await p.page.locator('#reg-toggle').textContent(), 'Register');
    await p.page.click('#reg-toggle');
    await waitText(p, 'reg-state', /^Registered$/);
    await p.page.click('#logout');
    await waitVisible(p, '#login');
    assert.equal(await p.page.locator('#conn').textContent(), 'Not signed in');
    assert.equal(await p.page.inputValue('#login-user'), 'carol', 'the user name is remembered');
  });

  test('over https and wss:// (self-signed certificate): the page connects to its own host and registers', async () => {
    const url = `https://127.0.0.1:${srv.port('wss')}/`;
    const p = await openPhone('dave (wss)', url);
    assert.equal(await p.page.inputValue('#login-server'), `wss://127.0.0.1:${srv.port('wss')}/`);
    await signIn(p, 'dave');
    await waitText(p, 'reg-state', /^Registered$/);
  });

  test('wsip serve run by hand on the sources (http.root ./web, not built): the page says how to build and serve the phone', async () => {
    const own = await startServer({ listen: ['ws'], cwd: REPO, args: ['--db', db] });
    try {
      const context = await browser.newContext();
      opened.push({ context });
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${own.port('ws')}/`);
      await page.locator('#unbuilt').waitFor({ state: 'visible', timeout: T_STEP });
      assert.match(await page.locator('#unbuilt').textContent(), /make build[\s\S]*--set http\.root=build\/web/);
      assert.equal(await page.locator('#boot').isHidden(), true);
      assert.equal(await page.locator('#login').isHidden(), true);
    } finally {
      await own.stopOk();
    }
  });

  test('the server goes away: the page says it reconnects, and registers again once the server is back', async () => {
    const own = await startServer({ listen: ['ws'], args: ['--db', db], set: { 'http.root': WEB, 'net.handshakes_per_ip_per_second': 100000 } });
    let again = null;
    try {
      const port = own.port('ws');
      const p = await registered('frank', `http://127.0.0.1:${port}/`);
      await own.stopOk();
      await waitText(p, 'conn', /^Connection lost — reconnecting…$/);
      assert.equal(await p.page.locator('#conn').getAttribute('data-state'), 'reconnecting');
      await waitText(p, 'reg-state', /^Not registered/);
      again = await startServer({ listen: [{ scheme: 'ws', host: '127.0.0.1', port }], args: ['--db', db], set: { 'http.root': WEB } });
      // JsSIP retries within 10 s (connection_recovery_max_interval)
      await waitText(p, 'conn', /^Connected$/, wait(30000));
      await waitText(p, 'reg-state', /^Registered$/);
    } finally {
      own.kill();
      if (again) await again.stopOk();
    }
  });
});
