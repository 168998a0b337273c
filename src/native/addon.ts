/**
 * Loads the native addon (build/Release/voxbridge_native.node) with node-gyp-build.
 * The TS fallbacks keep the bridge working without it, but a missing build is
 * reported clearly: `requireNative()` throws with the command that builds it.
 * VOXBRIDGE_NATIVE=0 forces the fallbacks (parity tests and benches use this).
 */
import path from 'node:path';

export interface NativeTlv {
  decodeBatch(
    format: number,
    buf: Uint8Array,
    start: number,
    end: number,
    maxPayload: number,
    out: Int32Array,
    final: boolean,
  ): number;
  encode(format: number, kind: number, payload: Uint8Array, dst: Uint8Array, dstOffset: number): number;
  writeHeader(format: number, kind: number, payloadLen: number, dst: Uint8Array, dstOffset: number): number;
}

export interface NativeAddon {
  abiVersion: number;
  tlv: NativeTlv;
  // Per-stream VAD state object; see src/native/vad.ts for the wrapper.
  NativeVad: new (...args: unknown[]) => unknown;
}

export const projectRoot = path.resolve(__dirname, '..', '..');

let cached: NativeAddon | null | undefined;
let loadError: Error | undefined;

function load(): NativeAddon | null {
  if (cached !== undefined) return cached;
  if (process.env.VOXBRIDGE_NATIVE === '0') {
    loadError = new Error('native addon disabled by VOXBRIDGE_NATIVE=0');
    cached = null;
    return cached;
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => NativeAddon;
    cached = nodeGypBuild(projectRoot);
  } catch (e) {
    loadError = e as Error;
    cached = null;
  }
  return cached;
}

/** The addon, or null when it is not built (or disabled); callers fall back to TS. */
export function nativeAddon(): NativeAddon | null {
  return load();
}

/** The addon, or a clear error naming the build command. */
export function requireNative(): NativeAddon {
  const a = load();
  if (!a) {
    const err = new Error(
      `voxbridge native addon is not available (${loadError?.message ?? 'unknown reason'}); ` +
        `build it with "npm run build:native" (needs g++ and python3)`,
    );
    (err as Error & { code: string }).code = 'NATIVE_NOT_BUILT';
    throw err;
  }
  return a;
}
