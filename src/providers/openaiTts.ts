/**
 * OpenAI-compatible TTS: `POST /v1/audio/speech` with `response_format: "pcm"`,
 * whose answer is raw PCM16 LE mono at 24 kHz (OpenAI's format; configurable as
 * `SourceSampleRate` for other servers), streamed with chunked transfer. Chunks
 * that split a sample are handled; a server that answers with a WAV file instead
 * (RIFF header) is detected and its header's rate is used. The audio is resampled
 * to the requested output rate as it arrives.
 *
 * Error codes: Provider.TTS.Network, .Timeout, .Http (status set), .Dropped, .Format.
 */
import { FrameError, ProviderError } from '../errors';
import { abortError, authHeaders, endpointUrl, httpError, postJson } from './http';
import { StreamResampler } from './resample';
import type { TtsOptions, TtsProvider } from './tts';
import { Pcm16Reader, WavStreamParser } from './wav';

export interface OpenAiTtsConfig {
  /** Full `/audio/speech` URL or a base URL (`https://api.openai.com/v1`). */
  Url: string;
  APIKey?: string;
  /** Default 'tts-1'. */
  ModelName?: string;
  /** Default 'alloy'. */
  Voice?: string;
  /** 0.25 .. 4.0 */
  Speed?: number;
  /** Rate of the raw PCM the server sends (default 24000). */
  SourceSampleRate?: number;
  Headers?: Record<string, string>;
  ExtraBody?: Record<string, unknown>;
  ConnectTimeoutMs?: number;
  /** Until the first audio byte (default 10 s). */
  FirstByteTimeoutMs?: number;
  /** Between audio chunks (default 10 s). */
  IdleTimeoutMs?: number;
}

export class OpenAiTts implements TtsProvider {
  readonly kind = 'openai';
  private readonly url: URL;

  constructor(private readonly config: OpenAiTtsConfig) {
    this.url = endpointUrl(config.Url, '/audio/speech');
  }

  async *synthesize(text: string, options: TtsOptions): AsyncGenerator<Int16Array, void, undefined> {
    const { signal, sampleRate } = options;
    if (signal.aborted) throw abortError();
    if (text.trim() === '') return;
    const cfg = this.config;
    const json: Record<string, unknown> = {
      model: cfg.ModelName ?? 'tts-1',
      input: text,
      voice: cfg.Voice ?? 'alloy',
      response_format: 'pcm',
    };
    if (cfg.Speed !== undefined) json.speed = cfg.Speed;
    if (cfg.ExtraBody) Object.assign(json, cfg.ExtraBody);
    const firstByteMs = cfg.FirstByteTimeoutMs ?? 10_000;
    const idleMs = cfg.IdleTimeoutMs ?? 10_000;
    const res = await postJson({
      url: this.url,
      json,
      headers: { accept: 'audio/pcm, application/octet-stream, audio/wav', ...authHeaders(cfg.APIKey, cfg.Headers) },
      signal,
      prefix: 'Provider.TTS',
      connectTimeoutMs: cfg.ConnectTimeoutMs ?? 5000,
      responseTimeoutMs: firstByteMs,
    });
    try {
      if (res.status < 200 || res.status >= 300) throw await httpError(res, 'Provider.TTS');
      const ctype = String(res.headers['content-type'] ?? '');
      if (ctype.includes('application/json') || ctype.startsWith('text/')) {
        throw new ProviderError('Provider.TTS.Format', `expected audio, got ${ctype}`);
      }
      res.arm(firstByteMs, 'first audio byte');
      // Raw PCM, unless the first bytes say RIFF.
      let mode: 'sniff' | 'pcm' | 'wav' = 'sniff';
      let head: Buffer = Buffer.alloc(0);
      const pcm = new Pcm16Reader();
      const wav = new WavStreamParser();
      let resampler: StreamResampler | null = null;
      const convert = (bytes: Uint8Array): Int16Array => {
        if (mode === 'pcm') return pcm.push(bytes);
        const s = wav.push(bytes);
        return s;
      };
      for await (const chunk of res.body) {
        res.arm(idleMs, 'idle');
        let bytes: Uint8Array = chunk;
        if (mode === 'sniff') {
          head = Buffer.concat([head, chunk]);
          if (head.length < 4) continue;
          mode = head.toString('latin1', 0, 4) === 'RIFF' ? 'wav' : 'pcm';
          bytes = head;
        }
        let samples: Int16Array;
        try {
          samples = convert(bytes);
        } catch (err) {
          if (err instanceof FrameError) throw new ProviderError('Provider.TTS.Format', err.message, { cause: err });
          throw err;
        }
        if (!resampler) {
          const rate = mode === 'wav' ? wav.format?.sampleRate : cfg.SourceSampleRate ?? 24000;
          if (rate === undefined) continue; // WAV header not complete yet
          resampler = new StreamResampler(rate, sampleRate);
        }
        const out = resampler.push(samples);
        if (out.length > 0) {
          res.disarm(); // a consumer pacing playout is not an idle server
          yield out;
          if (signal.aborted) throw abortError();
          res.arm(idleMs, 'idle');
        }
      }
      res.disarm();
      if (mode === 'sniff' && head.length > 0) {
        throw new ProviderError('Provider.TTS.Format', `audio answer of ${head.length} bytes`);
      }
      if (resampler) {
        const tail = resampler.flush();
        if (tail.length > 0) yield tail;
      }
    } finally {
      res.close();
    }
  }
}
