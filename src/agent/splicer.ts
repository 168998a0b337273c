/**
 * The agent's one output timeline: speech tasks spliced by priority. A frame
 * clock calls `nextFrame()` every frame period; the splicer copies the playing
 * task's next frame (or reports silence) and moves on to the next task when one
 * ends. Rules (DESIGN.md section 4):
 *  - a higher-priority task interrupts a lower one that is playing;
 *  - a lower one waits in the queue behind it;
 *  - same priority: ClearAndInterrupt replaces the playing task and the queued
 *    tasks of that priority, Enqueue waits behind them;
 *  - at most 5 waiting tasks: the 6th is refused (QueueFull);
 *  - a waiting task past its expiry is dropped, never played late.
 */
import { InvalidStateError } from '../errors';
import { PRIORITY_RANK, type SamePriorityOption, type SpeechHandle } from './speechHandle';

export const MAX_QUEUED = 5;

export interface FlushOptions {
  /** Also stop High-priority tasks (manual interrupt, takeover); barge-in leaves them. */
  includeHigh: boolean;
  reason: string;
}

export class SpeechSplicer {
  private current: SpeechHandle | null = null;
  private readonly queue: SpeechHandle[] = [];
  /** Set when the next frame starts a new talk-spurt (RTP marker bit). */
  talkSpurtStart = true;
  /** Frames handed out since creation (for stats). */
  framesOut = 0;

  constructor(readonly frameSamples: number) {}

  get playing(): SpeechHandle | null {
    return this.current;
  }

  get queued(): readonly SpeechHandle[] {
    return this.queue;
  }

  get busy(): boolean {
    return this.current !== null || this.queue.length > 0;
  }

  /** Whether submit(task, option) would stop the playing task (submit's rules). */
  wouldPreempt(task: SpeechHandle, option: SamePriorityOption = 'ClearAndInterrupt'): boolean {
    const cur = this.current;
    return cur !== null && !cur.finished && preempts(task, cur, option);
  }

  /**
   * Whether nextFrame() may be called ahead of the frame's tick: the playing task has
   * the frame buffered, and it is not the task's last. (A task ends, and settles its
   * playout, when its last frame is taken: that stays on the frame's own tick.)
   */
  get frameAhead(): boolean {
    const c = this.current;
    return c !== null && !c.finished && c.bufferedSamples > this.frameSamples;
  }

  /** Adds a task following the priority rules; throws InvalidStateError('QueueFull'). */
  submit(task: SpeechHandle, option: SamePriorityOption = 'ClearAndInterrupt'): void {
    const cur = this.current;
    const rank = PRIORITY_RANK[task.priority];
    if (!cur) {
      if (option === 'ClearAndInterrupt') this.dropQueued((t) => PRIORITY_RANK[t.priority] === rank, 'preempted');
      this.enqueue(task, true);
      this.promote();
      return;
    }
    if (!preempts(task, cur, option)) {
      this.enqueue(task, false);
      return;
    }
    // same priority: it also replaces the waiting tasks of that priority
    if (rank === PRIORITY_RANK[cur.priority]) this.dropQueued((t) => PRIORITY_RANK[t.priority] === rank, 'preempted');
    this.enqueue(task, true);
    cur.interrupt('preempted');
    this.current = null;
    this.promote();
  }

  private enqueue(task: SpeechHandle, front: boolean): void {
    if (this.queue.length >= MAX_QUEUED) {
      throw new InvalidStateError('QueueFull', `the speech queue holds at most ${MAX_QUEUED} waiting tasks`, 429);
    }
    // Keep the queue ordered by priority, FIFO within a priority; `front` puts
    // the task ahead of others of its priority (it replaces them).
    const rank = PRIORITY_RANK[task.priority];
    let i = 0;
    while (i < this.queue.length) {
      const r = PRIORITY_RANK[this.queue[i].priority];
      if (r < rank || (front && r === rank)) break;
      i++;
    }
    this.queue.splice(i, 0, task);
    task.once('finished', () => {
      const k = this.queue.indexOf(task);
      if (k >= 0) this.queue.splice(k, 1);
    });
  }

  private dropQueued(match: (t: SpeechHandle) => boolean, reason: string): void {
    for (const t of this.queue.filter(match)) t.interrupt(reason);
  }

  /** Starts the next waiting task, skipping expired ones. */
  private promote(): void {
    const now = Date.now();
    while (!this.current && this.queue.length) {
      const t = this.queue.shift()!;
      if (t.finished) continue;
      if (t.expiresAt !== undefined && now > t.expiresAt) {
        t.interrupt('expired');
        continue;
      }
      this.current = t;
      this.talkSpurtStart = true;
      t.start();
    }
  }

  /**
   * Fills `out` with the next frame. Returns false when there is nothing to send
   * (idle, or the playing task's producer is behind): the caller sends nothing.
   * A partial final frame is padded with silence.
   */
  nextFrame(out: Int16Array): boolean {
    for (;;) {
      const cur = this.current;
      if (cur && cur.finished) {
        this.current = null;
        this.promote();
        continue;
      }
      if (!cur) {
        this.promote();
        if (!this.current) return false;
        continue;
      }
      if (cur.bufferedSamples < out.length && !cur.ended) return false; // underrun: wait for the producer
      const n = cur.read(out, 0);
      if (n === 0) {
        // Drained: done. The previous frame was its last.
        cur.complete();
        this.current = null;
        this.talkSpurtStart = true;
        this.promote();
        continue;
      }
      if (n < out.length) out.fill(0, n);
      this.framesOut++;
      if (cur.drained) {
        // Last frame of this task: it is complete once this frame is out.
        queueMicrotask(() => {
          if (this.current === cur && cur.drained) {
            cur.complete();
            this.current = null;
            this.talkSpurtStart = true;
          }
        });
      }
      return true;
    }
  }

  /** Stops the playing task (unless High and !includeHigh) and drops the waiting ones. */
  flush(opts: FlushOptions): SpeechHandle | null {
    const cur = this.current;
    let stopped: SpeechHandle | null = null;
    if (cur && (opts.includeHigh || cur.priority !== 'High')) {
      cur.interrupt(opts.reason);
      this.current = null;
      this.talkSpurtStart = true;
      stopped = cur;
    }
    this.dropQueued((t) => opts.includeHigh || t.priority !== 'High', opts.reason);
    if (!this.current) this.promote();
    return stopped;
  }

  /** Whether user speech may interrupt what is playing now (High is heard whole). */
  get interruptibleByVoice(): boolean {
    return this.current !== null && this.current.priority !== 'High';
  }
}

/** The rule: a higher priority interrupts; the same one does with ClearAndInterrupt. */
function preempts(task: SpeechHandle, playing: SpeechHandle, option: SamePriorityOption): boolean {
  const rank = PRIORITY_RANK[task.priority];
  const cur = PRIORITY_RANK[playing.priority];
  return rank > cur || (rank === cur && option === 'ClearAndInterrupt');
}
