/**
 * The detectors the VAD bench compares, behind one interface: each turns a clip
 * (and, where it can use one, the far-end reference) into speech starts, the
 * speech state per 10 ms, and "continuous speech reached D" decisions.
 *
 * - ours:      src/native/vad.ts (native addon; `ours (TS)` is the fallback, timed only)
 * - baseline:  the VAD as of commit 4f10888, taken from git history (plus the small
 *              build recipe in bench/vad/baseline) and built by the bench, so before/after
 *              are measured in the same run
 * - Silero:    silero_vad.onnx from @livekit/agents-plugin-silero, run with
 *              onnxruntime-node through that plugin's own OnnxModel/session code,
 *              and its VADStream decision logic (below) for starts and D
 * - WebRTC:    the npm `webrtcvad` package (the WebRTC GMM VAD, C, built with
 *              node-gyp by the bench), aggressiveness 3, 20 ms frames, with the same
 *              start/duration logic as Silero
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { nativeAddon } from '../../src/native/addon';
import { VadFlag, type NativeVadCtor } from '../../src/native/vad';
import { VadFallback, VadOut } from '../../src/native/vadFallback';

export const ROOT = path.resolve(__dirname, '..', '..');

export interface Input {
  pcm: Int16Array;
  far?: Int16Array;
  rate: number;
}

export interface Result {
  /** Sample at which each speech start was reported (end of the deciding frame). */
  starts: number[];
  /** Speech state per 10 ms (1 = in a segment). */
  state: Uint8Array;
  /** D -> samples at which "continuous speech reached D" was reported. */
  reached: Map<number, number[]>;
  /** CPU µs spent in the processing loop (process.cpuUsage, user + system). */
  cpuUs: number;
}

export interface Detector {
  name: string;
  /** True when it takes the far-end reference into account. */
  usesFarEnd: boolean;
  /** Ds decided in this one pass (others need their own pass, see runD). */
  run(input: Input, ds: number[]): Promise<Result>;
}

function cpuNow(): number {
  const c = process.cpuUsage();
  return c.user + c.system;
}

function tenMsState(n: number, rate: number): Uint8Array {
  return new Uint8Array(Math.floor(n / (rate / 100)));
}

/** Marks 10 ms slots [from, to) samples as speech. */
function mark(state: Uint8Array, rate: number, from: number, to: number): void {
  const f = rate / 100;
  for (let k = Math.floor(from / f); k < Math.min(state.length, Math.ceil(to / f)); k++) state[k] = 1;
}

// ---------------------------------------------------------------- ours / baseline

interface VadLike {
  process(pcm: Int16Array, far: Int16Array | null, out: Float64Array): number;
}

export function runVadCore(make: (d: number) => VadLike, frameMs: number, input: Input, ds: number[], timedD: number): Result {
  const { pcm, rate } = input;
  const n = (rate / 1000) * frameMs;
  const out = new Float64Array(VadOut.Count);
  const res: Result = { starts: [], state: tenMsState(pcm.length, rate), reached: new Map(), cpuUs: 0 };
  // the timed pass first: D = timedD gives starts, state and its own D decisions
  const order = [timedD, ...ds.filter((d) => d !== timedD)];
  for (const d of order) {
    const vad = make(d);
    const reached: number[] = [];
    const timed = d === timedD;
    const c0 = timed ? cpuNow() : 0;
    if (timed) {
      for (let i = 0; i + n <= pcm.length; i += n) {
        const flags = vad.process(pcm.subarray(i, i + n), input.far ? input.far.subarray(i, i + n) : null, out);
        if (flags & VadFlag.SpeechStart) res.starts.push(i + n);
        if (flags & VadFlag.DurationReached) reached.push(i + n);
        if (flags & VadFlag.Speech) mark(res.state, rate, i, i + n);
      }
      res.cpuUs = cpuNow() - c0;
    } else {
      for (let i = 0; i + n <= pcm.length; i += n) {
        const flags = vad.process(pcm.subarray(i, i + n), input.far ? input.far.subarray(i, i + n) : null, out);
        if (flags & VadFlag.DurationReached) reached.push(i + n);
      }
    }
    if (ds.includes(d)) res.reached.set(d, reached);
  }
  return res;
}

const FRAME_MS = 20;

export function ours(): Detector {
  // VAD_BENCH_FALLBACK=1: the TS fallback in ours' place (its decisions are the native
  // core's: for trying a change on the TS side before porting it)
  if (process.env.VAD_BENCH_FALLBACK === '1') return { ...oursTs(), name: 'ours' };
  const Ctor = nativeAddon()?.NativeVad as unknown as NativeVadCtor | undefined;
  if (!Ctor) throw new Error('bench:vad needs the native addon with the VAD (npm run build:native)');
  return {
    name: 'ours',
    usesFarEnd: true,
    async run(input, ds) {
      // the addon's object, called as src/native/vad.ts calls it (same path as the baseline)
      return runVadCore((d) => new Ctor(input.rate, FRAME_MS, d, 200), FRAME_MS, input, ds, 200);
    },
  };
}

export function oursTs(): Detector {
  return {
    name: 'ours (TS fallback)',
    usesFarEnd: true,
    async run(input, ds) {
      return runVadCore((d) => new VadFallback({ sampleRate: input.rate, frameMs: FRAME_MS, interruptMs: d, hangoverMs: 200 }), FRAME_MS, input, ds, 200);
    },
  };
}

function nodeGypArgs(): string[] {
  const prefix = path.dirname(path.dirname(process.execPath));
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

/** Builds a node-gyp package dir under the shared native lock when its .node is missing or stale. */
export function gypBuild(dir: string, product: string, sources: string[]): string {
  const node = path.join(dir, 'build', 'Release', product);
  const stale = !fs.existsSync(node) || sources.some((s) => fs.statSync(path.join(dir, s)).mtimeMs > fs.statSync(node).mtimeMs);
  if (stale) {
    process.stderr.write(`bench:vad: building ${path.relative(ROOT, dir)} (node-gyp)\n`);
    execFileSync('flock', ['/tmp/voxbridge-native.lock', path.join(ROOT, 'node_modules', '.bin', 'node-gyp'), 'rebuild', ...nodeGypArgs(), '--loglevel=error'], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
  return node;
}

/** The commit whose VAD the bench compares against. */
export const BASELINE_COMMIT = '4f10888';
const BASELINE_SOURCES = { 'vad.cpp': 'native/src/vad.cpp', 'vad.h': 'native/src/vad.h', 'vad_binding.cpp': 'native/binding/vad_binding.cpp' };

/**
 * The baseline detector. Its sources come from git history rather than a copy in
 * the tree; a checkout without that history cannot build it (the bench then skips it).
 */
export function baseline(): Detector | { skipped: string } {
  const dir = path.join(ROOT, '.build', `vad-baseline-${BASELINE_COMMIT}`);
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['binding.gyp', 'addon.cpp']) fs.copyFileSync(path.join(__dirname, 'baseline', f), path.join(dir, f));
  for (const [f, src] of Object.entries(BASELINE_SOURCES)) {
    const dst = path.join(dir, f);
    if (fs.existsSync(dst)) continue;
    try {
      fs.writeFileSync(dst, execFileSync('git', ['-C', ROOT, 'show', `${BASELINE_COMMIT}:${src}`], { stdio: ['ignore', 'pipe', 'ignore'] }));
    } catch {
      return { skipped: `baseline: commit ${BASELINE_COMMIT} is not in this checkout's git history` };
    }
  }
  const node = gypBuild(dir, 'voxbridge_vad_baseline.node', [...Object.keys(BASELINE_SOURCES), 'addon.cpp', 'binding.gyp']);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Ctor = (require(node) as { NativeVad: NativeVadCtor }).NativeVad;
  return {
    name: `baseline (${BASELINE_COMMIT})`,
    usesFarEnd: true,
    async run(input, ds) {
      return runVadCore((d) => new Ctor(input.rate, FRAME_MS, d, 200), FRAME_MS, input, ds, 200);
    },
  };
}

// ---------------------------------------------------------------- LiveKit's decision logic

/**
 * The decision logic of @livekit/agents-plugin-silero 1.9.0 (dist/vad.js, VADStream)
 * and of the agent that consumes it (agents 1.9.0 voice/agent_activity.js,
 * onVADInferenceDone: interrupt when ev.speechDuration >= minInterruptionDuration):
 * per window, the speech duration grows while "speaking" (silences shorter than
 * minSilenceDuration included) and is checked against D before this window's
 * probability updates the state; a start needs minSpeechDuration of windows above
 * the activation threshold; an end needs more than minSilenceDuration below it.
 * D = 0 is taken as "at the start" (the agent's check would fire on every window).
 */
export class LiveKitLogic {
  static readonly minSpeechMs = 50;
  static readonly minSilenceMs = 550;
  static readonly threshold = 0.5;
  private speaking = false;
  private speechMs = 0;
  private speechThrMs = 0;
  private silenceThrMs = 0;
  private fired = new Set<number>();
  constructor(
    private readonly res: Result,
    private readonly ds: number[],
    private readonly rate: number,
  ) {}

  /** One inference window of `winMs` ending at sample `end`, probability p. */
  step(p: number, winMs: number, end: number): void {
    if (this.speaking) this.speechMs += winMs;
    if (this.speaking) {
      for (const d of this.ds) {
        if (d > 0 && !this.fired.has(d) && this.speechMs >= d) {
          this.fired.add(d);
          this.res.reached.get(d)!.push(end);
        }
      }
    }
    if (p > LiveKitLogic.threshold) {
      this.speechThrMs += winMs;
      this.silenceThrMs = 0;
      if (!this.speaking && this.speechThrMs >= LiveKitLogic.minSpeechMs) {
        this.speaking = true;
        this.speechMs = this.speechThrMs;
        this.fired.clear();
        this.res.starts.push(end);
        if (this.ds.includes(0)) {
          this.fired.add(0);
          this.res.reached.get(0)!.push(end);
        }
      }
    } else {
      this.silenceThrMs += winMs;
      this.speechThrMs = 0;
      if (this.speaking && this.silenceThrMs > LiveKitLogic.minSilenceMs) {
        this.speaking = false;
        this.speechMs = 0;
      }
    }
    if (this.speaking) mark(this.res.state, this.rate, end - Math.round((winMs * this.rate) / 1000), end);
  }
}

function emptyResult(input: Input, ds: number[]): Result {
  return { starts: [], state: tenMsState(input.pcm.length, input.rate), reached: new Map(ds.map((d) => [d, []])), cpuUs: 0 };
}

// ---------------------------------------------------------------- Silero

interface OnnxModelLike {
  windowSizeSamples: number;
  reset(): void;
  run(x: Float32Array): Promise<number>;
}

export async function silero(): Promise<Detector> {
  const pluginMain = require.resolve('@livekit/agents-plugin-silero'); // dist/index.cjs
  // the plugin's own model wrapper and session options (dist/onnx_model.cjs); its
  // index would also load @livekit/agents and rtc-node, which the bench does not need
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const m = require(path.join(path.dirname(pluginMain), 'onnx_model.cjs')) as {
    newInferenceSession(forceCPU: boolean): Promise<unknown>;
    OnnxModel: new (session: unknown, rate: number) => OnnxModelLike;
  };
  const session = await m.newInferenceSession(true); // forceCPU: the plugin's default
  return {
    name: 'Silero (LiveKit plugin)',
    usesFarEnd: false,
    async run(input, ds) {
      const res = emptyResult(input, ds);
      const model = new m.OnnxModel(session, input.rate);
      const win = model.windowSizeSamples;
      const winMs = (win / input.rate) * 1000;
      const logic = new LiveKitLogic(res, ds, input.rate);
      const { pcm } = input;
      let filtered: number | undefined; // ExpFilter(0.35).apply(1, p)
      const c0 = cpuNow();
      for (let i = 0; i + win <= pcm.length; i += win) {
        const x = Float32Array.from(pcm.subarray(i, i + win), (v) => v / 32767);
        const raw = await model.run(x);
        filtered = filtered === undefined ? raw : 0.35 * filtered + 0.65 * raw;
        logic.step(filtered, winMs, i + win);
      }
      res.cpuUs = cpuNow() - c0;
      return res;
    },
  };
}

// ---------------------------------------------------------------- WebRTC

export function webrtc(): Detector | { skipped: string } {
  let dir: string;
  try {
    dir = path.dirname(require.resolve('webrtcvad/package.json'));
  } catch {
    return { skipped: 'the webrtcvad package is not installed' };
  }
  try {
    gypBuild(dir, 'vad.node', ['binding.gyp']);
  } catch (e) {
    return { skipped: `webrtcvad did not build: ${(e as Error).message.split('\n')[0]}` };
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Vad = (require('webrtcvad') as { default: new (rate: number, level: number) => { process(b: Buffer): boolean } }).default;
  return {
    name: 'WebRTC VAD (webrtcvad, mode 3)',
    usesFarEnd: false,
    async run(input, ds) {
      const res = emptyResult(input, ds);
      const vad = new Vad(input.rate, 3);
      const n = (input.rate / 1000) * FRAME_MS;
      const logic = new LiveKitLogic(res, ds, input.rate);
      const { pcm } = input;
      const c0 = cpuNow();
      for (let i = 0; i + n <= pcm.length; i += n) {
        const voiced = vad.process(Buffer.from(pcm.buffer, pcm.byteOffset + i * 2, n * 2));
        logic.step(voiced ? 1 : 0, FRAME_MS, i + n);
      }
      res.cpuUs = cpuNow() - c0;
      return res;
    },
  };
}
