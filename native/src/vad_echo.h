// The VAD's echo model (step 3 of the pipeline in vad.h): the far end's band
// energies over the last 0..320 ms, and a per-band regression of near-end on
// far-end band energies that picks the echo delay and gain. The detector counts
// only the near-end energy above the echo this predicts, so the agent's own voice
// leaking back (speaker to microphone, a phone's sidetone, a codec round trip) is
// not taken for the user. While the near end may be talking, a shadow copy of the
// regression learns instead, adopted when it shows the "speech" was the echo on a
// changed path. Mirrored in src/native/vadEcho.ts.
#pragma once

#include "vad_signal.h"

namespace voxbridge {
namespace vad {

// One fit of the echo path: running moments of near-end on far-end band energies at
// every delay, and the delay and gains they give. The model keeps two: the one it
// predicts with, and a shadow that goes on learning while the near end may be talking.
struct EchoFit {
  static constexpr int kBands = kBandCount;
  static constexpr int kDelays = 33;
  double mx[kDelays][kBands], mxx[kDelays][kBands], mxy[kDelays][kBands];
  double my[kBands], myy[kBands];
  int activeHops;
  int delay;
  double bestC;  // the normalised correlation at the chosen delay (0: none)
  double refC;   // the best one within +-kSpread of the delay learn() was given
  double gain[kBands];
  double mxH, mxxH, mxyH, myH, gainHf;
  int hfHops;
  void reset();
};

class EchoModel {
 public:
  static constexpr int kBands = kBandCount;  // the signal path's bands
  static constexpr int kDelays = EchoFit::kDelays;  // echo delays searched: 0..320 ms, in hops
  static constexpr int kSpread = 4;   // hops either side of the estimated delay the prediction covers
  // the 4-8 kHz gain is regressed on means over this many hops (90 ms): fricatives are
  // short, and an echo a hop or two off the estimated delay does not correlate with
  // the far end hop by hop
  static constexpr int kHfSmooth = 9;
  // hops the fit learns late: a hop is learnt once the next one has shown whether it
  // began a candidate segment (the detector's state is known only after the hop has
  // been learnt, so the first hop of a word went in as echo and hid the rest of it);
  // longer lags change nothing for that and keep more of an echo-driven start out
  static constexpr int kLag = 1;
  // far history: the prediction's delay + spread, and the regression's lag + delay + mean
  static constexpr int kHist = kLag + kDelays + (kHfSmooth > kSpread + 1 ? kHfSmooth : kSpread + 1);
  static constexpr int kWarmHops = 100;  // far-end-active hops before the estimate is trusted

  EchoModel() { reset(); }
  void reset();
  // One hop of a given far end: its band energies (nullptr: silent, no bands), its
  // 4-8 kHz energy (0 at 8 kHz input), the near end's 4-8 kHz energy, and whether
  // the hop carried samples (not digital silence). Returns whether the far end was
  // active anywhere in the echo window (then learn/subtract apply).
  bool push(const double* farBand, double farHf, double nearHf, bool samples);
  // A hop without a far-end reference.
  void absent() { run_ = 0; }
  // Whether this hop may train the model: during warm-up, or inside a talk spurt
  // whose echo has had time to arrive.
  bool settled() const { return fit_.activeHops < kWarmHops || fit_.delay < 0 || run_ > fit_.delay + kSpread; }
  // Trains on one hop. Outside a hold the fit learns it (kLag hops later). In a hold
  // (a candidate or a segment: the near end may be talking) the fit stands still and a
  // shadow copy learns instead, adopted mid-hold when it shows the hold is the echo.
  void learn(const double* nearBand, bool hold);
  // Ends a hold. A candidate that did not become a segment was not speech: its hops
  // are the echo's, so the shadow that learnt them becomes the fit. A segment's shadow
  // is kept only when the segment made it fit the far end better (echo taken for the
  // user); otherwise it is dropped with the user's hops, and the lead-in hops with them.
  void release(bool candidate);
  // resid[b] -= predicted echo (floored at 0), on an active hop.
  void subtract(double* resid) const;
  // The predicted echo energy in 4-8 kHz (with the margin), on an active hop.
  double predictHf() const;
  // Estimated delay in hops once warm (-1 before), and the mean gain over the bands.
  int delay() const { return fit_.activeHops >= kWarmHops ? fit_.delay : -1; }
  double meanGain() const;
  // Hops in a row the far end has carried samples (its current talk spurt so far).
  int spurtHops() const { return run_; }

 private:
  double hist_[kHist][kBands];
  int sinceActive_;  // hops since the far end's band energy was last above kFarActive (kDelays: not within the window)
  int pos_;
  double spurt_[kHist][kBands];  // far bands in talk-spurt time (only hops with far samples)
  int spurtPos_;
  int run_;  // hops in a row with far-end samples
  // the 4-8 kHz energy: far history (wall clock, talk spurt), and the near end's,
  // aligned with hist_
  double histHf_[kHist], spurtHf_[kHist], nearHf_[kHist];
  long long hops_;  // hops pushed (the clock of the learning lag)
  // hops waiting kLag hops before the fit learns them: near bands, history row, hop
  double pendNear_[kLag][kBands];
  int pendPos_[kLag];
  long long pendHop_[kLag];
  int pendHead_, pendCount_;
  EchoFit fit_;     // the fit the prediction uses
  EchoFit shadow_;  // the fit learning through a hold
  int shadowHops_;  // hops the shadow has learnt in this hold (-1: no hold)
  double holdC_;    // the fit's correlation when the hold began (or the shadow was last adopted)
  double holdMin_;  // the shadow's lowest correlation in this hold
  void fitLearn(EchoFit& f, const double* nearBand, int pos, int ref) const;
  double farHfMax() const;
};

}  // namespace vad
}  // namespace voxbridge
