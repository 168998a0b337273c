/**
 * TLV decode bench: native addon vs the TS fallback vs a naive Buffer.concat
 * parser, for 32 B / 256 B / 4 KiB payloads, one frame per call (data-channel
 * messages) and batches (many frames in one buffer, and a TCP-like stream cut
 * into 1400-byte reads). Prints a table, writes bench/out/tlv.json.
 *   npm run bench:tlv
 */
import { tlvCodec } from '../src/native/tlv';
import { TlvStreamDecoder } from '../src/native/tlvStream';
import { OUT_CONSUMED, OUT_FIRST, OUT_STATUS, TlvFormat, TlvStatus, createDecodeOut } from '../src/native/tlvCodes';
import { machine, table, timeIt, writeJson } from './util';

function frame(size: number): Buffer {
  const b = Buffer.alloc(8 + size, 0x61);
  b.write('ctrl', 0, 'ascii');
  b.writeUInt32BE(size, 4);
  return b;
}

/** What a hand-written parser usually looks like: concat every read, slice frames off the front. */
class NaiveParser {
  private buf: Buffer = Buffer.alloc(0);
  push(chunk: Buffer, onFrame: (p: Buffer) => void): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 8) {
      if (this.buf.toString('ascii', 0, 4) !== 'ctrl') throw new Error('bad magic');
      const len = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + len) break;
      onFrame(this.buf.subarray(8, 8 + len));
      this.buf = this.buf.subarray(8 + len);
    }
  }
}

const sizes = [32, 256, 4096];
const rows: Record<string, unknown>[] = [];
const out = createDecodeOut(256);
let sink = 0;

for (const size of sizes) {
  const one = frame(size);
  const count = size <= 256 ? 1000 : 100;
  const batch = Buffer.concat(Array.from({ length: count }, () => one));
  const chunks: Buffer[] = [];
  for (let i = 0; i < batch.length; i += 1400) chunks.push(batch.subarray(i, i + 1400));

  for (const impl of ['native', 'ts', 'auto'] as const) {
    const codec = tlvCodec(impl);
    const single = timeIt(() => {
      sink += codec.decodeBatch(TlvFormat.Ctrl, one, 0, one.length, 65536, out, true);
    });
    const many = timeIt(() => {
      let start = 0;
      for (;;) {
        sink += codec.decodeBatch(TlvFormat.Ctrl, batch, start, batch.length, 65536, out, true);
        if (out[OUT_STATUS] !== TlvStatus.OutFull) break;
        start = out[OUT_CONSUMED];
      }
    });
    const streamed = timeIt(() => {
      const d = new TlvStreamDecoder(TlvFormat.Ctrl, { impl });
      for (const c of chunks) d.push(c, (_k, _b, _o, len) => (sink += len));
    });
    rows.push({ impl, payload: size, mode: 'single', nsPerFrame: single.nsPerOp, framesPerSec: 1e9 / single.nsPerOp });
    rows.push({ impl, payload: size, mode: `batch x${count}`, nsPerFrame: many.nsPerOp / count, framesPerSec: (1e9 * count) / many.nsPerOp });
    rows.push({ impl, payload: size, mode: 'stream 1400B reads', nsPerFrame: streamed.nsPerOp / count, framesPerSec: (1e9 * count) / streamed.nsPerOp });
  }
  const naiveSingle = timeIt(() => new NaiveParser().push(one, (p) => (sink += p.length)));
  const naiveStream = timeIt(() => {
    const p = new NaiveParser();
    for (const c of chunks) p.push(c, (x) => (sink += x.length));
  });
  rows.push({ impl: 'naive concat', payload: size, mode: 'single', nsPerFrame: naiveSingle.nsPerOp, framesPerSec: 1e9 / naiveSingle.nsPerOp });
  rows.push({ impl: 'naive concat', payload: size, mode: 'stream 1400B reads', nsPerFrame: naiveStream.nsPerOp / count, framesPerSec: (1e9 * count) / naiveStream.nsPerOp });
}
void OUT_FIRST;

// Ratios measured in this same run (the machine is shared and noisy).
const get = (impl: string, payload: number, mode: string) => rows.find((r) => r.impl === impl && r.payload === payload && String(r.mode).startsWith(mode))!.nsPerFrame as number;
const ratios = sizes.map((s) => ({
  payload: s,
  'single ts/native': get('ts', s, 'single') / get('native', s, 'single'),
  'batch ts/native': get('ts', s, 'batch') / get('native', s, 'batch'),
  'stream naive/native': get('naive concat', s, 'stream') / get('native', s, 'stream'),
  'stream naive/ts': get('naive concat', s, 'stream') / get('ts', s, 'stream'),
}));

console.log('TLV decode (one core)\n');
console.log(table(rows));
console.log('\nRatios (same run; > 1 means the second is faster)\n');
console.log(table(ratios));
const file = writeJson('tlv', { machine: machine(), rows, ratios, sink });
console.log(`\nwrote ${file}`);
