/**
 * The agent's Opus encoder: libopus (Debian's libopus-dev) through the native
 * addon (native/src/opus_encoder.*, native/binding/opus_binding.cpp). One encoder
 * per outgoing stream; encode() writes into a caller-owned buffer.
 *
 * There is no TS fallback (no JS Opus encoder is as cheap as libopus; numbers for
 * the candidates are in BENCHMARKS.md, "Opus encoding"): a missing addon is a
 * clear error (code NATIVE_NOT_BUILT) instead of a silent slow path.
 */
import { requireNative } from '../native/addon';

export interface OpusEncoderOptions {
  /** Input PCM rate: 8000, 12000, 16000, 24000 or 48000. The RTP clock stays 48 kHz. */
  sampleRate: number;
  channels: 1 | 2;
  /** 0 voip (default), 1 audio, 2 restricted low delay. */
  application?: 0 | 1 | 2;
  bitrate?: number;
  complexity?: number;
  fec?: boolean;
  dtx?: boolean;
}

/** One outgoing Opus stream. Throws errors with `code` = the libopus status name (OPUS_BAD_ARG, ...). */
export interface OpusStreamEncoder {
  /** Encodes one frame (2.5–60 ms) into `out`; returns the packet length. */
  encode(pcm: Int16Array, out: Uint8Array): number;
  /** Fresh stream state (a new talk-spurt). */
  reset(): void;
  setBitrate(bps: number): void;
}

interface NativeOpus {
  OpusEncoder: new (sampleRate: number, channels: number, opts?: Record<string, unknown>) => OpusStreamEncoder;
  version: string;
  maxPacket: number;
}

export const OPUS_MAX_PACKET = 1275;

function nativeOpus(): NativeOpus {
  const addon = requireNative() as unknown as { opus?: NativeOpus };
  if (!addon.opus) {
    const err = new Error('the native addon was built without Opus; rebuild it with "npm run build" (needs libopus-dev)');
    (err as Error & { code: string }).code = 'NATIVE_NOT_BUILT';
    throw err;
  }
  return addon.opus;
}

/**
 * What the agent's voice is encoded with (rooms and SIP): CELT-only low delay at
 * complexity 3. Measured (BENCHMARKS.md, "Opus encoding"): 29 µs per 20 ms frame vs
 * 130 µs for VOIP at complexity 5, with 2.5 ms instead of 6.5 ms look-ahead, at
 * 32 kb/s (81-byte packets) — at 100 agents talking that is 15 % of a core saved
 * for the same bitrate. TTS speech at 32 kb/s does not need SILK's low-rate gains.
 */
export const AGENT_VOICE_OPUS: Pick<OpusEncoderOptions, 'application' | 'complexity' | 'bitrate'> = {
  application: 2,
  complexity: 3,
  bitrate: 32000,
};

export function createOpusEncoder(o: OpusEncoderOptions): OpusStreamEncoder {
  const { OpusEncoder } = nativeOpus();
  return new OpusEncoder(o.sampleRate, o.channels, {
    application: o.application ?? 0,
    bitrate: o.bitrate ?? 32000,
    complexity: o.complexity ?? 5,
    fec: o.fec ?? false,
    dtx: o.dtx ?? false,
  });
}

export function opusLibraryVersion(): string {
  return nativeOpus().version;
}
