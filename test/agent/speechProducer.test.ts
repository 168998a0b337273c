import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenAiTts } from '../../src/providers/openaiTts';
import { produceTts, TTS_LOOKAHEAD_MS } from '../../src/agent/speechProducer';
import { SpeechHandle } from '../../src/agent/speechHandle';
import { sine } from '../helpers/audio';
import { OpenAiTestServer } from '../helpers/openaiServer';

const RATE = 16000;
const LIMIT = (TTS_LOOKAHEAD_MS * RATE) / 1000;
const CHUNK = 1600; // samples per server chunk (100 ms)
/** One socket read can carry what piled up while the stream was held (64 KiB). */
const READ = 65536 / 2;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await sleep(5);
  }
}

describe('TTS look-ahead (produceTts into a SpeechHandle)', () => {
  let server: OpenAiTestServer;
  beforeAll(async () => {
    server = await OpenAiTestServer.start();
  });
  afterAll(async () => {
    await server.close();
  });
  const tts = (): OpenAiTts => new OpenAiTts({ Url: server.baseUrl, SourceSampleRate: RATE });

  it(`reads a fast TTS stream only ${TTS_LOOKAHEAD_MS} ms ahead of playback, and gets all of it as playback goes on`, async () => {
    const total = 20 * RATE; // the server sends 20 s of audio as fast as it can
    server.scriptSpeech({ pcm: sine(440, RATE, 20), split: { every: CHUNK * 2 }, chunkDelayMs: 0 });
    const h = new SpeechHandle({ source: 'test', sampleRate: RATE });
    const done = produceTts(h, tts(), 'A long answer.', () => undefined);
    await until(() => h.bufferedSamples >= LIMIT);
    await sleep(200); // the stream is held: nothing more arrives while nobody plays
    expect(h.bufferedSamples).toBeGreaterThanOrEqual(LIMIT);
    expect(h.bufferedSamples).toBeLessThan(LIMIT + CHUNK);
    expect(h.ended).toBe(false);

    h.start();
    const frame = new Int16Array(320);
    let read = 0;
    let maxBuffered = 0;
    while (!h.drained) {
      const n = h.read(frame, 0);
      read += n;
      if (n === 0) await sleep(1); // underrun: the next chunk is on its way
      if ((read / 320) % 25 === 0) await sleep(0); // let the producer run now and then
      maxBuffered = Math.max(maxBuffered, h.bufferedSamples);
    }
    const r = await done;
    expect(r.ok).toBe(true);
    expect(read).toBe(total);
    expect(maxBuffered).toBeLessThanOrEqual(LIMIT + READ); // never the 20 s the server had ready
  });

  it('an interrupt while the stream is held releases the producer and aborts the request', async () => {
    // paced (20 s in ~1 s), so the server is still sending when the interrupt comes: an
    // unpaced body can be all in socket buffers by then, and the request complete
    server.scriptSpeech({ pcm: sine(440, RATE, 20), split: { every: CHUNK * 2 }, chunkDelayMs: 5 });
    const h = new SpeechHandle({ source: 'test', sampleRate: RATE });
    const done = produceTts(h, tts(), 'A long answer.', () => undefined);
    await until(() => h.bufferedSamples >= LIMIT);
    const req = server.requests[server.requests.length - 1]!;
    h.interrupt('bargeIn');
    const r = await Promise.race([done, sleep(1000).then(() => null)]);
    expect(r).not.toBeNull();
    expect(r!.aborted).toBe(true);
    await Promise.race([req.closed, sleep(1000)]);
    expect(req.closedEarly).toBe(true);
  });

  it('waitForRoom: null below the mark, resolves when playback takes enough or the handle finishes', async () => {
    const h = new SpeechHandle({ source: 'test', sampleRate: RATE });
    expect(h.waitForRoom(640)).toBeNull();
    h.pushAudio(new Int16Array(960));
    let woke = false;
    void h.waitForRoom(640)!.then(() => (woke = true));
    h.start();
    h.read(new Int16Array(160), 0); // 800 left: still at/above the mark
    await sleep(0);
    expect(woke).toBe(false);
    h.read(new Int16Array(320), 0); // 480 left
    await sleep(0);
    expect(woke).toBe(true);
    h.pushAudio(new Int16Array(960));
    let released = false;
    void h.waitForRoom(640)!.then(() => (released = true));
    h.interrupt('manual');
    await sleep(0);
    expect(released).toBe(true);
    expect(h.waitForRoom(1)).toBeNull();
  });
});
