// The web phone (web/, issue #6) as users see it: the bundle the build
// wrote (build/web, WSIP_WEB_ROOT), served by wsip itself, in headless
// Debian Chromium (playwright-core, fake audio and video devices). Every
// step goes through the page's own controls (fields, buttons, keys) and is
// checked on what the page shows; for media the test also reads the peer
// connections' statistics. The status page (/status of the same wsip) is
// read the same way, through its DOM, beside two phones that register,
// exchange a message and make a call; /metrics is fetched from it.
// Screenshots are written to <build>/test-artifacts/phone-*.png and
// status-page.png and checked not to be blank; the page weight (HTML + JS +
// CSS + config.json bytes transferred) is printed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';

import { launchBrowser } from './browser/harness.mjs';
import { metric, parseMetrics } from './metrics.mjs';
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

  /** A fresh browser profile on url: {page, context, name, responses,
   * errors}; init runs in the page before its scripts. */
  async function openPage(name, url, init = null) {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1000, height: 800 } });
    if (init) await context.addInitScript(init);
    const page = await context.newPage();
    const p = { page, context, name, responses: [], errors: [] };
    opened.push(p);
    page.on('response', (r) => p.responses.push(r));
    page.on('pageerror', (e) => p.errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') p.errors.push(`console: ${m.text()}`.slice(0, 300));
    });
    await page.goto(url);
    return p;
  }

  /** A fresh browser profile on the phone page, instrumented. */
  async function openPhone(name, url = `${base}/`) {
    const p = await openPage(name, url, instrument);
    await p.page.locator('#login').waitFor({ state: 'visible', timeout: T_STEP });
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

  /** Saves a screenshot of the page into the artifacts as <name>.png and
   * checks it is a real picture: decoded by the browser, more than a few
   * colours, no colour covering nearly all of it. Returns the path. */
  async function screenshot(p, name) {
    const file = path.join(ARTIFACTS, `${name}.png`);
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
    await screenshot(p, 'phone-login');
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
    await screenshot(p, 'phone-wrong-password');
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
    await screenshot(bob, 'phone-incoming');
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
    await screenshot(alice, 'phone-call');

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
    await screenshot(carol, 'phone-video-call');
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
    await screenshot(erin, 'phone-messages');
    assert.deepEqual([...erin.errors, ...frank.errors], []);
  });

  // ------------------------------------------------- the status page (/status)

  /** Counters the status page shows, by name: counter-<name> data-value. */
  const COUNTED = ['registrations', 'aors', 'requests', 'messages-received', 'messages-sent', 'calls', 'calls-answered', 'calls-ended', 'auth-challenges', 'responses-2xx', 'responses-4xx'];

  /** /status of the same wsip in a browser profile of its own, once it has
   * shown a first status.json. */
  async function openStatus() {
    const s = await openPage('status page', `${base}/status`);
    await s.page.waitForFunction(() => document.getElementById('status-updated').textContent !== 'never', null, { timeout: T_STEP });
    assert.equal(await s.page.locator('#status-state').getAttribute('data-state'), 'ok', await s.page.locator('#status-state').textContent());
    return s;
  }

  /** What the status page shows now: {counters: {name: value}, rows:
   * [{aor, contact, transport, expires, user-agent, instance}], charts:
   * {name: data-points}}. */
  function statusShows(s) {
    return s.page.evaluate((names) => {
      const counters = {};
      for (const n of names) counters[n] = Number(document.getElementById(`counter-${n}`).dataset.value);
      const rows = [...document.querySelectorAll('#registrations-body tr[data-testid="registration-row"]')].map((tr) => ({
        aor: tr.dataset.aor,
        ...Object.fromEntries([...tr.cells].map((td) => [td.dataset.field, td.textContent])),
      }));
      const charts = {};
      for (const c of ['requests', 'responses', 'connections']) charts[c] = Number(document.getElementById(`chart-${c}`).dataset.points);
      return { counters, rows, charts, summary: document.getElementById('registrations-summary').textContent };
    }, COUNTED);
  }

  /** Waits (through the page's own refreshes) until pred(statusShows()). */
  async function statusUntil(s, pred, what, ms = T_STEP) {
    const end = Date.now() + ms;
    for (;;) {
      const now = await statusShows(s);
      if (pred(now)) return now;
      if (Date.now() > end) throw new Error(`status page: ${what} not shown within ${ms} ms: ${JSON.stringify(now)}\n${s.errors.join('\n')}`);
      await sleep(200);
    }
  }

  /** /metrics fetched by the status page itself (its origin, its access). */
  async function pageMetrics(s) {
    const text = await s.page.evaluate(async () => {
      const r = await fetch('/metrics', { cache: 'no-store' });
      if (!r.ok) throw new Error(`/metrics: HTTP ${r.status}`);
      return r.text();
    });
    return parseMetrics(text);
  }

  test('the status page beside two phones: both registrations over ws, counters and /metrics moved by a message and a call, charts drawn; screenshot', async () => {
    const s = await openStatus();
    // the earlier tests' pages are closed, and their flows' bindings gone
    const before = await statusUntil(s, (x) => x.counters.registrations === 0 && x.rows.length === 0, 'no registration');
    const mBefore = await pageMetrics(s);

    const alice = await registered('alice');
    const bob = await registered('bob');
    const instance = (p) => p.page.evaluate(() => JSON.parse(localStorage.getItem('wsip-phone')).instance);
    const shown = await statusUntil(s, (x) => x.rows.length === 2 && x.counters.registrations === 2, 'both registrations');
    for (const [p, aor] of [
      [alice, 'sip:alice@localhost'],
      [bob, 'sip:bob@localhost'],
    ]) {
      const row = shown.rows.find((r) => r.aor === aor);
      assert.ok(row, `no row for ${aor}: ${JSON.stringify(shown.rows)}`);
      assert.equal(row.transport, 'ws', `transport of ${aor}`);
      assert.match(row.contact, /^sip:[^@]+@[^;]+\.invalid;transport=ws$/, `contact of ${aor}`);
      assert.equal(row['user-agent'], 'wsip-phone (JsSIP 3.13)');
      assert.equal(row.instance, `urn:uuid:${await instance(p)}`, `instance of ${aor}`);
      assert.ok(Number(row.expires) > 0, `expires of ${aor}: ${row.expires}`);
    }
    assert.equal(shown.counters.aors, 2);
    assert.match(shown.summary, /^2 bindings for 2 AORs \(2 listed\)$/);
    // the filter narrows the table to one user's rows
    await s.page.fill('#registrations-filter', 'bob@');
    assert.deepEqual((await statusShows(s)).rows.map((r) => r.aor), ['sip:bob@localhost']);
    assert.match((await statusShows(s)).summary, /1 match the filter\)$/);
    await s.page.fill('#registrations-filter', '');

    // a message from alice appears in bob's conversation
    await alice.page.fill('#target', 'bob');
    await alice.page.click('#open-chat');
    await alice.page.fill('#compose-text', 'status check');
    await alice.page.press('#compose-text', 'Enter');
    await alice.page.locator('#chat-log li.msg.out[data-state="sent"]').waitFor({ timeout: T_STEP });
    await bob.page.locator('#chat-log li.msg.in .text').first().waitFor({ timeout: T_STEP });
    assert.equal(await bob.page.locator('#chat-log li.msg.in .text').first().textContent(), 'status check');

    // a call: bob calls alice, alice answers, both connected, bob hangs up
    await bob.page.fill('#target', 'alice');
    await bob.page.click('#call-audio');
    await waitVisible(alice, '#incoming');
    await alice.page.click('#answer');
    await waitText(bob, 'call-state', /^Connected$/);
    await waitText(alice, 'call-state', /^Connected$/);
    await bob.page.click('#hangup');
    await waitText(bob, 'last-call', /^Call with alice ended by you/);
    await waitText(alice, 'last-call', /^Call with bob ended by bob/);

    // the page refreshes by itself (every 2 s) and shows the traffic
    const after = await statusUntil(s, (x) => x.counters['calls-ended'] > before.counters['calls-ended'], 'the call ended');
    const c0 = before.counters;
    const c1 = after.counters;
    assert.equal(c1['calls-answered'] - c0['calls-answered'], 1, JSON.stringify(c1));
    assert.equal(c1['calls-ended'] - c0['calls-ended'], 1, JSON.stringify(c1));
    assert.equal(c1.calls, c0.calls, 'calls in progress once hung up');
    // REGISTER x2 and INVITE, MESSAGE challenged then sent again, ACK, BYE
    assert.ok(c1.requests - c0.requests >= 10, `requests: ${c0.requests} -> ${c1.requests}`);
    assert.ok(c1['auth-challenges'] - c0['auth-challenges'] >= 4, `challenges: ${c0['auth-challenges']} -> ${c1['auth-challenges']}`);
    // 200 to both REGISTERs, and the phones' 200 to MESSAGE, INVITE and BYE
    assert.ok(c1['responses-2xx'] - c0['responses-2xx'] >= 5, `2xx: ${c0['responses-2xx']} -> ${c1['responses-2xx']}`);
    assert.ok(c1['responses-4xx'] - c0['responses-4xx'] >= 4, `4xx: ${c0['responses-4xx']} -> ${c1['responses-4xx']}`);
    assert.ok(c1['messages-received'] - c0['messages-received'] >= 12, `received: ${c0['messages-received']} -> ${c1['messages-received']}`);
    assert.ok(c1['messages-sent'] - c0['messages-sent'] >= 12, `sent: ${c0['messages-sent']} -> ${c1['messages-sent']}`);
    assert.equal(c1.registrations, 2);

    // /metrics, read from the page, says the same
    const m = await pageMetrics(s);
    const delta = (name, labels) => metric(m, name, labels) - metric(mBefore, name, labels);
    for (const [method, least] of [
      ['REGISTER', 4],
      ['MESSAGE', 2],
      ['INVITE', 2],
      ['ACK', 2],
      ['BYE', 1],
    ]) {
      assert.ok(delta('wsip_sip_requests_total', { method }) >= least, `${method} requests: +${delta('wsip_sip_requests_total', { method })}`);
    }
    assert.equal(delta('wsip_calls_answered_total'), 1);
    assert.equal(delta('wsip_calls_ended_total'), 1);
    assert.equal(metric(m, 'wsip_calls_answered_total'), c1['calls-answered']);
    assert.equal(metric(m, 'wsip_registrations'), 2);
    assert.equal(metric(m, 'wsip_registered_aors'), 2);
    const mRequests = m.get('wsip_sip_requests_total').samples.reduce((a, x) => a + x.value, 0);
    assert.ok(mRequests >= c1.requests, `metrics requests ${mRequests} < page ${c1.requests}`);
    assert.equal(await s.page.locator('#status-version').textContent(), m.get('wsip_build_info').samples[0].labels.version);

    // the charts: a few refreshes drawn, and the requests line not flat
    const drawn = await statusUntil(s, (x) => Object.values(x.charts).every((n) => n >= 3), 'three points per chart', wait(20000));
    for (const c of Object.keys(drawn.charts)) assert.ok((await s.page.locator(`#chart-${c} polyline`).count()) >= 1, `chart-${c} has no line`);
    const ys = await s.page.evaluate(() =>
      document
        .querySelector('#chart-requests polyline')
        .getAttribute('points')
        .split(' ')
        .map((p) => Number(p.split(',')[1])),
    );
    assert.ok(new Set(ys).size > 1, `the requests chart is flat: ${ys}`);
    // each scale's labels are its grid lines' exact values: 0, a, 2a, 3a, 4a
    for (const c of Object.keys(drawn.charts)) {
      const labels = await s.page.locator(`#chart-${c} text`).allTextContents();
      const ticks = labels.filter((t) => !/^(now|−5 min)$/.test(t)).map((t) => Number(t.replace(/,/g, '').replace(/k$/, 'e3').replace(/M$/, 'e6')));
      assert.equal(ticks.length, 5, `chart-${c} labels: ${labels}`);
      assert.ok(ticks[1] > 0 && ticks.every((v, i) => Math.abs(v - i * ticks[1]) <= 1e-9 * ticks[4]), `chart-${c} scale labels are not 0, a, 2a, 3a, 4a: ${labels}`);
    }

    // accessible: labelled inputs, named charts and counters, a live status
    const unnamed = await s.page.evaluate(() => {
      const name = (e) => (e.getAttribute('aria-labelledby') || '').split(' ').map((id) => document.getElementById(id)?.textContent.trim() || '').join('');
      return [
        ...[...document.querySelectorAll('input')].filter((i) => !i.labels.length && !i.getAttribute('aria-label')).map((i) => `input#${i.id}`),
        ...[...document.querySelectorAll('svg[role="img"]')].filter((e) => !name(e)).map((e) => `svg#${e.id}`),
        ...[...document.querySelectorAll('dd')].filter((e) => !name(e)).map((e) => `dd#${e.id}`),
        ...[...document.querySelectorAll('button')].filter((e) => !e.textContent.trim()).map((e) => `button#${e.id}`),
      ];
    });
    assert.deepEqual(unnamed, []);
    assert.equal(await s.page.locator('#status-state').getAttribute('role'), 'status');
    await screenshot(s, 'status-page');
    assert.deepEqual([...s.errors, ...alice.errors, ...bob.errors], []);
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
