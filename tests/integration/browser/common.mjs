// What both browser agents (agent-jssip.mjs, agent-sipjs.mjs) share: the
// event log the test reads, a WebSocket that records every SIP message the
// library sends and receives, the instance id kept in localStorage (so that
// a reloaded page registers with the same +sip.instance), ICE kept on
// loopback, and media statistics. Bundled into each agent by esbuild at test
// time; runs in the page, not in Node.

/** Everything the agent observed, in order: {type, seq, ...details}. */
const events = [];
const waiters = new Set();
let seq = 0;

export function record(type, details = {}) {
  events.push({ type, seq: ++seq, taken: false, ...details });
  for (const w of [...waiters]) w();
}

/** The first event of that type not taken yet (it is taken now), or null
 * after ms. */
function take(type, ms) {
  return new Promise((resolve) => {
    let timer = null;
    const attempt = () => {
      const e = events.find((x) => x.type === type && !x.taken);
      if (!e) return false;
      e.taken = true;
      clearTimeout(timer);
      waiters.delete(attempt);
      resolve({ ...e });
      return true;
    };
    if (attempt()) return;
    timer = setTimeout(() => {
      waiters.delete(attempt);
      resolve(null);
    }, ms);
    waiters.add(attempt);
  });
}

// ---------------------------------------------------------------- wire

/** SIP messages as text: {dir: 'in' | 'out', text}, every socket of the page. */
const wire = [];
/** Waiters for final responses: {method, resolve}. */
const finalWaiters = new Set();
const NativeWebSocket = window.WebSocket;
const decoder = new TextDecoder();

/** The page's WebSocket: the browser's own, with what passes recorded. The
 * libraries open it as the global WebSocket; they stay unmodified. */
class RecordingWebSocket extends NativeWebSocket {
  constructor(url, protocols) {
    super(url, protocols);
    this.addEventListener('message', (e) => {
      const text = typeof e.data === 'string' ? e.data : decoder.decode(e.data);
      if (!text.trim()) return;
      wire.push({ dir: 'in', text });
      const status = /^SIP\/2\.0 (\d{3})/.exec(text);
      const cseq = /^CSeq:\s*\d+\s+(\S+)/im.exec(text);
      if (!status || !cseq) return;
      const code = Number(status[1]);
      // a challenge is not the outcome: the library answers it
      if (code < 200 || code === 401 || code === 407) return;
      for (const w of [...finalWaiters]) {
        if (w.method !== cseq[1]) continue;
        finalWaiters.delete(w);
        w.resolve(code);
      }
    });
    this.addEventListener('close', (e) => record('socket-closed', { code: e.code }));
  }

  send(data) {
    const text = typeof data === 'string' ? data : decoder.decode(data);
    if (text.trim()) wire.push({ dir: 'out', text });
    return super.send(data);
  }
}
window.WebSocket = RecordingWebSocket;

/** The status of the next final response (challenges skipped) to a
 * request of that method the page receives. */
export function nextFinal(method) {
  return new Promise((resolve) => finalWaiters.add({ method, resolve }));
}

// ----------------------------------------------------------------- ICE

/** Keeps the a=candidate lines on 127.0.0.1 only. Applied to every remote
 * description: checks and media are then addressed to loopback (or to the
 * source of a check received, this host), never to another machine. */
export function loopbackCandidates(sdp) {
  return sdp
    .split('\r\n')
    .filter((l) => !l.startsWith('a=candidate:') || / 127\.0\.0\.1 \d+ typ host/.test(l))
    .join('\r\n');
}

const nativeSetRemote = RTCPeerConnection.prototype.setRemoteDescription;
RTCPeerConnection.prototype.setRemoteDescription = function setRemoteDescription(desc, ...rest) {
  if (desc && desc.sdp) desc = { type: desc.type, sdp: loopbackCandidates(desc.sdp) };
  return nativeSetRemote.call(this, desc, ...rest);
};

/** State and RTP counters of a peer connection (null: no call media). */
export async function mediaStats(pc) {
  if (!pc) return null;
  const out = { connectionState: pc.connectionState, iceState: pc.iceConnectionState, bytesReceived: 0, bytesSent: 0 };
  const stats = await pc.getStats();
  let pairId = null;
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') out.bytesReceived += s.bytesReceived || 0;
    if (s.type === 'outbound-rtp' && s.kind === 'audio') out.bytesSent += s.bytesSent || 0;
    if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
  });
  // the address the media goes to (the selected pair's remote candidate)
  const pair = pairId && stats.get(pairId);
  const remote = pair && stats.get(pair.remoteCandidateId);
  out.remoteAddress = remote ? remote.address || remote.ip : null;
  out.remoteType = remote ? remote.candidateType : null;
  return out;
}

// ------------------------------------------------------------- instance

/** cfg.instanceId: a UUID, or 'stored' for the one this origin keeps in
 * localStorage (made on first use), as a web phone does across reloads. */
export function instanceFor(cfg) {
  if (cfg.instanceId !== 'stored') return cfg.instanceId || crypto.randomUUID();
  let id = localStorage.getItem('wsip-test-instance');
  if (!id) {
    id = crypto.randomUUID();
    localStorage.setItem('wsip-test-instance', id);
  }
  return id;
}

/** The SIP URI of a user of cfg's domain ("bob" -> "sip:bob@localhost"). */
export function target(cfg, user) {
  return `sip:${user}@${cfg.domain}`;
}

/** Publishes an agent as window.agent, with the shared parts added. */
export function expose(agent) {
  window.agent = {
    ...agent,
    events: () => events.map((e) => ({ ...e })),
    take,
    wire: () => wire.slice(),
  };
}
