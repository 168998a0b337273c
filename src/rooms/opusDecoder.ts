/**
 * Opus decoding for the voices the agent listens to (room participants, SIP
 * callers): libopus through the native addon (native/src/opus_decoder.*), with
 * npm `opus-decoder` (libopus compiled to WASM) as the fallback when the addon is
 * not available. Measured (BENCHMARKS.md, "Opus decoding"): the native decoder is
 * several times cheaper per packet, which is what keeps 100 listening agents off
 * the event loop's critical path.
 *
 * Both decode straight to the requested rate (libopus synthesises at it), into a
 * caller-owned Int16Array, and report a bad packet as a negative libopus status
 * (never a throw per packet). Lost packets are concealed with libopus PLC
 * natively; the WASM fallback has no PLC and writes silence instead.
 */
import { nativeAddon } from '../native/addon';

/** libopus statuses we produce ourselves. */
export const OPUS_BAD_ARG = -1;
export const OPUS_BUFFER_TOO_SMALL = -2;
export const OPUS_INVALID_PACKET = -4;

export interface OpusStreamDecoder {
  readonly impl: 'native' | 'wasm';
  /** Decodes one packet into `out`; returns samples per channel, or a negative libopus status. */
  decode(packet: Uint8Array, out: Int16Array): number;
  /** Conceals one lost packet of `samples` per channel (2.5 ms multiples); returns samples or a negative status. */
  conceal(out: Int16Array, samples: number): number;
  reset(): void;
  free(): void;
}

interface NativeDecoder {
  decode(packet: Uint8Array, out: Int16Array): number;
  conceal(out: Int16Array, samples: number): number;
  reset(): void;
}

interface WasmOpusDecoder {
  ready: Promise<void>;
  decodeFrame(frame: Uint8Array): { channelData: Float32Array[]; samplesDecoded: number; errors: unknown[] };
  reset(): Promise<void>;
  free(): void;
}
type WasmCtor = new (o: { sampleRate: number; channels: number }) => WasmOpusDecoder;

let wasmCtor: Promise<WasmCtor> | undefined;
/** `opus-decoder` is an ES module: required directly on Node ≥ 20.19, imported otherwise. */
export function loadWasmOpusDecoder(): Promise<WasmCtor> {
  wasmCtor ??= (async () => {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return (require('opus-decoder') as { OpusDecoder: WasmCtor }).OpusDecoder;
    } catch {
      const dynImport = new Function('s', 'return import(s)') as (s: string) => Promise<{ OpusDecoder: WasmCtor }>;
      return (await dynImport('opus-decoder')).OpusDecoder;
    }
  })();
  return wasmCtor;
}

export interface OpusDecoderOptions {
  sampleRate: 8000 | 12000 | 16000 | 24000 | 48000;
  channels: 1 | 2;
  /** 'auto' (default): native when the addon has it, else WASM. */
  impl?: 'auto' | 'native' | 'wasm';
}

function nativeCtor(): (new (rate: number, channels: number) => NativeDecoder) | null {
  const a = nativeAddon() as unknown as { opus?: { OpusDecoder?: new (rate: number, channels: number) => NativeDecoder } } | null;
  return a?.opus?.OpusDecoder ?? null;
}

export async function createOpusDecoder(o: OpusDecoderOptions): Promise<OpusStreamDecoder> {
  const impl = o.impl ?? 'auto';
  const Native = impl === 'wasm' ? null : nativeCtor();
  if (Native) {
    const d = new Native(o.sampleRate, o.channels);
    return {
      impl: 'native',
      decode: (p, out) => d.decode(p, out),
      conceal: (out, n) => d.conceal(out, n),
      reset: () => d.reset(),
      free: () => {},
    };
  }
  if (impl === 'native') {
    const err = new Error('the native addon has no Opus decoder; rebuild it with "npm run build" (needs libopus-dev)');
    (err as Error & { code: string }).code = 'NATIVE_NOT_BUILT';
    throw err;
  }
  const Wasm = await loadWasmOpusDecoder();
  const d = new Wasm({ sampleRate: o.sampleRate, channels: o.channels });
  await d.ready;
  return new WasmDecoder(d, o.channels);
}

class WasmDecoder implements OpusStreamDecoder {
  readonly impl = 'wasm';
  constructor(
    private readonly d: WasmOpusDecoder,
    private readonly channels: number,
  ) {}

  decode(packet: Uint8Array, out: Int16Array): number {
    if (packet.length === 0) return OPUS_BAD_ARG;
    let r;
    try {
      r = this.d.decodeFrame(packet);
    } catch {
      return OPUS_INVALID_PACKET;
    }
    if (r.errors.length || r.samplesDecoded === 0) return OPUS_INVALID_PACKET;
    const n = r.samplesDecoded;
    if (n * this.channels > out.length) return OPUS_BUFFER_TOO_SMALL;
    for (let c = 0; c < this.channels; c++) {
      const f = r.channelData[c]!;
      for (let i = 0; i < n; i++) {
        const s = f[i]! * 32768;
        out[i * this.channels + c] = s > 32767 ? 32767 : s < -32768 ? -32768 : Math.round(s);
      }
    }
    return n;
  }

  conceal(out: Int16Array, samples: number): number {
    if (samples <= 0 || samples * this.channels > out.length) return OPUS_BAD_ARG;
    out.fill(0, 0, samples * this.channels);
    return samples;
  }

  reset(): void {
    void this.d.reset();
  }

  free(): void {
    this.d.free();
  }
}
