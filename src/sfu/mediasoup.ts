/**
 * Loads mediasoup with the worker binary that scripts/build-mediasoup-worker.sh
 * built (mediasoup reads MEDIASOUP_WORKER_BIN once, when its module loads, so
 * the variable is set here before the first require).
 */
import fs from 'node:fs';
import path from 'node:path';
import type * as MediasoupNs from 'mediasoup';
import { projectRoot } from '../native/addon';

export type Mediasoup = typeof MediasoupNs;
export type { types as MediasoupTypes } from 'mediasoup';

let ms: Mediasoup | undefined;

export function workerBinaryPath(): string {
  return process.env.MEDIASOUP_WORKER_BIN || path.join(projectRoot, '.build', 'mediasoup-worker');
}

export function loadMediasoup(): Mediasoup {
  if (ms) return ms;
  const bin = workerBinaryPath();
  if (!fs.existsSync(bin)) {
    const err = new Error(
      `mediasoup worker binary not found at ${bin}; run "npm run setup" (builds it from the mediasoup package sources) ` +
        `or set MEDIASOUP_WORKER_BIN`,
    );
    (err as Error & { code: string }).code = 'MEDIASOUP_WORKER_MISSING';
    throw err;
  }
  process.env.MEDIASOUP_WORKER_BIN = fs.realpathSync(bin);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  ms = require('mediasoup') as Mediasoup;
  return ms;
}

/** Audio codecs every router offers: Opus for WebRTC, G.711 for SIP legs. */
export const routerMediaCodecs: MediasoupNs.types.RtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2, preferredPayloadType: 111 },
  { kind: 'audio', mimeType: 'audio/PCMU', clockRate: 8000, channels: 1, preferredPayloadType: 0 },
  { kind: 'audio', mimeType: 'audio/PCMA', clockRate: 8000, channels: 1, preferredPayloadType: 8 },
  // RFC 4733 DTMF from SIP legs (mediasoup drops payload types the router does not know).
  { kind: 'audio', mimeType: 'audio/telephone-event', clockRate: 8000, channels: 1, preferredPayloadType: 101 },
];
