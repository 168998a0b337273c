/**
 * The voice-activity detector's constants, as in native/src/vad.cpp (the kXxx there:
 * the same names in upper case), for the TypeScript fallback. Change both together.
 */
export const MIN_FLOOR_PER_BIN = 1e-8;
export const FLOOR_BIAS = 2.0;
export const SNR_GATE = 1.5;
export const SUSTAIN_GATE = 0.45;
export const SUSTAIN_BLOCKS = 15;
export const PEAK_REL = 0.01; // -20 dB: sustained blocks are this close to the peak
export const HF_WEIGHT = 3.0;
// background (babble, music) vs foreground (the user); see vad.cpp
export const BG_FAST = 1.0 / 50;
export const BG_SLOW = 1.0 / 1000;
export const FG_LEARN = 6.0;
export const BG_FREE = 4.5;
export const BG_RAMP = 2.0;
export const FG_K = 2.5;
export const FG_MIN = 4.0;
export const FG_MAX = 8.0;
export const FG_DROP = 30;
export const BUSY_VOICED = 4;
export const BUSY_HARM = 0.1;
export const BUSY_RECENT = 5;
// A segment's own hops, from its onset to its start, are learnt as segment hops (not at
// the fast rate of quiet hops) when the background was quiet and learnt before the onset:
// otherwise the user's first syllable makes a quiet room look busy to the rest of the
// segment. Hops of background state kept for that (onset backdating + candidate gaps).
export const BG_HIST = 32;
export const BG_SETTLED = 100;
// A segment that starts in the stream's first half second may be the background itself
// (a stream that opens in a crowd): its unvoiced hops are learnt at the quiet rate (vad.cpp).
export const BG_OPENING = 50;
export const START_PEAK = 0.95;
export const FAR_SKIP = 4;
// A word's onset on a quiet stream: the sustain over the span since the first sustained
// block (at least ONSET_SPAN blocks), when the newest 6 ms are within 6 dB of the loudest
// block or that block was reached by a climb (the two blocks before the oldest block
// within 1.5 dB of the loudest rising to it, the first 6 dB under it and ONSET_CLIMB_FLOOR
// x the sustain floor); such a hop starts a segment only with the very next hop, which
// must not look like a tone's second hop (vad.cpp).
export const ONSET_SPAN = 4;
export const ONSET_RISE = 0.25;
export const ONSET_CLIMB_FLOOR = 4;
export const ONSET_CLIMB_RISE = 4;
export const ONSET_CLIMB_TOP = 1.4;
export const ONSET_PEAK = 0.85; // also the onset stage's start (vad.cpp)
export const ONSET_HARM = 0.5;
export const FG_RECENT = 20;

export const BLOCKS = 64;
export const MIN_SUB = 5;
export const MIN_SUB_LEN = 20;
export const FLUX_LAG = 5;
export const FLUX_KEEP = 10;
export const START_HOPS = 2;
export const REACH_VOICED = 2;
export const VOICED_HARM = 0.5;
export const VOICED_SCORE = 0.25; // speech evidence a voiced hop needs
export const CAND_GAP = 8;
export const DROPOUT_HOPS = 10;
export const RECENT = 10;
export const RECENT_MIN = 5;
export const STAT_LAG = 10;
export const STAT_SHORT = 3;
export const WARM = 3; // FFT / HOP, rounded down: hops before the FFT window holds real samples
