// The test agent of a page running SIP.js (npm sip.js, unmodified): the
// uniform window.agent API of the browser tests mapped onto SIP.js's
// UserAgent, Registerer, Inviter, Invitation and Messager. What SIP.js
// reports goes to the event log of common.mjs, under the same names as
// agent-jssip.mjs uses.
import { Inviter, Messager, Registerer, RegistererState, SessionState, UserAgent } from 'sip.js';

import { expose, instanceFor, mediaStats, record, target } from './common.mjs';

let cfg = null;
let ua = null;
let registerer = null;
let session = null;

const CONSTRAINTS = { audio: true, video: false };

/** Session states -> the event names of the log; 'ended' only once the
 * call was up (a call that never was is 'failed' or 'canceled'). */
function watchSession(s) {
  session = s;
  let established = false;
  s.stateChange.addListener((state) => {
    if (state === SessionState.Established) {
      established = true;
      record('confirmed');
    } else if (state === SessionState.Terminated && established) {
      record('ended', { by: s.byeFrom || 'local' });
    }
  });
  s.delegate = {
    // with a delegate, accepting the BYE is the application's job
    onBye: (bye) => {
      s.byeFrom = 'remote';
      bye.accept();
    },
    onCancel: (cancel) => {
      record('canceled', { reason: cancel.request.getHeader('Reason') || null });
      record('failed', { by: 'remote', cause: 'Canceled' });
    },
  };
}

function onInvite(invitation) {
  watchSession(invitation);
  // SIP.js has sent 180 Ringing already (autoSendAnInitialProvisionalResponse)
  record('incoming', { from: invitation.remoteIdentity.uri.toString(), callId: invitation.request.callId });
}

function onMessage(m) {
  record('message', { from: m.request.from.uri.toString(), body: m.request.body, contentType: m.request.getHeader('Content-Type') });
  m.accept();
}

/** Connects the UserAgent (no registration yet). c: {server, domain, user,
 * password, instanceId}. Resolves with {instanceId, contact}. */
async function init(c) {
  cfg = c;
  const instanceId = instanceFor(c);
  ua = new UserAgent({
    uri: UserAgent.makeURI(target(c, c.user)),
    transportOptions: { server: c.server },
    authorizationUsername: c.user,
    authorizationPassword: c.password,
    instanceId,
    logBuiltinEnabled: false,
    reconnectionAttempts: 0,
    sessionDescriptionHandlerFactoryOptions: { peerConnectionConfiguration: { iceServers: [] }, iceGatheringTimeout: 3000 },
    delegate: { onInvite, onMessage },
  });
  await ua.start();
  // Outbound (RFC 5626) as a web phone registers: reg-id with the instance
  registerer = new Registerer(ua, { regId: 1, logConfiguration: false });
  registerer.stateChange.addListener((s) => {
    if (s === RegistererState.Registered) record('registered');
    if (s === RegistererState.Unregistered) record('unregistered');
  });
  return { instanceId, contact: ua.contact.uri.toString() };
}

/** Sends a request through send(requestDelegate) and resolves with
 * {ok, status} from its final response (SIP.js answers 401/407 itself). */
function finalOf(send) {
  return new Promise((resolve) => {
    send({
      onAccept: (r) => resolve({ ok: true, status: r.message.statusCode }),
      onReject: (r) => resolve({ ok: false, status: r.message.statusCode, cause: r.message.reasonPhrase }),
    }).catch((e) => resolve({ ok: false, error: String(e && e.message) }));
  });
}

async function register() {
  const r = await finalOf((requestDelegate) => registerer.register({ requestDelegate }));
  if (!r.ok) record('registrationFailed', { status: r.status, cause: r.cause });
  return r;
}

function unregister() {
  return finalOf((requestDelegate) => registerer.unregister({ requestDelegate }));
}

function message(to, body) {
  const m = new Messager(ua, UserAgent.makeURI(target(cfg, to)), body, 'text/plain;charset=utf-8');
  return finalOf((requestDelegate) => m.message({ requestDelegate }));
}

function call(to) {
  const inviter = new Inviter(ua, UserAgent.makeURI(target(cfg, to)), {
    sessionDescriptionHandlerOptions: { constraints: CONSTRAINTS },
  });
  watchSession(inviter);
  inviter
    .invite({
      requestDelegate: {
        onProgress: (r) => record('progress', { by: 'remote', status: r.message.statusCode }),
        onAccept: () => record('accepted'),
        onReject: (r) => record('failed', { by: 'remote', status: r.message.statusCode, cause: r.message.reasonPhrase }),
      },
    })
    .catch((e) => record('failed', { by: 'local', cause: String(e && e.message) }));
}

function answer() {
  session.accept({ sessionDescriptionHandlerOptions: { constraints: CONSTRAINTS } }).then(() => record('accepted'));
}

function reject(code) {
  session.reject({ statusCode: code });
}

/** BYE when the call is up, CANCEL while an outgoing one rings, a reject
 * (480) for an incoming one not answered yet. */
function hangup() {
  if (session.state === SessionState.Established) return session.bye();
  if (session instanceof Inviter) return session.cancel();
  return session.reject();
}

function media() {
  const sdh = session && session.sessionDescriptionHandler;
  return mediaStats(sdh && sdh.peerConnection);
}

function contact() {
  return ua.contact.uri.toString();
}

function stop() {
  if (ua) ua.stop();
}

expose({ library: 'SIP.js', init, register, unregister, message, call, answer, reject, hangup, media, contact, stop });
