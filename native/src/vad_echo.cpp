// Echo model of the VAD; see vad_echo.h. Mirrored step for step in
// src/native/vadEcho.ts (the parity test runs both on echo clips).
#include "vad_echo.h"

#include <cstring>

#include "vad_simd.h"  // the arithmetic conventions (no fused multiply-add)

namespace voxbridge {
namespace vad {

namespace {
constexpr double kFarActive = 0.01;  // far-end band energy sum (~ -60 dBFS)
// The echo assumed before warm-up ends (the first 100 far-end-active hops of a stream,
// or no delay found yet): the loudest far end at any delay, at -3 dB. At +3 dB (before
// session 19) a user without echo (a headset) who spoke in the agent's first second was
// masked once past their first syllable, and started again a word later (bench:bargein
// under load, VAD taps); the echo-only clips, down to an echo at -3 dB, give no false
// barge-in either way, and at -13 dB many.
constexpr double kEchoPrior = 0.5;
constexpr double kEchoMargin = 4.0;  // near-end must exceed predicted echo by 6 dB
constexpr double kEchoLeak = 0.25;   // share of a neighbouring band's echo a codec moves over (-6 dB)
}  // namespace

// The shadow fit is adopted mid-hold when its correlation (the share of the near end's
// band-energy variance the far end explains) is above kAdoptMin and has risen by
// kAdoptRise over the fit's, or over the fit's delay, or is above kRecoverMin after
// falling by kRecoverRise in the hold. The user's speech only lowers it (measured on
// bench:vad's double-talk clips: never more than +0.04, never a recovery above 0.7).
constexpr double kAdoptMin = 0.5;
constexpr double kAdoptRise = 0.1;
constexpr double kRecoverMin = 0.7;
constexpr double kRecoverRise = 0.3;
constexpr double kKeepRise = 0.02;  // a segment's shadow is kept when its correlation rose this much

void EchoFit::reset() {
  std::memset(mx, 0, sizeof mx);
  std::memset(mxx, 0, sizeof mxx);
  std::memset(mxy, 0, sizeof mxy);
  std::memset(my, 0, sizeof my);
  std::memset(myy, 0, sizeof myy);
  std::memset(gain, 0, sizeof gain);
  mxH = mxxH = mxyH = myH = gainHf = 0;
  hfHops = 0;
  activeHops = 0;
  delay = -1;
  bestC = refC = 0;
}

void EchoModel::reset() {
  std::memset(hist_, 0, sizeof hist_);
  sinceActive_ = kDelays;
  std::memset(spurt_, 0, sizeof spurt_);
  std::memset(histHf_, 0, sizeof histHf_);
  std::memset(spurtHf_, 0, sizeof spurtHf_);
  std::memset(nearHf_, 0, sizeof nearHf_);
  pos_ = 0;
  spurtPos_ = 0;
  run_ = 0;
  hops_ = 0;
  std::memset(pendNear_, 0, sizeof pendNear_);
  std::memset(pendPos_, 0, sizeof pendPos_);
  std::memset(pendHop_, 0, sizeof pendHop_);
  pendHead_ = pendCount_ = 0;
  fit_.reset();
  shadow_.reset();
  shadowHops_ = -1;
  holdC_ = holdMin_ = 0;
}

VAD_HOT bool EchoModel::push(const double* farBand, double farHf, double nearHf, bool samples) {
  pos_ = (pos_ + 1) % kHist;
  histHf_[pos_] = farBand ? farHf : 0;
  nearHf_[pos_] = nearHf;
  hops_++;
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
  // the hops that have waited kLag hops outside a hold: now they are the echo's
  while (pendCount_ > 0 && hops_ - pendHop_[pendHead_] >= kLag) {
    fitLearn(fit_, pendNear_[pendHead_], pendPos_[pendHead_], -1);
    pendHead_ = (pendHead_ + 1) % kLag;
    pendCount_--;
  }
  return sinceActive_ < kDelays;
}

void EchoModel::learn(const double* nearBand, bool hold) {
  if (!hold) {
    const int k = (pendHead_ + pendCount_) % kLag;
    std::memcpy(pendNear_[k], nearBand, sizeof pendNear_[k]);
    pendPos_[k] = pos_;
    pendHop_[k] = hops_;
    pendCount_++;
    return;
  }
  if (shadowHops_ < 0) {
    shadow_ = fit_;
    shadowHops_ = 0;
    holdC_ = holdMin_ = fit_.bestC;
    // the hops still waiting belong to the hold
    for (; pendCount_ > 0; pendCount_--) {
      fitLearn(shadow_, pendNear_[pendHead_], pendPos_[pendHead_], fit_.delay);
      pendHead_ = (pendHead_ + 1) % kLag;
    }
  }
  fitLearn(shadow_, nearBand, pos_, fit_.delay);
  shadowHops_++;
  // the far end explains the near end better with the hold's hops than without: what
  // the detector took for the user is the echo, on a path that has changed (the echo
  // grew; it moved to a delay the prediction does not cover; it came back strongly
  // after the hold's first hops broke the old fit: louder on the same path)
  const double c = shadow_.bestC;
  if (c < holdMin_) holdMin_ = c;
  const int dd = shadow_.delay - fit_.delay;
  const bool grew = c > holdC_ + kAdoptRise;
  const bool moved = (dd > kSpread || dd < -kSpread) && c > shadow_.refC + kAdoptRise;
  const bool recovered = c > kRecoverMin && c - holdMin_ > kRecoverRise;
  if (c > kAdoptMin && (grew || moved || recovered)) {
    fit_ = shadow_;
    holdC_ = c;
  }
}

void EchoModel::release(bool candidate) {
  if (shadowHops_ < 0) return;
  if (candidate || shadow_.bestC >= holdC_ + kKeepRise) fit_ = shadow_;
  shadowHops_ = -1;
}

// One hop of near-end bands against the far history (row pos is the hop), into fit f;
// also notes the best correlation within +-kSpread of delay ref (none when ref < 0).
VAD_HOT void EchoModel::fitLearn(EchoFit& f, const double* nearBand, int pos, int ref) const {
  f.activeHops++;
  const double a = f.activeHops < 100 ? 1.0 / f.activeHops : 0.01;
  for (int b = 0; b < kBands; b++) {
    const double y = nearBand[b];
    f.my[b] += a * (y - f.my[b]);
    f.myy[b] += a * (y * y - f.myy[b]);
  }
  // the near end's variance is the same at every delay
  double vy = 0;
  for (int b = 0; b < kBands; b++) vy += f.myy[b] - f.my[b] * f.my[b];
  double bestC = 0, refC = 0;
  int best = -1;
  for (int d = 0; d < kDelays; d++) {
    const double* x = hist_[(pos - d + kHist) % kHist];
    double cov = 0, vx = 0;
    for (int b = 0; b < kBands; b++) {
      const double y = nearBand[b];
      f.mx[d][b] += a * (x[b] - f.mx[d][b]);
      f.mxx[d][b] += a * (x[b] * x[b] - f.mxx[d][b]);
      f.mxy[d][b] += a * (x[b] * y - f.mxy[d][b]);
      cov += f.mxy[d][b] - f.mx[d][b] * f.my[b];
      vx += f.mxx[d][b] - f.mx[d][b] * f.mx[d][b];
    }
    if (cov > 0 && vx > 0 && vy > 0) {
      const double c = (cov * cov) / (vx * vy);
      if (ref >= 0 && d >= ref - kSpread && d <= ref + kSpread && c > refC) refC = c;
      if (c > bestC) {
        bestC = c;
        best = d;
      }
    }
  }
  f.bestC = bestC;
  f.refC = refC;
  // no positive correlation at any delay once the path is known (the user's own onset,
  // with no echo on the line): keep the delay, whose gains then go to 0, rather than
  // fall back to the warm-up prior (a +3 dB echo of the loudest far end) that masks
  // the user for the rest of the segment
  if (best < 0 && f.activeHops > kWarmHops && f.delay >= 0) best = f.delay;
  f.delay = best;
  if (best >= 0) {
    double x = 0, y = 0;
    for (int j = 0; j < kHfSmooth; j++) {
      x += histHf_[(pos - best - j + kHist) % kHist];
      y += nearHf_[(pos - j + kHist) % kHist];
    }
    x /= kHfSmooth;
    y /= kHfSmooth;
    f.hfHops++;
    const double ah = f.hfHops < 100 ? 1.0 / f.hfHops : 0.01;
    f.myH += ah * (y - f.myH);
    f.mxH += ah * (x - f.mxH);
    f.mxxH += ah * (x * x - f.mxxH);
    f.mxyH += ah * (x * y - f.mxyH);
    const double cov = f.mxyH - f.mxH * f.myH;
    const double vx = f.mxxH - f.mxH * f.mxH;
    f.gainHf = cov > 0 && vx > 0 ? cov / vx : 0;
  } else {
    f.gainHf = 0;
  }
  for (int b = 0; b < kBands; b++) {
    if (best < 0) {
      f.gain[b] = 0;
      continue;
    }
    const double cov = f.mxy[best][b] - f.mx[best][b] * f.my[b];
    const double vx = f.mxx[best][b] - f.mx[best][b] * f.mx[best][b];
    f.gain[b] = cov > 0 && vx > 0 ? cov / vx : 0;
  }
}

VAD_HOT void EchoModel::subtract(double* resid) const {
  // the loudest far end per band over the delays the prediction covers, one history
  // row at a time (a maximum: the order it is taken in does not matter)
  double mx[kBands];
  for (int b = 0; b < kBands; b++) mx[b] = 0;
  const bool prior = fit_.activeHops < kWarmHops || fit_.delay < 0;
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
    for (int d = fit_.delay - kSpread; d <= fit_.delay + kSpread; d++) {
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
    const double pred = prior ? kEchoPrior * mx[b] : kEchoMargin * fit_.gain[b] * mx[b];
    const double r = resid[b] - pred;
    resid[b] = r > 0 ? r : 0;
  }
}

// The loudest far 4-8 kHz energy within +-kSpread hops of the delay (wall clock and
// talk-spurt time), as the bands' prediction takes it.
double EchoModel::farHfMax() const {
  double mx = 0;
  for (int d = fit_.delay - kSpread; d <= fit_.delay + kSpread; d++) {
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
  if (fit_.activeHops < kWarmHops || fit_.delay < 0) {
    double mx = 0;
    for (int d = 0; d < kDelays + 1; d++) {
      const double v = histHf_[(pos_ - d + kHist) % kHist];
      if (v > mx) mx = v;
    }
    return kEchoPrior * mx;
  }
  return kEchoMargin * fit_.gainHf * farHfMax();
}

double EchoModel::meanGain() const {
  double g = 0;
  for (int b = 0; b < kBands; b++) g += fit_.gain[b];
  return g / kBands;
}

}  // namespace vad
}  // namespace voxbridge
