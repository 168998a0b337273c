/**
 * The VAD's narrow-band onset stage, as in native/src/vad_onset.cpp (change both
 * together; see there for why and how). Per band, the mean and spread of the band's
 * level (dB) over a quiet stationary background, and a CUSUM of the hop's rise over it
 * in spreads: a word whose first 50-100 ms are under the noise in most bands (an
 * unvoiced consonant over white noise) stands out in one or two bands first.
 */

/** Bands the stage follows: the 16 below 4 kHz and 4-8 kHz. */
export const ONSET_BANDS = 17;
export const ONSET_LEARN = 1.0 / 64; // per quiet hop
export const ONSET_RELEARN = 1.0 / 8; // per hop of a segment it started that has no speech hop yet
export const ONSET_CLIP = 3.0; // spreads a quiet hop's rise is clipped to when learnt
export const ONSET_SD_MIN = 1.0; // dB
export const ONSET_SD_EVERY = 8; // learning hops between updates of the spreads from the variances
export const ONSET_Z_MAX = 4.0; // spreads a hop adds at most (no hop fires alone)
export const ONSET_DRIFT = 1.0; // spreads subtracted per hop
export const ONSET_FIRE = 6.0; // CUSUM that fires
export const ONSET_Z_NOW = 2.0; // ... with the firing band this far up in this hop
export const ONSET_Z_UP = 2.0; // a band this far up counts as risen ...
export const ONSET_UP_MAX = 10; // ... and more risen bands than this is a level step, not a word
export const ONSET_RUN_MAX = 12; // hops the firing band's sum may have taken to get there (a word's rise is quick)
// The 4-8 kHz band also fires (ONSET_FIRES_HF) on a smaller sum that held: up by
// ONSET_Z_HELD spreads in each of its last ONSET_HELD_HOPS hops (a fricative over babble
// or music; a click rises for a hop and falls back). See vad_onset.h.
export const ONSET_FIRE_HELD = 5.0;
export const ONSET_Z_HELD = 1.0;
export const ONSET_HELD_HOPS = 3;
export const ONSET_WARM = 100; // quiet hops learnt before it may fire
export const ONSET_ABS = 100; // band energies count from this many minimum floors (int16 quantization noise: 20 dB) up
// hops without far-end samples before it runs: a second (a playout buffer can hold the
// agent's last words and play them when its next spurt starts, which may begin with
// digital zero: bench/vad/pathChange.ts had 4 such starts in 17 min at 38 hops)
export const ONSET_FAR_QUIET = 100;
export const ONSET_BUSY = 0.5; // over a busier background (babble, music) only the 4-8 kHz band fires
export const ONSET_RISE_BLOCKS = 20; // 2 ms blocks (40 ms) none of which may be 6 dB over the newest 6 ms (a click's tail)

/** What hop() returns: a band's rise fires, and the 4-8 kHz band's own rise fires (over babble and music only that one may start). */
export const ONSET_FIRES = 1;
export const ONSET_FIRES_HF = 2;

/** What the stage does with a hop (as OnsetStage::Mode in vad_onset.h). */
export const OnsetMode = { Learn: 0, Relearn: 1, Idle: 2 } as const;

export class OnsetStage {
  private readonly mean = new Float64Array(ONSET_BANDS);
  private readonly vari = new Float64Array(ONSET_BANDS);
  private readonly cus = new Float64Array(ONSET_BANDS);
  private readonly run = new Float64Array(ONSET_BANDS);
  private readonly sd = new Float64Array(ONSET_BANDS);
  private readonly inv = new Float64Array(ONSET_BANDS);
  private sdAge = 0;
  private hfHeld = 0; // learning hops in a row the 4-8 kHz band was up by ONSET_Z_HELD spreads
  private learnt = 0;

  reset(): void {
    this.mean.fill(0);
    this.vari.fill(0);
    this.cus.fill(0);
    this.run.fill(0);
    this.sd.fill(0);
    this.inv.fill(0);
    this.learnt = 0;
    this.sdAge = 0;
    this.hfHeld = 0;
  }

  /**
   * One warm hop: db holds n band levels (dB, from ONSET_ABS minimum floors up). Learn:
   * learns the quiet background and returns which rises fire (ONSET_FIRES, ONSET_FIRES_HF);
   * Relearn: moves the means to the hop quickly (a start it made that no speech followed:
   * a level step); Idle: forgets the sums (db is not read). Both return 0.
   */
  hop(db: Float64Array, n: number, mode: number): number {
    const mean = this.mean;
    const vari = this.vari;
    const cus = this.cus;
    if (mode === OnsetMode.Idle) {
      this.hfHeld = 0;
      cus.fill(0);
      this.run.fill(0);
      return 0;
    }
    if (mode === OnsetMode.Relearn) {
      this.hfHeld = 0;
      for (let b = 0; b < n; b++) mean[b] += ONSET_RELEARN * (db[b] - mean[b]);
      cus.fill(0);
      this.run.fill(0);
      return 0;
    }
    if (this.learnt === 0) {
      for (let b = 0; b < n; b++) {
        mean[b] = db[b];
        vari[b] = 4;
      }
    }
    // the spreads, every ONSET_SD_EVERY hops (a square root and a division per band)
    if (this.sdAge === 0) {
      for (let b = 0; b < n; b++) {
        this.sd[b] = Math.sqrt(vari[b] > ONSET_SD_MIN * ONSET_SD_MIN ? vari[b] : ONSET_SD_MIN * ONSET_SD_MIN);
        this.inv[b] = 1 / this.sd[b];
      }
    }
    this.sdAge = this.sdAge + 1 < ONSET_SD_EVERY ? this.sdAge + 1 : 0;
    let up = 0;
    let zFire = 0;
    let zHf = 0; // the 4-8 kHz band's alone (quick or held)
    let best = 0;
    for (let b = 0; b < n; b++) {
      const v = vari[b];
      const sd = this.sd[b];
      const e = db[b] - mean[b];
      const z = e * this.inv[b];
      let c = cus[b] + (z < ONSET_Z_MAX ? z : ONSET_Z_MAX) - ONSET_DRIFT;
      c = c > 0 ? c : 0;
      cus[b] = c;
      const r = c > 0 ? this.run[b] + 1 : 0;
      this.run[b] = r;
      if (c > best) best = c;
      if (c > ONSET_FIRE && r <= ONSET_RUN_MAX && z > zFire) zFire = z;
      if (b === ONSET_BANDS - 1) {
        // the 4-8 kHz band's rise when its sum fires, quick or held
        this.hfHeld = z >= ONSET_Z_HELD ? this.hfHeld + 1 : 0;
        zHf = (c > ONSET_FIRE && r <= ONSET_RUN_MAX) || (c > ONSET_FIRE_HELD && this.hfHeld >= ONSET_HELD_HOPS) ? z : 0;
      }
      if (z > ONSET_Z_UP) up++;
      const ec = e < ONSET_CLIP * sd ? e : ONSET_CLIP * sd;
      mean[b] += ONSET_LEARN * ec;
      vari[b] += ONSET_LEARN * (ec * ec - v);
    }
    if (this.learnt <= ONSET_WARM) this.learnt++;
    if (!(this.learnt > ONSET_WARM && up <= ONSET_UP_MAX)) return 0;
    return (best > ONSET_FIRE && zFire >= ONSET_Z_NOW ? ONSET_FIRES : 0) | (zHf >= ONSET_Z_NOW ? ONSET_FIRES_HF : 0);
  }
}
