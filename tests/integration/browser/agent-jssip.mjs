// The test agent of a page running JsSIP (npm jssip, unmodified): the
// uniform window.agent API of the browser tests (init, register, unregister,
// message, call, answer, reject, hangup, media) mapped onto JsSIP's UA and
// RTCSession. What JsSIP reports goes to the event log of common.mjs.
import JsSIP from 'jssip';

import { expose, instanceFor, mediaStats, nextFinal, record, target } from './common.mjs';

let cfg = null;
let ua = null;
let session = null;

const MEDIA = { mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: [] } };

/** The status of a JsSIP event's response (or undefined). */
const statusOf = (e) => (e && e.response ? e.response.status_code : undefined);

function watchSession(s) {
  session = s;
  s.on('progress', (e) => record('progress', { status: statusOf(e) }));
  s.on('accepted', () => record('accepted'));
  s.on('confirmed', () => record('confirmed'));
  s.on('ended', (e) => record('ended', { by: e.originator, cause: e.cause }));
  s.on('failed', (e) => {
    const m = e.message;
    const isResponse = m && typeof m.status_code === 'number';
    record('failed', { by: e.originator, cause: e.cause, status: isResponse ? m.status_code : undefined });
    // an incoming call the caller (or the proxy, after another fork's
    // answer) cancelled: JsSIP fails it with cause Canceled
    if (s.direction === 'incoming' && e.cause === JsSIP.C.causes.CANCELED) {
      record('canceled', { reason: m && m.getHeader ? m.getHeader('Reason') || null : null });
    }
  });
}

/** Connects the UA (no registration yet). c: {server, domain, user,
 * password, instanceId}. Resolves with {instanceId, contact}. */
function init(c) {
  cfg = c;
  const instanceId = instanceFor(c);
  ua = new JsSIP.UA({
    sockets: [new JsSIP.WebSocketInterface(c.server)],
    uri: target(c, c.user),
    password: c.password,
    register: false,
    instance_id: instanceId,
  });
  ua.on('registered', (e) => record('registered', { status: statusOf(e) }));
  ua.on('unregistered', (e) => record('unregistered', { status: statusOf(e), cause: e.cause || null }));
  ua.on('registrationFailed', (e) => record('registrationFailed', { status: statusOf(e), cause: e.cause }));
  ua.on('newMessage', (e) => {
    if (e.originator !== 'remote') return;
    record('message', { from: e.request.from.uri.toString(), body: e.request.body, contentType: e.request.getHeader('Content-Type') });
  });
  ua.on('newRTCSession', (e) => {
    if (e.originator !== 'remote') return;
    watchSession(e.session);
    record('incoming', { from: e.request.from.uri.toString(), callId: e.request.call_id });
  });
  return new Promise((resolve, reject) => {
    ua.once('connected', () => resolve({ instanceId, contact: ua.contact.uri.toString() }));
    ua.once('disconnected', () => reject(new Error('JsSIP could not connect')));
    ua.start();
  });
}

/** The outcome of the next registered / registrationFailed / unregistered. */
function outcome(names) {
  return new Promise((resolve) => {
    const handlers = names.map((n) => {
      const h = (e) => {
        names.forEach((x, i) => ua.removeListener(x, handlers[i]));
        resolve({ ok: n !== 'registrationFailed', event: n, status: statusOf(e), cause: e.cause || null });
      };
      ua.on(n, h);
      return h;
    });
  });
}

function register() {
  if (ua.isRegistered()) {
    // a refresh: JsSIP emits events on changes of state only, so its
    // outcome is the final response on the wire
    const p = nextFinal('REGISTER');
    ua.register();
    return p.then((status) => ({ ok: status === 200, event: 'refresh', status }));
  }
  const p = outcome(['registered', 'registrationFailed']);
  ua.register();
  return p;
}

function unregister() {
  const p = outcome(['unregistered']);
  ua.unregister();
  return p;
}

function message(to, body) {
  return new Promise((resolve) => {
    ua.sendMessage(target(cfg, to), body, {
      contentType: 'text/plain;charset=utf-8',
      eventHandlers: {
        succeeded: (e) => resolve({ ok: true, status: statusOf(e) }),
        failed: (e) => resolve({ ok: false, status: statusOf(e), cause: e.cause }),
      },
    });
  });
}

function call(to) {
  watchSession(ua.call(target(cfg, to), MEDIA));
}

function answer() {
  session.answer(MEDIA);
}

function reject(code) {
  session.terminate({ status_code: code });
}

function hangup() {
  session.terminate();
}

function media() {
  return mediaStats(session && session.connection);
}

function contact() {
  return ua.contact.uri.toString();
}

function stop() {
  if (ua) ua.stop();
}

expose({ library: 'JsSIP', init, register, unregister, message, call, answer, reject, hangup, media, contact, stop });
