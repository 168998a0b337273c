/**
 * Provider requests whose connection a barge-in decided off the event loop closes at
 * the decision (the room path's receive thread, native/src/voice_rx.h): the session
 * marks the AbortSignal of each speech task the user's voice may stop, and a request
 * made under such a signal lends its socket's fd to the thread for its lifetime. The
 * thread shuts the connection down with the agent's voice, so the LLM/TTS server sees
 * the request end then, not when the event loop gets to abort it; the request then
 * fails as aborted (never as a dropped connection, and never retried).
 */
import type { Socket } from 'node:net';

/** A connection lent to the thread; `aborted` once a decision shut it down. */
export interface WireAbortLease {
  readonly aborted: boolean;
  release(): void;
}

/** What closes the connections (the session's off-loop voice). */
export interface WireAbortTarget {
  trackRequestFd(fd: number): WireAbortLease | null;
}

const targets = new WeakMap<AbortSignal, WireAbortTarget>();

/** Requests under `signal` are closed by `target`'s decisions. */
export function closeOnDecision(signal: AbortSignal, target: WireAbortTarget): void {
  targets.set(signal, target);
}

/**
 * The lease for a request's socket under `signal`, or null (no target, or no fd: a
 * TLS socket whose TCP handle is not reachable, a socket not yet opened).
 */
export function wireLease(signal: AbortSignal, socket: Socket): WireAbortLease | null {
  const t = targets.get(signal);
  if (!t) return null;
  // the connection's fd (a TCPWrap's, or a TLSWrap's, which gives its TCP socket's)
  const fd = (socket as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? t.trackRequestFd(fd) : null;
}
