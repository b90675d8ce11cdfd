// What SIP responses and JsSIP's failure causes mean, in words a user
// understands. Each function gets the peer's name where it helps ("bob is
// busy") and returns one sentence.
import JsSIP from 'jssip';

const C = JsSIP.C.causes;

/** Why a REGISTER failed (status of the last response, or a JsSIP cause). */
export function registrationError(status, cause) {
  if (status === 401 || status === 403 || status === 407 || cause === C.AUTHENTICATION_ERROR) return 'Wrong user name or password.';
  if (status === 404) return 'No such user on this server.';
  if (status === 423) return 'The server wants a longer registration interval.';
  if (status >= 500) return `The server could not register you (${status}).`;
  if (status) return `Registration refused by the server (${status}).`;
  return causeText(cause) || 'Registration failed.';
}

/** Why a call or a message to peer did not get through. */
export function deliveryError(status, cause, peer) {
  switch (status) {
    case 401:
    case 407:
      return 'The server refused your credentials: sign in again.';
    case 403:
      return `You are not allowed to reach ${peer}.`;
    case 404:
    case 604:
      return `No such user: ${peer}.`;
    case 408:
      return `${peer} did not answer in time.`;
    case 410:
    case 480:
      return `${peer} is offline.`;
    case 484:
      return `The address ${peer} is incomplete.`;
    case 486:
    case 600:
      return `${peer} is busy.`;
    case 487:
      return 'Call cancelled.';
    case 488:
    case 606:
      return `${peer}'s phone cannot handle this kind of call (no common audio or video format).`;
    case 503:
      return 'The server is overloaded or cannot reach the other side; try again later.';
    case 603:
      return `${peer} declined the call.`;
    default:
      break;
  }
  if (status >= 500) return `The server failed to reach ${peer} (${status}).`;
  if (status >= 300) return `${peer} could not be reached (${status}).`;
  return causeText(cause, peer) || `${peer} could not be reached.`;
}

/** A JsSIP cause without a response: network, media and timer failures. */
export function causeText(cause, peer = 'The other side') {
  switch (cause) {
    case C.CONNECTION_ERROR:
      return 'Network error: the connection to the server is down.';
    case C.REQUEST_TIMEOUT:
      return 'The server did not answer in time.';
    case C.USER_DENIED_MEDIA_ACCESS:
      return 'The browser did not give the phone a microphone (or camera): allow it for this page and try again.';
    case C.WEBRTC_ERROR:
      return 'The browser could not set up the media of the call.';
    case C.BAD_MEDIA_DESCRIPTION:
    case C.INCOMPATIBLE_SDP:
    case C.MISSING_SDP:
      return 'The two phones found no common audio or video format.';
    case C.RTP_TIMEOUT:
      return 'The media connection was lost.';
    case C.NO_ANSWER:
    case C.EXPIRES:
      return `${peer} did not answer.`;
    case C.NO_ACK:
      return `${peer} did not confirm the call.`;
    case C.CANCELED:
      return 'Call cancelled.';
    case C.BUSY:
      return `${peer} is busy.`;
    case C.REJECTED:
      return `${peer} declined the call.`;
    case C.UNAVAILABLE:
      return `${peer} is offline.`;
    case C.NOT_FOUND:
      return `No such user: ${peer}.`;
    case C.INTERNAL_ERROR:
      return 'Internal error of the phone.';
    default:
      return '';
  }
}

/** "m:ss" or "h:mm:ss" of a duration in ms. */
export function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const two = (n) => String(n).padStart(2, '0');
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}
