// Voice-activity detector; see vad.h for the pipeline. Every step is mirrored
// line for line in src/native/vadFallback.ts: change both together (parity tests
// compare decisions frame by frame). Two places here skip work that cannot change
// a result (the TS side does it plainly): the FFT's j = 0 butterflies (twiddle 1),
// and the vetoes/periodicity on hops that the SNR and sustain gates already zero.
#include "vad.h"

#include <cmath>
#include <cstring>

// Same arithmetic as JavaScript: no fused multiply-add.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace voxbridge {
namespace vad {

namespace {

constexpr double kPi = 3.141592653589793;
// Band edges in FFT bins (31.25 Hz each at 8 kHz / 256): ~94 Hz .. 3.7 kHz, Bark-like.
constexpr int kEdges[Vad::kBands + 1] = {3, 6, 10, 13, 16, 20, 25, 29, 35, 41, 47, 55, 64, 74, 86, 101, 118};
constexpr double kMinFloorPerBin = 1e-8;  // about int16 quantization noise per bin
constexpr double kFloorBias = 2.0;        // minimum statistics underestimate the mean
constexpr double kFarActive = 0.01;       // far-end band energy sum (~ -60 dBFS)
constexpr int kWarmHops = 100;            // far-end-active hops before the echo estimate is trusted
constexpr double kEchoPrior = 2.0;        // echo gain assumed before that (+3 dB)
constexpr double kEchoMargin = 4.0;       // near-end must exceed predicted echo by 6 dB
constexpr double kSnrGate = 1.5;          // dB of mean band SNR below which nothing is speech
constexpr double kSustainGate = 0.45;     // share of sustained 2 ms blocks below which nothing is
constexpr int kSustainBlocks = 15;        // 30 ms of 2 ms blocks
constexpr double kPeakRel = 0.01;  // -20 dB: sustained blocks are this close to the peak
constexpr int kBlk = 16;                  // samples per block (2 ms)
constexpr double kHfWeight = 3.0;         // 4-8 kHz spans about 3 more critical bands
// background (babble, music) vs foreground (the user)
constexpr double kBgFast = 1.0 / 50;      // background learning per quiet hop (0.5 s)
constexpr double kBgSlow = 1.0 / 1000;    // ... per hop of a segment that stands out (10 s)
constexpr double kFgLearn = 6.0;          // dB: non-speech hops of a segment this close are learnt fast
constexpr double kBgFree = 4.5;           // dB over the floor that stationary noise stays under
constexpr double kBgRamp = 2.0;           // dB above that to a fully "busy" background
constexpr double kFgK = 2.5;              // a foreground hop stands out by this many spreads...
constexpr double kFgMin = 4.0;            // ... and by at least this many dB (at most kFgMax)
constexpr double kFgMax = 8.0;
constexpr int kFgDrop = 30;               // hops without foreground that end a segment
constexpr int kBusyVoiced = 4;            // more voiced hops for D over a busy background
constexpr double kBusyHarm = 0.1;         // ... with this much more periodicity
constexpr double kBusyRecent = 5;         // ... and this many foreground hops in the last 200 ms
constexpr double kStartPeak = 0.95;       // two spectral peaks holding this share: a tone, no start

inline double clamp01(double x) { return x < 0 ? 0 : (x > 1 ? 1 : x); }
inline double clampTo(double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); }

// Windowed-sinc low-pass (Hamming), unity DC gain.
void designLowpass(double* h, int n, double cutoff, double fs) {
  const double fc = cutoff / fs;
  const int m = n - 1;
  double sum = 0;
  for (int i = 0; i < n; i++) {
    const double t = i - m / 2.0;
    const double s = t == 0 ? 2 * fc : std::sin(2 * kPi * fc * t) / (kPi * t);
    const double w = 0.54 - 0.46 * std::cos((2 * kPi * i) / m);
    h[i] = s * w;
    sum += h[i];
  }
  for (int i = 0; i < n; i++) h[i] = h[i] / sum;
}

// RBJ biquad, Q = 1/sqrt(2) (Butterworth); highpass when hp.
void designBiquad(double* b, double* a, double f0, double fs, bool hp) {
  const double w0 = (2 * kPi * f0) / fs;
  const double cw = std::cos(w0);
  const double alpha = std::sin(w0) / (2 * 0.7071067811865476);
  const double a0 = 1 + alpha;
  if (hp) {
    b[0] = (1 + cw) / 2 / a0;
    b[1] = -(1 + cw) / a0;
    b[2] = (1 + cw) / 2 / a0;
  } else {
    b[0] = (1 - cw) / 2 / a0;
    b[1] = (1 - cw) / a0;
    b[2] = (1 - cw) / 2 / a0;
  }
  a[0] = 1;
  a[1] = (-2 * cw) / a0;
  a[2] = (1 - alpha) / a0;
}

}  // namespace

Status validate(const Config& c) {
  if (c.sampleRate != 8000 && c.sampleRate != 16000 && c.sampleRate != 48000) return Status::BadSampleRate;
  if (c.frameMs != 10 && c.frameMs != 20 && c.frameMs != 30) return Status::BadFrameMs;
  if (c.interruptMs < 0 || c.interruptMs > 10000) return Status::BadInterruptMs;
  if (c.hangoverMs < 50 || c.hangoverMs > 2000) return Status::BadHangoverMs;
  return Status::Ok;
}

Vad::Vad(const Config& c) : cfg_(c) {
  if (validate(cfg_) != Status::Ok) cfg_ = Config();
  frameSamples_ = (cfg_.sampleRate / 1000) * cfg_.frameMs;
  decim_ = cfg_.sampleRate / 8000;
  groupDelay_ = cfg_.sampleRate == 8000 ? 0 : (cfg_.sampleRate == 16000 ? 14 : 51);
  designLowpass(h1_, kFir1, 5000, 48000);
  designLowpass(h2_, kFir2, 4000, 16000);
  // half-band: every other tap is zero (exactly, which the sinc only approximates)
  for (int i = 1; i < kFir2; i += 2)
    if (i != (kFir2 - 1) / 2) h2_[i] = 0;
  designBiquad(hpB_, hpA_, 100, 8000, true);
  designBiquad(lpB_, lpA_, 1000, 8000, false);
  for (int i = 0; i < kFft; i++) win_[i] = 0.5 - 0.5 * std::cos((2 * kPi * i) / kFft);
  for (int k = 0; k <= kFft / 2; k++) {
    cos_[k] = std::cos((2 * kPi * k) / kFft);
    sin_[k] = std::sin((2 * kPi * k) / kFft);
  }
  // per-stage twiddles, contiguous: stage with half-size h uses [h, 2h)
  for (int half = 1; half < kFft / 2; half *= 2) {
    const int step = kFft / (2 * half);
    for (int j = 0; j < half; j++) {
      twr_[half + j] = cos_[j * step];
      twi_[half + j] = -sin_[j * step];
    }
  }
  // bit reversal for the 128-point complex FFT
  for (int i = 0; i < kFft / 2; i++) {
    int r = 0;
    for (int b = 0; b < 7; b++) r |= ((i >> b) & 1) << (6 - b);
    rev_[i] = r;
  }
  reset();
}

void Vad::resetChannel(Channel& ch) {
  std::memset(&ch, 0, sizeof ch);
}

void Vad::reset() {
  resetChannel(near_);
  resetChannel(far_);
  for (int b = 0; b < kBands; b++) {
    smooth_[b] = 0;
    curMin_[b] = 1e300;
    floor_[b] = kMinFloorPerBin * (kEdges[b + 1] - kEdges[b]);
    for (int s = 0; s < kMinSub; s++) subMin_[s][b] = 1e300;
    for (int j = 0; j <= kFluxLag; j++) shapeHist_[j][b] = 0;
    for (int j = 0; j <= kFluxLag; j++) shapeHist_[j][kBands] = 0;
  }
  subPos_ = 0;
  subCount_ = 0;
  hopsSeen_ = 0;
  shapePos_ = 0;
  for (int j = 0; j < kFluxKeep; j++) fluxHist_[j] = 0;
  fluxPos_ = 0;
  for (int j = 0; j < kBlocks; j++) blk_[j] = 0;
  blkPos_ = 0;
  hopSmooth_ = 0;
  hopCurMin_ = 1e300;
  for (int s = 0; s < kMinSub; s++) hopMin_[s] = 1e300;
  hopFloor_ = 0;
  for (int j = 0; j < kSustainBlocks; j++) hfBlk_[j] = 0;
  for (int j = 0; j < kHop / kBlk; j++) hfHop_[j] = 0;
  hfPos_ = 0;
  hfSmooth_ = 0;
  hfCurMin_ = 1e300;
  for (int s = 0; s < kMinSub; s++) hfMin_[s] = 1e300;
  hfFloor_ = 0;
  for (int j = 0; j < kSustainBlocks; j++) lpBlk_[j] = 0;
  lpPos_ = 0;
  lpSmooth_ = 0;
  lpCurMin_ = 1e300;
  for (int s = 0; s < kMinSub; s++) lpMin_[s] = 1e300;
  lpFloor_ = 0;
  lpX1_ = lpX2_ = lpY1_ = lpY2_ = 0;
  for (int i = 0; i < kPitchHist; i++) p4_[i] = 0;
  for (int d = 0; d < kFarHist; d++) {
    farTot_[d] = 0;
    for (int b = 0; b < kBands; b++) farHist_[d][b] = 0;
  }
  farPos_ = 0;
  for (int d = 0; d < kDelays; d++)
    for (int b = 0; b < kBands; b++) mx_[d][b] = mxx_[d][b] = mxy_[d][b] = 0;
  for (int b = 0; b < kBands; b++) {
    my_[b] = myy_[b] = 0;
    echoGain_[b] = 0;
  }
  farActiveHops_ = 0;
  echoDelay_ = -1;
  bgDb_ = 0;
  bgVar_ = 0;
  speechRun_ = 0;
  candGap_ = 0;
  fgQuiet_ = 0;
  lastFgEnd_ = 0;
  segVoiced_ = 0;
  quietRun_ = 0;
  for (int j = 0; j < kRecent; j++) recent_[j] = false;
  recentPos_ = 0;
  recentCount_ = 0;
  for (int j = 0; j < kFgRecent; j++) fgRecent_[j] = false;
  fgRecentPos_ = 0;
  fgRecentCount_ = 0;
  segHops_ = 0;
  segSpeech_ = 0;
  for (int i = 0; i < 3; i++) {
    statCache_[i] = 0;
    statStamp_[i] = -1;
  }
  speaking_ = false;
  reachedFired_ = false;
  onset_ = -1;
  end_ = -1;
  reached_ = -1;
  candOnset_ = -1;
  lastSpeechEnd_ = 0;
  lastMs_ = 0;
  samples_ = 0;
  hop8_ = 0;
  std::memset(powRing_, 0, sizeof powRing_);
  std::memset(&feat_, 0, sizeof feat_);
  feat_.echoDelay = -1;
}

Status Vad::setInterruptMs(int ms) {
  if (ms < 0 || ms > 10000) return Status::BadInterruptMs;
  cfg_.interruptMs = ms;
  return Status::Ok;
}

// n input samples (one hop: 80 * decim) -> 80 samples at 8 kHz, scaled to [-1, 1).
void Vad::toInternal(Channel& ch, const int16_t* pcm, double* out8, double* hfOut) {
  const double scale = 1.0 / 32768;
  if (decim_ == 1) {
    for (int i = 0; i < kHop; i++) out8[i] = pcm[i] * scale;
    return;
  }
  // x2: 16 kHz history (kFir2 - 1 old samples, then 160 new)
  double* x2 = ch.x2;
  if (decim_ == 2) {
    for (int i = 0; i < 2 * kHop; i++) x2[kFir2 - 1 + i] = pcm[i] * scale;
  } else {
    // 48 kHz -> 16 kHz: x1 holds kFir1 - 1 old samples, then 480 new
    double* x1 = ch.x1;
    for (int i = 0; i < 6 * kHop; i++) x1[kFir1 - 1 + i] = pcm[i] * scale;
    for (int m = 0; m < 2 * kHop; m++) {
      const int top = kFir1 - 1 + 3 * m + 2;
      double acc = 0;
      for (int j = 0; j < kFir1; j++) acc += h1_[j] * x1[top - j];
      x2[kFir2 - 1 + m] = acc;
    }
    for (int i = 0; i < kFir1 - 1; i++) x1[i] = x1[6 * kHop + i];
  }
  if (hfOut) {
    for (int j = 0; j < kHop / kBlk; j++) {
      double e = 0;
      for (int i = 0; i < 2 * kBlk; i++) {
        const int n = kFir2 - 1 + 2 * kBlk * j + i;
        const double d = x2[n] - x2[n - 1];
        e += d * d;
      }
      hfOut[j] = e;
    }
  }
  for (int m = 0; m < kHop; m++) {
    const int top = kFir2 - 1 + 2 * m + 1;
    double acc = h2_[(kFir2 - 1) / 2] * x2[top - (kFir2 - 1) / 2];
    for (int j = 0; j < kFir2; j += 2) acc += h2_[j] * x2[top - j];
    out8[m] = acc;
  }
  for (int i = 0; i < kFir2 - 1; i++) x2[i] = x2[2 * kHop + i];
}

void Vad::highpass(Channel& ch, double* x) {
  for (int i = 0; i < kHop; i++) {
    const double y = hpB_[0] * x[i] + hpB_[1] * ch.hpX1 + hpB_[2] * ch.hpX2 - hpA_[1] * ch.hpY1 - hpA_[2] * ch.hpY2;
    ch.hpX2 = ch.hpX1;
    ch.hpX1 = x[i];
    ch.hpY2 = ch.hpY1;
    ch.hpY1 = y;
    x[i] = y;
  }
}

// Appends a hop to the channel's window and computes its 16 band energies.
void Vad::bands(Channel& ch, const double* x) {
  std::memmove(ch.buf, ch.buf + kHop, sizeof(double) * (kFft - kHop));
  for (int i = 0; i < kHop; i++) ch.buf[kFft - kHop + i] = x[i];
  // real 256-point FFT as a complex 128-point FFT of (even, odd) pairs
  const int n2 = kFft / 2;
  for (int i = 0; i < n2; i++) {
    const int r = rev_[i];
    re_[r] = ch.buf[2 * i] * win_[2 * i];
    im_[r] = ch.buf[2 * i + 1] * win_[2 * i + 1];
  }
  // radix-2 stages; the twiddle of j = 0 is exactly 1, so that butterfly has no products
  for (int size = 2; size <= n2; size *= 2) {
    const int half = size / 2;
    const double* twr = twr_ + half;  // twiddles of this stage: twr_[half + j] = cos(2 pi j / size)
    const double* twi = twi_ + half;
    for (int i = 0; i < n2; i += size) {
      {
        const int q = i + half;
        const double tr = re_[q], ti = im_[q];
        re_[q] = re_[i] - tr;
        im_[q] = im_[i] - ti;
        re_[i] = re_[i] + tr;
        im_[i] = im_[i] + ti;
      }
      for (int j = 1; j < half; j++) {
        const double wr = twr[j];
        const double wi = twi[j];
        const int p = i + j;
        const int q = p + half;
        const double tr = wr * re_[q] - wi * im_[q];
        const double ti = wr * im_[q] + wi * re_[q];
        re_[q] = re_[p] - tr;
        im_[q] = im_[p] - ti;
        re_[p] = re_[p] + tr;
        im_[p] = im_[p] + ti;
      }
    }
  }
  for (int k = kEdges[0]; k < kEdges[kBands]; k++) {
    const int kc = n2 - k;  // k in 3..117, so kc in 11..125
    const double zr = re_[k], zi = im_[k];
    const double cr = re_[kc], ci = -im_[kc];
    const double er = 0.5 * (zr + cr), ei = 0.5 * (zi + ci);
    const double orr = 0.5 * (zr - cr), oi = 0.5 * (zi - ci);
    // odd part: -i * (orr + i oi) = oi - i orr, times exp(-2 pi i k / 256)
    const double ar = oi, ai = -orr;
    const double wr = cos_[k], wi = -sin_[k];
    const double xr = er + (ar * wr - ai * wi);
    const double xi = ei + (ar * wi + ai * wr);
    ch.pow[k] = xr * xr + xi * xi;
  }
  for (int b = 0; b < kBands; b++) {
    double s = 0;
    for (int k = kEdges[b]; k < kEdges[b + 1]; k++) s += ch.pow[k];
    ch.band[b] = s;
  }
}

// 1 kHz low-pass at 8 kHz, every second sample kept: the 4 kHz low band.
void Vad::lowband(const double* x8) {
  std::memmove(p4_, p4_ + kHop / 2, sizeof(double) * (kPitchHist - kHop / 2));
  for (int i = 0; i < kHop; i++) {
    const double y = lpB_[0] * x8[i] + lpB_[1] * lpX1_ + lpB_[2] * lpX2_ - lpA_[1] * lpY1_ - lpA_[2] * lpY2_;
    lpX2_ = lpX1_;
    lpX1_ = x8[i];
    lpY2_ = lpY1_;
    lpY1_ = y;
    if (i & 1) p4_[kPitchHist - kHop / 2 + (i >> 1)] = y;
  }
}

// Max normalized autocorrelation (60-400 Hz) of the LPC-whitened low band: even
// lags first, then the neighbours of the best one.
double Vad::periodicity() {
  // order-4 LPC by Levinson-Durbin on the whole history
  double r[5];
  for (int l = 0; l <= 4; l++) {
    double s = 0;
    for (int n = l; n < kPitchHist; n++) s += p4_[n] * p4_[n - l];
    r[l] = s;
  }
  if (r[0] < 1e-10) return 0;
  r[0] = r[0] * 1.0001;  // white-noise correction keeps the filter stable
  double a[5] = {1, 0, 0, 0, 0};
  double err = r[0];
  for (int i = 1; i <= 4; i++) {
    double acc = r[i];
    for (int j = 1; j < i; j++) acc += a[j] * r[i - j];
    const double k = -acc / err;
    double tmp[5];
    for (int j = 0; j <= 4; j++) tmp[j] = a[j];
    for (int j = 1; j < i; j++) a[j] = tmp[j] + k * tmp[i - j];
    a[i] = k;
    err = err * (1 - k * k);
  }
  // residual e[n] for n = 4..kPitchHist-1 -> res_[0..kRes-1]
  for (int n = 4; n < kPitchHist; n++) {
    res_[n - 4] = p4_[n] + a[1] * p4_[n - 1] + a[2] * p4_[n - 2] + a[3] * p4_[n - 3] + a[4] * p4_[n - 4];
  }
  // prefix sums of squares
  cum_[0] = 0;
  for (int n = 0; n < kRes; n++) cum_[n + 1] = cum_[n] + res_[n] * res_[n];
  const int n0 = kRes - kPitchWin;
  const double e0 = cum_[kRes] - cum_[n0];
  if (e0 <= 0) return 0;
  double best = 0;
  int bestLag = 0;
  for (int lag = kLagMin; lag <= kLagMax; lag += 2) {
    const double c = lagCorr(n0, lag, e0);
    if (c > best) {
      best = c;
      bestLag = lag;
    }
  }
  if (bestLag == 0) return 0;
  for (int lag = bestLag - 1; lag <= bestLag + 1; lag += 2) {
    if (lag < kLagMin || lag > kLagMax) continue;
    const double c = lagCorr(n0, lag, e0);
    if (c > best) best = c;
  }
  return std::sqrt(best);
}

// Squared normalized correlation of the residual with itself `lag` samples back (0 if negative).
double Vad::lagCorr(int n0, int lag, double e0) const {
  double s = 0;
  for (int n = n0; n < kRes; n++) s += res_[n] * res_[n - lag];
  if (s <= 0) return 0;
  const double e1 = cum_[kRes - lag] - cum_[n0 - lag];
  return (s * s) / (e0 * e1 + 1e-30);
}

// One 10 ms hop at 8 kHz (both buffers are filtered in place).
uint32_t Vad::hop(double* near8, double* far8) {
  uint32_t flags = 0;
  highpass(near_, near8);
  bands(near_, near8);
  lowband(near8);
  // 2 ms block energies below 1 kHz (the newest 40 samples of the 4 kHz path)
  double lpE = 0;
  for (int j = 0; j < kHop / kBlk; j++) {
    double s = 0;
    for (int i = 0; i < kBlk / 2; i++) {
      const double v = p4_[kPitchHist - kHop / 2 + (kBlk / 2) * j + i];
      s += v * v;
    }
    lpBlk_[lpPos_] = s;
    lpPos_ = (lpPos_ + 1) % kSustainBlocks;
    lpE += s;
  }

  // 4-8 kHz block energies (zero at 8 kHz input)
  double hfE = 0;
  for (int j = 0; j < kHop / kBlk; j++) {
    hfBlk_[hfPos_] = hfHop_[j];
    hfPos_ = (hfPos_ + 1) % kSustainBlocks;
    hfE += hfHop_[j];
  }

  // 2 ms block energies and the hop energy
  double hopE = 0;
  for (int j = 0; j < kHop / kBlk; j++) {
    double s = 0;
    for (int i = 0; i < kBlk; i++) s += near8[kBlk * j + i] * near8[kBlk * j + i];
    blk_[blkPos_] = s;
    blkPos_ = (blkPos_ + 1) % kBlocks;
    hopE += s;
  }

  // far end: band history and echo estimate
  bool farActive = false;
  if (far8) {
    highpass(far_, far8);
    bands(far_, far8);
    farPos_ = (farPos_ + 1) % kFarHist;
    double tot = 0;
    for (int b = 0; b < kBands; b++) {
      farHist_[farPos_][b] = far_.band[b];
      tot += far_.band[b];
    }
    farTot_[farPos_] = tot;
    for (int d = 0; d < kDelays; d++) {
      if (farTot_[(farPos_ - d + kFarHist) % kFarHist] > kFarActive) {
        farActive = true;
        break;
      }
    }
  }
  if (farActive) {
    flags |= kFarEndActive;
    // the echo path is learnt while the near end is not talking (no double talk)
    if (!speaking_) echoUpdate();
  }

  // residual near-end energy after the predicted echo
  double resid[kBands];
  for (int b = 0; b < kBands; b++) resid[b] = near_.band[b];
  if (farActive) {
    for (int b = 0; b < kBands; b++) {
      double pred;
      if (farActiveHops_ < kWarmHops || echoDelay_ < 0) {
        double mx = 0;
        for (int d = 0; d < kDelays + 1; d++) {
          const double v = farHist_[(farPos_ - d + kFarHist) % kFarHist][b];
          if (v > mx) mx = v;
        }
        pred = kEchoPrior * mx;
      } else {
        double mx = 0;
        for (int d = echoDelay_ - 1; d <= echoDelay_ + 1; d++) {
          if (d < 0) continue;
          const double v = farHist_[(farPos_ - d + kFarHist) % kFarHist][b];
          if (v > mx) mx = v;
        }
        pred = kEchoMargin * echoGain_[b] * mx;
      }
      const double r = resid[b] - pred;
      resid[b] = r > 0 ? r : 0;
    }
  }

  // noise floors: minimum statistics over kMinSub * kMinSubLen hops
  hopsSeen_++;
  const bool warm = hopsSeen_ >= kFft / kHop;  // the FFT window holds real samples
  if (warm) {
    for (int b = 0; b < kBands; b++) {
      smooth_[b] = hopsSeen_ == kFft / kHop ? near_.band[b] : 0.5 * smooth_[b] + 0.5 * near_.band[b];
      if (smooth_[b] < curMin_[b]) curMin_[b] = smooth_[b];
    }
    hopSmooth_ = hopsSeen_ == kFft / kHop ? hopE : 0.5 * hopSmooth_ + 0.5 * hopE;
    if (hopSmooth_ < hopCurMin_) hopCurMin_ = hopSmooth_;
    lpSmooth_ = hopsSeen_ == kFft / kHop ? lpE : 0.5 * lpSmooth_ + 0.5 * lpE;
    if (lpSmooth_ < lpCurMin_) lpCurMin_ = lpSmooth_;
    hfSmooth_ = hopsSeen_ == kFft / kHop ? hfE : 0.5 * hfSmooth_ + 0.5 * hfE;
    if (hfSmooth_ < hfCurMin_) hfCurMin_ = hfSmooth_;
    subCount_++;
    if (subCount_ == kMinSubLen) {
      for (int b = 0; b < kBands; b++) {
        subMin_[subPos_][b] = curMin_[b];
        curMin_[b] = 1e300;
      }
      hopMin_[subPos_] = hopCurMin_;
      hopCurMin_ = 1e300;
      lpMin_[subPos_] = lpCurMin_;
      lpCurMin_ = 1e300;
      hfMin_[subPos_] = hfCurMin_;
      hfCurMin_ = 1e300;
      subPos_ = (subPos_ + 1) % kMinSub;
      subCount_ = 0;
    }
    for (int b = 0; b < kBands; b++) {
      double m = curMin_[b];
      for (int s = 0; s < kMinSub; s++)
        if (subMin_[s][b] < m) m = subMin_[s][b];
      const double lo = kMinFloorPerBin * (kEdges[b + 1] - kEdges[b]);
      const double f = kFloorBias * m;
      floor_[b] = f > lo ? f : lo;
    }
    double m = hopCurMin_;
    for (int s = 0; s < kMinSub; s++)
      if (hopMin_[s] < m) m = hopMin_[s];
    const double lo = kHop * 1e-9;
    hopFloor_ = kFloorBias * m > lo ? kFloorBias * m : lo;
    m = lpCurMin_;
    for (int s = 0; s < kMinSub; s++)
      if (lpMin_[s] < m) m = lpMin_[s];
    lpFloor_ = kFloorBias * m > lo ? kFloorBias * m : lo;
    m = hfCurMin_;
    for (int s = 0; s < kMinSub; s++)
      if (hfMin_[s] < m) m = hfMin_[s];
    hfFloor_ = kFloorBias * m > 2 * lo ? kFloorBias * m : 2 * lo;
  }

  // evidence: band SNR, and the spectral shape (dB, mean removed) for its change;
  // at 16/48 kHz input the 4-8 kHz energy joins both (fricatives live there)
  const int nShape = decim_ > 1 ? kBands + 1 : kBands;
  double snrSum = 0;
  double shape[kBands + 1];
  double shapeMean = 0;
  for (int b = 0; b < kBands; b++) {
    const double g = resid[b] / floor_[b];
    if (g > 1) {
      const double db = 10 * std::log10(g);
      snrSum += db < 30 ? db : 30;
    }
    shape[b] = 10 * std::log10(near_.band[b] + floor_[b]);
    shapeMean += shape[b];
  }
  if (decim_ > 1) {
    // 4-8 kHz counts as kHfWeight bands, when it is not the agent's echo
    if (!farActive && hfFloor_ > 0) {
      const double g = hfE / hfFloor_;
      if (g > 1) {
        const double db = 10 * std::log10(g);
        snrSum += kHfWeight * (db < 30 ? db : 30);
      }
    }
    shape[kBands] = 10 * std::log10(hfE + hfFloor_ + 1e-12);
    shapeMean += shape[kBands];
  }
  const double snrDb = snrSum / kBands;
  shapeMean = shapeMean / nShape;
  // foreground: the broadband level over the floor (dB) above the background, the
  // mean (and spread) of that level over quiet hops. Stationary noise sits a few dB
  // over its floor; babble and music sit well above it ("busy") and fluctuate, and
  // there a start must stand out from them by a few spreads.
  double fgDb = 0;
  if (warm) {
    double rs = 0, fs = 0;
    for (int b = 0; b < kBands; b++) {
      rs += resid[b];
      fs += floor_[b];
    }
    fgDb = 10 * std::log10(1 + rs / fs) - bgDb_;
  }
  const double busy = clamp01((bgDb_ - kBgFree) / kBgRamp);
  const double fgThr = busy * clampTo(kFgK * std::sqrt(bgVar_), kFgMin, kFgMax);
  const int prev = (shapePos_ + 1) % (kFluxLag + 1);  // kFluxLag hops ago
  double flux = 0;
  for (int b = 0; b < nShape; b++) {
    shape[b] = shape[b] - shapeMean;
    const double d = shape[b] - shapeHist_[prev][b];
    flux += d < 0 ? -d : d;
    shapeHist_[prev][b] = shape[b];
  }
  shapePos_ = prev;
  flux = flux / nShape;
  fluxHist_[fluxPos_] = flux;
  fluxPos_ = (fluxPos_ + 1) % kFluxKeep;
  double fluxMax = 0;
  for (int j = 0; j < kFluxKeep; j++)
    if (fluxHist_[j] > fluxMax) fluxMax = fluxHist_[j];

  // sustain: share of the last 15 blocks (30 ms) 3 dB above their floor, below
  // 1 kHz (voiced speech) or over the whole band (fricatives); clicks are shorter
  // A block counts when it is also within 20 dB of the loudest block of those 30 ms:
  // a click's decaying tail stays above a floor near digital silence for its whole
  // length, but not near its own peak; vowels and fricatives do.
  double lpMax = 0, bbMax = 0, hfMax = 0;
  for (int j = 0; j < kSustainBlocks; j++) {
    if (lpBlk_[j] > lpMax) lpMax = lpBlk_[j];
    const double v = blk_[(blkPos_ - 1 - j + kBlocks) % kBlocks];
    if (v > bbMax) bbMax = v;
    if (hfBlk_[j] > hfMax) hfMax = hfBlk_[j];
  }
  const double lpFl = (2.0 * lpFloor_) / (kHop / kBlk);
  const double bbFl = (2.0 * hopFloor_) / (kHop / kBlk);
  const double hfFl = (2.0 * hfFloor_) / (kHop / kBlk);
  const double lpThr = lpFl > kPeakRel * lpMax ? lpFl : kPeakRel * lpMax;
  const double bbThr = bbFl > kPeakRel * bbMax ? bbFl : kPeakRel * bbMax;
  const double hfThr = hfFl > kPeakRel * hfMax ? hfFl : kPeakRel * hfMax;
  int aboveLp = 0, aboveBb = 0, aboveHf = 0;
  for (int j = 0; j < kSustainBlocks; j++) {
    if (lpBlk_[j] > lpThr) aboveLp++;
    if (blk_[(blkPos_ - 1 - j + kBlocks) % kBlocks] > bbThr) aboveBb++;
    if (decim_ > 1 && !farActive && hfBlk_[j] > hfThr) aboveHf++;
  }
  int above = aboveLp > aboveBb ? aboveLp : aboveBb;
  if (aboveHf > above) above = aboveHf;
  const double sustain = static_cast<double>(above) / kSustainBlocks;

  // the fine spectrum of this hop joins the history the tone/note vetoes compare with
  const int64_t h = hop8_;
  double* slot = powRing_[h % kRing];
  for (int k = kEdges[0]; k < kEdges[kBands]; k++) slot[k] = near_.pow[k];
  // the gates below make the score 0 whatever the rest says: periodicity and the
  // tone/note vetoes are computed only where they can matter
  const bool open = warm && snrDb > kSnrGate && sustain > kSustainGate;
  double statLong = 0, statShort = 0, peak = 0;
  if (open) {
    // notes: the 100 ms stationarity averaged over 3 hops, so that it does not flicker
    statLong = (statLongAt(h) + statLongAt(h - 1) + statLongAt(h - 2)) / 3.0;
    statShort = specCorr(h, kStatShort);
    peak = peakShare(slot);
  }
  feat_.stat = statLong;
  feat_.statShort = statShort;
  feat_.peak = peak;
  const double harm = open ? periodicity() : 0;
  const double score = open ? scoreOf(snrDb, sustain, harm, fluxMax, peak, statShort, statLong) : 0;
  feat_.fgDb = fgDb;
  feat_.bgDb = bgDb_;
  feat_.fgThr = fgThr;
  feat_.snrDb = snrDb;
  feat_.sustain = sustain;
  feat_.harm = harm;
  feat_.flux = fluxMax;
  feat_.score = score;
  feat_.echoDelay = farActiveHops_ >= kWarmHops ? echoDelay_ : -1;
  feat_.echoGain = 0;
  for (int b = 0; b < kBands; b++) feat_.echoGain += echoGain_[b];
  feat_.echoGain = feat_.echoGain / kBands;

  // state machine
  const int64_t hopStart = hop8_ * decim_ * kHop;  // in input samples
  const int64_t hopEnd = hopStart + decim_ * kHop;
  hop8_++;
  const bool isSpeech = score >= 0.5;
  // voicing that counts towards D: stronger over a busy background (a crowd of voices
  // is less periodic than one voice standing out of it)
  const double voicedHarm = kVoicedHarm + busy * kBusyHarm;
  // stands out from the background too, and is not a tone (two peaks hold the energy)
  const bool isFg = isSpeech && fgDb >= fgThr && peak < kStartPeak;
  if (warm) {
    // the background learns quickly from quiet hops and from the non-speech hops of a
    // segment close to it, slowly from the rest (a long utterance is not background)
    const double a = !speaking_ || (!isSpeech && fgDb < kFgLearn) ? kBgFast : kBgSlow;
    bgDb_ += a * fgDb;
    bgVar_ += a * (fgDb * fgDb - bgVar_);
  }
  fgRecentCount_ += (isFg ? 1 : 0) - (fgRecent_[fgRecentPos_] ? 1 : 0);
  fgRecent_[fgRecentPos_] = isFg;
  fgRecentPos_ = (fgRecentPos_ + 1) % kFgRecent;
  recentCount_ += (isSpeech ? 1 : 0) - (recent_[recentPos_] ? 1 : 0);
  recent_[recentPos_] = isSpeech;
  recentPos_ = (recentPos_ + 1) % kRecent;
  // speech density of the (candidate) segment, counted from its first speech hop
  if (!speaking_ && isFg && speechRun_ == 0) {
    segHops_ = 0;
    segSpeech_ = 0;
  }
  segHops_++;
  if (isSpeech) segSpeech_++;
  if (!speaking_) {
    // a candidate segment: foreground speech hops with gaps of up to kCandGap hops;
    // it starts once it has kStartHops of them
    if (isFg) {
      if (speechRun_ == 0) candOnset_ = refineOnset(hopEnd);
      speechRun_++;
      lastFgEnd_ = hopEnd;
      candGap_ = 0;
      if (harm >= voicedHarm) segVoiced_++;
      if (speechRun_ >= kStartHops) {
        speaking_ = true;
        reachedFired_ = false;
        quietRun_ = 0;
        fgQuiet_ = 0;
        onset_ = candOnset_;
        reached_ = -1;
        flags |= kSpeechStart;
      }
    } else if (speechRun_ > 0 && ++candGap_ > kCandGap) {
      speechRun_ = 0;
      segVoiced_ = 0;
    }
  } else {
    if (isFg) {
      fgQuiet_ = 0;
      lastFgEnd_ = hopEnd;
      if (harm >= voicedHarm) segVoiced_++;
    } else {
      fgQuiet_++;
    }
    if (isSpeech) {
      quietRun_ = 0;
    } else {
      if (quietRun_ == 0) lastSpeechEnd_ = hopStart;
      quietRun_++;
    }
    // the segment ends after the hangover of silence, or when only background-like
    // sound (babble, music) has kept it going for kFgDrop hops
    const bool silent = quietRun_ * 10 >= cfg_.hangoverMs;
    if (silent || fgQuiet_ >= kFgDrop) {
      speaking_ = false;
      speechRun_ = 0;
      segVoiced_ = 0;
      end_ = silent ? lastSpeechEnd_ : lastFgEnd_;
      lastMs_ = ((end_ - onset_) * 1000.0) / cfg_.sampleRate;
      flags |= kSpeechEnd;
    }
  }
  if (speaking_) {
    flags |= kSpeech;
    const double ms = ((hopEnd - onset_) * 1000.0) / cfg_.sampleRate;
    // D = 0 fires with the start. Otherwise the segment must have had voiced hops
    // (noise bursts and level steps are loud but never periodic), be speech for at
    // least half of its hops (music: every note onset looks like speech for a
    // moment), and speech must be going on: this hop, or a short dropout in a
    // last 100 ms that was mostly speech.
    const bool inWord = isSpeech || (quietRun_ <= kDropoutHops && recentCount_ >= kRecentMin);
    const bool dense = 2 * segSpeech_ >= segHops_;
    // over a busy background the segment needs more voiced foreground hops (babble:
    // a voice of the crowd stands out now and then, for a syllable or two)
    const int needVoiced = kReachVoiced + static_cast<int>(busy * kBusyVoiced + 0.5);
    // and much of the last 200 ms must stand out (not a syllable now and then)
    const bool standsOut = fgRecentCount_ >= static_cast<int>(busy * kBusyRecent + 0.5);
    const bool confirmed = cfg_.interruptMs == 0 || (segVoiced_ >= needVoiced && dense && inWord && standsOut);
    if (!reachedFired_ && confirmed && ms >= cfg_.interruptMs) {
      reachedFired_ = true;
      flags |= kDurationReached;
      const int64_t at = onset_ + static_cast<int64_t>(cfg_.interruptMs) * (cfg_.sampleRate / 1000);
      reached_ = at > hopStart ? at : hopStart;
    }
  }
  return flags;
}

// Normalized correlation of the fine spectra of hops h and h - lag (0 before the stream).
double Vad::specCorr(int64_t h, int lag) const {
  if (h - lag < 0) return 0;
  const double* cur = powRing_[h % kRing];
  const double* old = powRing_[(h - lag) % kRing];
  double s = 0, sxx = 0, syy = 0;
  for (int k = kEdges[0]; k < kEdges[kBands]; k++) {
    s += cur[k] * old[k];
    sxx += cur[k] * cur[k];
    syy += old[k] * old[k];
  }
  return sxx > 0 && syy > 0 ? s / std::sqrt(sxx * syy) : 0;
}

// specCorr(h, kStatLag), remembered for the two hops after (the 3-hop average).
double Vad::statLongAt(int64_t h) {
  if (h < 0) return 0;
  const int i = static_cast<int>(h % 3);
  if (statStamp_[i] != h) {
    statCache_[i] = specCorr(h, kStatLag);
    statStamp_[i] = h;
  }
  return statCache_[i];
}

// Share of the energy in the two strongest 3-bin peaks (at least 3 bins apart).
double Vad::peakShare(const double* cur) const {
  double tot = 0;
  for (int k = kEdges[0]; k < kEdges[kBands]; k++) tot += cur[k];
  double best = 0, best2 = 0;
  int k1 = 0;
  for (int k = kEdges[0] + 1; k < kEdges[kBands] - 1; k++) {
    const double s3 = cur[k - 1] + cur[k] + cur[k + 1];
    if (s3 > best) {
      best = s3;
      k1 = k;
    }
  }
  for (int k = kEdges[0] + 1; k < kEdges[kBands] - 1; k++) {
    if (k > k1 - 3 && k < k1 + 3) continue;
    const double s3 = cur[k - 1] + cur[k] + cur[k + 1];
    if (s3 > best2) best2 = s3;
  }
  return tot > 0 ? (best + best2) / tot : 0;
}

// Backdates a speech start: the earliest 2 ms block of the contiguous run (gaps of
// up to 2 blocks allowed) of blocks above the floor that ends at the newest block.
int64_t Vad::refineOnset(int64_t hopEnd) const {
  const double thr = (2.0 * hopFloor_) / (kHop / kBlk);
  int earliest = 0;  // blocks back from the newest (1 = newest)
  int gap = 0;
  for (int j = 1; j <= kBlocks - 1; j++) {
    if (blk_[(blkPos_ - j + kBlocks) % kBlocks] > thr) {
      earliest = j;
      gap = 0;
    } else if (++gap > 2 && earliest > 0) {
      break;
    }
  }
  if (earliest == 0) earliest = kHop / kBlk;
  // block j back starts kBlk * j internal samples before the end of the hop
  int64_t at = hopEnd - static_cast<int64_t>(kBlk * earliest) * decim_ - groupDelay_;
  return at < 0 ? 0 : at;
}

double Vad::scoreOf(double snrDb, double sustain, double harm, double flux, double peak, double statShort,
                    double statLong) const {
  // evidence in "log-odds" units: band SNR, periodicity and spectral-shape change add up
  const double zSnr = clampTo(snrDb - 3.0, -3.0, 7.5) / 3.0;
  const double zHarm = clampTo((harm - 0.33) / 0.1, -1.0, 3.0);
  const double zFlux = clampTo((flux - 3.0) / 1.5, -1.5, 1.0);
  const double p = clamp01(0.5 + (zSnr + zHarm + zFlux) / 4.0);
  // hard gates: energy above the floor, sustained below 1 kHz (not a click), not a tone
  const double gSnr = clamp01((snrDb - kSnrGate) / 1.5);
  const double gSus = clamp01((sustain - kSustainGate) / 0.2);
  // tones: two peaks hold nearly all the energy and do not move over 30 ms;
  // notes: the fine spectrum stays the same over 100 ms (speech moves its harmonics)
  const double tone = clamp01((peak - 0.8) / 0.1) * clamp01((statShort - 0.9) / 0.07);
  const double note = clamp01((statLong - 0.8) / 0.08);
  const double tonal = tone > note ? tone : note;
  return p * gSnr * gSus * (1 - tonal);
}

void Vad::echoUpdate() {
  farActiveHops_++;
  const double a = farActiveHops_ < 100 ? 1.0 / farActiveHops_ : 0.01;
  for (int b = 0; b < kBands; b++) {
    const double y = near_.band[b];
    my_[b] += a * (y - my_[b]);
    myy_[b] += a * (y * y - myy_[b]);
  }
  double bestC = 0;
  int best = -1;
  for (int d = 0; d < kDelays; d++) {
    const double* x = farHist_[(farPos_ - d + kFarHist) % kFarHist];
    double cov = 0, vx = 0, vy = 0;
    for (int b = 0; b < kBands; b++) {
      const double y = near_.band[b];
      mx_[d][b] += a * (x[b] - mx_[d][b]);
      mxx_[d][b] += a * (x[b] * x[b] - mxx_[d][b]);
      mxy_[d][b] += a * (x[b] * y - mxy_[d][b]);
      cov += mxy_[d][b] - mx_[d][b] * my_[b];
      vx += mxx_[d][b] - mx_[d][b] * mx_[d][b];
      vy += myy_[b] - my_[b] * my_[b];
    }
    if (cov > 0 && vx > 0 && vy > 0) {
      const double c = (cov * cov) / (vx * vy);
      if (c > bestC) {
        bestC = c;
        best = d;
      }
    }
  }
  echoDelay_ = best;
  for (int b = 0; b < kBands; b++) {
    if (best < 0) {
      echoGain_[b] = 0;
      continue;
    }
    const double cov = mxy_[best][b] - mx_[best][b] * my_[b];
    const double vx = mxx_[best][b] - mx_[best][b] * mx_[best][b];
    echoGain_[b] = cov > 0 && vx > 0 ? cov / vx : 0;
  }
}

uint32_t Vad::process(const int16_t* pcm, const int16_t* farEnd, double* out) {
  uint32_t flags = 0;
  const int hopIn = kHop * decim_;
  const int hops = frameSamples_ / hopIn;
  for (int h = 0; h < hops; h++) {
    toInternal(near_, pcm + h * hopIn, n8_, hfHop_);
    if (farEnd) toInternal(far_, farEnd + h * hopIn, f8_, nullptr);
    // events accumulate over the hops of the frame; kSpeech is the state at its end
    flags = (flags & ~static_cast<uint32_t>(kSpeech)) | hop(n8_, farEnd ? f8_ : nullptr);
  }
  samples_ += frameSamples_;
  out[kOutFlags] = flags;
  out[kOutScore] = feat_.score;
  out[kOutSpeechMs] = speaking_ ? ((samples_ - onset_) * 1000.0) / cfg_.sampleRate : 0;
  out[kOutOnset] = static_cast<double>(onset_);
  out[kOutEnd] = static_cast<double>(end_);
  out[kOutReached] = static_cast<double>(reached_);
  out[kOutSnrDb] = feat_.snrDb;
  out[kOutEchoDelayMs] = feat_.echoDelay >= 0 ? feat_.echoDelay * 10.0 : -1;
  out[kOutLastMs] = lastMs_;
  return flags;
}

}  // namespace vad
}  // namespace voxbridge
