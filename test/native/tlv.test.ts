import { describe, expect, it } from 'vitest';
import { tlvCodec, encodeCtrl, encodeFrame } from '../../src/native/tlv';
import { TlvStreamDecoder } from '../../src/native/tlvStream';
import {
  AudioSocketKind,
  CTRL_KIND,
  OUT_CONSUMED,
  OUT_FIRST,
  OUT_STATUS,
  TlvFormat,
  TlvStatus,
  createDecodeOut,
} from '../../src/native/tlvCodes';
import { requireNative } from '../../src/native/addon';

const impls = ['ts', 'native'] as const;

interface Frame {
  kind: number;
  payload: number[];
}

function ctrlFrame(json: string): Buffer {
  const p = Buffer.from(json);
  const h = Buffer.alloc(8);
  h.write('ctrl', 0, 'ascii');
  h.writeUInt32BE(p.length, 4);
  return Buffer.concat([h, p]);
}

function asFrame(kind: number, payload: Uint8Array): Buffer {
  const h = Buffer.from([kind, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([h, payload]);
}

function decodeAll(format: TlvFormat, buf: Uint8Array, impl: 'ts' | 'native', final = true, maxPayload = 65536) {
  const out = createDecodeOut(64);
  const n = tlvCodec(impl).decodeBatch(format, buf, 0, buf.length, maxPayload, out, final);
  const frames: Frame[] = [];
  for (let i = 0; i < n; i++) {
    const o = OUT_FIRST + 3 * i;
    frames.push({ kind: out[o], payload: [...buf.subarray(out[o + 1], out[o + 1] + out[o + 2])] });
  }
  return { frames, status: out[OUT_STATUS], consumed: out[OUT_CONSUMED] };
}

function streamDecode(format: TlvFormat, chunks: Uint8Array[], impl: 'ts' | 'native', maxPayload = 65536) {
  const dec = new TlvStreamDecoder(format, { impl, maxPayload });
  const frames: Frame[] = [];
  let status: number = TlvStatus.Ok;
  for (const c of chunks) {
    status = dec.push(c, (kind, b, off, len) => frames.push({ kind, payload: [...b.subarray(off, off + len)] }));
    if (status < 0) break;
  }
  const endStatus = status < 0 ? status : dec.end();
  return { frames, status, endStatus, error: dec.error };
}

describe('native addon', () => {
  it('loads with node-gyp-build and exposes the TLV codec', () => {
    const a = requireNative();
    expect(a.abiVersion).toBe(1);
    expect(typeof a.tlv.decodeBatch).toBe('function');
  });
});

describe.each(impls)('TLV codec (%s)', (impl) => {
  it('decodes a ctrl frame built the way the vendor client builds it, as a view into the buffer', () => {
    const msg = ctrlFrame('{"Command":"interrupt"}');
    const out = createDecodeOut(4);
    const n = tlvCodec(impl).decodeBatch(TlvFormat.Ctrl, msg, 0, msg.length, 65536, out, true);
    expect(n).toBe(1);
    expect(out[OUT_FIRST]).toBe(CTRL_KIND);
    expect(out[OUT_FIRST + 1]).toBe(8);
    expect(out[OUT_FIRST + 2]).toBe(23);
    expect(out[OUT_STATUS]).toBe(TlvStatus.Ok);
    expect(msg.subarray(8, 8 + 23).toString()).toBe('{"Command":"interrupt"}');
  });

  it('decodes many frames from one buffer, including zero-length payloads', () => {
    const buf = Buffer.concat([ctrlFrame('{}'), ctrlFrame(''), ctrlFrame('{"a":1}')]);
    const r = decodeAll(TlvFormat.Ctrl, buf, impl);
    expect(r.status).toBe(TlvStatus.Ok);
    expect(r.frames.map((f) => Buffer.from(f.payload).toString())).toEqual(['{}', '', '{"a":1}']);
  });

  it('reports TLV_BAD_MAGIC on the first wrong byte, keeping earlier frames', () => {
    const buf = Buffer.concat([ctrlFrame('{}'), Buffer.from('ctrX\0\0\0\0')]);
    const r = decodeAll(TlvFormat.Ctrl, buf, impl);
    expect(r.frames).toHaveLength(1);
    expect(r.status).toBe(TlvStatus.BadMagic);
    expect(r.consumed).toBe(10);
    expect(decodeAll(TlvFormat.Ctrl, Buffer.from('x'), impl, false).status).toBe(TlvStatus.BadMagic);
  });

  it('reports TLV_OVERSIZE from the header alone, before the payload arrives', () => {
    const h = Buffer.from([0x63, 0x74, 0x72, 0x6c, 0, 1, 0, 1]); // 65537 declared
    expect(decodeAll(TlvFormat.Ctrl, h, impl, false).status).toBe(TlvStatus.Oversize);
    expect(decodeAll(TlvFormat.Ctrl, h, impl, false, 70000).status).toBe(TlvStatus.NeedMore);
    const big = Buffer.from([0x63, 0x74, 0x72, 0x6c, 0xff, 0xff, 0xff, 0xff]);
    expect(decodeAll(TlvFormat.Ctrl, big, impl, false).status).toBe(TlvStatus.Oversize);
  });

  it('reports NEED_MORE mid-stream and TLV_TRUNCATED at the end (length past the end)', () => {
    const f = ctrlFrame('{"Command":"interrupt"}');
    for (let cut = 1; cut < f.length; cut++) {
      expect(decodeAll(TlvFormat.Ctrl, f.subarray(0, cut), impl, false).status).toBe(TlvStatus.NeedMore);
      expect(decodeAll(TlvFormat.Ctrl, f.subarray(0, cut), impl, true).status).toBe(TlvStatus.Truncated);
    }
  });

  it('reports TLV_UNKNOWN_KIND for an audio-socket kind outside hangup/id/audio/error', () => {
    const buf = Buffer.concat([asFrame(AudioSocketKind.Audio, Buffer.alloc(320)), Buffer.from([0x42, 0, 0])]);
    const r = decodeAll(TlvFormat.AudioSocket, buf, impl);
    expect(r.frames).toHaveLength(1);
    expect(r.status).toBe(TlvStatus.UnknownKind);
    for (const k of [0x00, 0x01, 0x10, 0xff]) {
      expect(decodeAll(TlvFormat.AudioSocket, asFrame(k, Buffer.alloc(2)), impl).status).toBe(TlvStatus.Ok);
    }
  });

  it('stops with OUT_FULL when the result array is full and resumes from consumed', () => {
    const buf = Buffer.concat(Array.from({ length: 10 }, (_, i) => ctrlFrame(`{"i":${i}}`)));
    const out = createDecodeOut(3);
    const codec = tlvCodec(impl);
    let start = 0;
    let total = 0;
    for (;;) {
      total += codec.decodeBatch(TlvFormat.Ctrl, buf, start, buf.length, 65536, out, true);
      if (out[OUT_STATUS] !== TlvStatus.OutFull) break;
      start = out[OUT_CONSUMED];
    }
    expect(total).toBe(10);
    expect(out[OUT_STATUS]).toBe(TlvStatus.Ok);
  });

  it('encode() writes header + payload into a caller buffer at an offset; writeHeader() only the header', () => {
    const codec = tlvCodec(impl);
    const dst = new Uint8Array(64).fill(0xee);
    const payload = Buffer.from('{"Command":"interrupt"}');
    expect(codec.encode(TlvFormat.Ctrl, 0, payload, dst, 5)).toBe(31);
    expect(Buffer.from(dst.subarray(5, 36)).equals(ctrlFrame('{"Command":"interrupt"}'))).toBe(true);
    expect(dst[4]).toBe(0xee);
    expect(codec.encode(TlvFormat.Ctrl, 0, payload, new Uint8Array(30), 0)).toBe(0);
    expect(codec.writeHeader(TlvFormat.AudioSocket, 0x10, 320, dst, 0)).toBe(3);
    expect([...dst.subarray(0, 3)]).toEqual([0x10, 0x01, 0x40]);
    expect(codec.writeHeader(TlvFormat.AudioSocket, 0x10, 70000, dst, 0)).toBe(0);
  });
});

describe('TLV encode helpers', () => {
  it('encodeCtrl() produces the vendor wire format', () => {
    expect(encodeCtrl({ Command: 'interrupt' }).equals(ctrlFrame('{"Command":"interrupt"}'))).toBe(true);
    expect(encodeFrame(TlvFormat.AudioSocket, 0x01, Buffer.alloc(16, 7)).subarray(0, 3)).toEqual(Buffer.from([1, 0, 16]));
  });
});

function sampleStream(): { format: TlvFormat; buf: Buffer; frames: number }[] {
  const ctrl = Buffer.concat([ctrlFrame('{"Command":"interrupt"}'), ctrlFrame(''), ctrlFrame('{"x":"' + 'y'.repeat(300) + '"}'), ctrlFrame('{}')]);
  const as = Buffer.concat([
    asFrame(AudioSocketKind.Id, Buffer.alloc(16, 9)),
    asFrame(AudioSocketKind.Audio, Buffer.from(Array.from({ length: 320 }, (_, i) => i & 0xff))),
    asFrame(AudioSocketKind.Audio, Buffer.alloc(0)),
    asFrame(AudioSocketKind.Hangup, Buffer.alloc(0)),
  ]);
  return [
    { format: TlvFormat.Ctrl, buf: ctrl, frames: 4 },
    { format: TlvFormat.AudioSocket, buf: as, frames: 4 },
  ];
}

describe.each(impls)('TlvStreamDecoder (%s)', (impl) => {
  it('gives the same frames for every two-chunk split position', () => {
    for (const { format, buf, frames } of sampleStream()) {
      const whole = streamDecode(format, [buf], impl);
      expect(whole.frames).toHaveLength(frames);
      for (let cut = 0; cut <= buf.length; cut++) {
        const r = streamDecode(format, [buf.subarray(0, cut), buf.subarray(cut)], impl);
        expect(r.frames, `cut at ${cut}`).toEqual(whole.frames);
        expect(r.endStatus).toBe(TlvStatus.Ok);
      }
    }
  });

  it('gives the same frames when fed one byte at a time and in random three-way splits', () => {
    let seed = 12345;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    for (const { format, buf } of sampleStream()) {
      const whole = streamDecode(format, [buf], impl);
      const bytes = [...buf].map((b) => Uint8Array.of(b));
      expect(streamDecode(format, bytes, impl).frames).toEqual(whole.frames);
      for (let t = 0; t < 200; t++) {
        const a = rnd(buf.length + 1);
        const b = a + rnd(buf.length - a + 1);
        expect(streamDecode(format, [buf.subarray(0, a), buf.subarray(a, b), buf.subarray(b)], impl).frames).toEqual(whole.frames);
      }
    }
  });

  it('hands out frames inside a chunk as views of that chunk (no copy)', () => {
    const buf = Buffer.concat([ctrlFrame('{"a":1}'), ctrlFrame('{"b":2}')]);
    const dec = new TlvStreamDecoder(TlvFormat.Ctrl, { impl });
    const seen: Uint8Array[] = [];
    dec.push(buf, (_k, b) => seen.push(b));
    expect(seen).toHaveLength(2);
    expect(seen.every((b) => b === buf)).toBe(true);
  });

  it('fails the stream with a stable code and keeps failing; end() inside a frame is TLV_TRUNCATED', () => {
    const bad = streamDecode(TlvFormat.Ctrl, [ctrlFrame('{}'), Buffer.from('nope')], impl);
    expect(bad.frames).toHaveLength(1);
    expect(bad.error).toMatchObject({ code: 'TLV_BAD_MAGIC', streamOffset: 10 });
    const over = streamDecode(TlvFormat.Ctrl, [Buffer.from([0x63, 0x74, 0x72]), Buffer.from([0x6c, 0, 0, 4, 1])], impl, 1024);
    expect(over.error?.code).toBe('TLV_OVERSIZE');
    const trunc = streamDecode(TlvFormat.AudioSocket, [asFrame(0x10, Buffer.alloc(320)).subarray(0, 100)], impl);
    expect(trunc.endStatus).toBe(TlvStatus.Truncated);
    expect(trunc.error?.code).toBe('TLV_TRUNCATED');
    const kind = streamDecode(TlvFormat.AudioSocket, [Buffer.from([0x10, 0, 1, 5]), Buffer.from([0x07])], impl);
    expect(kind.frames).toHaveLength(1);
    expect(kind.error?.code).toBe('TLV_UNKNOWN_KIND');
  });
});

describe('native/TS parity', () => {
  it('decodeBatch gives identical results on random and mutated inputs', () => {
    const native = tlvCodec('native');
    const ts = tlvCodec('ts');
    let seed = 99;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const { buf: goodCtrl } = sampleStream()[0];
    const { buf: goodAs } = sampleStream()[1];
    for (let t = 0; t < 3000; t++) {
      const format = t % 2 === 0 ? TlvFormat.Ctrl : TlvFormat.AudioSocket;
      const base = Buffer.from(format === TlvFormat.Ctrl ? goodCtrl : goodAs);
      for (let m = rnd(4); m > 0; m--) base[rnd(base.length)] = rnd(256);
      const end = rnd(base.length + 1);
      const start = rnd(end + 1);
      const maxPayload = [16, 300, 65536][rnd(3)];
      const final = rnd(2) === 1;
      const a = createDecodeOut(rnd(5) + 1);
      const b = createDecodeOut((a.length - OUT_FIRST) / 3);
      const n = native.decodeBatch(format, base, start, end, maxPayload, a, final);
      expect(ts.decodeBatch(format, base, start, end, maxPayload, b, final)).toBe(n);
      expect(b.subarray(0, OUT_FIRST + 3 * n)).toEqual(a.subarray(0, OUT_FIRST + 3 * n));
    }
  });
});
