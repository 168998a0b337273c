// The VAD's echo model (step 3 of the pipeline in vad.h): the far end's band
// energies over the last 0..320 ms, and a per-band regression of near-end on
// far-end band energies that picks the echo delay and gain. The detector counts
// only the near-end energy above the echo this predicts, so the agent's own voice
// leaking back (speaker to microphone, a phone's sidetone, a codec round trip) is
// not taken for the user. Mirrored in src/native/vadEcho.ts.
#pragma once

#include "vad_signal.h"

namespace voxbridge {
namespace vad {

class EchoModel {
 public:
  static constexpr int kBands = kBandCount;  // the signal path's bands
  static constexpr int kDelays = 33;  // echo delays searched: 0..320 ms, in hops
  static constexpr int kSpread = 4;   // hops either side of the estimated delay the prediction covers
  // the 4-8 kHz gain is regressed on means over this many hops (90 ms): fricatives are
  // short, and an echo a hop or two off the estimated delay does not correlate with
  // the far end hop by hop
  static constexpr int kHfSmooth = 9;
  // far history: the prediction's delay + spread, and the regression's delay + mean
  static constexpr int kHist = kDelays + (kHfSmooth > kSpread + 1 ? kHfSmooth : kSpread + 1);
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
  bool settled() const { return activeHops_ < kWarmHops || delay_ < 0 || run_ > delay_ + kSpread; }
  // Trains the regression on a hop where the near end is not talking. The 4-8 kHz
  // energy gets a gain of its own, at the delay the bands pick.
  void learn(const double* nearBand);
  // resid[b] -= predicted echo (floored at 0), on an active hop.
  void subtract(double* resid) const;
  // The predicted echo energy in 4-8 kHz (with the margin), on an active hop.
  double predictHf() const;
  // Estimated delay in hops once warm (-1 before), and the mean gain over the bands.
  int delay() const { return activeHops_ >= kWarmHops ? delay_ : -1; }
  double meanGain() const;

 private:
  double hist_[kHist][kBands];
  int sinceActive_;  // hops since the far end's band energy was last above kFarActive (kDelays: not within the window)
  int pos_;
  double spurt_[kHist][kBands];  // far bands in talk-spurt time (only hops with far samples)
  int spurtPos_;
  int run_;  // hops in a row with far-end samples
  double mx_[kDelays][kBands], mxx_[kDelays][kBands], mxy_[kDelays][kBands];
  double my_[kBands], myy_[kBands];
  int activeHops_;
  int delay_;
  double gain_[kBands];
  // the 4-8 kHz energy: far history (wall clock, talk spurt), the near end's last
  // kHfSmooth hops, regression, gain
  double histHf_[kHist], spurtHf_[kHist], nearHf_[kHfSmooth];
  int nearHfPos_;
  double mxH_, mxxH_, mxyH_, myH_, gainHf_;
  int hfHops_;
  double farHfMax() const;
};

}  // namespace vad
}  // namespace voxbridge
