/**
 * The VAD's narrow-band onset stage alone (src/native/vadOnset.ts; the C++ twin is
 * tested in native/test/vad_test.cpp on the same levels): which band's rise fires.
 */
import { describe, expect, it } from 'vitest';
import { ONSET_BANDS, ONSET_FIRES, ONSET_FIRES_HF, OnsetMode, OnsetStage } from '../../src/native/vadOnset';

/** Hop (from 0) on which the 4-8 kHz band first fires after 200 hops of a flat level, or -1. */
function firstHfFire(rise: number[]): number {
  const s = new OnsetStage();
  const db = new Float64Array(ONSET_BANDS);
  for (let hop = 0; hop < 200 + rise.length; hop++) {
    db.fill(40);
    if (hop >= 200) db[ONSET_BANDS - 1] += rise[hop - 200];
    if (s.hop(db, ONSET_BANDS, OnsetMode.Learn) & ONSET_FIRES_HF) return hop - 200;
  }
  return -1;
}

describe('vad onset stage', () => {
  it('a rise in 4-8 kHz fires ONSET_FIRES_HF (with ONSET_FIRES), one below 4 kHz ONSET_FIRES alone', () => {
    for (const band of [ONSET_BANDS - 1, 3]) {
      const s = new OnsetStage();
      const db = new Float64Array(ONSET_BANDS);
      let fired = 0;
      for (let hop = 0; hop < 212; hop++) {
        db.fill(40);
        if (hop >= 200) db[band] += 8;
        const f = s.hop(db, ONSET_BANDS, OnsetMode.Learn);
        if (hop < 200) expect(f, `hop ${hop}`).toBe(0);
        else fired |= f;
      }
      expect(fired, `band ${band}`).toBe(band === ONSET_BANDS - 1 ? ONSET_FIRES | ONSET_FIRES_HF : ONSET_FIRES);
    }
  });

  it('the 4-8 kHz band fires on a held rise one hop before the quick rule would, and not on a click every 3 hops', () => {
    // spread 1 dB (the floor of a flat level): a 2.2 dB rise adds 1.2 to the sum a hop, past
    // the held rule's 5 on the 5th hop (the quick rule's 6 on the 6th)
    expect(firstHfFire(new Array(12).fill(2.2))).toBe(4);
    expect(firstHfFire(Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? 4 : 0)))).toBe(-1);
  });
});
