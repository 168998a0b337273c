/**
 * The session's records as DescribeVoiceChat returns them (PascalCase, ms rounded to
 * 0.1): turns, barge-ins and the paced output's counts. Pure functions of the records.
 */
import type { PacerStats } from '../sfu/pacedRtp';
import type { BargeInRecord, TurnRecord } from './sessionTypes';

export function round(v: number | null | undefined): number | undefined {
  return v === null || v === undefined ? undefined : Math.round(v * 10) / 10;
}

const micro = (ms: number) => Math.round(ms * 1000) / 1000;

export function describeTurn(t: TurnRecord): Record<string, unknown> {
  return {
    TurnId: t.turnId,
    Source: t.source,
    UserText: t.userText,
    AsrMs: round(t.asrMs),
    LlmFirstTokenMs: round(t.llmFirstTokenMs),
    TtsFirstAudioMs: round(t.ttsFirstAudioMs),
    Answer: t.answer,
    Interrupted: t.interrupted,
    Error: t.error,
  };
}

export function describeBargeIn(b: BargeInRecord): Record<string, unknown> {
  return {
    Cause: b.cause,
    LatencyMs: round(b.latencyMs),
    OverheadMs: round(b.overheadMs),
    InterruptSpeechDuration: b.durationMs,
    FramesAfterDecision: b.framesAfterDecision,
    ...(b.afterDecision ? { AfterDecision: b.afterDecision.map((a) => ({ How: a.how, Ms: micro(a.ms) })) } : {}),
    ...(b.finishedAfterDecision ? { FinishedAfterDecisionMs: b.finishedAfterDecision.map(micro) } : {}),
    AbortDelayMs: round(b.abortDelayMs),
    DecidedOn: b.decidedOn === 'receiveThread' ? 'ReceiveThread' : 'EventLoop',
    AbortedOnWire: b.abortedOnWire,
    ...(b.abortSched
      ? { AbortSched: { WindowMs: round(b.abortSched.windowMs), CpuMs: round(b.abortSched.runMs), WaitMs: round(b.abortSched.waitMs), GcMs: round(b.abortSched.gcMs), GcKinds: b.abortSched.gcKinds } }
      : {}),
    // the onset packet's arrival (epoch ms, µs precision): a client on the same clock
    // can tell how long its packet took to reach the bridge's event loop
    OnsetArrivalAt: micro(b.onsetArrivalMs),
    DecisionDelayMs: round(b.decisionDelayMs),
    DetectorMs: round(b.detectorMs),
    TransitMs: round(b.transitMs),
    ProcessingMs: round(b.processingMs),
    LoopStallMs: round(b.loopStallMs),
    At: new Date(b.at).toISOString(),
  };
}

/**
 * The agent's frames on its paced output: late = left > 10 ms after their time, of
 * which handed in late by the event loop.
 */
export function describePacing(ps: PacerStats): Record<string, unknown> {
  return { Sent: ps.sent, Late: ps.late, HandedInLate: ps.enqueuedLate, MaxLateMs: round(ps.maxLateMs), Flushed: ps.flushed, PartialWrites: ps.partialWrites, SendErrors: ps.sendErrors };
}
