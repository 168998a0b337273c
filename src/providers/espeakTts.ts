/**
 * Embedded default TTS: Debian's `espeak-ng`, run once per text with
 * `--stdout --stdin`. Its standard output is a WAV stream at 22050 Hz whose header
 * is parsed as it arrives; samples are then resampled to the output rate and
 * yielded as espeak produces them (it synthesizes clause by clause, so the first
 * audio comes long before the end of a long text).
 *
 * The process is killed (SIGKILL) on abort, on timeout, and when the consumer
 * stops iterating; Node reaps it, so no zombie is left.
 *
 * Error codes: Provider.TTS.Unavailable (espeak-ng not installed),
 * Provider.TTS.Process (non-zero exit, bad output), Provider.TTS.Timeout.
 */
import { spawn } from 'node:child_process';
import { FrameError, ProviderError } from '../errors';
import { createLogger } from '../log';
import { abortError } from './http';
import { StreamResampler } from './resample';
import type { TtsOptions, TtsProvider } from './tts';
import { WavStreamParser } from './wav';

export interface EspeakTtsConfig {
  /** espeak-ng voice (default 'en-us'; e.g. 'en-gb', 'de', 'en-us+f3'). */
  Voice?: string;
  /** Words per minute (default 175). */
  Speed?: number;
  /** 0..99 (default 50). */
  Pitch?: number;
  /** 0..200 (default 100). */
  Amplitude?: number;
  /** Pause between words, in 10 ms units at the default speed. */
  WordGap?: number;
  /** Binary to run (default 'espeak-ng'). */
  Binary?: string;
  /** Longest wait for output from espeak-ng (default 10 s); time the consumer holds a chunk does not count. */
  TimeoutMs?: number;
}

const log = createLogger('providers.espeak');

export class EspeakTts implements TtsProvider {
  readonly kind = 'espeak';
  /** Pid of the last process started (tests check it is gone after an abort). */
  lastPid: number | undefined;

  constructor(private readonly config: EspeakTtsConfig = {}) {}

  async *synthesize(text: string, options: TtsOptions): AsyncGenerator<Int16Array, void, undefined> {
    const { signal, sampleRate } = options;
    if (signal.aborted) throw abortError();
    if (text.trim() === '') return;
    const cfg = this.config;
    const args = ['--stdout', '--stdin', '-b', '1', '-v', cfg.Voice ?? 'en-us', '-s', String(cfg.Speed ?? 175)];
    if (cfg.Pitch !== undefined) args.push('-p', String(cfg.Pitch));
    if (cfg.Amplitude !== undefined) args.push('-a', String(cfg.Amplitude));
    if (cfg.WordGap !== undefined) args.push('-g', String(cfg.WordGap));
    const binary = cfg.Binary ?? 'espeak-ng';

    const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.lastPid = child.pid;
    let failure: Error | undefined;
    let spawnError: NodeJS.ErrnoException | undefined;
    const stderr: Buffer[] = [];
    const exited = new Promise<{ code: number | null; sig: NodeJS.Signals | null }>((resolve) =>
      child.once('close', (code, sig) => resolve({ code, sig })),
    );
    const kill = (err: Error): void => {
      if (!failure) failure = err;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      spawnError = err;
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 16) stderr.push(d);
    });
    child.stdin.on('error', () => {
      /* EPIPE when the process died: reported by the exit status */
    });
    const onAbort = (): void => kill(abortError());
    signal.addEventListener('abort', onAbort, { once: true });
    const timeoutMs = cfg.TimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(
        () => kill(new ProviderError('Provider.TTS.Timeout', `no output from espeak-ng for ${timeoutMs} ms`)),
        timeoutMs,
      );
    };
    arm();
    child.stdin.end(text, 'utf8');

    const wav = new WavStreamParser();
    let resampler: StreamResampler | null = null;
    let finished = false;
    try {
      for await (const chunk of child.stdout) {
        if (failure) break;
        let samples: Int16Array;
        try {
          samples = wav.push(chunk as Buffer);
        } catch (err) {
          if (err instanceof FrameError) {
            throw new ProviderError('Provider.TTS.Process', `espeak-ng output: ${err.message}`, { cause: err });
          }
          throw err;
        }
        if (!resampler) {
          if (!wav.format) continue;
          resampler = new StreamResampler(wav.format.sampleRate, sampleRate);
        }
        const out = resampler.push(samples);
        if (out.length > 0) {
          clearTimeout(timer);
          yield out;
          if (signal.aborted) kill(abortError());
          if (failure) break;
          arm();
        }
      }
      const { code, sig } = await exited;
      if (failure) throw failure;
      if (spawnError) {
        throw spawnError.code === 'ENOENT'
          ? new ProviderError('Provider.TTS.Unavailable', `${binary} not found: install the Debian package espeak-ng`, {
              cause: spawnError,
            })
          : new ProviderError('Provider.TTS.Process', `cannot run ${binary}: ${spawnError.message}`, { cause: spawnError });
      }
      if (code !== 0) {
        const msg = Buffer.concat(stderr).toString('utf8').trim().slice(0, 300);
        throw new ProviderError('Provider.TTS.Process', `${binary} exited with ${code ?? sig}${msg ? `: ${msg}` : ''}`);
      }
      if (!resampler) throw new ProviderError('Provider.TTS.Process', `${binary} produced no audio`);
      const tail = resampler.flush();
      finished = true;
      if (tail.length > 0) yield tail;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      if (!finished && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        log.debug('espeak-ng killed', { pid: child.pid });
      }
    }
  }
}
