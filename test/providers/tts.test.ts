import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderError, isAbortError } from '../../src/errors';
import { EspeakTts } from '../../src/providers/espeakTts';
import { OpenAiTts } from '../../src/providers/openaiTts';
import { encodeWav } from '../../src/providers/wav';
import { concat, rms, sine, toneLevel, zeroCrossingFreq } from '../helpers/audio';
import { OpenAiTestServer } from '../helpers/openaiServer';

async function collect(gen: AsyncIterable<Int16Array>): Promise<{ chunks: Int16Array[]; pcm: Int16Array; error?: unknown }> {
  const chunks: Int16Array[] = [];
  try {
    for await (const c of gen) chunks.push(c);
  } catch (error) {
    return { chunks, pcm: concat(chunks), error };
  }
  return { chunks, pcm: concat(chunks) };
}

/** A process is gone: exited and reaped (a zombie still has its /proc entry). */
function processGone(pid: number): boolean {
  return !existsSync(`/proc/${pid}`);
}

async function waitGone(pid: number, ms = 500): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (processGone(pid)) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return processGone(pid);
}

describe('OpenAiTts.synthesize()', () => {
  let server: OpenAiTestServer;
  beforeAll(async () => {
    server = await OpenAiTestServer.start();
  });
  afterAll(async () => {
    await server.close();
  });
  const tts = (over = {}): OpenAiTts => new OpenAiTts({ Url: server.baseUrl, APIKey: 'k', Voice: 'nova', ...over });

  it('posts the OpenAI speech request with response_format pcm', async () => {
    server.scriptSpeech({ pcm: sine(1000, 24000, 0.1) });
    await collect(tts({ Speed: 1.2 }).synthesize('Hello.', { sampleRate: 24000, signal: new AbortController().signal }));
    const req = server.requests[server.requests.length - 1]!;
    expect(req.path).toBe('/v1/audio/speech');
    expect(req.headers.authorization).toBe('Bearer k');
    expect(req.json).toEqual({ model: 'tts-1', input: 'Hello.', voice: 'nova', response_format: 'pcm', speed: 1.2 });
  });

  it.each([8000, 16000, 48000])(
    'streams chunked 24 kHz PCM with odd chunk sizes, resampled to %i Hz',
    async (rate) => {
      const src = sine(1000, 24000, 0.5);
      server.scriptSpeech({ pcm: src, chunkSizes: [1, 333, 7, 4097, 3], chunkDelayMs: 0 });
      const r = await collect(tts().synthesize('Some text.', { sampleRate: rate, signal: new AbortController().signal }));
      expect(r.error).toBeUndefined();
      expect(r.chunks.length).toBeGreaterThan(3);
      expect(r.pcm.length).toBe(Math.ceil(0.5 * rate));
      const edge = Math.round(rate * 0.03);
      expect(zeroCrossingFreq(r.pcm, rate, edge, r.pcm.length - edge)).toBeCloseTo(1000, 0);
      expect(toneLevel(r.pcm, rate, 1000, edge, r.pcm.length - edge)).toBeGreaterThan(9800);
    },
  );

  it('uses SourceSampleRate for servers that stream PCM at another rate', async () => {
    server.scriptSpeech({ pcm: sine(500, 16000, 0.25), chunkSizes: [101] });
    const r = await collect(
      tts({ SourceSampleRate: 16000 }).synthesize('x', { sampleRate: 8000, signal: new AbortController().signal }),
    );
    expect(r.pcm.length).toBe(2000);
    expect(zeroCrossingFreq(r.pcm, 8000, 200, 1800)).toBeCloseTo(500, 0);
  });

  it('detects a WAV answer and uses the rate of its header', async () => {
    server.scriptSpeech({ pcm: encodeWav(sine(800, 22050, 0.2), 22050), chunkSizes: [3, 50, 1001] });
    const r = await collect(tts().synthesize('x', { sampleRate: 16000, signal: new AbortController().signal }));
    expect(r.pcm.length).toBe(3200);
    expect(zeroCrossingFreq(r.pcm, 16000, 300, 2900)).toBeCloseTo(800, 0);
  });

  it('throws Provider.TTS.Http with the status for 4xx/5xx', async () => {
    server.scriptSpeech({ status: 400, errorBody: { error: { message: 'voice not found' } } }, { status: 503 });
    const a = await collect(tts().synthesize('x', { sampleRate: 16000, signal: new AbortController().signal }));
    expect(a.error).toMatchObject({ code: 'Provider.TTS.Http', status: 400 });
    expect((a.error as Error).message).toContain('voice not found');
    const b = await collect(tts().synthesize('x', { sampleRate: 16000, signal: new AbortController().signal }));
    expect(b.error).toMatchObject({ code: 'Provider.TTS.Http', status: 503 });
  });

  it('throws Provider.TTS.Dropped when the audio stream is cut', async () => {
    server.scriptSpeech({ pcm: sine(1000, 24000, 1), chunkSizes: [4800], chunkDelayMs: 2, dropAfterBytes: 20000 });
    const r = await collect(tts().synthesize('x', { sampleRate: 16000, signal: new AbortController().signal }));
    expect(r.pcm.length).toBeGreaterThan(0);
    expect(r.error).toBeInstanceOf(ProviderError);
    expect(r.error).toMatchObject({ code: 'Provider.TTS.Dropped' });
  });

  it('closes the connection within 50 ms of an abort', async () => {
    server.scriptSpeech({ pcm: sine(1000, 24000, 5), chunkSizes: [2400], chunkDelayMs: 20 });
    const ac = new AbortController();
    let n = 0;
    let t0 = 0;
    let error: unknown;
    try {
      for await (const _ of tts().synthesize('long', { sampleRate: 16000, signal: ac.signal })) {
        if (++n === 3) {
          t0 = performance.now();
          ac.abort();
        }
      }
    } catch (e) {
      error = e;
    }
    expect(isAbortError(error)).toBe(true);
    const req = server.requests[server.requests.length - 1]!;
    expect((await req.closed) - t0).toBeLessThan(50);
    expect(req.closedEarly).toBe(true);
  });
});

describe('EspeakTts.synthesize()', () => {
  const signal = (): AbortSignal => new AbortController().signal;
  const PHRASE = 'Hello world. This is a test of the embedded speech synthesizer.';

  it.each([8000, 16000, 48000])('produces speech at %i Hz with plausible duration and energy', async (rate) => {
    const t0 = performance.now();
    let first = 0;
    const chunks: Int16Array[] = [];
    for await (const c of new EspeakTts().synthesize(PHRASE, { sampleRate: rate, signal: signal() })) {
      if (first === 0) first = performance.now() - t0;
      chunks.push(c);
    }
    const pcm = concat(chunks);
    const seconds = pcm.length / rate;
    console.log(`espeak-ng ${rate} Hz: first audio after ${first.toFixed(1)} ms, ${seconds.toFixed(2)} s of audio`);
    // 11 words at 175 wpm ~ 3.8 s, plus pauses.
    expect(seconds).toBeGreaterThan(2.5);
    expect(seconds).toBeLessThan(8);
    expect(rms(pcm)).toBeGreaterThan(500);
    // Speech energy is spread over the utterance, not a click.
    const third = Math.floor(pcm.length / 3);
    expect(rms(pcm, 0, third)).toBeGreaterThan(200);
    expect(rms(pcm, third, 2 * third)).toBeGreaterThan(200);
    expect(first).toBeLessThan(1000);
  });

  it('streams long text in several chunks, the first long before the end', async () => {
    const long = Array.from({ length: 12 }, (_, i) => `This is sentence number ${i + 1} of a long answer.`).join(' ');
    const t0 = performance.now();
    const times: number[] = [];
    let samples = 0;
    for await (const c of new EspeakTts().synthesize(long, { sampleRate: 16000, signal: signal() })) {
      times.push(performance.now() - t0);
      samples += c.length;
    }
    expect(times.length).toBeGreaterThan(5);
    expect(samples / 16000).toBeGreaterThan(20);
    expect(times[0]!).toBeLessThan(times[times.length - 1]!);
  });

  it('honours Speed: slower speech is longer', async () => {
    const len = async (Speed: number): Promise<number> =>
      (await collect(new EspeakTts({ Speed }).synthesize(PHRASE, { sampleRate: 8000, signal: signal() }))).pcm.length;
    const fast = await len(260);
    const slow = await len(120);
    expect(slow).toBeGreaterThan(fast * 1.5);
  });

  it('kills the espeak-ng process on abort, leaving no zombie', async () => {
    const tts = new EspeakTts({ Speed: 80 });
    const long = 'word '.repeat(3000);
    const ac = new AbortController();
    let error: unknown;
    let pid = 0;
    try {
      for await (const _ of tts.synthesize(long, { sampleRate: 16000, signal: ac.signal })) {
        pid = tts.lastPid!;
        ac.abort();
      }
    } catch (e) {
      error = e;
    }
    expect(isAbortError(error)).toBe(true);
    expect(pid).toBeGreaterThan(0);
    expect(await waitGone(pid)).toBe(true);
  });

  it('kills the process when the consumer stops iterating early', async () => {
    const tts = new EspeakTts();
    for await (const _ of tts.synthesize('word '.repeat(3000), { sampleRate: 16000, signal: signal() })) break;
    expect(await waitGone(tts.lastPid!)).toBe(true);
  });

  it('kills the process when aborted before the first audio', async () => {
    const tts = new EspeakTts();
    const ac = new AbortController();
    const p = collect(tts.synthesize('word '.repeat(3000), { sampleRate: 16000, signal: ac.signal }));
    ac.abort();
    const r = await p;
    expect(isAbortError(r.error)).toBe(true);
    if (tts.lastPid) expect(await waitGone(tts.lastPid)).toBe(true);
  });

  it('throws Provider.TTS.Unavailable when the binary is missing', async () => {
    const r = await collect(new EspeakTts({ Binary: 'espeak-ng-not-installed' }).synthesize('hi', { sampleRate: 16000, signal: signal() }));
    expect(r.error).toMatchObject({ code: 'Provider.TTS.Unavailable' });
  });

  it('throws Provider.TTS.Process when the process fails (non-zero exit, no audio)', async () => {
    const r = await collect(new EspeakTts({ Binary: 'false' }).synthesize('hi', { sampleRate: 16000, signal: signal() }));
    expect(r.error).toMatchObject({ code: 'Provider.TTS.Process' });
  });

  it('throws Provider.TTS.Timeout and kills a process that produces no output', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vb-tts-'));
    const fake = join(dir, 'stuck-espeak');
    writeFileSync(fake, '#!/bin/sh\nexec sleep 30\n', { mode: 0o755 });
    const tts = new EspeakTts({ Binary: fake, TimeoutMs: 150 });
    const r = await collect(tts.synthesize('hi', { sampleRate: 16000, signal: signal() }));
    expect(r.error).toMatchObject({ code: 'Provider.TTS.Timeout' });
    expect(await waitGone(tts.lastPid!)).toBe(true);
    rmSync(dir, { recursive: true, force: true });
  });

  it('does not time out while the consumer holds a chunk (playout pacing)', async () => {
    const tts = new EspeakTts({ TimeoutMs: 100 });
    let n = 0;
    for await (const _ of tts.synthesize('One sentence here. And another one there. And a third.', { sampleRate: 8000, signal: signal() })) {
      if (n++ < 3) await new Promise((r) => setTimeout(r, 150));
    }
    expect(n).toBeGreaterThan(1);
  });

  it('yields nothing for blank text', async () => {
    const r = await collect(new EspeakTts().synthesize('   ', { sampleRate: 16000, signal: signal() }));
    expect(r.pcm.length).toBe(0);
    expect(r.error).toBeUndefined();
  });
});
