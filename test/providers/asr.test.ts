import fs from 'node:fs';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderError, isAbortError } from '../../src/errors';
import { EspeakTts } from '../../src/providers/espeakTts';
import { OpenAiAsr } from '../../src/providers/openaiAsr';
import { PocketsphinxAsr, parseHypotheses } from '../../src/providers/pocketsphinxAsr';
import { concat, parseWav, sine } from '../helpers/audio';
import { OpenAiTestServer } from '../helpers/openaiServer';

const signal = (): AbortSignal => new AbortController().signal;

async function speak(text: string, sampleRate: number): Promise<Int16Array> {
  const parts: Int16Array[] = [];
  for await (const c of new EspeakTts({ Speed: 150 }).synthesize(text, { sampleRate, signal: signal() })) parts.push(c);
  return concat(parts);
}

async function waitGone(pid: number, ms = 1000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end && existsSync(`/proc/${pid}`)) await new Promise((r) => setTimeout(r, 5));
  return !existsSync(`/proc/${pid}`);
}

describe('OpenAiAsr.transcribe()', () => {
  let server: OpenAiTestServer;
  beforeAll(async () => {
    server = await OpenAiTestServer.start();
  });
  afterAll(async () => {
    await server.close();
  });

  it('posts multipart/form-data with a valid 16 kHz WAV file, model and language, and returns the text', async () => {
    server.scriptTranscription({ text: '  Hello there.  ' });
    const asr = new OpenAiAsr({ Url: server.baseUrl, APIKey: 'k', ModelName: 'whisper-large', Language: 'en' });
    const pcm = sine(440, 48000, 0.5);
    const r = await asr.transcribe(pcm, 48000, signal());
    expect(r).toMatchObject({ text: 'Hello there.', durationMs: 500 });
    const req = server.requests[server.requests.length - 1]!;
    expect(req.path).toBe('/v1/audio/transcriptions');
    expect(req.headers.authorization).toBe('Bearer k');
    expect(req.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    const fields = Object.fromEntries(req.parts!.filter((p) => !p.filename).map((p) => [p.name, p.data.toString()]));
    expect(fields).toMatchObject({ model: 'whisper-large', language: 'en', response_format: 'json' });
    const file = req.parts!.find((p) => p.name === 'file')!;
    expect(file.filename).toMatch(/\.wav$/);
    expect(file.contentType).toBe('audio/wav');
    const wav = parseWav(file.data);
    expect(wav).toMatchObject({ sampleRate: 16000, channels: 1, bits: 16 });
    expect(wav.samples.length).toBe(8000);
  });

  it('keeps the input rate with UploadSampleRate 0', async () => {
    const asr = new OpenAiAsr({ Url: server.baseUrl, UploadSampleRate: 0 });
    await asr.transcribe(sine(440, 8000, 0.25), 8000, signal());
    const file = server.requests[server.requests.length - 1]!.parts!.find((p) => p.name === 'file')!;
    expect(parseWav(file.data)).toMatchObject({ sampleRate: 8000 });
    expect(parseWav(file.data).samples.length).toBe(2000);
  });

  it('throws Provider.ASR.Http with the status and message for 4xx/5xx', async () => {
    server.scriptTranscription({ status: 401, errorBody: { error: { message: 'bad key' } } }, { status: 500 });
    const asr = new OpenAiAsr({ Url: server.baseUrl });
    await expect(asr.transcribe(new Int16Array(1600), 16000, signal())).rejects.toMatchObject({
      code: 'Provider.ASR.Http',
      status: 401,
      message: expect.stringContaining('bad key'),
    });
    await expect(asr.transcribe(new Int16Array(1600), 16000, signal())).rejects.toBeInstanceOf(ProviderError);
  });

  it('closes the connection on an abort, not when the answer would come', async () => {
    server.scriptTranscription({ text: 'late', delayMs: 2000 });
    const asr = new OpenAiAsr({ Url: server.baseUrl });
    const ac = new AbortController();
    const p = asr.transcribe(new Int16Array(16000), 16000, ac.signal);
    const req = await server.waitForRequests(server.requests.length + 1);
    const t0 = performance.now();
    ac.abort();
    const err = await p.catch((e: unknown) => e);
    expect(isAbortError(err)).toBe(true);
    // the answer is 2000 ms away: closed by the abort, with room for a loaded test machine
    // (a fresh-clone CI run measured 61 ms here while vitest's own RPC timed out)
    expect((await req.closed) - t0).toBeLessThan(500);
  });

  it('throws Provider.ASR.Timeout when the answer takes too long', async () => {
    server.scriptTranscription({ text: 'late', delayMs: 1000 });
    const asr = new OpenAiAsr({ Url: server.baseUrl, TimeoutMs: 100 });
    await expect(asr.transcribe(new Int16Array(1600), 16000, signal())).rejects.toMatchObject({
      code: 'Provider.ASR.Timeout',
    });
  });
});

describe('PocketsphinxAsr.transcribe()', () => {
  it('recognises an espeak-ng utterance (at least two expected words)', async () => {
    // Accuracy on synthetic speech is weak; this phrase is recognised well by the en-us model.
    const pcm = await speak('What is the weather like today?', 16000);
    const asr = new PocketsphinxAsr();
    const t0 = performance.now();
    const r = await asr.transcribe(pcm, 16000, signal());
    const ms = performance.now() - t0;
    console.log(`pocketsphinx: "${r.text}" for ${r.durationMs} ms of audio in ${ms.toFixed(0)} ms`);
    expect(r.text.length).toBeGreaterThan(0);
    const words = r.text.toLowerCase().split(/\s+/);
    const expected = ['what', 'is', 'the', 'weather', 'like', 'today'];
    expect(words.filter((w) => expected.includes(w)).length).toBeGreaterThanOrEqual(2);
    expect(r.durationMs).toBeGreaterThan(1000);
    expect(r.elapsedMs).toBeGreaterThan(0);
  });

  it('accepts 48 kHz input (resampled to 16 kHz)', async () => {
    const pcm = await speak('How are you today?', 48000);
    const r = await new PocketsphinxAsr().transcribe(pcm, 48000, signal());
    expect(r.text.length).toBeGreaterThan(0);
  });

  it('returns empty text for silence', async () => {
    const r = await new PocketsphinxAsr().transcribe(new Int16Array(16000), 16000, signal());
    expect(r.text).toBe('');
  });

  it('kills the recogniser on abort, leaving no process', async () => {
    const pcm = await speak('This is a somewhat longer sentence to keep the recogniser busy for a while. '.repeat(4), 16000);
    const asr = new PocketsphinxAsr();
    const ac = new AbortController();
    const p = asr.transcribe(pcm, 16000, ac.signal);
    // Wait until the process is running.
    const end = Date.now() + 5000;
    while (asr.lastPid === undefined && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
    const pid = asr.lastPid!;
    ac.abort();
    const err = await p.catch((e: unknown) => e);
    expect(isAbortError(err)).toBe(true);
    expect(await waitGone(pid)).toBe(true);
  });

  it('throws Provider.ASR.Unavailable when the binary or the model is missing', async () => {
    await expect(
      new PocketsphinxAsr({ Binary: 'pocketsphinx-not-installed' }).transcribe(new Int16Array(1600), 16000, signal()),
    ).rejects.toMatchObject({ code: 'Provider.ASR.Unavailable' });
    await expect(
      new PocketsphinxAsr({ ModelDir: '/nonexistent/model' }).transcribe(new Int16Array(1600), 16000, signal()),
    ).rejects.toMatchObject({ code: 'Provider.ASR.Unavailable', message: expect.stringContaining('pocketsphinx-en-us') });
  });

  it('runs at most MaxConcurrent recognisers and queues the rest', async () => {
    const pcm = await speak('Hello world.', 16000);
    const asr = new PocketsphinxAsr({ MaxConcurrent: 1 });
    // Count this process's recogniser children while three requests run (timing
    // comparisons flaked on a loaded machine; the process count cannot).
    const children = (): number => {
      let n = 0;
      for (const d of fs.readdirSync('/proc')) {
        if (!/^\d+$/.test(d)) continue;
        try {
          const st = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
          const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
          if (ppid === process.pid && st.includes('(pocketsphinx')) n++;
        } catch {
          /* exited meanwhile */
        }
      }
      return n;
    };
    let maxSeen = 0;
    const poll = setInterval(() => (maxSeen = Math.max(maxSeen, children())), 15);
    const results = await Promise.all([1, 2, 3].map(() => asr.transcribe(pcm, 16000, signal())));
    clearInterval(poll);
    expect(results.every((r) => typeof r.text === 'string')).toBe(true);
    expect(maxSeen).toBe(1);
    // Serialised: the last one waited for the two before it.
    const sorted = results.map((r) => r.elapsedMs).sort((a, b) => a - b);
    expect(sorted[2]).toBeGreaterThan(sorted[0]);
  });

  it('parses hypothesis lines, dropping markers', () => {
    expect(parseHypotheses('hello world\n\n<s> how are you </s>\nINFO: x\n')).toBe('hello world how are you');
  });
});
