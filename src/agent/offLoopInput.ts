/**
 * The session's side of a user voice whose VAD and barge-in decision run off the
 * event loop (the room path's receive thread, src/sfu/voiceRx.ts). The session keeps
 * its own VoiceInput and interrupt policy; this supplies:
 *  - RemoteVad: the session's VadStream, returning for each frame the flags the
 *    thread computed for it (frames arrive one VAD frame at a time, in order, so the
 *    session's sample counts match the detector's);
 *  - the arm: the policy's answer for what is playing ('off', 'onset', 'duration'),
 *    handed to the thread whenever it changes, so the thread can decide and stop
 *    the agent's voice on its own;
 *  - the decision a frame carries, used by the session's barge-in as its decision
 *    time; one the session does not act on (what was playing changed in between)
 *    lifts the thread's gate on the agent's voice again (settle()).
 */
import type { VadStream } from '../native/vadTypes';
import type { WireAbortTarget } from '../providers/wireAbort';

import type { offLoopArm } from './interruptPolicy';

export type ArmMode = ReturnType<typeof offLoopArm>;

/** What the transport provides (the room path: AgentParticipant over an RxSocket). */
export interface OffLoopVoice extends WireAbortTarget {
  setInterruptMs(ms: number): number;
  /**
   * One far-end frame per agent clock tick (null for silence), at the time it leaves: a
   * paced output gives it when it is queued, with its due time, so the thread, which
   * reads the user's packets as they come, always has what was sent before them.
   */
  farEnd(atMs: number, frame: Int16Array | null): void;
  /**
   * The frames given for after `atMs` will not leave (a paced output was flushed), and
   * those from `reissueFromMs` on are dropped: their periods will be given again.
   */
  farEndCut(atMs: number, reissueFromMs: number): void;
  /** True when the thread decided a barge-in since the last call. */
  arm(mode: ArmMode): boolean;
  /** Hands the frames waiting on the thread to the session now. */
  pump(): void;
  /** A decision the session did not act on: the agent's voice may go on. */
  settle(): void;
}

const OUT_SPEECH_MS = 2;
const OUT_ONSET = 3;
const OUT_END = 4;

class RemoteVad implements VadStream {
  speechMs = 0;
  onsetSample = -1;
  endSample = -1;
  private flags = 0;

  constructor(private readonly voice: OffLoopVoice) {}

  set(flags: number, out: Float64Array): void {
    this.flags = flags & 0xff;
    this.speechMs = out[OUT_SPEECH_MS];
    this.onsetSample = out[OUT_ONSET];
    this.endSample = out[OUT_END];
  }

  process(): number {
    return this.flags;
  }

  setInterruptDuration(ms: number): void {
    this.voice.setInterruptMs(ms);
  }

  reset(): void {
    // the detector's state lives on the thread and follows the stream
  }
}

export class OffLoopInput {
  readonly vad: RemoteVad;
  private armed: ArmMode = 'off';
  private fired = false;
  private decisionMs = 0;
  private wireAbortMs = 0;

  constructor(readonly voice: OffLoopVoice) {
    this.vad = new RemoteVad(voice);
  }

  /** Before the session takes a frame computed off the loop (`decisionMs` when it carries a decision). */
  begin(flags: number, out: Float64Array, decisionMs: number | null, wireAbortMs = 0): void {
    this.vad.set(flags, out);
    this.fired = decisionMs !== null;
    if (decisionMs !== null) {
      this.decisionMs = decisionMs;
      this.wireAbortMs = wireAbortMs;
      this.armed = 'off'; // the thread disarmed itself
    }
  }

  /** The frame's decision, for the barge-in acting on it (null: none, decide now). */
  take(): number | null {
    return this.fired ? this.decisionMs : null;
  }

  /** When the frame's decision shut the stopped speech's requests down (null: it did not). */
  wireAbortAt(): number | null {
    return this.fired && this.wireAbortMs > 0 ? this.wireAbortMs : null;
  }

  /** After the frame: the voice is released if the decision was not acted on (see settle()). */
  end(): void {
    if (!this.fired) return;
    this.fired = false;
    this.voice.settle();
  }

  /** The policy's answer for what plays now; a decision not handled yet is handled first. */
  sync(mode: ArmMode): void {
    if (mode === this.armed) return;
    this.armed = mode;
    if (this.voice.arm(mode)) this.voice.pump();
  }
}
