// The web phone of wsip: sign in, register, audio and video calls in and
// out (answer, decline, hang up, mute, hold, DTMF as RFC 4733 events) and
// instant messages (SIP MESSAGE), with JsSIP (npm jssip, unmodified) over
// the WebSocket of the server that served the page. Bundled by
// scripts/build-web.mjs; the markup is web/index.html.
import JsSIP from 'jssip';

import './phone.css';
import { startRing, stopRing, unlock } from './tones.js';
import { causeText, deliveryError, duration, registrationError } from './words.js';

const $ = (id) => document.getElementById(id);
const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];
const LETTERS = { 2: 'abc', 3: 'def', 4: 'ghi', 5: 'jkl', 6: 'mno', 7: 'pqrs', 8: 'tuv', 9: 'wxyz' };
const STORE = 'wsip-phone';
const TITLE = document.title;

/** ICE without STUN: host candidates only, so that an offer never waits
 * for a server (loopback and LAN calls; wsip relays no media). */
const PC_CONFIG = { iceServers: [] };
/** Longest wait for ICE candidates before an offer or answer goes out. */
const ICE_WAIT_MS = 1500;

/** The server that served the page: its SIP domain and WebSocket URL,
 * from /config.json (wsip writes it from its configuration). */
const server = { domain: location.hostname || 'localhost', wsUrl: wsUrlFor('/') };

let ua = null;
let me = null; // {user, domain, uri, name}
let phoneShown = false; // registered once since signing in
let wantRegistered = false;
let connectedOnce = false;
let signingOut = false;
let call = null; // {session, peer, video, direction, state, startedAt, timer}
let incoming = null; // {session, peer, video}
const chats = new Map(); // peer.key -> {peer, items, unread, button}
let activeChat = null;

function wsUrlFor(path) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host || '127.0.0.1:8080'}${path}`;
}

function saved() {
  try {
    return JSON.parse(localStorage.getItem(STORE)) || {};
  } catch {
    return {};
  }
}

function save(patch) {
  try {
    localStorage.setItem(STORE, JSON.stringify({ ...saved(), ...patch }));
  } catch {
    /* private mode: nothing remembered */
  }
}

/** This browser's SIP instance (RFC 5626): one per browser profile, kept
 * across reloads so that a reload replaces its registration. Made with
 * getRandomValues, which works on plain-http pages too. */
function instanceId() {
  let id = saved().instance;
  if (!id) {
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
    id = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    save({ instance: id });
  }
  return id;
}

// ------------------------------------------------------------ messages to the user

function notice(text, focusId) {
  $('notice-text').textContent = text;
  $('notice').hidden = false;
  if (focusId) $(focusId).focus();
}

function clearNotice() {
  $('notice').hidden = true;
  $('notice-text').textContent = '';
}

/** Says something to screen readers without showing it. */
function announce(text) {
  $('announce').textContent = '';
  setTimeout(() => {
    $('announce').textContent = text;
  }, 50);
}

function setConn(state, text) {
  $('conn').dataset.state = state;
  $('conn').textContent = text;
}

function setReg(state, text) {
  $('reg-state').dataset.state = state;
  $('reg-state').textContent = text;
  $('reg-toggle').textContent = wantRegistered ? 'Unregister' : 'Register';
}

// ------------------------------------------------------------------ addresses

/** The peer of an address typed by the user: "bob", "bob@example.org",
 * "sip:bob@example.org" or a number; null when it is no SIP address. */
function parseTarget(text) {
  let t = text.trim().replace(/^sips?:/i, '');
  if (!t) return null;
  const at = t.lastIndexOf('@');
  let user = at >= 0 ? t.slice(0, at) : t;
  const domain = at >= 0 ? t.slice(at + 1) : me.domain;
  // a telephone number as people write it: +1 (555) 010-2000
  if (/^\+?[\d\s().-]+$/.test(user)) user = user.replace(/[\s().-]/g, '');
  if (!user || !domain || !JsSIP.URI.parse(`sip:${user}@${domain}`)) return null;
  return peerFor(user, domain, '');
}

/** The peer of a From header (JsSIP NameAddrHeader). */
function peerOfHeader(h) {
  return peerFor(h.uri.user || '', h.uri.host, h.display_name || '');
}

function peerFor(user, domain, display) {
  const host = domain.toLowerCase();
  const own = me && host === me.domain.toLowerCase();
  const addr = own ? user : `${user}@${host}`;
  return { uri: `sip:${user}@${host}`, key: `${user}@${host}`, addr, name: display ? `${display} (${addr})` : addr };
}

// -------------------------------------------------------------------- sign in

async function loadServerConfig() {
  try {
    const r = await fetch('/config.json', { cache: 'no-store' });
    if (!r.ok) return;
    const c = await r.json();
    if (Array.isArray(c.domains) && typeof c.domains[0] === 'string') server.domain = c.domains[0];
    if (typeof c.ws_path === 'string' && c.ws_path.startsWith('/')) server.wsUrl = wsUrlFor(c.ws_path);
  } catch {
    /* another web server: the page's own host name and "/" */
  }
}

function showLogin() {
  const s = saved();
  $('login-user').value = s.user || '';
  $('login-domain').value = s.domain || server.domain;
  $('login-server').value = s.server || server.wsUrl;
  // a server chosen by hand stays visible
  $('login-more').open = !!(s.domain || s.server);
  $('login-password').value = '';
  $('phone').hidden = true;
  $('login').hidden = false;
  $('login-submit').disabled = false;
  $('login-submit').textContent = 'Sign in';
  (s.user ? $('login-password') : $('login-user')).focus();
}

function signIn(ev) {
  ev.preventDefault();
  unlock(); // a click: the ring may sound later
  clearNotice();
  let user = $('login-user').value.trim().replace(/^sips?:/i, '');
  let domain = $('login-domain').value.trim() || server.domain;
  const at = user.lastIndexOf('@');
  if (at >= 0) {
    domain = user.slice(at + 1);
    user = user.slice(0, at);
  }
  const password = $('login-password').value;
  const wsUrl = $('login-server').value.trim() || server.wsUrl;
  if (!user) return notice('Type your user name.', 'login-user');
  if (!password) return notice('Type your password.', 'login-password');
  if (!/^wss?:\/\/[^/]/i.test(wsUrl)) {
    $('login-more').open = true;
    return notice('The WebSocket URL must start with ws:// or wss://.', 'login-server');
  }
  const uri = `sip:${user}@${domain}`;
  if (!JsSIP.URI.parse(uri)) return notice(`"${user}@${domain}" is not a valid SIP address.`, 'login-user');

  try {
    ua = new JsSIP.UA({
      sockets: [new JsSIP.WebSocketInterface(wsUrl)],
      uri,
      password,
      register: false, // registered on every connect by us: see onConnected
      register_expires: 300,
      session_timers: false,
      instance_id: instanceId(),
      user_agent: 'wsip-phone (JsSIP 3.13)',
      connection_recovery_min_interval: 2,
      connection_recovery_max_interval: 10,
    });
  } catch (e) {
    return notice(`The phone cannot start: ${e.message}`, 'login-user');
  }
  me = { user, domain, uri };
  save({ user: at >= 0 ? `${user}@${domain}` : user, domain: domain === server.domain ? undefined : domain, server: wsUrl === server.wsUrl ? undefined : wsUrl });
  phoneShown = false;
  connectedOnce = false;
  signingOut = false;
  wantRegistered = true;
  watchUa(ua, wsUrl);
  $('login-submit').disabled = true;
  $('login-submit').textContent = 'Signing in…';
  setConn('connecting', `Connecting to ${wsUrl}…`);
  ua.start();
}

/** Back to the login form with a reason (wrong password, no server). */
function loginFailed(text) {
  const u = ua;
  ua = null;
  if (u) u.stop();
  setConn('offline', 'Not signed in');
  showLogin();
  notice(text, /password/i.test(text) ? 'login-password' : undefined);
}

function signOut() {
  signingOut = true;
  wantRegistered = false;
  if (incoming) incoming.session.terminate({ status_code: 480, reason_phrase: 'Signed Out' });
  if (call) call.session.terminate();
  const u = ua;
  ua = null;
  if (u) u.stop(); // un-REGISTER, then the WebSocket closes
  for (const c of chats.values()) c.button.parentElement.remove();
  chats.clear();
  showChat(null);
  $('last-call').textContent = '';
  setConn('offline', 'Not signed in');
  clearNotice();
  showLogin();
  announce('Signed out');
}

function showPhone() {
  phoneShown = true;
  $('login').hidden = true;
  $('phone').hidden = false;
  $('me').textContent = `${me.user}@${me.domain}`;
  $('ring-sound').checked = saved().ring !== false;
  $('target').focus();
}

// --------------------------------------------------------------- the user agent

function watchUa(u, wsUrl) {
  u.on('connecting', () => {
    if (u !== ua) return;
    if (connectedOnce) setConn('reconnecting', 'Connection lost — reconnecting…');
  });
  u.on('connected', () => {
    if (u !== ua) return;
    if (connectedOnce) announce('Connection restored');
    connectedOnce = true;
    setConn('connected', 'Connected');
    if (wantRegistered) {
      setReg('registering', 'Registering…');
      u.register();
    }
  });
  u.on('disconnected', () => {
    if (u !== ua || signingOut) return;
    if (!phoneShown) return loginFailed(`Cannot reach the server at ${wsUrl}: network error (is wsip running?).`);
    setConn('reconnecting', 'Connection lost — reconnecting…');
    setReg('unregistered', 'Not registered (no connection)');
  });
  u.on('registered', () => {
    if (u !== ua) return;
    setReg('registered', 'Registered');
    if (!phoneShown) showPhone();
    announce(`Registered as ${me.user}@${me.domain}`);
  });
  u.on('unregistered', () => {
    // a failed refresh is told by 'registrationFailed', a lost connection
    // by 'disconnected'
    if (u === ua && !wantRegistered) setReg('unregistered', 'Not registered');
  });
  u.on('registrationFailed', (e) => {
    if (u !== ua) return;
    const why = registrationError(statusOf(e), e.cause);
    // a lost connection is shown by 'disconnected'; the next connect registers
    if (e.cause === JsSIP.C.causes.CONNECTION_ERROR && phoneShown) return;
    if (!phoneShown) return loginFailed(why);
    setReg('failed', 'Not registered');
    notice(why);
  });
  u.on('newRTCSession', (e) => {
    if (u === ua && e.originator === 'remote') onIncomingCall(e.session, e.request);
  });
  u.on('newMessage', (e) => {
    if (u === ua && e.originator === 'remote') onIncomingMessage(e.message, e.request);
  });
}

function statusOf(e) {
  return e && e.response ? e.response.status_code : undefined;
}

function toggleRegistration() {
  if (!ua) return;
  if (wantRegistered) {
    wantRegistered = false;
    setReg('unregistering', 'Unregistering…');
    ua.unregister();
  } else {
    wantRegistered = true;
    setReg('registering', 'Registering…');
    if (ua.isConnected()) ua.register();
  }
}

// ---------------------------------------------------------------------- calls

const canCall = () => !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.RTCPeerConnection);
const MEDIA_NEEDS =
  'Calls need the microphone, which browsers give only to pages over https:// or on localhost. Open the phone that way (a wss:// listener with a certificate serves it over https). Messages work here.';

function placeCall(video) {
  if (!ua) return;
  const peer = parseTarget($('target').value);
  if (!peer) return notice($('target').value.trim() ? 'That is not an address: type a user (bob), bob@domain or a number.' : 'Type whom to call.', 'target');
  if (call || incoming) return notice('Hang up the current call first.');
  if (!canCall()) return notice(MEDIA_NEEDS);
  clearNotice();
  const c = { peer, video, direction: 'outgoing', state: 'calling' };
  try {
    c.session = ua.call(peer.uri, {
      mediaConstraints: { audio: true, video },
      pcConfig: PC_CONFIG,
      eventHandlers: sessionHandlers(c),
    });
  } catch (e) {
    return notice(`Cannot call ${peer.name}: ${e.message}`);
  }
  showCall(c, 'Calling…');
}

/** The handlers of a call's session (outgoing: given to ua.call so that
 * none is missed; incoming: attached when it arrives). */
function sessionHandlers(c) {
  let iceTimer = null;
  return {
    peerconnection: (e) => watchMedia(c, e.peerconnection),
    icecandidate: (e) => {
      if (!iceTimer) iceTimer = setTimeout(e.ready, ICE_WAIT_MS);
    },
    sdp: (e) => {
      if (e.originator !== 'local') return;
      clearTimeout(iceTimer);
      iceTimer = null;
    },
    progress: () => {
      if (c.direction === 'outgoing' && c === call) setCallState(c, 'ringing', `Ringing ${c.peer.name}…`);
    },
    accepted: () => {
      if (c === call) setCallState(c, 'connecting', 'Connecting…');
    },
    confirmed: () => onConfirmed(c),
    hold: () => onHold(c),
    unhold: () => onHold(c),
    muted: () => setPressed('mute', true, 'Unmute', 'Mute'),
    unmuted: () => setPressed('mute', false, 'Unmute', 'Mute'),
    ended: (e) => onCallEnded(c, e),
    failed: (e) => onCallFailed(c, e),
  };
}

function onIncomingCall(session, request) {
  const peer = peerOfHeader(request.from);
  if (call || incoming) {
    // one call at a time: the caller hears busy
    session.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
    lastCall(`Missed call from ${peer.name} (you were in a call).`);
    return;
  }
  const video = /(^|\r?\n)m=video [1-9]/.test(request.body || '');
  const c = { session, peer, video, direction: 'incoming', state: 'incoming' };
  incoming = c;
  for (const [name, fn] of Object.entries(sessionHandlers(c))) session.on(name, fn);
  $('incoming-from').textContent = `${peer.name} is calling${video ? ' (video call)' : ''}.`;
  $('answer-video').hidden = !video;
  $('answer').textContent = video ? 'Answer with audio only' : 'Answer';
  $('incoming').hidden = false;
  document.title = `Call from ${peer.addr} — ${TITLE}`;
  busy(true);
  if ($('ring-sound').checked) startRing();
  (video ? $('answer-video') : $('answer')).focus();
}

function answer(video) {
  const c = incoming;
  if (!c) return;
  if (!canCall()) {
    notice(MEDIA_NEEDS);
    return;
  }
  stopRing();
  incoming = null;
  $('incoming').hidden = true;
  c.video = video;
  showCall(c, 'Connecting…');
  try {
    c.session.answer({ mediaConstraints: { audio: true, video }, pcConfig: PC_CONFIG });
  } catch (e) {
    notice(`Cannot answer: ${e.message}`);
  }
}

function decline() {
  if (!incoming) return;
  incoming.session.terminate({ status_code: 603, reason_phrase: 'Decline' });
}

function showCall(c, text) {
  call = c;
  $('call-peer').textContent = c.peer.name;
  $('call-kind').textContent = c.video ? 'Video call' : 'Call';
  $('call-timer').textContent = '';
  $('dtmf-sent').textContent = '';
  $('videos').hidden = !c.video;
  $('camera').hidden = !c.video;
  setPressed('mute', false, 'Unmute', 'Mute');
  setPressed('hold', false, 'Resume', 'Hold');
  setPressed('camera', false, 'Camera on', 'Camera off');
  setCallState(c, c.direction === 'outgoing' ? 'calling' : 'connecting', text);
  $('call').hidden = false;
  busy(true);
  $('hangup').focus();
  document.title = `${c.video ? 'Video call' : 'Call'} with ${c.peer.addr} — ${TITLE}`;
}

function setCallState(c, state, text) {
  c.state = state;
  $('call').dataset.state = state;
  $('call-state').textContent = text;
  const live = state === 'connected' || state === 'held';
  for (const id of ['mute', 'hold', 'camera']) $(id).disabled = !live;
  for (const b of $('dtmf-pad').querySelectorAll('button')) b.disabled = !live;
}

function onConfirmed(c) {
  if (c !== call) return;
  c.startedAt = Date.now();
  c.timer = setInterval(() => {
    $('call-timer').textContent = duration(Date.now() - c.startedAt);
  }, 1000);
  $('call-timer').textContent = duration(0);
  setCallState(c, 'connected', 'Connected');
  // DTMF goes in the audio RTP (RFC 4733); what the sender plays is shown
  const pc = c.session.connection;
  const sender = pc && pc.getSenders().find((s) => s.track && s.track.kind === 'audio' && s.dtmf);
  c.dtmf = sender ? sender.dtmf : null;
  if (c.dtmf) {
    c.dtmf.addEventListener('tonechange', (e) => {
      if (e.tone) $('dtmf-sent').textContent += e.tone;
    });
  }
}

function onHold(c) {
  if (c !== call) return;
  const hold = c.session.isOnHold();
  setPressed('hold', hold.local, 'Resume', 'Hold');
  if (hold.local) setCallState(c, 'held', 'On hold');
  else if (hold.remote) setCallState(c, 'held', `${c.peer.name} put the call on hold`);
  else setCallState(c, 'connected', 'Connected');
}

function watchMedia(c, pc) {
  pc.addEventListener('track', () => showMedia(c));
  pc.addEventListener('connectionstatechange', () => {
    if (c === call && pc.connectionState === 'failed') notice('The media connection failed: no audio can flow between the two phones.');
  });
}

/** Puts the call's streams on the page: the other side's in the audio
 * (and video) element, our camera in the small video. */
function showMedia(c) {
  if (c !== call || !c.session.connection) return;
  const pc = c.session.connection;
  const remote = new MediaStream(pc.getReceivers().map((r) => r.track).filter((t) => t && t.readyState === 'live'));
  $('remote-audio').srcObject = remote;
  const hasVideo = remote.getVideoTracks().length > 0 && c.video;
  if (hasVideo) {
    $('remote-video').srcObject = remote;
    const local = pc.getSenders().map((s) => s.track).filter((t) => t && t.kind === 'video');
    $('local-video').srcObject = local.length ? new MediaStream(local) : null;
  }
  $('videos').hidden = !hasVideo;
}

function hangup() {
  if (call) call.session.terminate();
}

function toggleMute() {
  if (!call) return;
  const muted = call.session.isMuted().audio;
  if (muted) call.session.unmute({ audio: true });
  else call.session.mute({ audio: true });
}

function toggleCamera() {
  if (!call) return;
  const off = call.session.isMuted().video;
  if (off) call.session.unmute({ video: true });
  else call.session.mute({ video: true });
  setPressed('camera', !off, 'Camera on', 'Camera off');
}

function toggleHold() {
  if (!call) return;
  if (call.session.isOnHold().local) call.session.unhold();
  else call.session.hold();
}

function sendTone(key) {
  if (!call || (call.state !== 'connected' && call.state !== 'held')) return;
  if (!call.dtmf) return notice('This call cannot carry tones: the other phone did not accept telephone events.');
  call.session.sendDTMF(key, { transportType: JsSIP.C.DTMF_TRANSPORT.RFC2833, duration: 120, interToneGap: 80 });
}

function setPressed(id, on, onText, offText) {
  $(id).setAttribute('aria-pressed', String(on));
  $(id).textContent = on ? onText : offText;
}

function onCallEnded(c, e) {
  const by = e.originator === 'local' ? 'you' : c.peer.name;
  const long = c.startedAt ? `, ${duration(Date.now() - c.startedAt)}` : '';
  finishCall(c, `Call with ${c.peer.name} ended by ${by}${long}.`);
  if (e.originator !== 'local' && e.cause !== JsSIP.C.causes.BYE) notice(causeText(e.cause, c.peer.name) || `The call ended: ${e.cause}.`);
}

function onCallFailed(c, e) {
  const status = e.message && typeof e.message.status_code === 'number' ? e.message.status_code : undefined;
  if (c.direction === 'incoming' && c === incoming) {
    // the caller gave up, another device answered, or we declined
    const reason = e.message && e.message.getHeader ? e.message.getHeader('Reason') || '' : '';
    let text = `Missed call from ${c.peer.name}.`;
    if (e.originator === 'local') text = `Declined the call from ${c.peer.name}.`;
    else if (/cause=200/.test(reason)) text = `Call from ${c.peer.name} answered on another device.`;
    finishCall(c, text);
    return;
  }
  if (e.originator === 'local' && e.cause === JsSIP.C.causes.CANCELED) {
    finishCall(c, `Call to ${c.peer.name} cancelled.`);
    return;
  }
  const why = deliveryError(status, e.cause, c.peer.name);
  finishCall(c, `Call to ${c.peer.name} failed: ${why}`);
  notice(why);
}

function finishCall(c, text) {
  if (c === incoming) {
    stopRing();
    incoming = null;
    $('incoming').hidden = true;
  }
  if (c === call) {
    clearInterval(c.timer);
    call = null;
    $('call').hidden = true;
    $('call').dataset.state = 'idle';
    for (const id of ['remote-audio', 'remote-video', 'local-video']) $(id).srcObject = null;
  }
  document.title = TITLE;
  busy(!!(call || incoming));
  lastCall(text);
  if (!$('phone').hidden) $('target').focus();
}

/** While a call rings or runs, no other can be placed: the dialer's pad
 * gives way to the call's own. */
function busy(on) {
  $('phone').classList.toggle('in-call', on);
  $('call-audio').disabled = on;
  $('call-video').disabled = on || !canCall();
}

function lastCall(text) {
  $('last-call').textContent = text;
}

// ------------------------------------------------------------------- messages

function chatFor(peer) {
  let c = chats.get(peer.key);
  if (c) return c;
  c = { peer, items: [], unread: 0 };
  const li = document.createElement('li');
  c.button = document.createElement('button');
  c.button.type = 'button';
  c.button.className = 'chat-button';
  c.button.addEventListener('click', () => showChat(c, true));
  li.append(c.button);
  $('chats').append(li);
  chats.set(peer.key, c);
  $('no-chats').hidden = true;
  labelChat(c);
  return c;
}

function labelChat(c) {
  c.button.textContent = c.unread ? `${c.peer.name} (${c.unread} new)` : c.peer.name;
  c.button.setAttribute('aria-current', String(c === activeChat));
}

function showChat(c, focus) {
  activeChat = c;
  for (const x of chats.values()) labelChat(x);
  $('chat').hidden = !c;
  if (!c) return;
  c.unread = 0;
  labelChat(c);
  $('chat-peer').textContent = c.peer.name;
  const log = $('chat-log');
  log.replaceChildren(...c.items.map(renderItem));
  log.scrollTop = log.scrollHeight;
  if (focus) $('compose-text').focus();
}

function renderItem(item) {
  const li = document.createElement('li');
  li.className = `msg ${item.dir}`;
  li.dataset.state = item.state;
  const who = document.createElement('span');
  who.className = 'sr-only';
  who.textContent = item.dir === 'in' ? `${item.from}: ` : 'You: ';
  const text = document.createElement('span');
  text.className = 'text';
  text.textContent = item.text;
  const meta = document.createElement('span');
  meta.className = 'meta';
  const time = item.time.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const states = { sending: 'sending…', sent: 'delivered', failed: `not delivered: ${item.error}`, received: '' };
  meta.textContent = states[item.state] ? `${time} · ${states[item.state]}` : time;
  li.append(who, text, meta);
  item.el = li;
  return li;
}

function addItem(c, item) {
  c.items.push(item);
  if (c === activeChat) {
    const log = $('chat-log');
    log.append(renderItem(item));
    log.scrollTop = log.scrollHeight;
  }
}

function updateItem(c, item) {
  if (c === activeChat && item.el) item.el.replaceWith(renderItem(item));
}

function openChatFromDialer() {
  if (!ua) return;
  const peer = parseTarget($('target').value);
  if (!peer) return notice('Type whom to write to: a user (bob) or bob@domain.', 'target');
  showChat(chatFor(peer), true);
}

function sendMessage(ev) {
  ev.preventDefault();
  const c = activeChat;
  const text = $('compose-text').value;
  if (!ua || !c || !text.trim()) return;
  const item = { dir: 'out', text, time: new Date(), state: 'sending' };
  addItem(c, item);
  $('compose-text').value = '';
  ua.sendMessage(c.peer.uri, text, {
    contentType: 'text/plain;charset=utf-8',
    eventHandlers: {
      succeeded: () => {
        item.state = 'sent';
        updateItem(c, item);
      },
      failed: (e) => {
        item.state = 'failed';
        item.error = deliveryError(statusOf(e), e.cause, c.peer.name);
        updateItem(c, item);
        announce(`Message to ${c.peer.name} not delivered: ${item.error}`);
      },
    },
  });
}

function onIncomingMessage(message, request) {
  const type = (request.getHeader('Content-Type') || 'text/plain').toLowerCase();
  if (!type.startsWith('text/plain')) {
    // typing notifications and other bodies: not shown, said so
    message.reject({ status_code: 415, reason_phrase: 'Unsupported Media Type' });
    return;
  }
  const peer = peerOfHeader(request.from);
  const c = chatFor(peer);
  addItem(c, { dir: 'in', from: peer.name, text: request.body || '', time: new Date(), state: 'received' });
  if (c !== activeChat) {
    c.unread++;
    labelChat(c);
    if (!activeChat) showChat(c, false);
  }
  announce(`Message from ${peer.name}`);
}

// ---------------------------------------------------------------------- setup

function buildKeypad(el, onKey) {
  for (const k of KEYS) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'key';
    b.dataset.key = k;
    b.setAttribute('aria-label', k === '*' ? 'star' : k === '#' ? 'pound' : k);
    b.textContent = k;
    if (LETTERS[k]) {
      const small = document.createElement('small');
      small.setAttribute('aria-hidden', 'true');
      small.textContent = LETTERS[k];
      b.append(small);
    }
    b.addEventListener('click', () => onKey(k));
    el.append(b);
  }
}

function typeKey(k) {
  const t = $('target');
  const at = t.selectionStart ?? t.value.length;
  t.value = t.value.slice(0, at) + k + t.value.slice(t.selectionEnd ?? at);
  t.setSelectionRange(at + 1, at + 1);
}

async function boot() {
  buildKeypad($('dial-pad'), typeKey);
  buildKeypad($('dtmf-pad'), sendTone);
  $('login-form').addEventListener('submit', signIn);
  $('notice-close').addEventListener('click', clearNotice);
  $('logout').addEventListener('click', signOut);
  $('reg-toggle').addEventListener('click', toggleRegistration);
  $('ring-sound').addEventListener('change', () => save({ ring: $('ring-sound').checked }));
  $('dial-form').addEventListener('submit', (e) => {
    e.preventDefault();
    placeCall(false);
  });
  $('call-video').addEventListener('click', () => placeCall(true));
  $('open-chat').addEventListener('click', openChatFromDialer);
  $('answer').addEventListener('click', () => answer(false));
  $('answer-video').addEventListener('click', () => answer(true));
  $('decline').addEventListener('click', decline);
  $('hangup').addEventListener('click', hangup);
  $('mute').addEventListener('click', toggleMute);
  $('camera').addEventListener('click', toggleCamera);
  $('hold').addEventListener('click', toggleHold);
  $('compose').addEventListener('submit', sendMessage);
  // tones from the keyboard while the call panel has the focus
  $('call').addEventListener('keydown', (e) => {
    if (KEYS.includes(e.key) && !(e.target instanceof HTMLInputElement)) {
      e.preventDefault();
      sendTone(e.key);
    }
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && incoming) decline();
  });
  if (!canCall()) $('last-call').textContent = MEDIA_NEEDS;
  await loadServerConfig();
  $('boot').hidden = true;
  showLogin();
}

boot();
