/**
 * Headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core, with
 * a fake microphone that plays a WAV file. Playwright gives each launch a fresh
 * profile directory; the flags keep the browser off the network and quiet.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.VOXBRIDGE_CHROMIUM ?? '/usr/bin/chromium';

export function chromiumAvailable(): boolean {
  return fs.existsSync(CHROMIUM);
}

export interface LaunchOptions {
  /** WAV (PCM16) the fake microphone plays, looping. */
  fakeMicWav?: string;
}

export async function launchChromium(o: LaunchOptions = {}): Promise<Browser> {
  const args = [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-dev-shm-usage',
    '--autoplay-policy=no-user-gesture-required',
    '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream',
  ];
  if (o.fakeMicWav) args.push(`--use-file-for-fake-audio-capture=${o.fakeMicWav}`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
}

/** Writes mono PCM16 as a WAV file (what --use-file-for-fake-audio-capture reads). */
export function writeWav(file: string, pcm: Int16Array, rate: number): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const data = Buffer.alloc(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) data.writeInt16LE(pcm[i]!, 2 * i);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(data.length, 40);
  fs.writeFileSync(file, Buffer.concat([h, data]));
  return file;
}
