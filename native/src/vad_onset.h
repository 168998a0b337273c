// The VAD's narrow-band onset stage. At 10 dB SNR the first 50-100 ms of many words
// are under the noise in most bands (an unvoiced consonant over white noise: "thanks",
// "sure", "so"), and a start that waits for the mean band SNR comes with the vowel.
// They stand out in one or two bands first (bench/vad/oracle.ts). Per band (the 16
// below 4 kHz and, at 16/48 kHz input, 4-8 kHz) this stage keeps the mean and spread
// of the band's level in dB over a quiet background, and a CUSUM of each hop's rise
// over that mean, in spreads (at most kZMax per hop, less kDrift): it fires when a
// band's sum passes kFire while the band is still up in this hop. A rise in more than
// kUpMax bands at once is a level step (AGC), not a word: the main detector has those.
// vad.cpp runs it with no far end, and adds its own guards (a click's decay, a tone's
// onset). Over babble and music (a busy background) only the 4-8 kHz band may fire:
// their own onsets (notes, the crowd's syllables) are below 4 kHz and fired the other
// bands 7-15 times a minute over babble and 79 over music; the 4-8 kHz band fired on
// none of bench:vad's noise-only clips. Mirrored in src/native/vadOnset.ts.
#pragma once

namespace voxbridge {
namespace vad {

class OnsetStage {
 public:
  static constexpr int kBands = 17;
  enum class Mode { Learn, Relearn, Idle };
  static constexpr double kLearn = 1.0 / 64;  // per quiet hop
  static constexpr double kRelearn = 1.0 / 8; // per hop of a segment it started that has no speech hop yet
  static constexpr double kClip = 3.0;        // spreads a quiet hop's rise is clipped to when learnt
  static constexpr double kSdMin = 1.0;       // dB
  static constexpr int kSdEvery = 8;          // learning hops between updates of the spreads from the variances
  static constexpr double kZMax = 4.0;        // spreads a hop adds at most (no hop fires alone)
  static constexpr double kDrift = 1.0;       // spreads subtracted per hop
  static constexpr double kFire = 6.0;        // CUSUM that fires...
  static constexpr double kZNow = 2.0;        // ... with the firing band this far up in this hop
  static constexpr double kZUp = 2.0;         // a band this far up counts as risen...
  static constexpr int kUpMax = 10;           // ... and more risen bands than this is a level step
  static constexpr int kRunMax = 12;          // hops the firing band's sum may have taken (a word's rise is quick)
  // The 4-8 kHz band also fires (kFiresHf) on a smaller sum that held: up by kZHeld spreads
  // in each of its last kHeldHops hops. A fricative over babble or music at 10 dB rises by
  // 1.5-2.5 spreads a hop for 40+ ms ("stop" over music: its sum reached 4.5); a click
  // rises for a hop and falls back (a clicking keyboard fired at a sum of 4-5 without this).
  static constexpr double kFireHeld = 5.0;
  static constexpr double kZHeld = 1.0;
  static constexpr int kHeldHops = 3;
  static constexpr int kWarm = 100;           // quiet hops learnt before it may fire
  static constexpr double kAbs = 100;         // band energies count from this many minimum floors (int16 quantization noise: 20 dB) up
  // hops without far-end samples before it runs: a second (a playout buffer can hold the
  // agent's last words and play them when its next spurt starts, which may begin with
  // digital zero: bench/vad/pathChange.ts had 4 such starts in 17 min at 38 hops)
  static constexpr int kFarQuiet = 100;
  static constexpr double kBusy = 0.5;        // over a busier background (babble, music) only the 4-8 kHz band fires
  static constexpr int kRiseBlocks = 20;      // 2 ms blocks (40 ms) none of which may be 6 dB over the newest 6 ms (a click's tail)

  void reset();
  // What hop() returns: a band's rise fires (kFires), and the 4-8 kHz band's own rise
  // fires, quick or held (kFiresHf; over babble and music only that band may start a
  // segment: vad.cpp).
  static constexpr int kFires = 1, kFiresHf = 2;
  // One warm hop: db holds n band levels (dB, from kAbs minimum floors up). Learn:
  // learns the quiet background and returns which rises fire (kFires, kFiresHf); Relearn:
  // moves the means to this hop quickly (a start it made that no speech followed: a level
  // step); Idle: forgets the sums (db is not read: may be null). Both return 0.
  int hop(const double* db, int n, Mode mode);

 private:
  double mean_[kBands], var_[kBands], cus_[kBands];
  double run_[kBands];  // hops since the band's sum was last 0 (a double: the bands run in vectors)
  double sd_[kBands], inv_[kBands];  // the spread (at least kSdMin) and its inverse, as of the last update
  int learnt_ = 0;
  int sdAge_ = 0;  // learning hops since the spreads were updated
  bool cleared_ = true;  // the sums and runs are 0 (no learning hop since Idle/Relearn cleared them)
  int hfHeld_ = 0;       // learning hops in a row the 4-8 kHz band was up by kZHeld spreads
};

}  // namespace vad
}  // namespace voxbridge
