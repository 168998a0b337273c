/**
 * Opus bench. Encoding (the agent's voice): µs per 20 ms frame and CPU share of
 * one core per stream, on espeak-ng speech, for each candidate encoder:
 *   - libopus (Debian libopus-dev) through our addon (src/rooms/opusEncoder.ts)
 *   - @discordjs/opus (its bundled libopus), when VOXBRIDGE_BENCH_DISCORD_OPUS
 *     points at an installed copy (it is not a dependency)
 * Settings: 32 kb/s, complexity 5, mono; the addon in each application mode
 * (@discordjs/opus always creates its encoder with OPUS_APPLICATION_AUDIO).
 * Decoding (the voices the agent hears, src/rooms/opusDecoder.ts): the same
 * speech encoded like a browser (48 kHz VOIP, 32 kb/s) and like our agent (CELT
 * low delay), decoded to 16 kHz by the addon's libopus and by npm `opus-decoder`
 * (WASM, the fallback); the ratio is measured in the same run.
 *   npx vite-node bench/opus.ts
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createOpusEncoder, opusLibraryVersion } from '../src/rooms/opusEncoder';
import { createOpusDecoder } from '../src/rooms/opusDecoder';
import { machine, table, timeIt, writeJson } from './util';

function speech(rate: number): Int16Array {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'opusbench-'));
  const wav = path.join(tmp, 's.wav');
  const raw = path.join(tmp, 's.raw');
  execFileSync('espeak-ng', ['-w', wav, 'The quick brown fox jumps over the lazy dog. How can I help you today? I am the voice agent of this room.']);
  execFileSync('sox', [wav, '-r', String(rate), '-c', '1', '-b', '16', '-e', 'signed-integer', '-t', 'raw', raw]);
  const b = fs.readFileSync(raw);
  fs.rmSync(tmp, { recursive: true });
  return new Int16Array(b.buffer, b.byteOffset, b.length >> 1).slice();
}

interface Candidate {
  name: string;
  rate: number;
  encode: (frame: Int16Array) => number;
}

const rows: Record<string, unknown>[] = [];
function run(c: Candidate, pcm: Int16Array): void {
  const n = c.rate / 50;
  const frames: Int16Array[] = [];
  for (let i = 0; i + n <= pcm.length; i += n) frames.push(pcm.subarray(i, i + n));
  let k = 0;
  let bytes = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const r = timeIt(() => {
    bytes += c.encode(frames[k++ % frames.length]);
  }, 2000);
  const wallNs = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  const cpuPerOpUs = (cpu.user + cpu.system) / (wallNs / r.nsPerOp);
  rows.push({
    encoder: c.name,
    inputRate: c.rate,
    usPerFrame: +(r.nsPerOp / 1000).toFixed(1),
    cpuUsPerFrame: +cpuPerOpUs.toFixed(1),
    corePctPerStream: +((r.nsPerOp / 1000 / 20000) * 100).toFixed(2),
    avgPacketBytes: Math.round(bytes / k),
  });
}

const pcm16 = speech(16000);
const pcm48 = speech(48000);
const out = new Uint8Array(1275);

const apps = ['voip', 'audio', 'lowdelay'] as const;
for (const [rate, app] of [[16000, 0], [48000, 0], [16000, 1], [16000, 2], [48000, 2]] as const) {
  const enc = createOpusEncoder({ sampleRate: rate, channels: 1, bitrate: 32000, complexity: 5, application: app });
  run({ name: `addon ${opusLibraryVersion()} ${apps[app]}`, rate, encode: (f) => enc.encode(f, out) }, rate === 16000 ? pcm16 : pcm48);
}

const discordPath = process.env.VOXBRIDGE_BENCH_DISCORD_OPUS;
if (discordPath) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { OpusEncoder } = require(discordPath) as { OpusEncoder: new (rate: number, ch: number) => any };
  for (const rate of [16000, 48000]) {
    const enc = new OpusEncoder(rate, 1);
    enc.setBitrate(32000);
    enc.applyEncoderCTL(4010, 5); // OPUS_SET_COMPLEXITY
    run({ name: '@discordjs/opus 0.10 (audio, fixed)', rate, encode: (f) => enc.encode(Buffer.from(f.buffer, f.byteOffset, f.byteLength)).length }, rate === 16000 ? pcm16 : pcm48);
  }
}

console.log(table(rows));

const decodeRows: Record<string, unknown>[] = [];
async function decodeBench(): Promise<void> {
  for (const [label, rate, app] of [
    ['browser-like: 48 kHz voip', 48000, 0],
    ['agent-like: 16 kHz low delay', 16000, 2],
  ] as const) {
    const enc = createOpusEncoder({ sampleRate: rate, channels: 1, bitrate: 32000, complexity: 5, application: app });
    const src = rate === 16000 ? pcm16 : pcm48;
    const pkts: Uint8Array[] = [];
    for (let i = 0; i + rate / 50 <= src.length; i += rate / 50) pkts.push(out.slice(0, enc.encode(src.subarray(i, i + rate / 50), out)));
    const ns: Record<string, number> = {};
    for (const impl of ['native', 'wasm'] as const) {
      const d = await createOpusDecoder({ sampleRate: 16000, channels: 1, impl });
      const pcm = new Int16Array(1920);
      let k = 0;
      const r = timeIt(() => {
        d.decode(pkts[k++ % pkts.length]!, pcm);
      }, 2000);
      d.free();
      ns[impl] = r.nsPerOp;
      decodeRows.push({ stream: label, decoder: impl === 'native' ? `addon ${opusLibraryVersion()}` : 'opus-decoder (wasm)', usPerPacket: +(r.nsPerOp / 1000).toFixed(1), corePctPerStream: +((r.nsPerOp / 1000 / 20000) * 100).toFixed(3) });
    }
    decodeRows.push({ stream: label, decoder: 'ratio wasm / native', usPerPacket: +(ns.wasm! / ns.native!).toFixed(2), corePctPerStream: '' });
  }
  console.log(table(decodeRows));
}

void decodeBench().then(() => writeJson('opus', { machine: machine(), rows, decodeRows }));
