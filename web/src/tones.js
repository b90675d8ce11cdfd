// The ring of an incoming call, made with WebAudio (no sound files): two
// sine tones together, one second on, two off, until stopped. Browsers let
// a page play sound only after a user gesture: unlock() runs on the click
// that signs in.

let ctx = null;
let timer = null;
let nodes = [];

/** Creates (or resumes) the audio context; call it from a user gesture. */
export function unlock() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return;
  if (!ctx) ctx = new Ctx();
  if (ctx.state === 'suspended') ctx.resume().catch(() => {});
}

/** One burst of the two tones, fading in and out (no clicks). */
function burst(seconds) {
  const t = ctx.currentTime;
  const gain = ctx.createGain();
  gain.gain.setValueAtTime(0, t);
  gain.gain.linearRampToValueAtTime(0.15, t + 0.03);
  gain.gain.setValueAtTime(0.15, t + seconds - 0.05);
  gain.gain.linearRampToValueAtTime(0, t + seconds);
  gain.connect(ctx.destination);
  for (const hz of [440, 480]) {
    const osc = ctx.createOscillator();
    osc.frequency.value = hz;
    osc.connect(gain);
    osc.start(t);
    osc.stop(t + seconds);
    nodes.push(osc);
  }
  nodes.push(gain);
}

/** Starts ringing; no-op without an unlocked audio context. */
export function startRing() {
  stopRing();
  if (!ctx || ctx.state !== 'running') return;
  burst(1);
  timer = setInterval(() => {
    nodes = [];
    burst(1);
  }, 3000);
}

export function stopRing() {
  clearInterval(timer);
  timer = null;
  for (const n of nodes) {
    try {
      if (n.stop) n.stop();
      n.disconnect();
    } catch {
      /* already stopped */
    }
  }
  nodes = [];
}
