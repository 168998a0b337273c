// Echo model of the VAD; see vad_echo.h. Mirrored step for step in
// src/native/vadEcho.ts (the parity test runs both on echo clips).
#include "vad_echo.h"

#include <cstring>

#include "vad_simd.h"  // the arithmetic conventions (no fused multiply-add)

namespace voxbridge {
namespace vad {

namespace {
constexpr double kFarActive = 0.01;  // far-end band energy sum (~ -60 dBFS)
constexpr double kEchoPrior = 2.0;   // echo gain assumed before warm-up ends (+3 dB)
constexpr double kEchoMargin = 4.0;  // near-end must exceed predicted echo by 6 dB
constexpr double kEchoLeak = 0.25;   // share of a neighbouring band's echo a codec moves over (-6 dB)
}  // namespace

void EchoModel::reset() {
  std::memset(hist_, 0, sizeof hist_);
  sinceActive_ = kDelays;
  std::memset(spurt_, 0, sizeof spurt_);
  std::memset(mx_, 0, sizeof mx_);
  std::memset(mxx_, 0, sizeof mxx_);
  std::memset(mxy_, 0, sizeof mxy_);
  std::memset(my_, 0, sizeof my_);
  std::memset(myy_, 0, sizeof myy_);
  std::memset(gain_, 0, sizeof gain_);
  std::memset(histHf_, 0, sizeof histHf_);
  std::memset(spurtHf_, 0, sizeof spurtHf_);
  std::memset(nearHf_, 0, sizeof nearHf_);
  nearHfPos_ = 0;
  mxH_ = mxxH_ = mxyH_ = myH_ = gainHf_ = 0;
  hfHops_ = 0;
  pos_ = 0;
  spurtPos_ = 0;
  run_ = 0;
  activeHops_ = 0;
  delay_ = -1;
}

VAD_HOT bool EchoModel::push(const double* farBand, double farHf, double nearHf, bool samples) {
  pos_ = (pos_ + 1) % kHist;
  histHf_[pos_] = farBand ? farHf : 0;
  nearHf_[nearHfPos_] = nearHf;
  nearHfPos_ = (nearHfPos_ + 1) % kHfSmooth;
  double tot = 0;
  for (int b = 0; b < kBands; b++) {
    const double v = farBand ? farBand[b] : 0;
    hist_[pos_][b] = v;
    tot += v;
  }
  sinceActive_ = tot > kFarActive ? 0 : (sinceActive_ < kDelays ? sinceActive_ + 1 : kDelays);
  // the same bands in "talk-spurt time": advanced only by hops that carry far-end
  // samples, so across a silence it still holds the end of the last spurt
  if (farBand && samples) {
    spurtPos_ = (spurtPos_ + 1) % kHist;
    for (int b = 0; b < kBands; b++) spurt_[spurtPos_][b] = farBand[b];
    spurtHf_[spurtPos_] = farHf;
  }
  run_ = samples ? run_ + 1 : 0;
  return sinceActive_ < kDelays;
}

VAD_HOT void EchoModel::learn(const double* nearBand) {
  activeHops_++;
  const double a = activeHops_ < 100 ? 1.0 / activeHops_ : 0.01;
  for (int b = 0; b < kBands; b++) {
    const double y = nearBand[b];
    my_[b] += a * (y - my_[b]);
    myy_[b] += a * (y * y - myy_[b]);
  }
  // the near end's variance is the same at every delay
  double vy = 0;
  for (int b = 0; b < kBands; b++) vy += myy_[b] - my_[b] * my_[b];
  double bestC = 0;
  int best = -1;
  for (int d = 0; d < kDelays; d++) {
    const double* x = hist_[(pos_ - d + kHist) % kHist];
    double cov = 0, vx = 0;
    for (int b = 0; b < kBands; b++) {
      const double y = nearBand[b];
      mx_[d][b] += a * (x[b] - mx_[d][b]);
      mxx_[d][b] += a * (x[b] * x[b] - mxx_[d][b]);
      mxy_[d][b] += a * (x[b] * y - mxy_[d][b]);
      cov += mxy_[d][b] - mx_[d][b] * my_[b];
      vx += mxx_[d][b] - mx_[d][b] * mx_[d][b];
    }
    if (cov > 0 && vx > 0 && vy > 0) {
      const double c = (cov * cov) / (vx * vy);
      if (c > bestC) {
        bestC = c;
        best = d;
      }
    }
  }
  // no positive correlation at any delay once the path is known (the user's own onset,
  // with no echo on the line): keep the delay, whose gains then go to 0, rather than
  // fall back to the warm-up prior (a +3 dB echo of the loudest far end) that masks
  // the user for the rest of the segment
  if (best < 0 && activeHops_ > kWarmHops && delay_ >= 0) best = delay_;
  delay_ = best;
  if (best >= 0) {
    double x = 0, y = 0;
    for (int j = 0; j < kHfSmooth; j++) {
      x += histHf_[(pos_ - best - j + kHist) % kHist];
      y += nearHf_[j];
    }
    x /= kHfSmooth;
    y /= kHfSmooth;
    hfHops_++;
    const double ah = hfHops_ < 100 ? 1.0 / hfHops_ : 0.01;
    myH_ += ah * (y - myH_);
    mxH_ += ah * (x - mxH_);
    mxxH_ += ah * (x * x - mxxH_);
    mxyH_ += ah * (x * y - mxyH_);
    const double cov = mxyH_ - mxH_ * myH_;
    const double vx = mxxH_ - mxH_ * mxH_;
    gainHf_ = cov > 0 && vx > 0 ? cov / vx : 0;
  } else {
    gainHf_ = 0;
  }
  for (int b = 0; b < kBands; b++) {
    if (best < 0) {
      gain_[b] = 0;
      continue;
    }
    const double cov = mxy_[best][b] - mx_[best][b] * my_[b];
    const double vx = mxx_[best][b] - mx_[best][b] * mx_[best][b];
    gain_[b] = cov > 0 && vx > 0 ? cov / vx : 0;
  }
}

VAD_HOT void EchoModel::subtract(double* resid) const {
  // the loudest far end per band over the delays the prediction covers, one history
  // row at a time (a maximum: the order it is taken in does not matter)
  double mx[kBands];
  for (int b = 0; b < kBands; b++) mx[b] = 0;
  const bool prior = activeHops_ < kWarmHops || delay_ < 0;
  if (prior) {
    for (int d = 0; d < kDelays + 1; d++) {
      const double* h = hist_[(pos_ - d + kHist) % kHist];
      for (int b = 0; b < kBands; b++) mx[b] = h[b] > mx[b] ? h[b] : mx[b];
    }
  } else {
    // the delay moves by a frame or two between talk spurts (the reference is the
    // frame most recently sent): +-kSpread hops around the estimate; and the
    // echo may be held over a silence: the spurt history at the same delays.
    // Lossy codecs on the echo path (Opus out to the user, Opus back) move energy
    // into the neighbouring bands (MDCT spreading, CELT band folding): the far end
    // of those bands counts at kEchoLeak.
    for (int d = delay_ - kSpread; d <= delay_ + kSpread; d++) {
      if (d < 0) continue;
      const double* rows[2] = {hist_[(pos_ - d + kHist) % kHist], spurt_[(spurtPos_ - d + kHist) % kHist]};
      for (const double* r : rows) {
        // (the edge bands apart, so that the loop between them has no branches)
        const double l1 = r[1] * kEchoLeak, lk = r[kBands - 2] * kEchoLeak;
        const double v0 = l1 > r[0] ? l1 : r[0], vk = lk > r[kBands - 1] ? lk : r[kBands - 1];
        mx[0] = v0 > mx[0] ? v0 : mx[0];
        mx[kBands - 1] = vk > mx[kBands - 1] ? vk : mx[kBands - 1];
        for (int b = 1; b < kBands - 1; b++) {
          const double lo = r[b - 1] * kEchoLeak, hi = r[b + 1] * kEchoLeak;
          double v = lo > r[b] ? lo : r[b];
          v = hi > v ? hi : v;
          mx[b] = v > mx[b] ? v : mx[b];
        }
      }
    }
  }
  for (int b = 0; b < kBands; b++) {
    const double pred = prior ? kEchoPrior * mx[b] : kEchoMargin * gain_[b] * mx[b];
    const double r = resid[b] - pred;
    resid[b] = r > 0 ? r : 0;
  }
}

// The loudest far 4-8 kHz energy within +-kSpread hops of the delay (wall clock and
// talk-spurt time), as the bands' prediction takes it.
double EchoModel::farHfMax() const {
  double mx = 0;
  for (int d = delay_ - kSpread; d <= delay_ + kSpread; d++) {
    if (d < 0) continue;
    const double v = histHf_[(pos_ - d + kHist) % kHist];
    if (v > mx) mx = v;
    const double w = spurtHf_[(spurtPos_ - d + kHist) % kHist];
    if (w > mx) mx = w;
  }
  return mx;
}

// The 4-8 kHz band as the bands above, without the neighbour leak (its energy is
// measured on another scale than the FFT bands').
double EchoModel::predictHf() const {
  if (activeHops_ < kWarmHops || delay_ < 0) {
    double mx = 0;
    for (int d = 0; d < kDelays + 1; d++) {
      const double v = histHf_[(pos_ - d + kHist) % kHist];
      if (v > mx) mx = v;
    }
    return kEchoPrior * mx;
  }
  return kEchoMargin * gainHf_ * farHfMax();
}

double EchoModel::meanGain() const {
  double g = 0;
  for (int b = 0; b < kBands; b++) g += gain_[b];
  return g / kBands;
}

}  // namespace vad
}  // namespace voxbridge
