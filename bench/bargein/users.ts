/**
 * Simulated users for the barge-in bench. Each user owns one agent session and
 * one media leg (the telephony WebSocket media stream, or RTP/Opus through a
 * mediasoup PlainTransport like a room participant), and sends one 20 ms frame
 * per tick of the driver's shared drift-free clock.
 *
 * kinds:
 *  - speech: the agent speaks a long answer; after a random delay the user says
 *    a labelled utterance; the send time of the packet carrying its first speech
 *    sample is t_onset (client side); agent packets then stop (t_stop, client side)
 *  - short:  like speech, with a backchannel shorter than D (must not interrupt)
 *  - noise:  noise, babble, music-like tones, clicks while the agent speaks
 *  - echo:   the agent's own voice coming back (delayed, attenuated) plus room noise
 */
import WebSocket from 'ws';
import type { BenchAssets, LabelledClip } from './assets';
import { FRAME, RATE, shiftClip } from './assets';

export type UserKind = 'speech' | 'short' | 'noise' | 'echo';

export interface RoundResult {
  /** Client: send time of the packet carrying the first speech sample. */
  onsetSentAt: number;
  /** Client: arrival of the last agent packet before it stopped (NaN if it never stopped). */
  lastAgentAt: number;
  clientLatencyMs: number;
  /** Agent audio was still arriving at the end of the round. */
  missed: boolean;
  speechMs: number;
  /** The speech clip spoken (index into the assets' clips), and the first speech sample in it. */
  clip: number;
  onsetSample: number;
  /**
   * Per frame of the clip, how late the load generator sent it (ms behind its
   * schedule): the generator's own share of the packets' lateness at the bridge.
   */
  frameLateMs: number[];
}

export interface Api {
  (action: string, body: Record<string, unknown>): Promise<Record<string, any>>;
}

const ECHO_DELAY_FRAMES = 6; // 120 ms acoustic + network round trip
export const ECHO_DELAY_MS = ECHO_DELAY_FRAMES * 20;
const ECHO_GAIN = 0.25; // -12 dB

export abstract class SimUser {
  agentId = '';
  rounds: RoundResult[] = [];
  /** Noise users: wall-clock times (Date.now()) at which a new environment started. */
  readonly sceneChanges: number[] = [];
  /** Agent packets received, with arrival times (for pacing/jitter). */
  agentPackets = 0;
  lateAgentPackets = 0;
  private spurtStart = 0;
  private spurtCount = 0;
  lastAgentAt = 0;
  firstAgentAtThisRound = 0;
  private phase: 'idle' | 'waitAgent' | 'speaking' | 'cooldown' = 'idle';
  private clip: LabelledClip | null = null;
  private clipIndex = -1;
  private frameLate: number[] = [];
  /** Packet ids of the clip's frames (paced users; -1 when not paced), and the onset frame's. */
  private frameIds: number[] = [];
  private onsetId = -1;
  private clipPos = 0;
  private onsetSentAt = 0;
  private speakAt = 0;
  private cooldownUntil = 0;
  private bedPos = 0;
  private noisePos = 0;
  /** Agent audio received since the last tick (echo users), and the echo delay line. */
  private readonly echoIn: Int16Array[] = [];
  private readonly echoLine: (Int16Array | null)[] = Array.from({ length: ECHO_DELAY_FRAMES }, () => null);
  private roundsLeft: number;
  private nextKick = 0;
  done = false;

  constructor(
    readonly kind: UserKind,
    readonly index: number,
    protected readonly assets: BenchAssets,
    protected readonly api: Api,
    rounds: number,
    protected readonly rnd: () => number,
  ) {
    this.roundsLeft = rounds;
    this.stepPhase = index % 4;
  }

  abstract connect(url: string, apiKey: string, startBody: Record<string, unknown>): Promise<void>;
  /**
   * Sends (or, paced, queues) one frame whose schedule is `nominalMs` (performance.now()
   * time of the driver's step). A paced user returns the packet's id (see sentRecord).
   */
  protected abstract sendFrame(pcm: Int16Array, nominalMs: number): number | void;
  /**
   * A user whose frames leave `ms` after they are made (a paced user's lead): its echo
   * line is that much shorter, so the agent's voice still comes back ECHO_DELAY_FRAMES
   * after it arrived.
   */
  protected sendsAhead(ms: number): void {
    this.echoLine.splice(0, Math.min(this.echoLine.length - 1, Math.round(ms / 20)));
  }

  /** A paced user's record of packet `id`: when it left (performance.now() time), how late against its schedule. */
  protected sentRecord(_id: number): { sentMs: number; lateMs: number } | undefined {
    return undefined;
  }
  abstract close(): void;

  /** Called by the transport for every agent audio packet (pcm when decoded, else null). */
  /** An agent packet reached this user's socket at `now` (performance.now() clock). */
  protected onAgentPacket(pcm: Int16Array | null, now = performance.now()): void {
    // Lateness: packets are expected every 20 ms from the start of a talk-spurt.
    if (now - this.lastAgentAt > 200) {
      this.spurtStart = now;
      this.spurtCount = 0;
    } else {
      this.spurtCount++;
      if (now - (this.spurtStart + this.spurtCount * 20) > 10) this.lateAgentPackets++;
      // Re-anchor slowly so one late packet does not mark all the following ones.
      if (now < this.spurtStart + this.spurtCount * 20) this.spurtStart = now - this.spurtCount * 20;
    }
    this.agentPackets++;
    this.lastAgentAt = now;
    if (!this.firstAgentAtThisRound) this.firstAgentAtThisRound = now;
    if (this.kind === 'echo' && pcm) this.echoIn.push(pcm);
  }

  /** Starts the agent speaking a long answer (a proactive LLM turn). */
  protected kick(): void {
    this.firstAgentAtThisRound = 0;
    void this.api('SendAgentInstanceLLM', { AgentInstanceId: this.agentId, Text: 'Tell me about the plans.', Priority: 'Medium' }).catch(() => undefined);
  }

  /**
   * Which of the driver's four 5 ms steps of a 20 ms period this user sends on. The
   * bridge's sessions take their phases in the same order as the users', so with a fixed
   * phase every barge-in of a cell (and of a whole N = 1 run) would see one offset
   * between the user's packets and the agent's frames; an unpaced user draws it again
   * at each round's start (a paced one keeps it and draws a finer clock phase instead).
   */
  stepPhase: number;

  /**
   * An echo user: the agent's audio that comes back in the frame of this step. Here a
   * delay line that advances every step, with silence when the agent sent nothing, so
   * what comes back is the agent's audio of ECHO_DELAY_FRAMES steps ago (a driver running
   * late makes it jump: see RtpUser's, placed by the agent's RTP timestamps).
   */
  protected echoFor(_nominalMs: number): Int16Array | null {
    this.echoLine.push(this.echoIn.shift() ?? null);
    if (this.echoIn.length > 2) this.echoIn.splice(0, this.echoIn.length - 2); // bounded jitter
    return this.echoLine.shift()!;
  }

  /** A speech user's round begins (the agent is asked to speak; the user talks ≥ 800 ms later). */
  protected onRoundStart(): void {
    this.stepPhase = Math.floor(this.rnd() * 4);
  }

  start(): void {
    this.phase = 'waitAgent';
    this.onRoundStart();
    this.kick();
    this.nextKick = performance.now() + 12_000;
  }

  /** One 20 ms tick: decide what to send and send it (`lateMs`: how late the driver runs it). */
  tick(now: number, lateMs = 0): void {
    if (this.done) return;
    switch (this.kind) {
      case 'noise':
      case 'echo':
        return this.tickBackground(now, now - lateMs);
      default:
        return this.tickSpeech(now, lateMs);
    }
  }

  private bed(): Int16Array {
    const f = this.assets.bed[this.bedPos++ % this.assets.bed.length];
    return f;
  }

  private tickBackground(now: number, nominal: number): void {
    // Keep the agent talking; count false barge-ins on the bridge side.
    if (now > this.nextKick || (this.lastAgentAt && now - this.lastAgentAt > 1500 && this.firstAgentAtThisRound)) {
      this.kick();
      this.nextKick = now + 12_000;
    }
    if (this.kind === 'noise') {
      const k = this.noisePos++ % this.assets.noiseOnly.length;
      if (this.assets.noiseScenes.includes(k)) this.sceneChanges.push(Date.now());
      this.sendFrame(this.assets.noiseOnly[k]!, nominal);
      return;
    }
    const bed = this.bed();
    const echo = this.echoFor(nominal);
    if (!echo) {
      this.sendFrame(bed, nominal);
      return;
    }
    const f = new Int16Array(FRAME);
    for (let i = 0; i < FRAME; i++) f[i] = Math.max(-32768, Math.min(32767, Math.round(bed[i] + ECHO_GAIN * (echo[i] ?? 0))));
    this.sendFrame(f, nominal);
  }

  private tickSpeech(now: number, lateMs: number): void {
    const nominal = now - lateMs;
    switch (this.phase) {
      case 'idle':
        this.sendFrame(this.bed(), nominal);
        return;
      case 'waitAgent':
        this.sendFrame(this.bed(), nominal);
        if (this.firstAgentAtThisRound && !this.speakAt) this.speakAt = this.firstAgentAtThisRound + 800 + this.rnd() * 2200;
        if (this.speakAt && now >= this.speakAt) {
          this.clipIndex = this.kind === 'short' ? -1 : (this.index + this.rounds.length) % this.assets.speech.length;
          // at a random phase of the 20 ms packet, as a real user's first word
          this.clip = shiftClip(this.clipIndex < 0 ? this.assets.short : this.assets.speech[this.clipIndex]!, Math.floor(this.rnd() * FRAME), this.assets.bed);
          this.frameLate = [];
          this.frameIds = [];
          this.onsetId = -1;
          this.clipPos = 0;
          this.onsetSentAt = 0;
          this.phase = 'speaking';
        } else if (!this.firstAgentAtThisRound && now - this.nextKick > -12_000 + 8000) {
          // The agent never started (overload): try again.
          this.kick();
          this.nextKick = now + 12_000;
        }
        return;
      case 'speaking': {
        const clip = this.clip!;
        const frame = clip.frames[this.clipPos / FRAME] ?? this.bed();
        const id = this.sendFrame(frame, nominal);
        this.frameLate.push(lateMs);
        this.frameIds.push(typeof id === 'number' ? id : -1);
        if (!this.onsetSentAt && this.clipPos + FRAME > clip.onset) {
          this.onsetSentAt = performance.now();
          if (typeof id === 'number') this.onsetId = id;
        }
        this.clipPos += FRAME;
        if (this.clipPos >= clip.frames.length * FRAME) {
          this.phase = 'cooldown';
          this.cooldownUntil = now + 1200;
        }
        return;
      }
      case 'cooldown':
        this.sendFrame(this.bed(), nominal);
        if (now < this.cooldownUntil) return;
        this.finishRound(now);
        return;
    }
  }

  private finishRound(now: number): void {
    // a paced user's frames: when they actually left, and how late against their schedule
    const onset = this.onsetId >= 0 ? this.sentRecord(this.onsetId) : undefined;
    if (onset) this.onsetSentAt = onset.sentMs;
    this.frameLate = this.frameLate.map((late, i) => (this.frameIds[i] >= 0 ? (this.sentRecord(this.frameIds[i])?.lateMs ?? late) : late));
    const stillTalking = now - this.lastAgentAt < 100;
    const stopped = !stillTalking && this.lastAgentAt > this.onsetSentAt;
    this.rounds.push({
      onsetSentAt: this.onsetSentAt,
      lastAgentAt: stopped ? this.lastAgentAt : NaN,
      clientLatencyMs: stopped ? this.lastAgentAt - this.onsetSentAt : NaN,
      missed: stillTalking,
      speechMs: ((this.clip?.speechSamples ?? 0) / RATE) * 1000,
      clip: this.clipIndex,
      onsetSample: this.clip?.onset ?? 0,
      frameLateMs: this.frameLate,
    });
    this.speakAt = 0;
    if (--this.roundsLeft <= 0) {
      this.done = true;
      this.phase = 'idle';
      return;
    }
    this.phase = 'waitAgent';
    this.onRoundStart();
    this.kick();
    this.nextKick = now + 12_000;
  }
}

/** The telephony path: WebSocket media stream, L16 16 kHz, with `clear` on barge-in. */
export class WsUser extends SimUser {
  private ws!: WebSocket;
  private readonly out = Buffer.allocUnsafe(FRAME * 2);
  clears = 0;

  async connect(url: string, apiKey: string, startBody: Record<string, unknown>): Promise<void> {
    const started = await this.api('StartVoiceChat', startBody);
    this.agentId = started.AgentInstanceId;
    this.ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws/media`);
    await new Promise<void>((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
    });
    this.ws.send(JSON.stringify({ event: 'start', agentInstanceId: this.agentId, apiKey, mediaFormat: { encoding: 'L16', sampleRate: RATE } }));
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        let pcm: Int16Array | null = null;
        if (this.kind === 'echo') {
          pcm = new Int16Array(data.length >> 1);
          for (let i = 0; i < pcm.length; i++) pcm[i] = data.readInt16LE(2 * i);
        }
        this.onAgentPacket(pcm);
      } else if (data.includes('"clear"')) this.clears++;
    });
    await new Promise((r) => setTimeout(r, 50));
  }

  protected sendFrame(pcm: Int16Array): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    for (let i = 0; i < FRAME; i++) this.out.writeInt16LE(pcm[i] ?? 0, 2 * i);
    this.ws.send(this.out);
  }

  close(): void {
    this.ws?.close();
  }
}
