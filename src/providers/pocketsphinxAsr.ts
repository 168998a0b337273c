/**
 * Embedded default ASR: Debian's pocketsphinx (`pocketsphinx_continuous`) with the
 * `pocketsphinx-en-us` model. Each utterance is written as a 16 kHz mono WAV to a
 * private temporary directory and recognised with `-infile`; the hypothesis lines
 * on stdout are joined. Offline and CPU-bound (a few hundred ms per utterance), so
 * at most `MaxConcurrent` recognisers run at once; the others wait their turn.
 *
 * The process is killed on abort and on timeout; the temporary files are removed.
 *
 * Error codes: Provider.ASR.Unavailable (binary or model missing),
 * Provider.ASR.Process (non-zero exit), Provider.ASR.Timeout.
 */
import { spawn } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProviderError } from '../errors';
import { type AsrProvider, type AsrResult, durationMs } from './asr';
import { abortError } from './http';
import { resample } from './resample';
import { encodeWav } from './wav';

export interface PocketsphinxAsrConfig {
  /** Default 'pocketsphinx_continuous'. */
  Binary?: string;
  /** Directory of the Debian model (default /usr/share/pocketsphinx/model/en-us). */
  ModelDir?: string;
  /** Acoustic model dir, language model, dictionary (defaults inside ModelDir). */
  Hmm?: string;
  Lm?: string;
  Dict?: string;
  /** Default 2 (the machine's cores). */
  MaxConcurrent?: number;
  /** Per utterance, including the wait for a slot (default 30 s). */
  TimeoutMs?: number;
}

const RATE = 16000;

/** A counting semaphore whose waiters can give up (abort). */
class Slots {
  private free: number;
  private readonly waiters: (() => void)[] = [];
  constructor(n: number) {
    this.free = n;
  }
  async acquire(signal: AbortSignal): Promise<() => void> {
    if (this.free > 0) {
      this.free--;
      return () => this.release();
    }
    await new Promise<void>((resolve, reject) => {
      const go = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        const i = this.waiters.indexOf(go);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(abortError());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(go);
    });
    return () => this.release();
  }
  private release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }
}

export class PocketsphinxAsr implements AsrProvider {
  readonly kind = 'pocketsphinx';
  /** Pid of the last recogniser started (tests check it is gone after an abort). */
  lastPid: number | undefined;
  private readonly slots: Slots;
  private checked: Promise<void> | undefined;

  constructor(private readonly config: PocketsphinxAsrConfig = {}) {
    this.slots = new Slots(Math.max(1, config.MaxConcurrent ?? 2));
  }

  private get paths(): { hmm: string; lm: string; dict: string } {
    const dir = this.config.ModelDir ?? '/usr/share/pocketsphinx/model/en-us';
    return {
      hmm: this.config.Hmm ?? join(dir, 'en-us'),
      lm: this.config.Lm ?? join(dir, 'en-us.lm.bin'),
      dict: this.config.Dict ?? join(dir, 'cmudict-en-us.dict'),
    };
  }

  /** Resolves when the model files are readable; rejects with Provider.ASR.Unavailable. */
  checkModel(): Promise<void> {
    this.checked ??= (async () => {
      const p = this.paths;
      for (const f of [join(p.hmm, 'mdef'), p.lm, p.dict]) {
        try {
          await access(f, fsc.R_OK);
        } catch {
          this.checked = undefined;
          throw new ProviderError(
            'Provider.ASR.Unavailable',
            `pocketsphinx model file missing: ${f} (install the Debian packages pocketsphinx and pocketsphinx-en-us)`,
          );
        }
      }
    })();
    return this.checked;
  }

  async transcribe(pcm: Int16Array, sampleRate: number, signal: AbortSignal): Promise<AsrResult> {
    if (signal.aborted) throw abortError();
    const started = performance.now();
    await this.checkModel();
    const timeoutMs = this.config.TimeoutMs ?? 30_000;
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
    let release: () => void;
    try {
      release = await this.slots.acquire(deadline);
    } catch (err) {
      throw signal.aborted ? err : timeoutError(timeoutMs);
    }
    const dir = await mkdtemp(join(tmpdir(), 'voxbridge-asr-'));
    try {
      const wavPath = join(dir, 'utterance.wav');
      const logPath = join(dir, 'log.txt');
      const audio = sampleRate === RATE ? pcm : resample(pcm, sampleRate, RATE);
      await writeFile(wavPath, encodeWav(audio, RATE));
      if (deadline.aborted) throw signal.aborted ? abortError() : timeoutError(timeoutMs);
      const text = await this.run(wavPath, logPath, deadline, signal, timeoutMs);
      return {
        text,
        durationMs: durationMs(pcm.length, sampleRate),
        elapsedMs: Math.round(performance.now() - started),
      };
    } finally {
      release();
      await rm(dir, { recursive: true, force: true });
    }
  }

  private run(
    wavPath: string,
    logPath: string,
    deadline: AbortSignal,
    signal: AbortSignal,
    timeoutMs: number,
  ): Promise<string> {
    const p = this.paths;
    const binary = this.config.Binary ?? 'pocketsphinx_continuous';
    const args = ['-infile', wavPath, '-hmm', p.hmm, '-lm', p.lm, '-dict', p.dict, '-logfn', logPath];
    return new Promise<string>((resolve, reject) => {
      const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      this.lastPid = child.pid;
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let spawnError: NodeJS.ErrnoException | undefined;
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => {
        if (err.length < 16) err.push(d);
      });
      child.once('error', (e: NodeJS.ErrnoException) => (spawnError = e));
      const onAbort = (): void => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      };
      deadline.addEventListener('abort', onAbort, { once: true });
      child.once('close', (code, sig) => {
        deadline.removeEventListener('abort', onAbort);
        if (deadline.aborted) {
          reject(signal.aborted ? abortError() : timeoutError(timeoutMs));
          return;
        }
        if (spawnError) {
          reject(
            spawnError.code === 'ENOENT'
              ? new ProviderError(
                  'Provider.ASR.Unavailable',
                  `${binary} not found: install the Debian packages pocketsphinx and pocketsphinx-en-us`,
                  { cause: spawnError },
                )
              : new ProviderError('Provider.ASR.Process', `cannot run ${binary}: ${spawnError.message}`, {
                  cause: spawnError,
                }),
          );
          return;
        }
        if (code !== 0) {
          void readFile(logPath, 'utf8')
            .catch(() => Buffer.concat(err).toString('utf8'))
            .then((log) => {
              const tail = log
                .split('\n')
                .filter((l) => /ERROR|FATAL/.test(l))
                .slice(-3)
                .join(' | ');
              reject(new ProviderError('Provider.ASR.Process', `${binary} exited with ${code ?? sig}${tail ? `: ${tail}` : ''}`));
            });
          return;
        }
        resolve(parseHypotheses(Buffer.concat(out).toString('utf8')));
      });
    });
  }
}

/** Joins the hypothesis lines of pocketsphinx_continuous (one per detected segment). */
export function parseHypotheses(stdout: string): string {
  return stdout
    .split(/\r?\n/)
    .map((l) => l.replace(/<\/?s>|<sil>|\[[A-Z_]+\]|\(\d+\)/g, ' ').trim())
    .filter((l) => l.length > 0 && !/^(INFO|WARN|ERROR):/.test(l))
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim();
}

function timeoutError(ms: number): ProviderError {
  return new ProviderError('Provider.ASR.Timeout', `pocketsphinx took more than ${ms} ms`);
}
