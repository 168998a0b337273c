/**
 * Barge-in latency bench: the number the project lives by (DESIGN.md).
 *
 * Starts the real bridge (the voxbridge CLI, real mediasoup worker) as a child
 * process, a local server speaking the OpenAI wire protocol for LLM/TTS/ASR
 * with realistic first-byte delays as a second child (bargein/aiServer.ts),
 * and N simulated users at real-time pace
 * over loopback. For D in {0, 200, 500} and N in {1, 10, 50, 100, 200} it
 * measures, per barge-in, the bridge's own latency (arrival of the onset
 * packet → last agent packet sent) and overhead = latency − D, plus the
 * client-side view, frames after the decision, LLM/TTS abort delay, false
 * barge-ins per minute on noise-only and echo-only users, wrongful interrupts
 * by speech shorter than D, missed barge-ins, CPU and RSS per session and
 * late agent frames. Prints a table, writes bench/out/bargein.json and SVGs.
 *
 *   npm run bench:bargein                      full matrix (about 30 minutes)
 *   npm run bench:bargein -- --quick           N in {1,10}, 3 rounds (about 13 minutes)
 *   --min-bargeins K (default 16): cells with few speaking users (N = 1) run more
 *   rounds, so every cell has at least K barge-ins
 *   npm run bench:bargein -- --n 1,50 --d 200 --rounds 5 --transport ws
 *   npm run bench:bargein -- --n 50 --d 200 --transport rtp --cpu-prof   (V8 profile of the bridge)
 *   Room-path users' frames are made ahead (200 ms; echo users 80) and sent on time by the
 *   addon's pacer thread (bargein/rtpUser.ts), each user's clock at a random phase against
 *   the bridge's; --unpaced-users sends them from the driver's 5 ms step instead;
 *   --uplink-delay MS (paced): every 1-4 s an episode of queueing on each user's uplink, the
 *   delay rising to MS/2-MS, staying 1-2 s, then drained at once (RTP timestamps stay on
 *   the capture clock)
 *   --transport rtp,rtp-loop: the room path with users' voices on the bridge's receive
 *   thread (the default, roomVoiceInput 'thread') and, from a second bridge started with
 *   roomVoiceInput 'loop', on its event loop; 'rtp-nice0': the thread at normal priority
 *   (voiceThreadPriority 'normal'); 'rtp-ahead0': no speech frames made ahead of the
 *   clock (agentAudioAheadMs 0, only the lead). Cells run interleaved (for each D and N, every
 *   transport in turn), so the variants are compared under the same load
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeAssets, pauseAtD, FRAME, RATE } from './bargein/assets';
import { summarize, lineChart, cdf } from './bargein/report';
import { SimUser, WsUser, type UserKind } from './bargein/users';
import { ECHO_USER_LEAD_MS, RtpUser, userPacer, USER_LEAD_MS } from './bargein/rtpUser';
import type { NativePacer } from '../src/sfu/pacedRtp';
import { StallProbe } from './bargein/stallProbe';
import { machine, outDir, table, writeJson } from './util';

const root = path.resolve(__dirname, '..');
const API_KEY = 'bench-api-key-0123456789abcdef';
/** A noise user's false barge-in that began this soon after an environment change is counted as at a scene change. */
const SCENE_WINDOW_MS = 1500;

interface Args {
  n: number[];
  d: number[];
  rounds: number;
  /** Cells with few speaking users get more rounds, up to this many barge-ins. */
  minBargeIns: number;
  transport: string[];
  /** Write a V8 CPU profile of the bridge process to bench/out/prof/. */
  cpuProf: boolean;
  /** Room-path users send through the addon's pacer rather than from the driver's step. */
  pacedUsers: boolean;
  /** Skip the discarded warm-up cell run per transport when there are several. */
  noWarmUp: boolean;
  /** Paced room-path users' uplinks queue their packets up to this long in episodes every 1-4 s (0: never). */
  uplinkDelayMs: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { n: [1, 10, 50, 100, 200], d: [0, 200, 500], rounds: 5, minBargeIns: 16, transport: ['rtp', 'ws'], cpuProf: false, pacedUsers: true, noWarmUp: false, uplinkDelayMs: 0 };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--cpu-prof':
        a.cpuProf = true;
        break;
      case '--paced-users': // the default since session 17
        a.pacedUsers = true;
        break;
      case '--unpaced-users':
        a.pacedUsers = false;
        break;
      case '--no-warm-up':
        a.noWarmUp = true;
        break;
      case '--uplink-delay':
        a.uplinkDelayMs = Number(v);
        // queued packets wait in the users' pacer queues (32 packets, with the 200 ms lead)
        if (!(a.uplinkDelayMs >= 0 && a.uplinkDelayMs <= 400)) throw new Error('--uplink-delay: 0-400 ms');
        i++;
        break;
      case '--quick':
        a.n = [1, 10];
        a.rounds = 3;
        break;
      case '--n':
        a.n = v.split(',').map(Number);
        i++;
        break;
      case '--d':
        a.d = v.split(',').map(Number);
        i++;
        break;
      case '--rounds':
        a.rounds = Number(v);
        i++;
        break;
      case '--min-bargeins':
        a.minBargeIns = Number(v);
        i++;
        break;
      case '--transport':
        a.transport = v.split(',');
        i++;
        break;
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
  }
  return a;
}

// ---------------------------------------------------------------- child processes

/**
 * Spawns a child and waits for the line that says where it listens; its stdout is
 * drained for the rest of its life (a full pipe would block it).
 */
async function spawnListening(args: string[], env: NodeJS.ProcessEnv, line: RegExp, what: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out: string | null = '';
    child.stdout!.on('data', (d) => {
      if (out === null) return;
      out += d;
      const m = line.exec(out);
      if (m) {
        out = null;
        resolve(m[1]);
      }
    });
    child.once('exit', (c) => reject(new Error(`${what} exited ${c}`)));
  });
  return { child, url };
}

/** The OpenAI-protocol test server in its own process (see bargein/aiServer.ts). */
async function startAiServer(): Promise<{ child: ChildProcess; baseUrl: string; close(): Promise<void> }> {
  const vn = path.join(root, 'node_modules', 'vite-node', 'vite-node.mjs');
  const { child, url } = await spawnListening([vn, path.join(__dirname, 'bargein', 'aiServer.ts')], process.env, /ai server on (http:\/\/\S+)/, 'ai server');
  return {
    child,
    baseUrl: url,
    close: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

// ---------------------------------------------------------------- bridge process

interface BridgeProc {
  child: ChildProcess;
  url: string;
  pids: number[];
}

async function startBridge(cpuProf: boolean, extraEnv: Record<string, string> = {}): Promise<BridgeProc> {
  const prof = cpuProf ? ['--cpu-prof', '--cpu-prof-dir', path.join(outDir, 'prof')] : [];
  const env = { ...process.env, ...extraEnv, VOXBRIDGE_PORT: '0', VOXBRIDGE_API_KEY: API_KEY, VOXBRIDGE_WORKERS: '1', VOXBRIDGE_MAX_SESSIONS: '2000', VOXBRIDGE_LOG_LEVEL: process.env.VOXBRIDGE_LOG_LEVEL ?? 'error' };
  const { child, url } = await spawnListening([...prof, path.join(root, 'bin', 'voxbridge.js')], env, /listening on (http:\/\/\S+)/, 'bridge');
  const health = (await (await fetch(`${url}/healthz`)).json()) as { workers: { pid: number }[] };
  return { child, url, pids: [child.pid!, ...health.workers.map((w) => w.pid)] };
}

/** CPU seconds (user+system) of the processes, from /proc. */
function cpuSeconds(pids: number[]): number {
  const tick = 100; // USER_HZ on Linux
  let s = 0;
  for (const pid of pids) {
    try {
      const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
      s += (Number(parts[11]) + Number(parts[12])) / tick;
    } catch {
      /* gone */
    }
  }
  return s;
}

/** Machine-wide jiffies from /proc/stat: busy (not idle/iowait) and stolen by the hypervisor. */
function machineJiffies(): { busy: number; steal: number; total: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8');
  const v = f.slice(0, f.indexOf('\n')).trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - v[3] - v[4] - v[7], steal: v[7], total };
}

function rssBytes(pids: number[]): number {
  let s = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) s += Number(m[1]) * 1024;
    } catch {
      /* gone */
    }
  }
  return s;
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** The bridge's frame clock: wall time before late runs, and its main thread's CPU and run-queue wait in it (ms). */
async function heldSplit(url: string): Promise<{ held: number; cpu: number; wait: number }> {
  return {
    held: await metric(url, 'voxbridge_frame_clock_late_held_ms'),
    cpu: await metric(url, 'voxbridge_frame_clock_late_held_cpu_ms'),
    wait: await metric(url, 'voxbridge_frame_clock_late_held_wait_ms'),
  };
}

/** The bridge's frame clock lateness histogram: cumulative count per upper bound (ms). */
async function latenessBuckets(url: string, name = 'voxbridge_frame_clock_lateness_ms'): Promise<Map<number, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out = new Map<number, number>();
  for (const m of text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`, 'gm'))) out.set(m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2]));
  return out;
}

/** Between two readings of a histogram: the bound of the highest bucket that gained a count (the cell's max, to a bucket). */
function maxBucketBetween(a: Map<number, number>, b: Map<number, number>): number {
  const bounds = [...b.keys()].sort((x, y) => x - y);
  let prev = 0;
  let max = 0;
  for (const le of bounds) {
    const cum = (b.get(le) ?? 0) - (a.get(le) ?? 0);
    if (cum > prev) max = le;
    prev = cum;
  }
  return max;
}

/** Between two readings: the bucket bound under which 99 % fell, and the share over 20 ms. */
function latenessBetween(a: Map<number, number>, b: Map<number, number>): { p99: number; over20Pct: number; over50: number } {
  const bounds = [...b.keys()].sort((x, y) => x - y);
  const total = (b.get(Infinity) ?? 0) - (a.get(Infinity) ?? 0);
  const cum = (le: number) => (b.get(le) ?? 0) - (a.get(le) ?? 0);
  const p99 = bounds.find((le) => cum(le) >= 0.99 * total) ?? NaN;
  return { p99, over20Pct: total ? (100 * (total - cum(20))) / total : NaN, over50: total - cum(50) };
}

// ---------------------------------------------------------------- one cell

interface CellResult {
  transport: string;
  D: number;
  N: number;
  speechUsers: number;
  bargeIns: number;
  overhead: ReturnType<typeof summarize>;
  /** Overhead less the user's own pause at D (pauseAtD): what the bridge could shorten. */
  overheadNetOfPause: ReturnType<typeof summarize>;
  clientOverhead: ReturnType<typeof summarize>;
  overheads: number[];
  decisionDelay: ReturnType<typeof summarize>;
  /** The detector's algorithmic share (audio heard past D) and the bridge's processing share. */
  detector: ReturnType<typeof summarize>;
  processing: ReturnType<typeof summarize>;
  transit: ReturnType<typeof summarize>;
  /** The bridge's event loop held up between onset arrival and decision (with kernel-dated arrivals: part of the processing share). */
  loopStall: ReturnType<typeof summarize>;
  /** How much later the load generator sent the deciding packet than the onset's, against their schedule (its part of the transit). */
  senderShare: ReturnType<typeof summarize>;
  /**
   * The onset packet's delivery: the bridge's record of its arrival (OnsetArrivalAt) less
   * the time this generator sent it, on the same machine's clock. mediasoup's forwarding
   * plus the time the packet waited in the bridge's socket for its event loop: the part of
   * the wait before t_onset that the bridge's own clock cannot see.
   */
  onsetDelivery: ReturnType<typeof summarize>;
  /** The bridge's event loop: frame clock sub-tick lateness (bucket bound of p99, share > 20 ms, count > 50 ms). */
  bridgeLoop: { p99: number; over20Pct: number; over50: number };
  /** Before the bridge's late frame clock runs: wall time held, and the main thread's share on a CPU and waiting for one. */
  lateHeld: { heldMs: number; cpuPct: number; waitPct: number };
  /** CPU % of one core: the bridge process, its mediasoup worker, this load generator (the users), the AI server; the whole machine (of cores x 100) and steal. */
  cpuSplit: { bridgePct: number; mediasoupPct: number; generatorPct: number; aiServerPct: number; machineBusyPct: number; stealPct: number };
  /** The load generator's own lateness: each 5 ms step's delay behind its schedule. */
  senderLate: ReturnType<typeof summarize>;
  senderLatePct: number;
  /** The five largest overheads with their parts, to see what makes the tail. */
  worst: { overheadMs: number; decisionMs: number; detectorMs: number; transitMs: number; processingMs: number; loopStallMs: number; senderMs: number; round: number; clip: number }[];
  framesAfterDecision: number;
  abortDelayMaxMs: number;
  /** Decision → abort of the requests, every barge-in; and how many took over 5 ms. */
  abortDelay: ReturnType<typeof summarize>;
  abortsOver5: number;
  /** Each frame sent after the decision: how it was found and how long after (AfterDecision). */
  afterDecision: { how: string; ms: number }[];
  /**
   * Frames begun before the decision whose rest a stream socket took after it (ms after
   * the decision they finished; FinishedAfterDecisionMs): not among framesAfterDecision.
   */
  finishedAfterDecision: number[];
  /**
   * The machine's own stalls in the cell (stallProbe: a real-time thread's wake-ups
   * more than 20 ms late): how many, the longest; null without the probe. And the
   * speech barge-ins with a stall of 10 ms or more between their onset and decision,
   * with the overhead of the others.
   */
  machineStalls: { over20: number; maxMs: number; bargeInsHit: number; overheadOthers: ReturnType<typeof summarize> } | null;
  /** Each abort over 5 ms, with the main thread's time around it: on a CPU vs waiting for one (AbortSched). */
  slowAborts: { ms: number; windowMs?: number; cpuMs?: number; waitMs?: number; gcMs?: number; gcKinds?: string[] }[];
  missed: number;
  attempts: number;
  falsePerMinNoise: number | null;
  /** The same without those that began within SCENE_WINDOW_MS after an environment change. */
  falsePerMinNoiseSteady: number | null;
  falseNoiseAtSceneChanges: number;
  falsePerMinEcho: number | null;
  wrongfulShort: string;
  cpuPctPerSession: number;
  cpuPctTotal: number;
  rssMiBPerSession: number;
  /** Agent frames that left > 10 ms after their time: the pacer's count when it sends them (rooms), else the frame clock's late ticks. */
  lateFramesPct: number;
  /** The frame clock's late sub-ticks (when the pacer sends, production that was late, absorbed by the lead unless it exceeded it). */
  lateTicksPct: number;
  pacedFrames: number;
  /** Of the paced late frames, those handed in already late (the event loop held beyond the lead). */
  pacedEnqueuedLate: number;
  /** Telephony frames the bridge's socket took in parts (voxbridge_paced_stream_partial_writes): the generator reading slowly. */
  pacedPartialWrites: number;
  pacedLate: number;
  /**
   * Late frames by session (DescribeVoiceChat → Pacing): how many sessions had any, the
   * most in one session and how many of those the event loop handed in late, its latest (ms).
   */
  lateBySession: { sessions: number; most: number; mostHandedInLate: number; mostMaxLateMs: number };
  pacedMaxLateMs: number;
  lateClientPct: number;
  seconds: number;
}

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

function userKinds(N: number, D: number): UserKind[] {
  const kinds: UserKind[] = [];
  for (let i = 0; i < N; i++) {
    if (N >= 10 && i % 10 === 3) kinds.push('noise');
    else if (N >= 10 && i % 10 === 7) kinds.push('echo');
    else if (N >= 10 && D >= 500 && i % 10 === 5) kinds.push('short');
    else kinds.push('speech');
  }
  return kinds;
}

async function runCell(
  bridge: BridgeProc,
  ai: { baseUrl: string; child: ChildProcess },
  assets: ReturnType<typeof makeAssets>,
  transport: string,
  D: number,
  N: number,
  rounds: number,
  minBargeIns: number,
  probe: StallProbe | null,
  pacer: NativePacer | null,
  uplinkDelayMs = 0,
): Promise<CellResult> {
  const wall0 = Date.now();
  const api = async (action: string, body: Record<string, unknown>) => {
    const r = await fetch(`${bridge.url}/api?Action=${action}`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}` }, body: JSON.stringify(body) });
    const j = (await r.json()) as Record<string, any>;
    if (r.status !== 200) throw new Error(`${action}: ${r.status} ${JSON.stringify(j)}`);
    return j;
  };
  const kinds = userKinds(N, D);
  // Few users (N = 1) get more rounds, so that a cell's percentiles rest on at least
  // minBargeIns barge-ins (a p50 of four values says little).
  const speechUsers = kinds.filter((k) => k === 'speech').length;
  rounds = Math.max(rounds, Math.ceil(minBargeIns / Math.max(1, speechUsers)));
  const rnd = prng(1000 * D + N);
  const users: SimUser[] = kinds.map((k, i) => {
    if (!transport.startsWith('rtp')) return new WsUser(k, i, assets, api, rounds, rnd);
    const u = new RtpUser(pacer, k, i, assets, api, rounds, rnd);
    if (pacer) u.setUplinkDelay(uplinkDelayMs);
    return u;
  });
  const body = (i: number) => ({
    RoomId: `bench-${transport}-${D}-${N}-${i}`,
    Config: {
      LLMConfig: { Url: ai.baseUrl, ModelName: 'bench', APIKey: 'sk-bench', WindowSize: 2 },
      TTSConfig: { Provider: 'openai', Url: ai.baseUrl, SampleRate: RATE },
      ASRConfig: { Provider: 'openai', Url: ai.baseUrl, InterruptConfig: { InterruptSpeechDuration: D } },
    },
  });
  for (let i = 0; i < users.length; i += 10) await Promise.all(users.slice(i, i + 10).map((u, k) => u.connect(bridge.url, API_KEY, body(i + k))));

  // One drift-free clock drives every user: 4 phases 5 ms apart (like real clients,
  // users do not all send at the same instant); starts are staggered over 1 s.
  const t0 = performance.now();
  const startAt = users.map(() => t0 + rnd() * 1000);
  const started = users.map(() => false);
  const cpu0 = cpuSeconds(bridge.pids);
  const sfu0 = cpuSeconds(bridge.pids.slice(1));
  const gen0 = process.cpuUsage();
  const ai0 = cpuSeconds([ai.child.pid!]);
  const mach0 = machineJiffies();
  const rss0 = rssBytes(bridge.pids);
  const ticks0 = await metric(bridge.url, 'voxbridge_frame_clock_ticks');
  const late0 = await metric(bridge.url, 'voxbridge_frame_clock_late_ticks');
  const paced0 = (await metric(bridge.url, 'voxbridge_agent_frames_paced')) || 0;
  const pacedLate0 = (await metric(bridge.url, 'voxbridge_agent_frames_paced_late')) || 0;
  const pacedEnq0 = (await metric(bridge.url, 'voxbridge_agent_frames_paced_enqueued_late')) || 0;
  const partial0 = (await metric(bridge.url, 'voxbridge_paced_stream_partial_writes')) || 0;
  const pacedHist0 = await latenessBuckets(bridge.url, 'voxbridge_agent_frames_paced_lateness_ms');
  const loop0 = await latenessBuckets(bridge.url);
  const held0 = await heldSplit(bridge.url);
  const wallStart = performance.now();
  let n = 0;
  const stepLate: number[] = [];
  const deadline = t0 + rounds * 9000 + 20_000;
  await new Promise<void>((resolve) => {
    const step = () => {
      const now = performance.now();
      stepLate.push(now - (t0 + n * 5));
      const phase = n % 4;
      for (let i = 0; i < users.length; i++) {
        const u = users[i];
        if (u.stepPhase !== phase || u.done || now < startAt[i]) continue;
        if (!started[i]) {
          started[i] = true;
          u.start();
        }
        u.tick(now, now - (t0 + n * 5));
      }
      const speechDone = users.every((u) => u.done || u.kind === 'noise' || u.kind === 'echo');
      if (speechDone || now > deadline) {
        resolve();
        return;
      }
      n++;
      setTimeout(step, Math.max(0, t0 + n * 5 - performance.now()));
    };
    step();
  });
  const seconds = (performance.now() - wallStart) / 1000;
  const cpu = cpuSeconds(bridge.pids) - cpu0;
  const sfuCpu = cpuSeconds(bridge.pids.slice(1)) - sfu0;
  const gen = process.cpuUsage(gen0);
  const aiCpu = cpuSeconds([ai.child.pid!]) - ai0;
  const mach1 = machineJiffies();
  const cores = os.cpus().length;
  const machTotal = mach1.total - mach0.total;
  const cpuSplit = {
    bridgePct: (100 * (cpu - sfuCpu)) / seconds,
    mediasoupPct: (100 * sfuCpu) / seconds,
    generatorPct: (100 * (gen.user + gen.system)) / 1e6 / seconds,
    aiServerPct: (100 * aiCpu) / seconds,
    machineBusyPct: machTotal ? (100 * cores * (mach1.busy - mach0.busy)) / machTotal : NaN,
    stealPct: machTotal ? (100 * cores * (mach1.steal - mach0.steal)) / machTotal : NaN,
  };
  const rss = rssBytes(bridge.pids);
  const ticks = (await metric(bridge.url, 'voxbridge_frame_clock_ticks')) - ticks0;
  const late = (await metric(bridge.url, 'voxbridge_frame_clock_late_ticks')) - late0;
  const pacedFrames = ((await metric(bridge.url, 'voxbridge_agent_frames_paced')) || 0) - paced0;
  const pacedLate = ((await metric(bridge.url, 'voxbridge_agent_frames_paced_late')) || 0) - pacedLate0;
  const pacedEnqueuedLate = ((await metric(bridge.url, 'voxbridge_agent_frames_paced_enqueued_late')) || 0) - pacedEnq0;
  const pacedPartialWrites = ((await metric(bridge.url, 'voxbridge_paced_stream_partial_writes')) || 0) - partial0;
  // the cell's latest paced frame, to its histogram bucket (the gauge is the process's max)
  const pacedMaxLateMs = maxBucketBetween(pacedHist0, await latenessBuckets(bridge.url, 'voxbridge_agent_frames_paced_lateness_ms'));
  const bridgeLoop = latenessBetween(loop0, await latenessBuckets(bridge.url));
  const held1 = await heldSplit(bridge.url);
  const heldMs = held1.held - held0.held;
  const lateHeld = { heldMs, cpuPct: heldMs > 0 ? (100 * (held1.cpu - held0.cpu)) / heldMs : NaN, waitPct: heldMs > 0 ? (100 * (held1.wait - held0.wait)) / heldMs : NaN };

  // Bridge-side records of every session.
  const overheads: number[] = [];
  const unstalled: number[] = []; // overheads of the barge-ins with no machine stall in their window
  let stallHit = 0;
  const netOfPause: number[] = [];
  const decisionDelays: number[] = [];
  const detector: number[] = [];
  const processing: number[] = [];
  const transit: number[] = [];
  const loopStall: number[] = [];
  const senderShare: number[] = [];
  const onsetDelivery: number[] = [];
  const lateBySession = { sessions: 0, most: 0, mostHandedInLate: 0, mostMaxLateMs: 0 };
  const parts: CellResult['worst'] = [];
  let framesAfter = 0;
  let abortMax = 0;
  const aborts: number[] = [];
  const slowAborts: CellResult['slowAborts'] = [];
  const afterDecision: CellResult['afterDecision'] = [];
  const finishedAfterDecision: number[] = [];
  let falseNoise = 0;
  let falseNoiseScene = 0;
  let falseEcho = 0;
  let wrongful = 0;
  let shortAttempts = 0;
  const clientOver: number[] = [];
  let missed = 0;
  let attempts = 0;
  for (const u of users) {
    const d = await api('DescribeVoiceChat', { AgentInstanceId: u.agentId });
    const pacing = d.Pacing as { Late: number; HandedInLate: number; MaxLateMs?: number } | null;
    if (pacing && pacing.Late > 0) {
      lateBySession.sessions++;
      if (pacing.Late > lateBySession.most) Object.assign(lateBySession, { most: pacing.Late, mostHandedInLate: pacing.HandedInLate, mostMaxLateMs: pacing.MaxLateMs ?? NaN });
    }
    const b = (d.BargeIns as any[]) ?? [];
    if (u.kind === 'noise') {
      falseNoise += b.length;
      // at a scene change: the speech the detector confirmed began within 1.5 s after one
      for (const r of b) {
        const onset = Date.parse(r.At) - D - (r.DecisionDelayMs ?? 0);
        if (u.sceneChanges.some((c) => onset >= c - 50 && onset - c < SCENE_WINDOW_MS)) falseNoiseScene++;
      }
    }
    else if (u.kind === 'echo') falseEcho += b.length;
    else if (u.kind === 'short') {
      wrongful += b.length;
      shortAttempts += u.rounds.length;
    } else {
      for (const [k, r] of b.entries()) {
        if (r.OverheadMs !== undefined) overheads.push(r.OverheadMs);
        if (probe && r.OverheadMs !== undefined && r.DecisionDelayMs !== undefined) {
          const decision = Date.parse(r.At);
          if (probe.within(decision - D - r.DecisionDelayMs, decision + 1).length) stallHit++;
          else unstalled.push(r.OverheadMs);
        }
        if (r.DecisionDelayMs !== undefined) decisionDelays.push(r.DecisionDelayMs);
        if (r.DetectorMs !== undefined) detector.push(r.DetectorMs);
        if (r.ProcessingMs !== undefined) processing.push(r.ProcessingMs);
        if (r.TransitMs !== undefined) transit.push(r.TransitMs);
        if (r.LoopStallMs !== undefined) loopStall.push(r.LoopStallMs);
        // (barge-in k of this user is its round k: see users.ts) The generator's share of
        // the transit: how much later than the onset's frame it sent the frame the bridge
        // decided on (the one that ends D + DetectorMs of audio after the onset).
        const round = u.rounds[k];
        let senderMs = NaN;
        if (round && r.DetectorMs !== undefined) {
          const late = round.frameLateMs;
          const first = Math.floor(round.onsetSample / FRAME);
          const last = Math.floor((round.onsetSample + ((D + r.DetectorMs) * RATE) / 1000 - 1) / FRAME);
          if (late[first] !== undefined && late[last] !== undefined) senderMs = late[last] - late[first];
        }
        if (Number.isFinite(senderMs)) senderShare.push(senderMs);
        if (round && round.onsetSentAt > 0 && typeof r.OnsetArrivalAt === 'number') onsetDelivery.push(r.OnsetArrivalAt - (performance.timeOrigin + round.onsetSentAt));
        const clip = round?.clip ?? (u.index + k) % assets.speech.length;
        if (r.OverheadMs !== undefined) netOfPause.push(r.OverheadMs - pauseAtD(assets.speech[clip]!, D));
        if (r.OverheadMs !== undefined)
          parts.push({ overheadMs: r.OverheadMs, decisionMs: r.DecisionDelayMs, detectorMs: r.DetectorMs, transitMs: r.TransitMs, processingMs: r.ProcessingMs, loopStallMs: r.LoopStallMs, senderMs: Math.round(senderMs * 10) / 10, round: k, clip });
        framesAfter += r.FramesAfterDecision;
        for (const a of r.AfterDecision ?? []) afterDecision.push({ how: a.How, ms: a.Ms });
        for (const ms of r.FinishedAfterDecisionMs ?? []) finishedAfterDecision.push(ms);
        abortMax = Math.max(abortMax, r.AbortDelayMs ?? 0);
        if (r.AbortDelayMs !== undefined) aborts.push(r.AbortDelayMs);
        if (r.AbortDelayMs !== undefined && r.AbortDelayMs > 5)
          slowAborts.push({ ms: r.AbortDelayMs, windowMs: r.AbortSched?.WindowMs, cpuMs: r.AbortSched?.CpuMs, waitMs: r.AbortSched?.WaitMs, gcMs: r.AbortSched?.GcMs, gcKinds: r.AbortSched?.GcKinds });
      }
      for (const r of u.rounds) {
        attempts++;
        if (r.missed) missed++;
        else if (Number.isFinite(r.clientLatencyMs)) clientOver.push(r.clientLatencyMs - D);
      }
    }
    await api('StopVoiceChat', { AgentInstanceId: u.agentId }).catch(() => undefined);
    u.close();
  }
  const minutes = seconds / 60;
  const nNoise = users.filter((u) => u.kind === 'noise').length;
  const nEcho = users.filter((u) => u.kind === 'echo').length;
  const agentPk = users.reduce((a, u) => a + u.agentPackets, 0);
  const latePk = users.reduce((a, u) => a + u.lateAgentPackets, 0);
  await new Promise((r) => setTimeout(r, 500));
  return {
    transport,
    D,
    N,
    speechUsers: users.filter((u) => u.kind === 'speech').length,
    bargeIns: overheads.length,
    overhead: summarize(overheads),
    overheadNetOfPause: summarize(netOfPause),
    clientOverhead: summarize(clientOver),
    overheads,
    decisionDelay: summarize(decisionDelays),
    detector: summarize(detector),
    processing: summarize(processing),
    transit: summarize(transit),
    loopStall: summarize(loopStall),
    senderShare: summarize(senderShare),
    onsetDelivery: summarize(onsetDelivery),
    bridgeLoop,
    lateHeld,
    cpuSplit,
    senderLate: summarize(stepLate),
    senderLatePct: stepLate.length ? (100 * stepLate.filter((x) => x > 10).length) / stepLate.length : NaN,
    worst: parts.sort((a, b) => b.overheadMs - a.overheadMs).slice(0, 5),
    framesAfterDecision: framesAfter,
    abortDelayMaxMs: abortMax,
    abortDelay: summarize(aborts),
    abortsOver5: slowAborts.length,
    slowAborts,
    afterDecision,
    finishedAfterDecision,
    machineStalls: probe
      ? (() => {
          const s = probe.within(wall0, Date.now(), 20);
          return { over20: s.length, maxMs: Math.max(0, ...s.map((x) => x.ms)), bargeInsHit: stallHit, overheadOthers: summarize(unstalled) };
        })()
      : null,
    missed,
    attempts,
    falsePerMinNoise: nNoise ? falseNoise / (nNoise * minutes) : null,
    falsePerMinNoiseSteady: nNoise ? (falseNoise - falseNoiseScene) / (nNoise * minutes) : null,
    falseNoiseAtSceneChanges: falseNoiseScene,
    falsePerMinEcho: nEcho ? falseEcho / (nEcho * minutes) : null,
    wrongfulShort: shortAttempts ? `${wrongful}/${shortAttempts}` : 'n/a',
    cpuPctPerSession: (100 * cpu) / seconds / N,
    cpuPctTotal: (100 * cpu) / seconds,
    rssMiBPerSession: (rss - rss0) / N / 2 ** 20,
    lateFramesPct: pacedFrames > 0 ? (100 * pacedLate) / pacedFrames : ticks > 0 ? (100 * late) / ticks : NaN,
    lateTicksPct: ticks > 0 ? (100 * late) / ticks : NaN,
    pacedFrames,
    pacedLate,
    lateBySession,
    pacedEnqueuedLate,
    pacedPartialWrites,
    pacedMaxLateMs,
    lateClientPct: agentPk ? (100 * latePk) / agentPk : NaN,
    seconds,
  };
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  console.log(`barge-in bench: N=${args.n.join(',')} D=${args.d.join(',')} rounds=${args.rounds} (≥ ${args.minBargeIns} barge-ins per cell) transport=${args.transport.join(',')}`);
  const assets = makeAssets();
  const ai = await startAiServer();
  // everything started is stopped in the finally, also when a step fails early
  const bridges: BridgeProc[] = [];
  let probe: ReturnType<typeof StallProbe.start> = null;
  const results: CellResult[] = [];
  let saturatedAt: number | null = null;
  try {
    const bridge = await startBridge(args.cpuProf);
    bridges.push(bridge);
    // room-path variants: a bridge of their own each, idle between their cells
    const variantEnv: Record<string, Record<string, string>> = {
      'rtp-loop': { VOXBRIDGE_ROOM_VOICE_INPUT: 'loop' },
      'rtp-nice0': { VOXBRIDGE_VOICE_THREAD_PRIORITY: 'normal' },
      'rtp-ahead0': { VOXBRIDGE_AGENT_AUDIO_AHEAD_MS: '0' },
    };
    const variants = new Map<string, BridgeProc>();
    for (const t of args.transport) {
      if (!variantEnv[t]) continue;
      const v = await startBridge(args.cpuProf, variantEnv[t]);
      bridges.push(v);
      variants.set(t, v);
    }
    const rtp = args.transport.some((t) => t.startsWith('rtp'));
    const pacer = userPacer(args.pacedUsers && rtp);
    if (rtp)
      console.log(
        pacer
          ? `room-path users: frames made ${USER_LEAD_MS} ms ahead (echo users ${ECHO_USER_LEAD_MS}) and sent on time by the addon's pacer thread, each user's clock at a random phase`
          : "room-path users: sent from the driver's 5 ms step (--unpaced-users)",
      );
    if (rtp && pacer && args.uplinkDelayMs > 0)
      console.log(`room-path users' uplinks queue: every 1-4 s the delay rises to ${args.uplinkDelayMs / 2}-${args.uplinkDelayMs} ms over 0.3-0.6 s, stays 1-2 s, then the queue drains at once`);
    probe = StallProbe.start(root);
    // A short cell per variant first, discarded: the first cell of a run also pays for JIT
    // and GC warm-up in the bridge and in this process (the load generator), and with
    // several variants that cost landed on whichever ran first (session 16: p99 229 vs 37
    // ms for the same variant first and second).
    if (args.transport.length > 1 && !args.noWarmUp) {
      const warmN = Math.min(10, Math.max(...args.n));
      for (const transport of args.transport) await runCell(variants.get(transport) ?? bridge, ai, assets, transport, args.d[0]!, warmN, 1, 1, null, pacer);
      console.log(`  (warm-up: one discarded cell of N = ${warmN} per transport)`);
    }
    for (const D of args.d) {
      const saturated = new Set<string>();
      for (const N of args.n) {
        for (const transport of args.transport) {
          if (saturated.has(transport)) continue;
          const r = await runCell(variants.get(transport) ?? bridge, ai, assets, transport, D, N, args.rounds, args.minBargeIns, probe, pacer, args.uplinkDelayMs);
          results.push(r);
          console.log(
            `  ${transport} D=${D} N=${N}: overhead p50/p95/p99 ${r.overhead.p50?.toFixed(1)}/${r.overhead.p95?.toFixed(1)}/${r.overhead.p99?.toFixed(1)} ms, ` +
              `missed ${r.missed}/${r.attempts}, cpu ${r.cpuPctTotal.toFixed(0)}%, late frames ${r.lateFramesPct.toFixed(2)}%` +
              (r.pacedFrames > 0 ? ` (${r.pacedFrames} sent by the pacer, ${r.pacedLate} late of which ${r.pacedEnqueuedLate} handed in late,${r.pacedPartialWrites ? ` ${r.pacedPartialWrites} taken by the socket in parts,` : ''} the latest ${Number.isFinite(r.pacedMaxLateMs) ? `≤ ${r.pacedMaxLateMs}` : "> 100"} ms late;${r.lateBySession.sessions ? ` in ${r.lateBySession.sessions} sessions, the most in one ${r.lateBySession.most} (${r.lateBySession.mostHandedInLate} handed in late, the latest ${r.lateBySession.mostMaxLateMs} ms);` : ''} frame clock ticks > 10 ms late ${r.lateTicksPct.toFixed(2)} %)` : '') +
              `\n` +
              `    worst overheads (decision: detector / transit [our loop held, generator late] / processing): ${r.worst.map((w) => `${w.overheadMs} (${w.decisionMs}: ${w.detectorMs} / ${w.transitMs} [${w.loopStallMs}, ${w.senderMs}] / ${w.processingMs}; clip ${w.clip} round ${w.round})`).join(', ')}\n` +
              (r.afterDecision.length ? `    frames after the decision (how found, ms after it): ${r.afterDecision.map((a) => `${a.how} ${a.ms}`).join(', ')}\n` : '') +
              (r.finishedAfterDecision.length ? `    frames begun before the decision, finished after it (the socket took them in parts; ms after it): ${r.finishedAfterDecision.join(', ')}\n` : '') +
              (r.slowAborts.length
                ? `    aborts > 5 ms (since the clock's last run: main thread on a CPU / waiting for one; GC in the abort): ${r.slowAborts.map((a) => `${a.ms} (${a.windowMs ?? '?'}: ${a.cpuMs ?? '?'} / ${a.waitMs ?? '?'}; ${a.gcMs ?? '?'}${a.gcKinds?.length ? ` ${a.gcKinds.join('+')}` : ''})`).join(', ')}\n`
                : '') +
              `    onset delivery (generator send → bridge's arrival time): p50 ${r.onsetDelivery.p50?.toFixed(1)}, p99 ${r.onsetDelivery.p99?.toFixed(1)}, max ${r.onsetDelivery.max?.toFixed(1)} ms\n` +
              `    load generator: ${r.senderLatePct.toFixed(2)} % of 5 ms steps > 10 ms late, p99 ${r.senderLate.p99?.toFixed(1)} ms, max ${r.senderLate.max?.toFixed(1)} ms; ` +
              `bridge event loop: p99 <= ${r.bridgeLoop.p99} ms, ${r.bridgeLoop.over20Pct.toFixed(2)} % > 20 ms, ${r.bridgeLoop.over50} > 50 ms; ` +
              `before late ticks ${r.lateHeld.heldMs.toFixed(0)} ms held: main thread on a CPU ${r.lateHeld.cpuPct.toFixed(0)} %, waiting for one ${r.lateHeld.waitPct.toFixed(0)} %\n` +
              `    CPU (% of a core): bridge ${r.cpuSplit.bridgePct.toFixed(0)}, mediasoup ${r.cpuSplit.mediasoupPct.toFixed(0)}, users ${r.cpuSplit.generatorPct.toFixed(0)}, AI server ${r.cpuSplit.aiServerPct.toFixed(0)}; ` +
              `machine busy ${r.cpuSplit.machineBusyPct.toFixed(0)} of ${os.cpus().length * 100}, steal ${r.cpuSplit.stealPct.toFixed(1)}` +
              (r.machineStalls
                ? `\n    machine stalls (a real-time probe's wake-ups > 20 ms late): ${r.machineStalls.over20}, the longest ${r.machineStalls.maxMs.toFixed(0)} ms; ` +
                  `barge-ins with a stall ≥ 10 ms between onset and decision: ${r.machineStalls.bargeInsHit}; overhead p99 of the others ${r.machineStalls.overheadOthers.p99?.toFixed(1)} ms`
                : ''),
          );
          if (r.attempts && (r.missed / r.attempts > 0.2 || r.lateFramesPct > 5)) {
            saturatedAt = N;
            console.log(`  saturated at N=${N} (missed ${r.missed}/${r.attempts}, late ${r.lateFramesPct.toFixed(1)}%): stopping this D for ${transport}`);
            saturated.add(transport);
          }
        }
      }
    }
  } finally {
    probe?.close();
    for (const b of bridges) {
      if (b.child.exitCode !== null || b.child.signalCode !== null) continue;
      b.child.kill('SIGTERM');
      await new Promise((r) => b.child.once('exit', r));
    }
    await ai.close();
  }

  const f1 = (v: number | null) => (v === null || !Number.isFinite(v) ? 'n/a' : +v.toFixed(1));
  const rows = results.map((r) => ({
    path: r.transport,
    D: r.D,
    N: r.N,
    'barge-ins': r.bargeIns,
    'overhead p50': f1(r.overhead.p50),
    p95: f1(r.overhead.p95),
    p99: f1(r.overhead.p99),
    'p99 net of pauses': f1(r.overheadNetOfPause.p99),
    'decision p50': f1(r.decisionDelay.p50),
    'decision p99': f1(r.decisionDelay.p99),
    'detector p50': f1(r.detector.p50),
    'detector p99': f1(r.detector.p99),
    'transit p99': f1(r.transit.p99),
    'our loop held p99': f1(r.loopStall.p99),
    'of which generator p99': f1(r.senderShare.p99),
    'processing p99': f1(r.processing.p99),
    'onset delivery p50 / p99': `${f1(r.onsetDelivery.p50)} / ${f1(r.onsetDelivery.p99)}`,
    'bridge loop > 20 ms %': f1(r.bridgeLoop.over20Pct),
    'sender late % (p99 ms)': `${f1(r.senderLatePct)} (${f1(r.senderLate.p99)})`,
    'client p50': f1(r.clientOverhead.p50),
    'client p99': f1(r.clientOverhead.p99),
    'machine stalls > 20 ms (max ms)': r.machineStalls ? `${r.machineStalls.over20} (${f1(r.machineStalls.maxMs)})` : 'n/a',
    'p99 of barge-ins with no stall (hit)': r.machineStalls ? `${f1(r.machineStalls.overheadOthers.p99)} (${r.machineStalls.bargeInsHit})` : 'n/a',
    'frames after': r.framesAfterDecision,
    'abort p99 / max ms (> 5 ms)': `${f1(r.abortDelay.p99)} / ${f1(r.abortDelayMaxMs)} (${r.abortsOver5})`,
    missed: `${r.missed}/${r.attempts}`,
    'false/min noise': f1(r.falsePerMinNoise),
    'of which at scene changes': r.falsePerMinNoise === null ? 'n/a' : String(r.falseNoiseAtSceneChanges),
    'false/min noise steady': f1(r.falsePerMinNoiseSteady),
    'false/min echo': f1(r.falsePerMinEcho),
    'short<D interrupts': r.wrongfulShort,
    'CPU%/session': +r.cpuPctPerSession.toFixed(2),
    'RSS MiB/session': +r.rssMiBPerSession.toFixed(2),
    'late frames %': f1(r.lateFramesPct),
  }));
  console.log(
    '\nBarge-in overhead = bridge latency − D (ms): last agent packet sent − onset packet arrival − D. It can be negative by up to\n' +
      'one frame: the last packet went out on the clock tick before the decision. decision = decision time − (onset arrival + D).\n' +
      'detector = speech the detector had heard past D when it decided (audio time: its algorithmic delay); transit = how much\n' +
      'later than real-time pace the deciding packet reached the bridge\'s socket, counted from the onset packet (load generator,\n' +
      'mediasoup, network; "of which generator" = how much later behind its schedule the load generator sent the deciding frame\n' +
      'than the onset\'s); "our loop held" = the longest the bridge\'s event loop was held up between onset and decision, from its\n' +
      'frame clock (with arrivals dated by the kernel, a part of processing, not of transit);\n' +
      'processing = decision time − arrival of the deciding packet (arrivals are the kernel\'s receive times, so this includes\n' +
      'the time the packet waited in the socket for the event loop). sender late = the load generator\'s 5 ms steps more\n' +
      'than 10 ms behind schedule.\n' +
      'onset delivery = the bridge\'s arrival time of the onset packet − the time the load generator sent it (mediasoup plus\n' +
      'the wait in the bridge\'s socket: time before t_onset that the bridge\'s clock does not see).\n' +
      "client = the same latency seen from the simulated user's socket. p99 net of pauses = the overhead less the time the\n" +
      'user was silent when D elapsed (a pause of 100 ms or more between words: no detector can know the user goes on).\n',
  );
  console.log(table(rows));

  // Pictures: overhead CDF per N for each D, and overhead percentiles vs N.
  fs.mkdirSync(outDir, { recursive: true });
  for (const D of args.d) {
    const cells = results.filter((r) => r.D === D && r.overheads.length);
    const svg = lineChart(`Barge-in overhead CDF, D = ${D} ms`, 'overhead = latency − D (ms)', 'fraction of barge-ins', cells.map((c) => ({ label: `N=${c.N} (${c.transport})`, points: cdf(c.overheads) })), { step: true });
    fs.writeFileSync(path.join(outDir, `bargein-cdf-D${D}.svg`), svg);
  }
  const vsN = args.d.flatMap((D) =>
    (['p50', 'p99'] as const).map((p) => ({
      label: `D=${D} ${p}`,
      points: results.filter((r) => r.D === D && r.overheads.length).map((r) => [r.N, r.overhead[p]] as [number, number]),
    })),
  );
  fs.writeFileSync(path.join(outDir, 'bargein-overhead-vs-n.svg'), lineChart('Barge-in overhead vs concurrent sessions', 'concurrent sessions (N)', 'overhead (ms)', vsN, { xLog: true }));
  const file = writeJson('bargein', { machine: machine(), args, saturatedAt, results: results.map(({ overheads, ...r }) => ({ ...r, overheads })) });
  console.log(`\nwrote ${file} and SVGs in ${outDir}`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
