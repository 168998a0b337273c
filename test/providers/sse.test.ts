import { describe, expect, it } from 'vitest';
import { FrameError } from '../../src/errors';
import { SseParser, type SseEvent } from '../../src/providers/sse';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function parseChunks(chunks: Uint8Array[], max?: number): SseEvent[] {
  const p = new SseParser(max !== undefined ? { maxEventBytes: max } : {});
  const out: SseEvent[] = [];
  for (const c of chunks) out.push(...p.push(c));
  return out;
}

function splitAt(buf: Uint8Array, cuts: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of [...cuts, buf.length]) {
    out.push(buf.subarray(prev, c));
    prev = c;
  }
  return out;
}

// A representative stream: LF, CRLF and CR line ends, keep-alives, multi-line data,
// an event type, an id, multi-byte UTF-8 (2, 3 and 4 bytes), an empty data line.
const REPRESENTATIVE =
  ': keep-alive\n\n' +
  'data: {"a":"héllo"}\n\n' +
  'event: update\r\ndata: line one\r\ndata: line two 日本語\r\n\r\n' +
  ':ping\r\r' +
  'id: 7\rdata: emoji 😀 ok\r\r' +
  'data\n\n' +
  'data:no-space\ndata:  two-spaces\n\n' +
  'retry: 1500\ndata: [DONE]\n\n';

const EXPECTED: SseEvent[] = [
  { event: 'message', data: '{"a":"héllo"}', id: '' },
  { event: 'update', data: 'line one\nline two 日本語', id: '' },
  { event: 'message', data: 'emoji 😀 ok', id: '7' },
  { event: 'message', data: '', id: '7' },
  { event: 'message', data: 'no-space\n two-spaces', id: '7' },
  { event: 'message', data: '[DONE]', id: '7', retry: 1500 },
];

describe('SseParser', () => {
  it('parses a representative stream in one chunk', () => {
    expect(parseChunks([enc(REPRESENTATIVE)])).toEqual(EXPECTED);
  });

  it('gives the same events for a split at every byte position', () => {
    const buf = enc(REPRESENTATIVE);
    for (let i = 0; i <= buf.length; i++) {
      expect(parseChunks(splitAt(buf, [i])), `split at ${i}`).toEqual(EXPECTED);
    }
  });

  it('gives the same events for every pair of split positions', () => {
    const buf = enc(REPRESENTATIVE);
    for (let i = 1; i < buf.length; i += 1) {
      for (let j = i + 1; j < buf.length; j += 3) {
        expect(parseChunks(splitAt(buf, [i, j]))).toEqual(EXPECTED);
      }
    }
  });

  it('gives the same events when fed one byte at a time', () => {
    const buf = enc(REPRESENTATIVE);
    const chunks = Array.from(buf, (_, i) => buf.subarray(i, i + 1));
    expect(parseChunks(chunks)).toEqual(EXPECTED);
  });

  it('treats a CR at the end of a chunk and an LF at the start of the next as one line end', () => {
    const events = parseChunks([enc('data: a\r'), enc('\ndata: b\r'), enc('\n\r'), enc('\n')]);
    expect(events).toEqual([{ event: 'message', data: 'a\nb', id: '' }]);
  });

  it('dispatches several events from one chunk', () => {
    const events = parseChunks([enc('data: 1\n\ndata: 2\n\ndata: 3\n\n')]);
    expect(events.map((e) => e.data)).toEqual(['1', '2', '3']);
  });

  it('ignores comment lines and counts them as keep-alives', () => {
    const p = new SseParser();
    expect(p.push(enc(': ping\n\n:\n\n: x\n'))).toEqual([]);
    expect(p.comments).toBe(3);
    expect(p.hasPartialEvent).toBe(false);
  });

  it('strips a UTF-8 BOM at the start, also when split', () => {
    const body = new Uint8Array([0xef, 0xbb, 0xbf, ...enc('data: x\n\n')]);
    for (let i = 0; i <= 4; i++) expect(parseChunks(splitAt(body, [i]))).toEqual([{ event: 'message', data: 'x', id: '' }]);
  });

  it('reports a partial event at the end of the stream and discards it', () => {
    const p = new SseParser();
    p.push(enc('data: complete\n\ndata: incomp'));
    expect(p.hasPartialEvent).toBe(true);
    p.end();
    expect(p.hasPartialEvent).toBe(false);
    const q = new SseParser();
    q.push(enc('data: no blank line yet\n'));
    expect(q.hasPartialEvent).toBe(true);
  });

  it('throws FrameError Sse.EventTooLarge as soon as a line exceeds the limit, before its end', () => {
    const p = new SseParser({ maxEventBytes: 100 });
    p.push(enc('data: ' + 'x'.repeat(50)));
    let err: unknown;
    try {
      p.push(enc('y'.repeat(60))); // no line end yet
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FrameError);
    expect((err as FrameError).code).toBe('Sse.EventTooLarge');
    expect(() => p.push(enc('\n\n'))).toThrow(FrameError);
  });

  it('counts accumulated data lines of one event against the limit', () => {
    const line = 'data: ' + 'z'.repeat(30) + '\n';
    expect(parseChunks([enc(line.repeat(3) + '\n')], 120)).toHaveLength(1);
    expect(() => parseChunks([enc(line.repeat(4) + '\n')], 120)).toThrow(/exceeds/);
    // The limit is per event: many small events are fine.
    expect(parseChunks([enc((line + '\n').repeat(20))], 120)).toHaveLength(20);
  });

  it('ignores unknown fields and events without data', () => {
    expect(parseChunks([enc('foo: bar\nevent: x\n\ndata: y\n\n')])).toEqual([{ event: 'message', data: 'y', id: '' }]);
  });
});
