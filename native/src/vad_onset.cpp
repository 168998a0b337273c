// The VAD's narrow-band onset stage; see vad_onset.h. Every step is mirrored in
// src/native/vadOnset.ts: the same double arithmetic per band (here the 16 bands
// below 4 kHz branch-free, so that they run in vectors, then 4-8 kHz alone; maxima
// and counts do not depend on the order).
#include "vad_onset.h"

#include <cmath>
#include <cstring>

#include "vad_simd.h"

namespace voxbridge {
namespace vad {

void OnsetStage::reset() {
  for (int b = 0; b < kBands; b++) mean_[b] = var_[b] = cus_[b] = run_[b] = sd_[b] = inv_[b] = 0;
  learnt_ = 0;
  sdAge_ = 0;
  cleared_ = true;
  hfHeld_ = 0;
}

namespace {

// One band of a learning hop: its CUSUM and run, what it offers the decision (the sum,
// the rise of a band whose quick sum passed kFire, whether it has risen), then learning.
__attribute__((always_inline)) inline void band(double x, double& mean, double& var, double sd, double inv,
                                                double& cus, double& run, double& best, double& zFire, double& up) {
  const double v = var;
  const double e = x - mean;
  const double z = e * inv;
  double c = cus + (z < OnsetStage::kZMax ? z : OnsetStage::kZMax) - OnsetStage::kDrift;
  c = c > 0 ? c : 0;
  cus = c;
  const double r = c > 0 ? run + 1 : 0;
  run = r;
  best = c > best ? c : best;
  const double zq = c > OnsetStage::kFire && r <= OnsetStage::kRunMax ? z : 0;
  zFire = zq > zFire ? zq : zFire;
  up += z > OnsetStage::kZUp ? 1 : 0;
  const double ec = e < OnsetStage::kClip * sd ? e : OnsetStage::kClip * sd;
  mean += OnsetStage::kLearn * ec;
  var += OnsetStage::kLearn * (ec * ec - v);
}

}  // namespace

VAD_HOT int OnsetStage::hop(const double* db, int n, Mode mode) {
  if (mode != Mode::Learn) {
    if (mode == Mode::Relearn)
      for (int b = 0; b < n; b++) mean_[b] += kRelearn * (db[b] - mean_[b]);
    if (!cleared_)
      for (int b = 0; b < kBands; b++) cus_[b] = run_[b] = 0;
    cleared_ = true;
    hfHeld_ = 0;
    return 0;
  }
  cleared_ = false;
  if (learnt_ == 0) {
    for (int b = 0; b < n; b++) {
      mean_[b] = db[b];
      var_[b] = 4;
    }
  }
  // the spreads, every kSdEvery hops (a square root and a division per band)
  if (sdAge_ == 0) {
    constexpr double kSdMin2 = kSdMin * kSdMin;
    for (int b = 0; b < n; b++) {
      sd_[b] = std::sqrt(var_[b] > kSdMin2 ? var_[b] : kSdMin2);
      inv_[b] = 1 / sd_[b];
    }
  }
  sdAge_ = sdAge_ + 1 < kSdEvery ? sdAge_ + 1 : 0;
  // the 16 bands below 4 kHz 8 at a time (per lane the same operations as band()), then 4-8 kHz
  typedef double v8d __attribute__((vector_size(64)));
  typedef long long v8q __attribute__((vector_size(64)));
  const v8d zero = v8d{} + 0.0, one = zero + 1.0;
  v8d bestV = zero, zFireV = zero, upV = zero;
  static_assert(kBands - 1 == 16, "two vectors of 8 bands and the 4-8 kHz band");
  for (int o = 0; o < 16; o += 8) {
    v8d v, sd, mean, x, inv, c, r;
    std::memcpy(&v, var_ + o, sizeof v);
    std::memcpy(&sd, sd_ + o, sizeof sd);
    std::memcpy(&mean, mean_ + o, sizeof mean);
    std::memcpy(&x, db + o, sizeof x);
    std::memcpy(&inv, inv_ + o, sizeof inv);
    std::memcpy(&c, cus_ + o, sizeof c);
    std::memcpy(&r, run_ + o, sizeof r);
    const v8d e = x - mean;
    const v8d z = e * inv;
    c = c + (z < kZMax ? z : zero + kZMax) - kDrift;
    c = c > 0 ? c : zero;
    r = c > 0 ? r + 1 : zero;
    std::memcpy(cus_ + o, &c, sizeof c);
    std::memcpy(run_ + o, &r, sizeof r);
    bestV = c > bestV ? c : bestV;
    const v8q quick = (c > kFire) & (r <= kRunMax);
    const v8d zq = quick ? z : zero;
    zFireV = zq > zFireV ? zq : zFireV;
    upV += z > kZUp ? one : zero;
    const v8d clip = kClip * sd;
    const v8d ec = e < clip ? e : clip;
    mean = mean + kLearn * ec;
    v = v + kLearn * (ec * ec - v);
    std::memcpy(mean_ + o, &mean, sizeof mean);
    std::memcpy(var_ + o, &v, sizeof v);
  }
  double bestAll = 0, zAll = 0, upAll = 0;
  constexpr int kHf = kBands - 1;
  double zHf = 0;  // the 4-8 kHz band's rise when its sum fires, quick or held (0 without it)
  if (n > kHf) {
    const double z = (db[kHf] - mean_[kHf]) * inv_[kHf];  // (as band() computes it)
    band(db[kHf], mean_[kHf], var_[kHf], sd_[kHf], inv_[kHf], cus_[kHf], run_[kHf], bestAll, zAll, upAll);
    hfHeld_ = z >= kZHeld ? hfHeld_ + 1 : 0;
    const double c = cus_[kHf];
    zHf = (c > kFire && run_[kHf] <= kRunMax) || (c > kFireHeld && hfHeld_ >= kHeldHops) ? z : 0;
  }
  for (int j = 0; j < 8; j++) {
    bestAll = bestV[j] > bestAll ? bestV[j] : bestAll;
    zAll = zFireV[j] > zAll ? zFireV[j] : zAll;
    upAll += upV[j];
  }
  learnt_ = learnt_ <= kWarm ? learnt_ + 1 : learnt_;
  if (!(learnt_ > kWarm && upAll <= kUpMax)) return 0;
  return (bestAll > kFire && zAll >= kZNow ? kFires : 0) | (zHf >= kZNow ? kFiresHf : 0);
}

}  // namespace vad
}  // namespace voxbridge
