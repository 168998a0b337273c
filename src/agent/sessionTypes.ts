/**
 * The agent session's contracts with its transports and callers: what a transport
 * provides (AgentOutput, PacedOutput), what the session needs (SessionDeps), and the
 * records it keeps (BargeInRecord, TurnRecord). Types only; see session.ts.
 */
import type { AsrProvider } from '../providers/asr';
import type { ChatProvider } from '../providers/chat';
import type { TtsProvider } from '../providers/tts';
import type { VadStream } from '../native/vadTypes';
import type { PacerStats } from '../sfu/pacedRtp';
import type { FrameClock } from './frameClock';
import type { Priority, SamePriorityOption } from './speechHandle';
import type { TapHeader, VadTapWriter } from './vadTap';

/** An output that sends frames on time by itself (src/sfu/pacedRtp.ts's PacedRtpOut is one). */
export interface PacedOutput {
  readonly leadMs: number;
  /**
   * Announces the flush an interrupt is about to make (by clear()): from the returned
   * time (ms since epoch) until that flush, no frame of any paced output begins to
   * leave. A barge-in dates its decision with it.
   */
  hold?(): number;
  /** Ends a hold() after the clear(), whether or not it flushed (a closed output does not). */
  release?(): void;
  /** The output's own pacer counts (DescribeVoiceChat → Pacing). */
  stats?(): PacerStats;
  /**
   * beganAtMs: when the frame's first write began, earlier than sentAtMs only for a
   * frame a stream socket took in parts (its rest must follow, even after a flush).
   */
  drainSent(visit: (id: number, sentAtMs: number, beganAtMs: number) => void): void;
}

/** What a transport provides to carry the agent's voice and messages. */
export interface AgentOutput {
  /**
   * One frame of agent audio (FRAME_SAMPLES at CORE_RATE), valid only during the call.
   * `frameTimeMs` is the frame's ideal time on the shared clock (ms since epoch): a
   * late tick is not a gap in the agent's voice.
   */
  sendAudio(frame: Int16Array, talkSpurtStart: boolean, frameTimeMs?: number, frameId?: number): void;
  /**
   * Present when the output sends frames on time by itself (the native pacer): each
   * frame handed in leaves `leadMs` after its frame time, and drainSent() reports what
   * left and when (the frame ids given to sendAudio), oldest first.
   */
  paced?: PacedOutput;
  /** A room/data-channel message (subtitles, takeover and hang-up events). */
  sendMessage(msg: Record<string, unknown>): void;
  /** Barge-in/manual interrupt: drop any agent audio buffered downstream (gateways' "clear"). */
  clear(): void;
  /** The session ended (hang-up, stop): leave the room / hang up the leg. */
  end(reason: string): void;
}

export interface SubtitleMessage extends Record<string, unknown> {
  type: 1002 | 1003;
  data: { text: string; sentenceId: number; end: boolean; userId?: string };
}

export interface BargeInRecord {
  at: number;
  cause: string;
  /** Arrival of the packet carrying the first speech sample. */
  onsetArrivalMs: number;
  decisionMs: number;
  /** Last agent frame sent for the interrupted speech. */
  lastFrameMs: number | null;
  latencyMs: number | null;
  overheadMs: number | null;
  durationMs: number;
  /** Agent frames of the interrupted speech sent after the decision (target 0). */
  framesAfterDecision: number;
  /**
   * Each of those frames: how it was found ('left': a paced frame whose send began
   * after the decision; 'tick': a frame of the stopped speech made after it) and its
   * time after the decision, ms.
   */
  afterDecision?: { how: 'left' | 'tick'; ms: number }[];
  /**
   * Frames whose first part was written before the decision and the rest after it (ms
   * after the decision when they finished): a stream socket (the telephony WebSocket)
   * whose buffer was full took them in parts, and a byte stream cannot drop the rest
   * of a frame it has begun. Not among framesAfterDecision; the latency ends with them.
   */
  finishedAfterDecision?: number[];
  /**
   * Decision → abort signal of the in-flight LLM/TTS requests. A decision taken on the
   * receive thread (decidedOn) includes the wait for the event loop to learn of it.
   */
  abortDelayMs: number;
  /** Where the decision (and the stop of the agent's voice) was taken. */
  decidedOn: 'receiveThread' | 'eventLoop';
  /**
   * The receive thread shut the stopped speech's request connections down with its
   * decision: abortDelayMs is then until that shutdown, not the event loop's abort.
   */
  abortedOnWire: boolean;
  /**
   * When the abort took over 5 ms: the main thread's time from the frame clock's last
   * run to the abort, on a CPU vs waiting for one (a busy machine, not our work).
   */
  abortSched?: { windowMs: number; runMs: number; waitMs: number; gcMs?: number; gcKinds?: string[] } | null;
  /** Decision time − (onset arrival + D): the detector's and the bridge's own delay. */
  decisionDelayMs: number;
  /**
   * The detector's share: speech heard from the onset sample to the end of the deciding
   * frame, minus D (audio time; the detector's algorithmic delay, independent of load).
   */
  detectorMs: number;
  /** Packets after the onset's arriving later than real-time pace (sender, network, socket reads). */
  transitMs: number;
  /** The bridge's share: decision time − arrival of the packet carrying the deciding frame. */
  processingMs: number;
  /**
   * The longest this process's event loop was held up between the onset's arrival and
   * the decision (frame clock lateness): the part of the transit that is our own socket reads.
   */
  loopStallMs: number;
  speechId: string;
}

export interface TurnRecord {
  turnId: number;
  source: string;
  userText?: string;
  asrMs?: number;
  llmFirstTokenMs?: number;
  ttsFirstAudioMs?: number;
  answer?: string;
  interrupted?: boolean;
  error?: string;
}

export interface SessionDeps {
  chat: ChatProvider;
  tts: TtsProvider;
  asr: AsrProvider;
  clock: FrameClock;
  createVad(opts: { sampleRate: number; frameMs: number; interruptMs: number }): VadStream;
  tokenSecretSign(claims: { room: string; uid: string; role: 'human-agent'; agent: string }): string;
  /** A recorder of what the barge-in detector is given (`vadTapDir`), or null for this session. */
  openVadTap?(h: TapHeader): VadTapWriter | null;
  /**
   * BridgeConfig.agentAudioAheadMs: a paced output is given speech frames this far
   * beyond the current frame period while they are buffered (0: one per period).
   */
  audioAheadMs?: number;
}

export interface SpeakOptions {
  priority?: Priority;
  samePriorityOption?: SamePriorityOption;
  expiresAt?: number;
}
