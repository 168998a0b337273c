/**
 * Voice-activity detection with continuous-speech duration measurement: the
 * measurement behind automatic barge-in (the interrupt policy lives elsewhere).
 *
 * One `Vad` per audio stream. Feed it frames of PCM16 mono (10/20/30 ms at
 * 8/16/48 kHz) and, when the agent is talking, the far-end reference (what the
 * agent is playing, same rate and frame size) so its echo is not taken for the
 * user. `process()` returns the frame's flags and updates the read-only state;
 * nothing is allocated per frame.
 *
 * Uses the native addon when it is built, else the TypeScript fallback with the
 * same algorithm (src/native/vadFallback.ts); both give the same decisions.
 */
import { InvalidParameterError } from '../errors';
import { nativeAddon, requireNative } from './addon';
import { VadFallback, VadFlag, VadOut, VadStatus, validateVadConfig, type VadCoreConfig } from './vadFallback';
import type { VadStream as AgentVadStream } from './vadTypes';

export { VadFlag, VadOut } from './vadFallback';

export type VadSampleRate = 8000 | 16000 | 48000;
export type VadFrameMs = 10 | 20 | 30;

export interface VadOptions {
  sampleRate: VadSampleRate;
  /** Frame length in ms (default 20). */
  frameMs?: VadFrameMs;
  /**
   * D: continuous speech (ms) after which `durationReached` fires, once per segment.
   * 0 fires with the speech start. Default 200. Range 0..10000 (the interrupt
   * policy checks the product range, InterruptSpeechDuration 200..3000).
   */
  interruptSpeechDurationMs?: number;
  /** Silence that ends a segment; shorter dropouts keep the duration running. Default 200, 50..2000. */
  hangoverMs?: number;
}

/** The per-stream object the native addon exports (see native/binding/vad_binding.cpp). */
export interface NativeVadInstance {
  process(pcm: Int16Array, farEnd: Int16Array | null, out: Float64Array): number;
  setInterruptMs(ms: number): number;
  reset(): void;
  features(out: Float64Array): void;
}
export type NativeVadCtor = new (
  sampleRate: number,
  frameMs: number,
  interruptMs: number,
  hangoverMs: number,
) => NativeVadInstance;

export interface Vad {
  readonly impl: 'native' | 'ts';
  readonly sampleRate: VadSampleRate;
  readonly frameMs: VadFrameMs;
  /** Samples per frame that process() takes. */
  readonly frameSamples: number;
  /**
   * Analyses one frame; `farEnd` is the agent's outgoing audio for the same
   * instant (omit or null when the agent is silent). Returns the flags (VadFlag).
   * Throws InvalidParameterError (`InvalidParameter.FrameSize`) on a wrong length.
   */
  process(pcm: Int16Array, farEnd?: Int16Array | null): number;
  /** Flags of the last frame. */
  readonly flags: number;
  /** In a speech segment at the end of the last frame. */
  readonly speaking: boolean;
  /** A segment started in the last frame (its onset is `onsetSample`). */
  readonly speechStarted: boolean;
  /** A segment ended in the last frame (after the hangover; it ended at `endSample`). */
  readonly speechEnded: boolean;
  /** Continuous speech reached D in the last frame (at `reachedSample`). */
  readonly durationReached: boolean;
  /** Continuous speech so far in the current segment, ms (0 when not speaking). */
  readonly speechMs: number;
  /** First sample of the current (or last) segment, counted from the start or reset(); -1 if none. */
  readonly onsetSample: number;
  /** Sample after the last speech of the last ended segment; -1 if none. */
  readonly endSample: number;
  /** Sample at which D was reached in the current segment; -1 if not (yet). */
  readonly reachedSample: number;
  /** Duration of the last ended segment, ms. */
  readonly lastSegmentMs: number;
  /** Speech evidence of the last 10 ms, 0..1. */
  readonly score: number;
  /** Mean band SNR of the last 10 ms over the adaptive noise floor, after echo removal. */
  readonly snrDb: number;
  /** Estimated echo delay of the far end, ms; -1 until known. */
  readonly echoDelayMs: number;
  readonly interruptSpeechDurationMs: number;
  /** Changes D (applies from the next frame; the current segment fires if it is already past it). */
  setInterruptDuration(ms: number): void;
  /** Forgets everything: noise floors, echo path, segment, sample count. */
  reset(): void;
}

function configError(status: number, o: VadOptions): InvalidParameterError {
  switch (status) {
    case VadStatus.BadSampleRate:
      return new InvalidParameterError('InvalidParameter.SampleRate', `VAD sampleRate must be 8000, 16000 or 48000 (got ${o.sampleRate})`);
    case VadStatus.BadFrameMs:
      return new InvalidParameterError('InvalidParameter.FrameMs', `VAD frameMs must be 10, 20 or 30 (got ${o.frameMs})`);
    case VadStatus.BadInterruptMs:
      return new InvalidParameterError(
        'InvalidParameter.InterruptSpeechDuration',
        `VAD interrupt speech duration must be an integer in 0..10000 ms (got ${o.interruptSpeechDurationMs})`,
      );
    default:
      return new InvalidParameterError('InvalidParameter.HangoverMs', `VAD hangoverMs must be an integer in 50..2000 (got ${o.hangoverMs})`);
  }
}

interface Core {
  process(pcm: Int16Array, farEnd: Int16Array | null, out: Float64Array): number;
  setInterruptMs(ms: number): number;
  reset(): void;
}

// Also the VadStream the agent core consumes (src/native/vadTypes.ts).
class VadHandle implements Vad, AgentVadStream {
  readonly impl: 'native' | 'ts';
  readonly sampleRate: VadSampleRate;
  readonly frameMs: VadFrameMs;
  readonly frameSamples: number;
  private readonly core: Core;
  private readonly out = new Float64Array(VadOut.Count);
  private interruptMs: number;

  constructor(cfg: VadCoreConfig, impl: 'native' | 'ts', ctor: NativeVadCtor | null) {
    this.sampleRate = cfg.sampleRate as VadSampleRate;
    this.frameMs = cfg.frameMs as VadFrameMs;
    this.frameSamples = (cfg.sampleRate / 1000) * cfg.frameMs;
    this.interruptMs = cfg.interruptMs;
    this.impl = impl;
    this.core = ctor ? new ctor(cfg.sampleRate, cfg.frameMs, cfg.interruptMs, cfg.hangoverMs) : new VadFallback(cfg);
    this.clearOut();
  }

  private clearOut(): void {
    this.out.fill(0);
    this.out[VadOut.Onset] = -1;
    this.out[VadOut.End] = -1;
    this.out[VadOut.Reached] = -1;
    this.out[VadOut.EchoDelayMs] = -1;
  }

  process(pcm: Int16Array, farEnd?: Int16Array | null): number {
    if (!(pcm instanceof Int16Array) || pcm.length !== this.frameSamples) {
      throw new InvalidParameterError(
        'InvalidParameter.FrameSize',
        `VAD frame must be an Int16Array of ${this.frameSamples} samples (${this.frameMs} ms at ${this.sampleRate} Hz), got ${
          pcm instanceof Int16Array ? pcm.length : typeof pcm
        }`,
      );
    }
    if (farEnd != null && (!(farEnd instanceof Int16Array) || farEnd.length !== this.frameSamples)) {
      throw new InvalidParameterError(
        'InvalidParameter.FarEnd',
        `VAD far-end reference must be an Int16Array of ${this.frameSamples} samples or null`,
      );
    }
    return this.core.process(pcm, farEnd ?? null, this.out);
  }

  get flags(): number {
    return this.out[VadOut.Flags];
  }
  get speaking(): boolean {
    return (this.out[VadOut.Flags] & VadFlag.Speech) !== 0;
  }
  get speechStarted(): boolean {
    return (this.out[VadOut.Flags] & VadFlag.SpeechStart) !== 0;
  }
  get speechEnded(): boolean {
    return (this.out[VadOut.Flags] & VadFlag.SpeechEnd) !== 0;
  }
  get durationReached(): boolean {
    return (this.out[VadOut.Flags] & VadFlag.DurationReached) !== 0;
  }
  get speechMs(): number {
    return this.out[VadOut.SpeechMs];
  }
  get onsetSample(): number {
    return this.out[VadOut.Onset];
  }
  get endSample(): number {
    return this.out[VadOut.End];
  }
  get reachedSample(): number {
    return this.out[VadOut.Reached];
  }
  get lastSegmentMs(): number {
    return this.out[VadOut.LastMs];
  }
  get score(): number {
    return this.out[VadOut.Score];
  }
  get snrDb(): number {
    return this.out[VadOut.SnrDb];
  }
  get echoDelayMs(): number {
    return this.out[VadOut.EchoDelayMs];
  }
  get interruptSpeechDurationMs(): number {
    return this.interruptMs;
  }

  setInterruptDuration(ms: number): void {
    if (this.core.setInterruptMs(ms) !== VadStatus.Ok) {
      throw configError(VadStatus.BadInterruptMs, { sampleRate: this.sampleRate, interruptSpeechDurationMs: ms });
    }
    this.interruptMs = ms;
  }

  reset(): void {
    this.core.reset();
    this.clearOut();
  }
}

/**
 * A VAD for one stream. By default the native addon is used when it is built;
 * `impl: 'ts'` forces the fallback and `impl: 'native'` the addon (throws with
 * code NATIVE_NOT_BUILT when it is missing). Bad options throw
 * InvalidParameterError with a code naming the option.
 */
export function createVad(options: VadOptions, opts: { impl?: 'native' | 'ts' } = {}): Vad {
  const cfg: VadCoreConfig = {
    sampleRate: options.sampleRate,
    frameMs: options.frameMs ?? 20,
    interruptMs: options.interruptSpeechDurationMs ?? 200,
    hangoverMs: options.hangoverMs ?? 200,
  };
  const status = validateVadConfig(cfg);
  if (status !== VadStatus.Ok) throw configError(status, { ...options, frameMs: cfg.frameMs as VadFrameMs });
  let ctor: NativeVadCtor | null = null;
  if (opts.impl === 'native') {
    ctor = (requireNative().NativeVad as unknown as NativeVadCtor | undefined) ?? null;
    if (!ctor) {
      const err = new Error('the voxbridge native addon was built without the VAD; rebuild it with "npm run build:native"');
      (err as Error & { code: string }).code = 'NATIVE_NOT_BUILT';
      throw err;
    }
  } else if (opts.impl !== 'ts') {
    ctor = (nativeAddon()?.NativeVad as unknown as NativeVadCtor | undefined) ?? null;
  }
  return new VadHandle(cfg, ctor ? 'native' : 'ts', ctor);
}

/** True when createVad() would use the native addon. */
export function nativeVadAvailable(): boolean {
  return typeof nativeAddon()?.NativeVad === 'function';
}
