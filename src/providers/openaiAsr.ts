/**
 * OpenAI-compatible ASR: `POST /v1/audio/transcriptions`, multipart/form-data with
 * the utterance as a WAV file plus `model` (and optional `language`, `prompt`),
 * JSON answer `{ "text" }`.
 *
 * Error codes: Provider.ASR.Network, .Timeout, .Http (status set), .Dropped, .Format.
 */
import { randomBytes } from 'node:crypto';
import { ProviderError } from '../errors';
import { type AsrProvider, type AsrResult, durationMs } from './asr';
import { abortError, authHeaders, endpointUrl, httpError, httpPost } from './http';
import { resample } from './resample';
import { encodeWav } from './wav';

export interface OpenAiAsrConfig {
  /** Full `/audio/transcriptions` URL or a base URL (`https://api.openai.com/v1`). */
  Url: string;
  APIKey?: string;
  /** Default 'whisper-1'. */
  ModelName?: string;
  /** ISO-639-1 code, e.g. 'en'. */
  Language?: string;
  Prompt?: string;
  Headers?: Record<string, string>;
  /** Extra form fields. */
  ExtraFields?: Record<string, string>;
  /** Resample the upload to this rate (default: 16000; 0 keeps the input rate). */
  UploadSampleRate?: number;
  ConnectTimeoutMs?: number;
  /** Until the answer is complete (default 30 s). */
  TimeoutMs?: number;
}

/** Builds a multipart/form-data body (fields, then one file). */
export function multipartBody(
  fields: Record<string, string>,
  file: { field: string; filename: string; contentType: string; data: Buffer },
): { body: Buffer; contentType: string } {
  const boundary = `----voxbridge${randomBytes(12).toString('hex')}`;
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    parts.push(
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`, 'utf8'),
    );
  }
  parts.push(
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="${file.field}"; filename="${file.filename}"\r\n` +
        `Content-Type: ${file.contentType}\r\n\r\n`,
      'utf8',
    ),
    file.data,
    Buffer.from(`\r\n--${boundary}--\r\n`, 'utf8'),
  );
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

export class OpenAiAsr implements AsrProvider {
  readonly kind = 'openai';
  private readonly url: URL;

  constructor(private readonly config: OpenAiAsrConfig) {
    this.url = endpointUrl(config.Url, '/audio/transcriptions');
  }

  async transcribe(pcm: Int16Array, sampleRate: number, signal: AbortSignal): Promise<AsrResult> {
    if (signal.aborted) throw abortError();
    const started = performance.now();
    const cfg = this.config;
    const uploadRate = cfg.UploadSampleRate === 0 ? sampleRate : cfg.UploadSampleRate ?? 16000;
    const audio = uploadRate === sampleRate ? pcm : resample(pcm, sampleRate, uploadRate);
    const fields: Record<string, string> = { model: cfg.ModelName ?? 'whisper-1', response_format: 'json' };
    if (cfg.Language) fields.language = cfg.Language;
    if (cfg.Prompt) fields.prompt = cfg.Prompt;
    if (cfg.ExtraFields) Object.assign(fields, cfg.ExtraFields);
    const { body, contentType } = multipartBody(fields, {
      field: 'file',
      filename: 'utterance.wav',
      contentType: 'audio/wav',
      data: encodeWav(audio, uploadRate),
    });
    const timeoutMs = cfg.TimeoutMs ?? 30_000;
    const res = await httpPost({
      url: this.url,
      body,
      headers: { 'content-type': contentType, accept: 'application/json', ...authHeaders(cfg.APIKey, cfg.Headers) },
      signal,
      prefix: 'Provider.ASR',
      connectTimeoutMs: cfg.ConnectTimeoutMs ?? 5000,
      responseTimeoutMs: timeoutMs,
    });
    try {
      if (res.status < 200 || res.status >= 300) throw await httpError(res, 'Provider.ASR');
      res.arm(timeoutMs, 'transcription');
      const parts: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        size += chunk.length;
        if (size > 1024 * 1024) throw new ProviderError('Provider.ASR.Format', 'transcription answer over 1 MiB');
        parts.push(chunk);
      }
      res.disarm();
      const raw = Buffer.concat(parts).toString('utf8');
      let text: unknown;
      try {
        text = (JSON.parse(raw) as { text?: unknown }).text;
      } catch {
        // response_format "text" servers answer with the bare text.
        if (!String(res.headers['content-type'] ?? '').includes('json')) text = raw;
      }
      if (typeof text !== 'string') {
        throw new ProviderError('Provider.ASR.Format', `no text in the transcription answer: ${raw.slice(0, 100)}`);
      }
      return {
        text: text.trim(),
        durationMs: durationMs(pcm.length, sampleRate),
        elapsedMs: Math.round(performance.now() - started),
      };
    } finally {
      res.close();
    }
  }
}
