/**
 * One agent instance: the orchestrator that ties the user's voice (VAD →
 * interrupt policy → utterances → ASR), the LLM/TTS producers and the priority
 * splicer to one real-time output. Transport-agnostic: a room or a phone leg
 * attaches an AgentOutput and pushes user audio at CORE_RATE.
 *
 * States: listening → thinking → speaking → listening ...; taken-over and ended
 * are final (takeover is one-way).
 */
import { EventEmitter } from 'node:events';
import crypto from 'node:crypto';
import { InvalidParameterError, InvalidStateError, ProviderError, isAbortError } from '../errors';
import { createLogger, type Logger } from '../log';
import { nowMs } from '../clock';
import type { VadStream } from '../native/vadTypes';
import type { AgentConfig } from './agentConfig';
import type { Ticker } from './frameClock';
import { History } from './history';
import { decideInterrupt, offLoopArm, vadInterruptDuration } from './interruptPolicy';
import { produceLlm, produceTts, type ProducerResult, type SubtitleSink } from './speechProducer';
import { SpeechHandle, type SamePriorityOption } from './speechHandle';
import { SpeechSplicer } from './splicer';
import { PacedFrames } from './pacedFrames';
import { FarEndReference } from './farEnd';
import { TapKind, type VadTapWriter } from './vadTap';
import { VoiceInput, type Utterance, type VoiceFrameResult } from './voiceInput';
import { OffLoopInput, type ArmMode, type OffLoopVoice } from './offLoopInput';
import { closeOnDecision } from '../providers/wireAbort';
import { describeBargeIn, describePacing, describeTurn, round } from './describe';

export const CORE_RATE = 16000;
export const FRAME_MS = 20;
export const FRAME_SAMPLES = (CORE_RATE * FRAME_MS) / 1000;
/** A paced talk spurt starts in a period whose frame can be handed in at least this long before it is due. */
const SPURT_START_SLACK_MS = 5;

export type AgentState = 'listening' | 'thinking' | 'speaking' | 'taken-over' | 'ended';

export type { PacedOutput, AgentOutput, SubtitleMessage, BargeInRecord, TurnRecord, SessionDeps, SpeakOptions } from './sessionTypes';
import type { AgentOutput, SubtitleMessage, BargeInRecord, TurnRecord, SessionDeps, SpeakOptions } from './sessionTypes';

export class AgentSession extends EventEmitter implements Ticker {
  readonly id: string;
  readonly createdAt = Date.now();
  readonly history = new History();
  readonly turns: TurnRecord[] = [];
  readonly bargeIns: BargeInRecord[] = [];
  readonly splicer = new SpeechSplicer(FRAME_SAMPLES);
  private readonly log: Logger;
  private output: AgentOutput | null = null;
  private readonly user: VoiceInput;
  /**
   * The user's voice from a transport that decides it off the event loop
   * (useOffLoopVoice), beside `user` (fed by pushUserAudio from any other transport).
   */
  private offLoop: OffLoopInput | null = null;
  private offUser: VoiceInput | null = null;
  private human: VoiceInput | null = null;
  private readonly frame = new Int16Array(FRAME_SAMPLES);
  /** The agent audio sent, as the far-end reference for echo rejection. */
  private readonly farRef = new FarEndReference(FRAME_SAMPLES);
  private readonly tap: VadTapWriter | null;
  private lastOutAt = 0;
  private lastOutHandle: SpeechHandle | null = null;
  /** Frames handed to a paced output and not yet known sent (null when the output sends at the tick). */
  private paced: PacedFrames | null = null;
  /** A paced output: the period of the next frame to make (ahead of the clock while speech is buffered). */
  private nextFrameMs = 0;
  /** The last period a paced tick began with: after a flush the next tick makes the one after it. */
  private lastTickMs = 0;
  /** How far past the current period a paced output is given frames (SessionDeps.audioAheadMs). */
  private readonly aheadMs: number;
  /** During bargeIn(): the decision, and the frames of the stopped speech that left after it. */
  private cut: { decisionMs: number; speechId: string | null; after: { how: 'left'; ms: number }[]; finished: number[] } | null = null;
  private asrChain: Promise<void> = Promise.resolve();
  private readonly asrAbort = new AbortController();
  private activeProducers = 0;
  private turnSeq = 0;
  private sentenceSeq = 0;
  private _ended = false;
  private takenOver: { uid: string; mode: number; connected: boolean } | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private idleCount = 0;
  private welcomed = false;
  private hangupPending = false;
  private pendingBargeIn: BargeInRecord | null = null;
  endReason: string | null = null;

  constructor(
    readonly config: AgentConfig,
    private readonly deps: SessionDeps,
  ) {
    super();
    this.id = `agent-${crypto.randomUUID()}`;
    this.log = createLogger('agent', { agent: this.id, room: config.roomId });
    const interruptMs = Math.max(0, vadInterruptDuration(config.interrupt));
    const vad = deps.createVad({ sampleRate: CORE_RATE, frameMs: FRAME_MS, interruptMs });
    this.tap = deps.openVadTap?.({ sampleRate: CORE_RATE, frameSamples: FRAME_SAMPLES, interruptMs, roomId: config.roomId, agentId: this.id }) ?? null;
    this.user = this.userInput(vad);
    this.aheadMs = Math.max(0, deps.audioAheadMs ?? 0);
    deps.clock.add(this);
  }

  private userInput(vad: VadStream): VoiceInput {
    return new VoiceInput(vad, CORE_RATE, FRAME_MS, (r, v) => this.onUserFrame(r, v), (u) => this.onUserUtterance(u), this.config.asr.endOfTurnMs);
  }

  /**
   * A transport whose user voice is decided off the event loop: its frames come with
   * pushUserFrame(), and what plays is armed for that voice's own barge-in
   * (src/agent/offLoopInput.ts).
   */
  useOffLoopVoice(v: OffLoopVoice): void {
    this.offLoop = new OffLoopInput(v);
    this.offUser = this.userInput(this.offLoop.vad);
  }

  /** One VAD frame of the user, computed off the loop (`decisionMs`: the barge-in it carries). */
  pushUserFrame(pcm: Int16Array, arrivalMs: number, flags: number, out: Float64Array, decisionMs: number | null, wireAbortMs = 0, mediaMs = arrivalMs): void {
    const o = this.offLoop;
    if (!o || !this.offUser || this._ended) return;
    o.begin(flags, out, decisionMs, wireAbortMs);
    try {
      this.feedUser(this.offUser, pcm, arrivalMs, mediaMs, null);
    } finally {
      o.end();
    }
  }

  /** What the policy lets the user's voice interrupt now, for the off-loop decision. */
  private armMode(): ArmMode {
    const playing = this.splicer.playing;
    // (onUserFrame's conditions for consulting the policy, then the policy)
    if (this._ended || this.takenOver || !playing || !this.splicer.interruptibleByVoice) return 'off';
    return offLoopArm(this.config.interrupt, { active: true, priority: playing.priority });
  }

  // ---------------------------------------------------------------- state

  get state(): AgentState {
    if (this._ended) return 'ended';
    if (this.takenOver) return 'taken-over';
    if (this.splicer.playing && this.splicer.playing.playedSamples > 0) return 'speaking';
    if (this.activeProducers > 0 || this.splicer.busy) return 'thinking';
    return 'listening';
  }

  get ended(): boolean {
    return this._ended;
  }

  get isTakenOver(): boolean {
    return this.takenOver !== null;
  }

  private lastState: AgentState = 'listening';
  private noteState(): void {
    const s = this.state;
    if (s !== this.lastState) {
      this.lastState = s;
      this.emit('state', s);
    }
    this.offLoop?.sync(this.armMode());
  }

  // ---------------------------------------------------------------- transport

  /** Attaches the transport carrying the agent's voice; plays the welcome message once. */
  attach(output: AgentOutput): void {
    if (this._ended) throw new InvalidStateError('AgentEnded', 'the agent has ended');
    this.output = output;
    this.paced = output.paced ? new PacedFrames(FRAME_SAMPLES, (at, frame, handle, began) => this.onFrameLeft(at, frame, handle, began)) : null;
    this.nextFrameMs = 0;
    if (!this.welcomed && this.config.welcomeMessage && !this.takenOver) {
      this.welcomed = true;
      this.speakText(this.config.welcomeMessage, { priority: 'High', samePriorityOption: 'Enqueue' }, { addHistory: true, source: 'welcome' });
    }
    this.armIdle();
  }

  detach(output: AgentOutput): void {
    if (this.output !== output) return;
    this.output = null;
    this.paced = null;
  }

  private send(msg: Record<string, unknown>): void {
    this.output?.sendMessage(msg);
    this.emit('message', msg);
  }

  /**
   * User audio at CORE_RATE, any length; `arrivalMs` is when its packet reached the
   * bridge, `mediaMs` its time by the sender's clock (src/media/mediaClock.ts), which
   * the echo reference is paired by.
   */
  pushUserAudio(pcm: Int16Array, arrivalMs = nowMs(), mediaMs = arrivalMs): void {
    if (this._ended) return;
    this.feedUser(this.user, pcm, arrivalMs, mediaMs, this.farRef);
  }

  private feedUser(input: VoiceInput, pcm: Int16Array, arrivalMs: number, mediaMs: number, far: FarEndReference | null): void {
    if (this.tap) {
      if (mediaMs !== arrivalMs) this.tap.record(TapKind.UserMedia, mediaMs, null);
      this.tap.record(TapKind.User, arrivalMs, pcm);
    }
    if (this.paced) this.drainPaced();
    input.push(pcm, arrivalMs, far, mediaMs);
    this.deps.clock.poll();
  }

  /** Frame clock: one frame period (`frameTimeMs`: its ideal time). */
  tick(frameTimeMs = nowMs()): void {
    if (this._ended) return;
    // end of turn on silence even when no audio arrives (DTX, muted microphone)
    if (this.user.speaking || this.offUser?.speaking || this.human?.speaking) {
      const now = nowMs();
      this.user.poll(now);
      this.offUser?.poll(now);
      this.human?.poll(now);
    }
    if (!this.output) return this.reference(nowMs(), null);
    if (!this.paced) {
      this.frameOut(frameTimeMs);
      this.noteState();
      return;
    }
    // A paced output: this period's frame unless it was made ahead, then frames ahead
    // while the speech has them buffered, up to `aheadMs` past this period. Queued in
    // the pacer, they leave on time through an event-loop hold that long (beyond the
    // lead); an interrupt drops them with the rest of the queue. A talk spurt does not
    // start in a period whose send time has passed (a late tick): it starts in the first
    // one still ahead, so its first frame is not late. (Nothing plays before it, so
    // that is not a gap; within a spurt a late frame stays in its period.)
    this.lastTickMs = frameTimeMs;
    let t = this.nextFrameMs - frameTimeMs < FRAME_MS / 2 ? frameTimeMs : this.nextFrameMs;
    if (t === frameTimeMs) {
      if (this.spurtLate(t)) this.silenceOut(t);
      else this.frameOut(t);
      t += FRAME_MS;
    }
    while (t <= frameTimeMs + this.aheadMs && this.splicer.frameAhead && this.output && !this.spurtLate(t)) {
      this.frameOut(t);
      t += FRAME_MS;
    }
    this.nextFrameMs = t;
    this.drainPaced();
    this.noteState();
  }

  /** A talk spurt would start in period `frameTimeMs`, whose send time has passed (or nearly). */
  private spurtLate(frameTimeMs: number): boolean {
    return this.splicer.talkSpurtStart && nowMs() > frameTimeMs + (this.output?.paced?.leadMs ?? 0) - SPURT_START_SLACK_MS;
  }

  /** The frame of period `frameTimeMs` (speech or silence) to the output. */
  private frameOut(frameTimeMs: number): void {
    const output = this.output!;
    const sp = this.splicer;
    const before = sp.playing;
    const talkSpurt = sp.talkSpurtStart;
    const paced = this.paced;
    const lead = output.paced?.leadMs ?? 0;
    if (!sp.nextFrame(this.frame)) return this.silenceOut(frameTimeMs);
    const handle = sp.playing ?? before;
    sp.talkSpurtStart = false;
    if (handle && handle.finished) {
      // Must not happen: a frame of interrupted speech after the decision.
      const b = this.pendingBargeIn;
      if (b && b.speechId === handle.id) {
        b.framesAfterDecision++;
        (b.afterDecision ??= []).push({ how: 'tick', ms: nowMs() - b.decisionMs });
      }
      this.emit('frameAfterInterrupt', handle.id);
    }
    if (paced) {
      output.sendAudio(this.frame, talkSpurt, frameTimeMs, paced.audioFrame(frameTimeMs + lead, this.frame, handle));
      // (a frame handed in after its time leaves at once: then, not at its due time)
      this.offLoop?.voice.farEnd(Math.max(frameTimeMs + lead, nowMs()), this.frame);
    } else {
      output.sendAudio(this.frame, talkSpurt, frameTimeMs);
      this.lastOutAt = nowMs();
      this.reference(this.lastOutAt, this.frame);
      this.lastOutHandle = handle;
    }
  }

  /** Period `frameTimeMs` with nothing to send. */
  private silenceOut(frameTimeMs: number): void {
    const paced = this.paced;
    if (!paced) return this.reference(nowMs(), null);
    const lead = this.output?.paced?.leadMs ?? 0;
    paced.silence(frameTimeMs + lead);
    this.offLoop?.voice.farEnd(Math.max(frameTimeMs + lead, nowMs()), null);
  }

  /** A paced output's send reports: frames that left become the reference, in order. */
  private drainPaced(): void {
    const p = this.paced!;
    this.output?.paced?.drainSent((id, at, began) => p.sent(id, at, began));
    p.release(nowMs());
  }

  /** A frame period as it went out on a paced output (frame null: nothing left). */
  private onFrameLeft(atMs: number, frame: Int16Array | null, handle: SpeechHandle | null, beganAtMs: number): void {
    if (frame) {
      this.lastOutAt = atMs;
      this.lastOutHandle = handle;
      const c = this.cut;
      if (c && handle && c.speechId === handle.id && atMs > c.decisionMs) {
        // As the speech's last packet it is the record's lastFrameMs either way.
        if (beganAtMs > c.decisionMs) {
          // Handed in before the barge-in decision, left after it (before the flush came)
          c.after.push({ how: 'left', ms: atMs - c.decisionMs });
          this.emit('frameAfterInterrupt', handle.id);
        } else c.finished.push(atMs - c.decisionMs); // begun before it, the rest written after
      }
    }
    this.reference(atMs, frame);
  }

  /**
   * Runs `flush` (which aborts the speech's requests) and clears the output, in the
   * order bargeIn() uses: a paced output first, so nothing queued leaves while the
   * abort's listeners run; otherwise the abort first.
   */
  private stopOutput<T>(flush: () => T): T {
    if (!this.output?.paced) {
      const r = flush();
      this.clearOutput();
      return r;
    }
    this.clearOutput();
    return flush();
  }

  /** Barge-in / manual interrupt / takeover / preemption: drop the agent audio queued downstream. */
  private clearOutput(): void {
    this.output?.clear();
    const p = this.paced;
    if (!p) return;
    this.unplayUnsent();
    const reissueFrom = this.cutReference(nowMs());
    this.drainPaced();
    p.dropUnsent(reissueFrom);
    p.release(nowMs());
  }

  /**
   * A paced output was flushed at `atMs`: what the off-loop voice was given for after it
   * did not sound, and the periods from the next tick's on will be made again
   * (unplayUnsent), so their dropped frames give up their slots and the reference keeps
   * one frame per period (a slot kept for each put the thread's pairing up to 7 frames off
   * the echo after every flush, as the agent restarted). Returns that boundary (a due time).
   */
  private cutReference(atMs: number): number {
    const reissueFrom = this.lastTickMs + FRAME_MS / 2 + (this.output?.paced?.leadMs ?? 0);
    this.offLoop?.voice.farEndCut(atMs, reissueFrom);
    return reissueFrom;
  }

  /**
   * After a paced output's flush, before its speech is stopped: the frames it took and
   * will not send are not heard (playedText), and the next frame is made on its tick.
   * Only send reports are read here: releasing waits for the caller (bargeIn's count).
   */
  private unplayUnsent(): void {
    const p = this.paced!;
    this.output?.paced?.drainSent((id, at, began) => p.sent(id, at, began));
    p.forEachUnsent((h) => h?.unplay(FRAME_SAMPLES));
    this.nextFrameMs = 0;
  }

  /** One frame of the far-end reference per tick (and into the tap, when recording). */
  private reference(atMs: number, frame: Int16Array | null): void {
    this.farRef.onTick(atMs, frame);
    // (a paced output gives the off-loop voice its frames when they are queued: tick())
    if (!this.paced) this.offLoop?.voice.farEnd(atMs, frame);
    this.tap?.record(frame ? TapKind.Ref : TapKind.RefSilent, atMs, frame);
  }

  // ---------------------------------------------------------------- user voice

  private onUserFrame(r: VoiceFrameResult, v: VoiceInput): void {
    if (r.speechStart) {
      this.clearIdle();
      this.emit('userSpeechStart', { onsetArrivalMs: v.onsetArrivalMs });
    }
    if (this.takenOver || !this.splicer.playing) return;
    const playing = this.splicer.playing;
    const d = decideInterrupt(
      this.config.interrupt,
      { speechStart: r.speechStart, durationReached: r.durationReached, reachedInSegment: r.reachedInSegment, speechMs: r.speechMs },
      { active: true, priority: playing.priority },
    );
    if (d.interrupt && v.hasOnset) this.bargeIn(d.cause, v.onsetArrivalMs, v);
  }

  private bargeIn(cause: string, onsetArrivalMs: number, v: VoiceInput): void {
    const stopping = this.splicer.interruptibleByVoice;
    const out = stopping ? this.output?.paced : undefined;
    // With a paced output, the first act on the decision holds the pacer until the
    // flush below, and the decision is dated just after: a send can no longer begin
    // in the microseconds between the decision's time and the flush reaching the
    // pacer (it did, about once in 3,000 barge-ins).
    // (decided off the loop: the voice was stopped then, by the thread that decided)
    const offLoopDecision = this.offLoop?.take() ?? null;
    const decisionMs = offLoopDecision ?? (out?.hold ? out.hold() : nowMs());
    const playing = this.splicer.playing;
    const paced = this.paced !== null;
    // A paced output is cleared first, at once: its frames are queued ahead, and until
    // the flush the pacer may send another. Otherwise the abort goes first: nothing is
    // queued that could leave meanwhile.
    let reissueFrom = Infinity;
    if (paced && stopping) {
      this.output?.clear();
      out?.release?.();
      this.unplayUnsent();
      reissueFrom = this.cutReference(decisionMs);
    }
    // (requests whose connections the thread shut down with its decision were aborted then)
    const wireAt = offLoopDecision !== null ? (this.offLoop?.wireAbortAt() ?? null) : null;
    let abortedAt = decisionMs;
    playing?.signal.addEventListener('abort', () => (abortedAt = wireAt ?? nowMs()), { once: true });
    const stopped = this.splicer.flush({ includeHigh: false, reason: 'bargeIn' });
    if (!stopped) return;
    if (!paced) this.output?.clear();
    let after: { how: 'left'; ms: number }[] = [];
    let finished: number[] = [];
    if (this.paced) {
      // After the abort (the wire is already stopped): everything that left before the
      // flush; a frame of `playing` that left after the decision is counted
      // (onFrameLeft). What was still queued will not leave.
      this.cut = { decisionMs, speechId: playing?.id ?? null, after: [], finished: [] };
      this.drainPaced();
      this.paced.dropUnsent(reissueFrom);
      this.paced.release(nowMs());
      after = this.cut.after;
      finished = this.cut.finished;
      this.cut = null;
    }
    const wasSounding = playing !== null && this.lastOutHandle === playing && decisionMs - this.lastOutAt < 3 * FRAME_MS;
    const lastFrameMs = wasSounding ? this.lastOutAt : null;
    this.tap?.record(TapKind.BargeIn, decisionMs, null);
    const rec: BargeInRecord = {
      at: decisionMs,
      cause,
      onsetArrivalMs,
      decisionMs,
      lastFrameMs,
      latencyMs: lastFrameMs !== null ? lastFrameMs - onsetArrivalMs : null,
      overheadMs: lastFrameMs !== null ? lastFrameMs - onsetArrivalMs - this.config.interrupt.durationMs : null,
      durationMs: this.config.interrupt.durationMs,
      framesAfterDecision: after.length,
      ...(after.length ? { afterDecision: after } : {}),
      ...(finished.length ? { finishedAfterDecision: finished } : {}),
      abortDelayMs: abortedAt - decisionMs,
      decidedOn: offLoopDecision !== null ? 'receiveThread' : 'eventLoop',
      abortedOnWire: wireAt !== null,
      decisionDelayMs: decisionMs - onsetArrivalMs - this.config.interrupt.durationMs,
      detectorMs: v.heardSinceOnsetMs - this.config.interrupt.durationMs,
      transitMs: v.transitSinceOnsetMs,
      processingMs: decisionMs - v.frameArrivalMs,
      loopStallMs: this.deps.clock.maxLateSince(onsetArrivalMs),
      speechId: stopped.id,
    };
    if (rec.abortDelayMs > 5) {
      const s: BargeInRecord['abortSched'] = this.deps.clock.schedSinceLastRun();
      rec.abortSched = s;
      // and the garbage collection between the decision and the abort, once its
      // performance entries have arrived
      const from = decisionMs - performance.timeOrigin;
      const to = abortedAt - performance.timeOrigin;
      if (s)
        setTimeout(() => {
          const gc = this.deps.clock.gcWithin(from, to);
          s.gcMs = gc.ms;
          s.gcKinds = gc.kinds;
        }, 100).unref();
    }
    this.pendingBargeIn = rec;
    this.bargeIns.push(rec);
    if (this.bargeIns.length > 1000) this.bargeIns.shift();
    this.emit('bargeIn', rec);
    this.log.debug('barge-in', { ...rec });
    this.noteState();
  }

  private onUserUtterance(u: Utterance): void {
    this.armIdle();
    const turnId = ++this.turnSeq;
    const turn: TurnRecord = { turnId, source: 'user' };
    // Speech shorter than InterruptSpeechDuration while the agent talks is a
    // backchannel ("ok", "uh-huh"): it did not interrupt, so it must not start a
    // new answer that would replace the one playing. It is still transcribed.
    const p = this.splicer.playing;
    const backchannel = this.config.interrupt.mode === 'duration' && p !== null && p.priority !== 'High';
    this.asrChain = this.asrChain.then(() => this.recognise(u, turn, backchannel));
  }

  private async recognise(u: Utterance, turn: TurnRecord, backchannel: boolean): Promise<void> {
    if (this._ended) return;
    const t0 = performance.now();
    let text: string;
    this.activeProducers++;
    try {
      text = (await this.deps.asr.transcribe(u.pcm, CORE_RATE, this.asrAbort.signal)).text.trim();
    } catch (e) {
      if (!isAbortError(e)) this.providerError(e, 'Provider.ASR.Failed', turn);
      return;
    } finally {
      this.activeProducers--;
      this.noteState();
    }
    turn.asrMs = performance.now() - t0;
    if (!text || this._ended) return;
    turn.userText = text;
    this.turns.push(turn);
    this.send(this.subtitle(1003, text, ++this.sentenceSeq, true, this.config.targetUserIds[0]));
    this.history.add({ role: 'user', content: text, source: 'asr' });
    if (this.takenOver) return;
    if (backchannel && this.splicer.playing) {
      turn.answer = '';
      this.emit('backchannel', { text });
      return;
    }
    const question = this.history.context(this.config.llm.systemPrompt, this.config.llm.windowSize);
    const opt: SamePriorityOption = this.config.interrupt.mode === 'off' ? 'Enqueue' : 'ClearAndInterrupt';
    try {
      this.speakLlm(question, { priority: 'Medium', samePriorityOption: opt }, { addAnswerToHistory: true, source: 'llm', turn });
    } catch (e) {
      this.log.warn('answer not queued', { error: e });
      this.emit('error', e);
    }
  }

  // ---------------------------------------------------------------- speaking

  private subtitle(type: 1002 | 1003, text: string, sentenceId: number, end: boolean, userId?: string): SubtitleMessage {
    const msg: SubtitleMessage = { type, data: { text, sentenceId, end } };
    if (userId) msg.data.userId = userId;
    return msg;
  }

  private agentSubtitles(): SubtitleSink & { close(): void } {
    let id = ++this.sentenceSeq;
    let open = false;
    let last = '';
    const sink = ((text: string, end: boolean) => {
      if (this._ended) return;
      this.send(this.subtitle(1002, text, id, end, this.config.agentUserId));
      if (end) {
        id = ++this.sentenceSeq;
        open = false;
      } else {
        open = true;
        last = text;
      }
    }) as SubtitleSink & { close(): void };
    sink.close = () => {
      if (open) this.send(this.subtitle(1002, last, id, true, this.config.agentUserId));
      open = false;
    };
    return sink;
  }

  private newHandle(source: string, o: SpeakOptions, meta: Record<string, unknown> = {}): SpeechHandle {
    this.assertActive();
    const h = new SpeechHandle({ priority: o.priority ?? 'Medium', source, sampleRate: CORE_RATE, expiresAt: o.expiresAt, meta });
    // what the user's voice may stop: its requests' connections close with a decision off the loop
    if (this.offLoop && h.priority !== 'High') closeOnDecision(h.signal, this.offLoop.voice);
    // the stopped speech's frames queued ahead do not play before the new one
    if (this.paced && this.splicer.wouldPreempt(h, o.samePriorityOption)) this.clearOutput();
    this.splicer.submit(h, o.samePriorityOption ?? 'ClearAndInterrupt');
    this.noteState();
    return h;
  }

  /** Proactive or welcome speech of fixed text. Returns the task handle. */
  speakText(text: string, o: SpeakOptions, opts: { addHistory: boolean; source: string }): SpeechHandle {
    const h = this.newHandle(opts.source, o);
    const subs = this.agentSubtitles();
    this.activeProducers++;
    void produceTts(h, this.deps.tts, text, subs)
      .then((r) => this.afterProduce(h, r, { source: opts.source }))
      .then(async () => {
        const played = await h.waitForPlayout();
        subs.close();
        if (opts.addHistory && played.playedText) this.history.add({ role: 'assistant', content: played.playedText, interrupted: played.interrupted, source: opts.source });
        this.afterPlayout();
      });
    return h;
  }

  /** An LLM answer (user turn or proactive SendAgentInstanceLLM). */
  speakLlm(
    messages: ReturnType<History['context']>,
    o: SpeakOptions,
    opts: { addAnswerToHistory: boolean; source: string; turn?: TurnRecord },
  ): SpeechHandle {
    const h = this.newHandle(opts.source, o);
    const subs = this.agentSubtitles();
    const turn = opts.turn ?? { turnId: ++this.turnSeq, source: opts.source };
    if (!opts.turn) this.turns.push(turn);
    if (this.turns.length > 500) this.turns.shift();
    this.activeProducers++;
    void produceLlm(h, this.deps.chat, this.deps.tts, messages, this.config.llm.tools, subs)
      .then((r) => {
        turn.llmFirstTokenMs = r.timings.llmFirstTokenMs;
        turn.ttsFirstAudioMs = r.timings.ttsFirstAudioMs;
        if (r.error) turn.error = r.error.code;
        this.afterProduce(h, r, { source: opts.source, turn });
        const hangup = this.config.llm.hangupFunction !== undefined && r.toolCalls.some((c) => c.name === this.config.llm.hangupFunction);
        if (hangup) this.hangupPending = true;
        return hangup;
      })
      .then(async (hangup) => {
        const played = await h.waitForPlayout();
        subs.close();
        turn.answer = played.playedText;
        turn.interrupted = played.interrupted;
        this.emit('turn', turn);
        if (opts.addAnswerToHistory && played.playedText) {
          this.history.add({ role: 'assistant', content: played.playedText, interrupted: played.interrupted, source: opts.source });
        }
        if (hangup) {
          this.hangupPending = false;
          // The closing words were heard to the end (or there were none): end the call.
          if (!played.interrupted || played.reason === null || played.state === 'failed') this.end('hangup', 'The agent ended the call.');
          else this.log.info('hang-up cancelled: closing words were interrupted', { reason: played.reason });
        }
        this.afterPlayout();
      });
    return h;
  }

  private afterProduce(h: SpeechHandle, r: ProducerResult, ctx: { source: string; turn?: TurnRecord }): void {
    this.activeProducers--;
    if (r.error) this.providerError(r.error, r.error.code, ctx.turn);
    if (!r.ok && !r.aborted) h.fail(r.error?.code ?? 'Provider.Failed');
    this.noteState();
  }

  private afterPlayout(): void {
    this.noteState();
    this.armIdle();
  }

  private providerError(e: unknown, fallbackCode: string, turn?: TurnRecord): void {
    const err = e instanceof ProviderError ? e : new ProviderError(fallbackCode, (e as Error)?.message ?? String(e));
    if (turn) turn.error = err.code;
    this.log.warn('provider error', { code: err.code, message: err.message });
    this.emit('providerError', err);
    this.send({ type: 'error', data: { code: err.code, message: err.message } });
  }

  // ---------------------------------------------------------------- control

  private assertActive(): void {
    if (this._ended) throw new InvalidStateError('AgentEnded', 'the agent instance has ended');
    if (this.takenOver) throw new InvalidStateError('AgentTakenOver', 'a human has taken over this agent; it cannot speak again');
  }

  /** Manual interrupt (API or ctrl frame): stops everything, High included. */
  interrupt(source: 'api' | 'ctrl'): boolean {
    if (this._ended) throw new InvalidStateError('AgentEnded', 'the agent instance has ended');
    const stopped = this.stopOutput(() => this.splicer.flush({ includeHigh: true, reason: 'manual' }));
    this.emit('interrupt', { source, stopped: stopped?.id ?? null });
    this.noteState();
    return stopped !== null;
  }

  /** Human takeover: one-way. Returns the human's join token. */
  takeover(humanUid: string, mode: number): { token: string } {
    this.assertActive();
    this.takenOver = { uid: humanUid, mode, connected: false };
    this.clearIdle();
    this.stopOutput(() => this.splicer.flush({ includeHigh: true, reason: 'takeover' }));
    this.send({ type: 'humanTakeoverWillStart', data: { uid: humanUid, mode } });
    this.noteState();
    return { token: this.deps.tokenSecretSign({ room: this.config.roomId, uid: humanUid, role: 'human-agent', agent: this.id }) };
  }

  /** The transport saw the human join. */
  humanConnected(uid: string, humanVad?: VadStream): void {
    if (!this.takenOver || this.takenOver.uid !== uid) throw new InvalidParameterError('InvalidParameter.HumanAgentUserId', 'this user is not the takeover human');
    if (this.takenOver.connected) return;
    this.takenOver.connected = true;
    if (humanVad) {
      this.human = new VoiceInput(humanVad, CORE_RATE, FRAME_MS, () => {}, (u) => this.onHumanUtterance(u), this.config.asr.endOfTurnMs);
    }
    this.send({ type: 'humanTakeoverConnected', data: { uid } });
  }

  /** The human agent's voice (for subtitles of the agent side after takeover). */
  pushHumanAudio(pcm: Int16Array, arrivalMs = nowMs()): void {
    this.human?.push(pcm, arrivalMs, null);
  }

  private onHumanUtterance(u: Utterance): void {
    this.asrChain = this.asrChain.then(async () => {
      try {
        const text = (await this.deps.asr.transcribe(u.pcm, CORE_RATE, this.asrAbort.signal)).text.trim();
        if (!text || this._ended) return;
        this.send(this.subtitle(1002, text, ++this.sentenceSeq, true, this.takenOver?.uid));
        this.history.add({ role: 'assistant', content: text, source: 'human' });
      } catch (e) {
        if (!isAbortError(e)) this.providerError(e, 'Provider.ASR.Failed');
      }
    });
  }

  // ---------------------------------------------------------------- idle prompt

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private armIdle(): void {
    this.clearIdle();
    const idle = this.config.idle;
    if (!idle || this._ended || this.takenOver || !this.output || this.idleCount >= idle.maxCount) return;
    this.idleTimer = setTimeout(() => this.onIdle(), idle.timeoutMs);
    this.idleTimer.unref();
  }

  private onIdle(): void {
    this.idleTimer = null;
    const idle = this.config.idle;
    if (!idle || this._ended || this.takenOver) return;
    if (this.user.speaking || this.offUser?.speaking || this.splicer.busy || this.activeProducers > 0) {
      this.armIdle();
      return;
    }
    this.idleCount++;
    this.emit('idle', { count: this.idleCount });
    try {
      if (idle.mode === 'TTS') this.speakText(idle.text, { priority: idle.priority }, { addHistory: true, source: 'idle' });
      else {
        const ctx = this.history.context(this.config.llm.systemPrompt, this.config.llm.windowSize, idle.text);
        this.speakLlm(ctx, { priority: idle.priority }, { addAnswerToHistory: true, source: 'idle' });
      }
    } catch (e) {
      this.log.warn('idle prompt not queued', { error: e });
    }
  }

  // ---------------------------------------------------------------- end

  /** Ends the session: stops speech, cancels requests, tells the room why, releases the transport. */
  end(reason: string, message?: string): void {
    if (this._ended) return;
    this.send({ type: 'agentEnded', data: { reason, message: message ?? reason } });
    this._ended = true;
    this.endReason = reason;
    this.clearIdle();
    this.splicer.flush({ includeHigh: true, reason: 'stop' });
    this.asrAbort.abort();
    this.deps.clock.remove(this);
    void this.tap?.close();
    const out = this.output;
    this.output = null;
    out?.end(reason);
    this.emit('state', 'ended');
    this.emit('ended', reason);
  }

  get hangupInProgress(): boolean {
    return this.hangupPending;
  }

  describe(): Record<string, unknown> {
    const lat = this.bargeIns.filter((b) => b.latencyMs !== null);
    const last = lat[lat.length - 1];
    const ps = this.output?.paced?.stats?.();
    return {
      AgentInstanceId: this.id,
      RoomId: this.config.roomId,
      TaskId: this.config.taskId,
      State: this.state,
      EndReason: this.endReason,
      CreatedAt: new Date(this.createdAt).toISOString(),
      TakenOverBy: this.takenOver?.uid ?? null,
      Interrupt: { Mode: this.config.interrupt.mode, InterruptSpeechDuration: this.config.interrupt.durationMs },
      Speaking: this.splicer.playing ? { TaskId: this.splicer.playing.id, Priority: this.splicer.playing.priority, Source: this.splicer.playing.source } : null,
      QueuedTasks: this.splicer.queued.map((t) => ({ TaskId: t.id, Priority: t.priority, Source: t.source })),
      History: this.history.all().map((e) => ({ Role: e.role, Content: e.content, Source: e.source, Interrupted: e.interrupted ?? false, At: new Date(e.at).toISOString() })),
      Turns: this.turns.map(describeTurn),
      BargeIns: this.bargeIns.slice(-50).map(describeBargeIn),
      LastBargeInLatencyMs: last ? round(last.latencyMs) : null,
      Pacing: ps ? describePacing(ps) : null,
    };
  }
}
