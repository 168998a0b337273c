/**
 * The few typed errors of voxbridge. Every error carries a stable string `code`
 * (listed in docs/ERRORS.md); tests assert class and code, never message text.
 */

/** An error the API answers with an HTTP status and a stable code. */
abstract class HttpCodedError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly httpStatus: number,
  ) {
    super(message);
  }
}

/** A request or message that is malformed or not allowed: answered with HTTP 4xx or an error frame. */
export class InvalidParameterError extends HttpCodedError {
  override readonly name = 'InvalidParameterError';
  /** `code` is e.g. `InvalidParameter.InterruptSpeechDuration` (the field is named after the dot). */
  constructor(code: string, message: string, httpStatus = 400) {
    super(code, message, httpStatus);
  }
}

/** A state that forbids the call: closed session, taken-over agent, full queue. */
export class InvalidStateError extends HttpCodedError {
  override readonly name = 'InvalidStateError';
  constructor(code: string, message: string, httpStatus = 409) {
    super(code, message, httpStatus);
  }
}

/** An external service (LLM, TTS, ASR, SIP peer) failed, timed out or answered badly. */
export class ProviderError extends Error {
  override readonly name = 'ProviderError';
  /** e.g. `Provider.LLM.Http`, `Provider.TTS.Timeout`, `Provider.LLM.StreamError`. */
  readonly code: string;
  readonly status?: number;
  constructor(code: string, message: string, options?: { status?: number; cause?: unknown }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.code = code;
    this.status = options?.status;
  }
}

/** A protocol frame that failed to parse: reported to the sender, never thrown per packet. */
export class FrameError extends Error {
  override readonly name = 'FrameError';
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export type VoxError = InvalidParameterError | InvalidStateError | ProviderError | FrameError;

export function isVoxError(e: unknown): e is VoxError {
  return (
    e instanceof InvalidParameterError ||
    e instanceof InvalidStateError ||
    e instanceof ProviderError ||
    e instanceof FrameError
  );
}

/**
 * The error every provider throws when its signal aborts (isAbortError is true for it).
 * Made without a stack: an abort is a barge-in's control flow, not a fault, and the
 * stack costs. A stream's destroy(err) formats err.stack at once, and a CPU profile of
 * the barge-in path at 100 sessions had stack capture and formatting as its largest
 * JS part, inside the decision → abort window.
 */
export function abortError(): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new DOMException('The operation was aborted', 'AbortError');
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** True when an error came from an AbortSignal (our own cancellation, not a failure). */
export function isAbortError(e: unknown): boolean {
  return (
    typeof e === 'object' &&
    e !== null &&
    ((e as { name?: string }).name === 'AbortError' || (e as { code?: string }).code === 'ABORT_ERR')
  );
}
