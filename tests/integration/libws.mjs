// The WebSocket the browser SIP libraries (JsSIP, SIP.js) expect as the
// global `WebSocket`, in Node: the npm `ws` client, which has the browser
// API (onopen/onmessage, addEventListener, readyState, binaryType). This
// subclass only records what passes (to assert on what the libraries really
// send). The libraries themselves are used unmodified. Not a test file.
import WebSocket from 'ws';

import { T_REPLY, parseSip } from './server.mjs';

export const sockets = [];

export class RecordingWebSocket extends WebSocket {
  constructor(url, protocols, options = {}) {
    super(url, protocols, { handshakeTimeout: T_REPLY, ...options });
    /** SIP messages sent and received, as text, in order: {dir, text}. */
    this.log = [];
    this.on('message', (data) => this.log.push({ dir: 'in', text: data.toString() }));
    sockets.push(this);
  }

  send(data, ...rest) {
    this.log.push({ dir: 'out', text: String(data) });
    return super.send(data, ...rest);
  }

  /** Parsed SIP messages sent ('out') or received ('in'). */
  sip(dir) {
    return this.log.filter((m) => m.dir === dir && m.text.trim()).map((m) => parseSip(m.text));
  }
}

/** Makes RecordingWebSocket the global WebSocket (before importing a library). */
export function installWebSocket() {
  globalThis.WebSocket = RecordingWebSocket;
}

/** The whole conversation of some sockets, for failure messages. */
export function transcript(list = sockets) {
  return list
    .flatMap((s) => s.log.map((m) => `${m.dir === 'out' ? '>>>' : '<<<'} ${m.text.trimEnd()}`))
    .join('\n\n')
    .slice(-6000);
}
