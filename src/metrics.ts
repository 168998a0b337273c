/**
 * Prometheus metrics in the text exposition format (version 0.0.4): counters,
 * gauges and histograms with labels, rendered on GET /metrics. No dependency;
 * observation is a few array writes, cheap enough for per-barge-in use.
 */
import type { VoiceRxStats } from './sfu/voiceRx';
type Labels = Record<string, string>;

function labelKey(l: Labels | undefined): string {
  if (!l) return '';
  const keys = Object.keys(l).sort();
  return keys.map((k) => `${k}="${String(l[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',');
}

interface Metric {
  name: string;
  help: string;
  render(): string;
}

export class Counter implements Metric {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels?: Labels, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels?: Labels): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.values.size === 0) lines.push(`${this.name} 0`);
    for (const [k, v] of this.values) lines.push(`${this.name}${k ? `{${k}}` : ''} ${v}`);
    return lines.join('\n');
  }
}

export class Gauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number,
  ) {}
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${this.read()}`].join('\n');
  }
}

export class Histogram implements Metric {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[],
  ) {}
  observe(value: number, labels?: Labels): void {
    const k = labelKey(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) s.counts[i]++;
    s.sum += value;
    s.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, s] of this.series) {
      const pre = k ? `${k},` : '';
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket{${pre}le="${b}"} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket{${pre}le="+Inf"} ${s.count}`);
      lines.push(`${this.name}_sum${k ? `{${k}}` : ''} ${s.sum}`);
      lines.push(`${this.name}_count${k ? `{${k}}` : ''} ${s.count}`);
    }
    return lines.join('\n');
  }
}

/** A histogram kept by its owner (per-bucket counts, not cumulative), rendered on read. */
export class HistogramView implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[],
    private readonly read: () => { counts: number[]; sum: number },
  ) {}
  render(): string {
    const { counts, sum } = this.read();
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    let acc = 0;
    this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket{le="${b}"} ${(acc += counts[i] ?? 0)}`));
    acc += counts[this.buckets.length] ?? 0;
    lines.push(`${this.name}_bucket{le="+Inf"} ${acc}`, `${this.name}_sum ${sum}`, `${this.name}_count ${acc}`);
    return lines.join('\n');
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];
  add<T extends Metric>(m: T): T {
    this.metrics.push(m);
    return m;
  }
  render(): string {
    return this.metrics.map((m) => m.render()).join('\n') + '\n';
  }
}

const MS_BUCKETS = [5, 10, 15, 20, 30, 40, 60, 80, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000];

/** The bridge's metrics. */
export class BridgeMetrics {
  readonly registry = new Registry();
  readonly sessionsStarted = this.registry.add(new Counter('voxbridge_sessions_started_total', 'Agent sessions started'));
  readonly sessionsEnded = this.registry.add(new Counter('voxbridge_sessions_ended_total', 'Agent sessions ended, by reason'));
  readonly bargeInLatency = this.registry.add(
    new Histogram('voxbridge_barge_in_latency_ms', 'Barge-in latency: speech onset packet arrival to the last agent audio packet sent, ms', MS_BUCKETS),
  );
  readonly bargeInOverhead = this.registry.add(
    new Histogram('voxbridge_barge_in_overhead_ms', 'Barge-in latency minus InterruptSpeechDuration, ms', [-20, -10, 0, 5, 10, 15, 20, 30, 40, 60, 100, 200]),
  );
  readonly bargeIns = this.registry.add(new Counter('voxbridge_barge_ins_total', 'Automatic interrupts, by cause'));
  readonly framesAfterDecision = this.registry.add(new Counter('voxbridge_frames_after_interrupt_total', 'Agent frames sent after an interrupt decision (must stay 0)'));
  readonly manualInterrupts = this.registry.add(new Counter('voxbridge_manual_interrupts_total', 'Manual interrupts, by source'));
  readonly providerErrors = this.registry.add(new Counter('voxbridge_provider_errors_total', 'LLM/TTS/ASR errors, by code'));
  readonly turnLatency = this.registry.add(new Histogram('voxbridge_turn_stage_ms', 'Per-turn stage latency (asr, llm_first_token, tts_first_audio), ms', MS_BUCKETS));

  constructor(gauges: {
    sessions: () => number;
    clockLate: () => number;
    clockTicks: () => number;
    clockLateness?: { buckets: number[]; read: () => { counts: number[]; sum: number } };
    clockHeld?: () => { heldMs: number; runMs: number; waitMs: number };
    paced?: () => { sent: number; late: number; maxLateMs: number; flushed: number; enqueuedLate: number; partialWrites: number; lateSumMs: number; lateness: number[] };
    pacedBucketsMs?: number[];
    pacerPriority?: () => number;
    /** The pacer's step-asides for callers, and those cut short (see NativePacer.stepAsides). */
    pacerStepAsides?: () => [number, number];
    pacedStreamDrops?: () => number;
    /** The voice receive thread's totals (null until it started). */
    voiceRx?: () => VoiceRxStats | null;
    longHolds?: () => { count: number; heldMs: number; runMs: number; waitMs: number; gcMs: number };
  }) {
    this.registry.add(new Gauge('voxbridge_sessions_active', 'Agent sessions running', gauges.sessions));
    this.registry.add(new Gauge('voxbridge_frame_clock_ticks', 'Frame clock ticks since start', gauges.clockTicks));
    this.registry.add(new Gauge('voxbridge_frame_clock_late_ticks', 'Frame clock ticks more than 10 ms late', gauges.clockLate));
    const cl = gauges.clockLateness;
    if (cl) this.registry.add(new HistogramView('voxbridge_frame_clock_lateness_ms', 'Frame clock sub-tick lateness (the event loop delay, sampled every 5 ms), ms', cl.buckets, cl.read));
    const held = gauges.clockHeld;
    if (held) {
      this.registry.add(new Gauge('voxbridge_frame_clock_late_held_ms', 'Wall time before late frame clock runs (since the run before), ms', () => held().heldMs));
      this.registry.add(new Gauge('voxbridge_frame_clock_late_held_cpu_ms', 'Of that, the main thread on a CPU (our own work), ms', () => held().runMs));
      this.registry.add(new Gauge('voxbridge_frame_clock_late_held_wait_ms', 'Of that, the main thread waiting for a CPU (machine busy), ms', () => held().waitMs));
    }
    const paced = gauges.paced;
    if (paced) {
      this.registry.add(new Gauge('voxbridge_agent_frames_paced', 'Agent frames sent by the native pacer', () => paced().sent));
      this.registry.add(new Gauge('voxbridge_agent_frames_paced_late', 'Of those, sent more than 10 ms after their time', () => paced().late));
      if (gauges.pacedBucketsMs) {
        const bounds = gauges.pacedBucketsMs;
        this.registry.add(new HistogramView('voxbridge_agent_frames_paced_lateness_ms', 'Paced agent frames by send time minus due time, ms', bounds, () => {
          const p = paced();
          return { counts: p.lateness, sum: p.lateSumMs };
        }));
      }
      this.registry.add(new Gauge('voxbridge_agent_frames_paced_max_late_ms', 'The latest a paced frame left after its time, ms', () => paced().maxLateMs));
      this.registry.add(new Gauge('voxbridge_agent_frames_paced_enqueued_late', 'Of the late ones, those the event loop handed in already late (beyond the lead)', () => paced().enqueuedLate));
      if (gauges.pacerPriority) this.registry.add(new Gauge('voxbridge_pacer_priority', "The pacer thread's scheduling: 2 real-time, 1 nice -10, 0 normal, -1 not started", gauges.pacerPriority));
      const asides = gauges.pacerStepAsides;
      if (asides) {
        this.registry.add(new Gauge('voxbridge_pacer_step_asides', 'Times the pacer thread let a caller waiting for its lock (a flush) go first', () => asides()[0]));
        this.registry.add(new Gauge('voxbridge_pacer_step_asides_cut', 'Of those, cut short after 0.5 ms: the caller was preempted before the lock, and the sends went on without it', () => asides()[1]));
      }
      this.registry.add(new Gauge('voxbridge_agent_frames_paced_flushed', 'Paced frames dropped before their time by an interrupt', () => paced().flushed));
      this.registry.add(new Gauge('voxbridge_paced_stream_partial_writes', "Telephony frames the connection's socket took in parts (its buffer full part way: a peer reading slowly)", () => paced().partialWrites));
    }
    const vrx = gauges.voiceRx;
    if (vrx) {
      const v = (k: keyof VoiceRxStats) => () => vrx()?.[k] ?? 0;
      this.registry.add(new Gauge('voxbridge_voice_rx_frames', "Users' 20 ms frames decoded on the voice receive thread", v('frames')));
      this.registry.add(new Gauge('voxbridge_voice_rx_barge_ins', 'Barge-ins decided on the voice receive thread (the agent stopped there)', v('fired')));
      this.registry.add(new Gauge('voxbridge_voice_rx_lost_packets', 'Sequence gaps in users\' RTP seen by the voice receive thread', v('lost')));
      this.registry.add(new Gauge('voxbridge_voice_rx_overflows', 'Frames the voice receive thread dropped because the event loop did not take them', v('overflows')));
      this.registry.add(new Gauge('voxbridge_voice_rx_malformed', 'Packets of a known voice that were not valid RTP of its payload type', v('malformed')));
    }
    if (gauges.pacedStreamDrops) {
      this.registry.add(new Gauge('voxbridge_paced_stream_frames_dropped', "Telephony frames not queued because the connection's pacer queue was full (a peer that stopped reading)", gauges.pacedStreamDrops));
    }
    const lh = gauges.longHolds;
    if (lh) {
      this.registry.add(new Gauge('voxbridge_event_loop_long_holds', 'Event loop holds over 50 ms (every frame late at once)', () => lh().count));
      this.registry.add(new Gauge('voxbridge_event_loop_long_holds_ms', 'Their total length, ms', () => lh().heldMs));
      this.registry.add(new Gauge('voxbridge_event_loop_long_holds_cpu_ms', 'Of that, the main thread on a CPU, ms', () => lh().runMs));
      this.registry.add(new Gauge('voxbridge_event_loop_long_holds_wait_ms', 'Of that, the main thread waiting for a CPU, ms', () => lh().waitMs));
      this.registry.add(new Gauge('voxbridge_event_loop_long_holds_gc_ms', 'Of that, garbage collection pauses, ms', () => lh().gcMs));
    }
    this.registry.add(new Gauge('voxbridge_process_resident_bytes', 'Resident set size', () => process.memoryUsage.rss()));
  }
}

/** Records every agent's barge-ins, interrupts, provider errors, turn timings and ends. */
export function observeAgents(agents: import('./agent/agentManager').AgentManager, m: BridgeMetrics): void {
  agents.on('agentStarted', (s: import('./agent/session').AgentSession) => {
    m.sessionsStarted.inc();
    s.on('bargeIn', (b: import('./agent/session').BargeInRecord) => {
      m.bargeIns.inc({ cause: b.cause });
      if (b.latencyMs !== null) {
        m.bargeInLatency.observe(b.latencyMs, { interrupt_ms: String(b.durationMs) });
        m.bargeInOverhead.observe(b.overheadMs!, { interrupt_ms: String(b.durationMs) });
      }
    });
    s.on('frameAfterInterrupt', () => m.framesAfterDecision.inc());
    s.on('interrupt', (e: { source: string }) => m.manualInterrupts.inc({ source: e.source }));
    s.on('providerError', (e: { code: string }) => m.providerErrors.inc({ code: e.code }));
    s.on('turn', (t: import('./agent/session').TurnRecord) => {
      if (t.asrMs !== undefined) m.turnLatency.observe(t.asrMs, { stage: 'asr' });
      if (t.llmFirstTokenMs !== undefined) m.turnLatency.observe(t.llmFirstTokenMs, { stage: 'llm_first_token' });
      if (t.ttsFirstAudioMs !== undefined) m.turnLatency.observe(t.ttsFirstAudioMs, { stage: 'tts_first_audio' });
    });
    s.once('ended', (reason: string) => m.sessionsEnded.inc({ reason }));
  });
}
