// Node side of the browser tests: bundles the page agents with esbuild
// (JsSIP's npm package is CommonJS only), starts Debian's Chromium through
// playwright-core (never a downloaded browser), and drives one page per
// SIP device through the window.agent API of agent-*.mjs. Not a test file.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { T_REPLY, parseSip, within } from '../server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The browser: Debian's chromium package (scripts/deps check installs it). */
export const CHROMIUM = process.env.WSIP_CHROMIUM || '/usr/bin/chromium';

/** Bound of one agent call (a REGISTER or MESSAGE with its challenge). */
const T_RUN = 2 * T_REPLY;

export const LIBRARIES = { jssip: 'JsSIP', sipjs: 'SIP.js' };

/** Writes the page and one bundle per library (agent-<lib>.js) into root,
 * the http.root wsip serves them from. */
export async function buildPage(root) {
  const { build } = await import('esbuild');
  fs.copyFileSync(path.join(here, 'page.html'), path.join(root, 'page.html'));
  const entryPoints = Object.fromEntries(Object.keys(LIBRARIES).map((lib) => [`agent-${lib}`, path.join(here, `agent-${lib}.mjs`)]));
  await build({
    entryPoints,
    outdir: root,
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'chrome100',
    logLevel: 'error',
  });
}

/** Chromium, headless, with fake media devices that need no prompt, and
 * WebRTC allowed to gather loopback candidates (common.mjs gives the peer
 * connections only those of the other side). */
export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: install the Debian package chromium (scripts/deps check does)`);
  process.env.PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = '1';
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      '--allow-loopback-in-peer-connection',
    ],
  });
}

/** One SIP device: a page in a browser context of its own (fresh profile),
 * running one library's agent. */
export class Agent {
  /** o: {browser, base (http://127.0.0.1:port), server (ws URL), lib,
   * user, password, domain, instanceId, context (reuse one: same
   * localStorage)}. Resolves once the agent's UA is connected. */
  static async open(o) {
    const context = o.context || (await o.browser.newContext());
    const page = await context.newPage();
    const a = new Agent(o, context, page);
    await page.goto(`${o.base}/page.html?lib=${o.lib}`);
    await a.init();
    return a;
  }

  constructor(o, context, page) {
    this.o = o;
    this.lib = o.lib;
    this.user = o.user;
    this.name = `${o.user} (${LIBRARIES[o.lib]})`;
    this.context = context;
    this.page = page;
    this.console = [];
    page.on('console', (m) => this.console.push(`${m.type()}: ${m.text()}`.slice(0, 400)));
    page.on('pageerror', (e) => this.console.push(`pageerror: ${e.message}`));
  }

  /** Waits for window.agent (after a load or reload) and connects it. */
  async init() {
    await this.page.waitForFunction(() => window.agent || window.agentError, null, { timeout: T_REPLY });
    const err = await this.page.evaluate(() => window.agentError || null);
    if (err) throw new Error(`${this.name}: ${err}`);
    const o = this.o;
    const info = await this.run('init', { server: o.server, domain: o.domain, user: o.user, password: o.password, instanceId: o.instanceId });
    this.instanceId = info.instanceId;
    this.contact = info.contact;
    return info;
  }

  /** Calls window.agent[method](...args) in the page; throws when its
   * promise does not settle within a generous bound (a hang fails the test
   * with what the page saw, not the whole suite by its timeout). */
  async run(method, ...args) {
    const done = this.page.evaluate(([m, a]) => window.agent[m](...a), [method, args]).then(
      (value) => ({ value }),
      (error) => ({ error }),
    );
    const r = await within(done, T_RUN, null);
    if (!r) throw new Error(`${this.name}: agent.${method}() did not settle within ${T_RUN} ms\n${await this.report()}`);
    if (r.error) throw r.error;
    return r.value;
  }

  /** The next event of that type (taken from the log); throws after ms
   * with what the page did see. */
  async take(type, ms = T_REPLY) {
    const e = await this.page.evaluate(([t, w]) => window.agent.take(t, w), [type, ms]);
    if (!e) throw new Error(`${this.name}: no "${type}" event within ${ms} ms\n${await this.report()}`);
    return e;
  }

  /** Events of the log (all, or of one type). */
  async events(type) {
    const list = await this.run('events');
    return type ? list.filter((e) => e.type === type) : list;
  }

  /** SIP messages the page sent ('out') or received ('in'), parsed. */
  async wire(dir) {
    const list = await this.run('wire');
    return list.filter((m) => !dir || m.dir === dir).map((m) => Object.assign(parseSip(Buffer.from(m.text, 'utf8')), { dir: m.dir }));
  }

  /** Events, the last SIP messages and console lines: for failure messages. */
  async report() {
    if (this.page.isClosed()) return `${this.name}: page closed`;
    const events = (await this.page.evaluate(() => window.agent.events())).map((e) => JSON.stringify(e)).join('\n');
    const wire = (await this.page.evaluate(() => window.agent.wire()))
      .slice(-8)
      .map((m) => `${m.dir === 'out' ? '>>>' : '<<<'} ${m.text.trimEnd()}`)
      .join('\n\n');
    return `--- ${this.name} events:\n${events}\n--- wire (last 8):\n${wire}\n--- console:\n${this.console.slice(-10).join('\n')}`.slice(-8000);
  }

  /** Reloads the page (a user pressing F5) and connects the new agent. */
  async reload() {
    await this.page.reload();
    return this.init();
  }

  /** Closes the page (a tab closed: the browser closes its WebSocket), and
   * the context with its last page. */
  async close() {
    if (!this.page.isClosed()) await this.page.close();
    if (this.context.pages().length === 0) await this.context.close();
  }
}
