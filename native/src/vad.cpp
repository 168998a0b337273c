// Voice-activity detector; see vad.h for the pipeline. Every step is mirrored in
// src/native/vadFallback.ts: change both together. The signal path here is float
// with 4-lane vectors (GCC/Clang vector extensions), the TS side is double: the
// parity test compares decisions frame by frame, and scores to within 1e-3.
// Work skipped here that cannot change a decision: the vetoes/periodicity on hops
// that the SNR and sustain gates already zero, and a far end of digital silence.
// CPU (bench:vad, 16 kHz): ~1.7 us per 10 ms hop; the FFT is ~35 % of it.
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
constexpr int kSpecEnd = 120;  // kEdges[kBands] rounded up to whole 4-bin vectors
constexpr double kMinFloorPerBin = 1e-8;  // about int16 quantization noise per bin
constexpr double kFloorBias = 2.0;        // minimum statistics underestimate the mean
constexpr double kFarActive = 0.01;       // far-end band energy sum (~ -60 dBFS)
constexpr int kWarmHops = 100;            // far-end-active hops before the echo estimate is trusted
constexpr double kEchoPrior = 2.0;        // echo gain assumed before that (+3 dB)
constexpr double kEchoMargin = 4.0;       // near-end must exceed predicted echo by 6 dB
constexpr double kEchoLeak = 0.25;        // share of a neighbouring band's echo a codec moves over (-6 dB)
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
// A segment's own hops, from its onset to its start, are learnt as segment hops (not at
// the fast rate of quiet hops) when the background was quiet and learnt before the onset:
// otherwise the user's first syllable makes a quiet room look busy to the rest of the
// segment (see relearnSegmentStart).
constexpr int kBgSettled = 100;           // warm hops learnt before the onset
constexpr double kStartPeak = 0.95;
constexpr int kFarSkip = 4;               // silent far-end hops after which it is skipped       // two spectral peaks holding this share: a tone, no start

// 4-lane float vectors (GCC/Clang vector extensions: SSE on x86-64, NEON on arm64).
typedef float v4 __attribute__((vector_size(16)));
typedef float v4u __attribute__((vector_size(16), aligned(4)));  // unaligned access
inline v4 ld(const float* p) { return *reinterpret_cast<const v4u*>(p); }
inline void st(float* p, v4 v) { *reinterpret_cast<v4u*>(p) = v; }
inline v4 splat(float x) { return v4{x, x, x, x}; }
inline float hsum(v4 v) { return (v[0] + v[1]) + (v[2] + v[3]); }

// sum of a[i] * b[i], n a multiple of 4
inline float dot4(const float* a, const float* b, int n) {
  v4 acc = splat(0);
  for (int i = 0; i < n; i += 4) acc += ld(a + i) * ld(b + i);
  return hsum(acc);
}

// 10 log10(x) for x > 0, to ~1e-6 dB: exponent from the bits, log2 of the mantissa
// (in [sqrt(1/2), sqrt(2))) by the atanh series. src/native/vadFallback.ts has the same.
inline double db10(double x) {
  uint64_t bits;
  std::memcpy(&bits, &x, 8);
  int e = static_cast<int>((bits >> 52) & 0x7ff) - 1023;
  bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
  double m;
  std::memcpy(&m, &bits, 8);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    e++;
  }
  const double t = (m - 1) / (m + 1);
  const double t2 = t * t;
  const double ln = 2 * t * (1 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7 + t2 * (1.0 / 9)))));
  return 4.342944819032518 * (ln + e * 0.6931471805599453);
}

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
  double h1[kFir1], h2[kFir2], hb[3], ha[3], lb[3], la[3];
  designLowpass(h1, kFir1, 5000, 48000);
  designLowpass(h2, kFir2, 4000, 16000);
  // half-band: every other tap is zero (exactly, which the sinc only approximates)
  for (int i = 1; i < kFir2; i += 2)
    if (i != (kFir2 - 1) / 2) h2[i] = 0;
  designBiquad(hb, ha, 100, 8000, true);
  designBiquad(lb, la, 1000, 8000, false);
  for (int i = 0; i < kFir1; i++) h1_[i] = static_cast<float>(h1[i]);
  for (int i = 0; i < kFir2; i++) h2_[i] = static_cast<float>(h2[i]);
  for (int i = 0; i < 3; i++) {
    hpB_[i] = static_cast<float>(hb[i]);
    hpA_[i] = static_cast<float>(ha[i]);
    lpB_[i] = static_cast<float>(lb[i]);
    lpA_[i] = static_cast<float>(la[i]);
  }
  for (int i = 0; i < kFft; i++) win_[i] = static_cast<float>(0.5 - 0.5 * std::cos((2 * kPi * i) / kFft));
  for (int k = 0; k < kFft / 2 + 4; k++) {
    cos_[k] = static_cast<float>(std::cos((2 * kPi * k) / kFft));
    sin_[k] = static_cast<float>(std::sin((2 * kPi * k) / kFft));
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
  for (int d = 0; d < kFarHist; d++)
    for (int b = 0; b < kBands; b++) spurtHist_[d][b] = 0;
  spurtPos_ = 0;
  farRun_ = 0;
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
  bgHops_ = 0;
  for (int j = 0; j < kBgHist; j++) {
    bgHistDb_[j] = bgHistVar_[j] = bgHistLvl_[j] = 0;
    bgHistSpeech_[j] = false;
    bgHistHop_[j] = -1;
  }
  speechRun_ = 0;
  candGap_ = 0;
  fgQuiet_ = 0;
  lastFgEnd_ = 0;
  segVoiced_ = 0;
  prevVoicedFg_ = false;
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
// 16 kHz is kept as its even and odd samples: the half-band filter is then a plain
// 16-tap FIR over the odd ones plus the centre tap, 4 outputs at a time.
void Vad::toInternal(Channel& ch, const int16_t* pcm, float* out8, double* hfOut) {
  const float scale = 1.0f / 32768;
  if (decim_ == 1) {
    for (int i = 0; i < kHop; i++) out8[i] = pcm[i] * scale;
    return;
  }
  float* ev = ch.ev;
  float* od = ch.od;
  if (decim_ == 2) {
    for (int t = 0; t < kHop; t++) {
      ev[kHalfHist + t] = pcm[2 * t] * scale;
      od[kHalfHist + t] = pcm[2 * t + 1] * scale;
    }
  } else {
    // 48 kHz -> 16 kHz: x1 holds kFir1 - 1 old samples, then 480 new
    float* x1 = ch.x1;
    for (int i = 0; i < 6 * kHop; i++) x1[kFir1 - 1 + i] = pcm[i] * scale;
    for (int m = 0; m < 2 * kHop; m++) {
      const int top = kFir1 - 1 + 3 * m + 2;
      float acc = 0;
      for (int j = 0; j < kFir1; j++) acc += h1_[j] * x1[top - j];
      if (m & 1)
        od[kHalfHist + (m >> 1)] = acc;
      else
        ev[kHalfHist + (m >> 1)] = acc;
    }
    for (int i = 0; i < kFir1 - 1; i++) x1[i] = x1[6 * kHop + i];
  }
  if (hfOut) {
    // 4-8 kHz: energy of the differentiated 16 kHz signal per 2 ms block
    for (int j = 0; j < kHop / kBlk; j++) {
      const int t0 = kHalfHist + kBlk * j;
      v4 acc = splat(0);
      for (int u = 0; u < kBlk; u += 4) {
        const v4 e = ld(ev + t0 + u), o = ld(od + t0 + u), o1 = ld(od + t0 + u - 1);
        const v4 d0 = e - o1, d1 = o - e;
        acc += d0 * d0 + d1 * d1;
      }
      hfOut[j] = hsum(acc);
    }
  }
  // out[m] = h[15] x[16 + 2m] + sum_q h[2q] x[31 + 2m - 2q], x[2t] = ev[t], x[2t + 1] = od[t]
  const v4 hc = splat(h2_[(kFir2 - 1) / 2]);
  for (int m = 0; m < kHop; m += 4) {
    v4 acc = hc * ld(ev + kHalfHist / 2 + 1 + m);
    for (int q = 0; q <= kHalfHist; q++) acc += splat(h2_[2 * q]) * ld(od + kHalfHist + m - q);
    st(out8 + m, acc);
  }
  for (int i = 0; i < kHalfHist; i++) {
    ev[i] = ev[kHop + i];
    od[i] = od[kHop + i];
  }
}

// 100 Hz high-pass of both paths, and the 1 kHz low-pass of the near end kept at
// 4 kHz (the periodicity path); one loop, so that the recursions overlap.
void Vad::filters(float* x, float* far8) {
  std::memmove(p4_, p4_ + kHop / 2, sizeof(float) * (kPitchHist - kHop / 2));
  float* p4 = p4_ + kPitchHist - kHop / 2;
  Channel& c = near_;
  float hx1 = c.hpX1, hx2 = c.hpX2, hy1 = c.hpY1, hy2 = c.hpY2;
  float lx1 = lpX1_, lx2 = lpX2_, ly1 = lpY1_, ly2 = lpY2_;
  const float b0 = hpB_[0], b1 = hpB_[1], b2 = hpB_[2], a1 = hpA_[1], a2 = hpA_[2];
  const float c0 = lpB_[0], c1 = lpB_[1], c2 = lpB_[2], d1 = lpA_[1], d2 = lpA_[2];
  // two samples per step (the state variables swap roles instead of moving)
  for (int i = 0; i < kHop; i += 2) {
    const float x0 = x[i], x1 = x[i + 1];
    const float y0 = (b0 * x0 + b1 * hx1 + b2 * hx2 - a2 * hy2) - a1 * hy1;
    const float y1 = (b0 * x1 + b1 * x0 + b2 * hx1 - a2 * hy1) - a1 * y0;
    x[i] = y0;
    x[i + 1] = y1;
    const float l0 = (c0 * y0 + c1 * lx1 + c2 * lx2 - d2 * ly2) - d1 * ly1;
    const float l1 = (c0 * y1 + c1 * y0 + c2 * lx1 - d2 * ly1) - d1 * l0;
    p4[i >> 1] = l1;
    hx2 = x0, hx1 = x1, hy2 = y0, hy1 = y1;
    lx2 = y0, lx1 = y1, ly2 = l0, ly1 = l1;
  }
  c.hpX1 = hx1, c.hpX2 = hx2, c.hpY1 = hy1, c.hpY2 = hy2;
  lpX1_ = lx1, lpX2_ = lx2, lpY1_ = ly1, lpY2_ = ly2;
  if (far8) {
    Channel& f = far_;
    hx1 = f.hpX1, hx2 = f.hpX2, hy1 = f.hpY1, hy2 = f.hpY2;
    for (int i = 0; i < kHop; i += 2) {
      const float x0 = far8[i], x1 = far8[i + 1];
      const float y0 = (b0 * x0 + b1 * hx1 + b2 * hx2 - a2 * hy2) - a1 * hy1;
      const float y1 = (b0 * x1 + b1 * x0 + b2 * hx1 - a2 * hy1) - a1 * y0;
      far8[i] = y0;
      far8[i + 1] = y1;
      hx2 = x0, hx1 = x1, hy2 = y0, hy1 = y1;
    }
    f.hpX1 = hx1, f.hpX2 = hx2, f.hpY1 = hy1, f.hpY2 = hy2;
  }
}

// Appends a hop to the channel's window and computes its 16 band energies: a real
// 256-point FFT (Hann) as a complex 128-point FFT of (even, odd) pairs, in float.
void Vad::bands(Channel& ch, const float* x) {
  const int first = kFft - ch.ringPos < kHop ? kFft - ch.ringPos : kHop;
  std::memcpy(ch.ring + ch.ringPos, x, sizeof(float) * first);
  std::memcpy(ch.ring, x + first, sizeof(float) * (kHop - first));
  ch.ringPos = (ch.ringPos + kHop) % kFft;
  const int n2 = kFft / 2;
  float* __restrict re = re_;
  float* __restrict im = im_;
  // oldest sample first, windowed (two contiguous runs of the ring), then into
  // bit-reversed order
  alignas(16) float w[kFft];
  const int start = ch.ringPos;  // a multiple of kHop, so a multiple of 4
  for (int n = 0; n < kFft - start; n += 4) st(w + n, ld(ch.ring + start + n) * ld(win_ + n));
  for (int n = kFft - start; n < kFft; n += 4) st(w + n, ld(ch.ring + n - (kFft - start)) * ld(win_ + n));
  for (int i = 0; i < n2; i++) {
    const int r = rev_[i];
    re[r] = w[2 * i];
    im[r] = w[2 * i + 1];
  }
  // the first two radix-2 stages at once (twiddles 1 and -i: no products)
  for (int g = 0; g < n2; g += 4) {
    const float ar = re[g] + re[g + 1], ai = im[g] + im[g + 1];
    const float br = re[g] - re[g + 1], bi = im[g] - im[g + 1];
    const float cr = re[g + 2] + re[g + 3], ci = im[g + 2] + im[g + 3];
    const float dr = re[g + 2] - re[g + 3], di = im[g + 2] - im[g + 3];
    re[g] = ar + cr, im[g] = ai + ci;
    re[g + 2] = ar - cr, im[g + 2] = ai - ci;
    re[g + 1] = br + di, im[g + 1] = bi - dr;  // b + (-i) d
    re[g + 3] = br - di, im[g + 3] = bi + dr;
  }
  // the other stages, 4 butterflies at a time; twr_[half + j] = cos(2 pi j / size)
  for (int half = 4; half < n2; half *= 2) {
    for (int i = 0; i < n2; i += 2 * half) {
      for (int j = 0; j < half; j += 4) {
        const v4 wr = ld(twr_ + half + j), wi = ld(twi_ + half + j);
        float* pr = re + i + j;
        float* pi = im + i + j;
        const v4 qr = ld(pr + half), qi = ld(pi + half);
        const v4 tr = wr * qr - wi * qi;
        const v4 ti = wr * qi + wi * qr;
        const v4 ur = ld(pr), ui = ld(pi);
        st(pr + half, ur - tr);
        st(pi + half, ui - ti);
        st(pr, ur + tr);
        st(pi, ui + ti);
      }
    }
  }
  // the real spectrum from the complex one: X[k] = E[k] + W^k O[k]
  // (4 bins at a time: k = 3..118, kc = 128 - k read backwards; bin 118 is not used)
  const v4 half = splat(0.5f);
  for (int k = kEdges[0]; k < kEdges[kBands]; k += 4) {
    const int kc = n2 - k - 3;  // k in 3..115, so kc in 10..122
    const v4 zr = ld(re + k), zi = ld(im + k);
    const v4 cr = __builtin_shufflevector(ld(re + kc), ld(re + kc), 3, 2, 1, 0);
    const v4 ci = -__builtin_shufflevector(ld(im + kc), ld(im + kc), 3, 2, 1, 0);
    const v4 er = half * (zr + cr), ei = half * (zi + ci);
    const v4 orr = half * (zr - cr), oi = half * (zi - ci);
    // odd part: -i * (orr + i oi) = oi - i orr, times exp(-2 pi i k / 256)
    const v4 wr = ld(cos_ + k), wi = -ld(sin_ + k);
    const v4 xr = er + (oi * wr + orr * wi);
    const v4 xi = ei + (oi * wi - orr * wr);
    st(ch.pow + k, xr * xr + xi * xi);
  }
  for (int b = 0; b < kBands; b++) {
    float s = 0;
    for (int k = kEdges[b]; k < kEdges[b + 1]; k++) s += ch.pow[k];
    ch.band[b] = s;
  }
}

// Max normalized autocorrelation (60-400 Hz) of the LPC-whitened low band: even
// lags first, then the neighbours of the best one.
double Vad::periodicity() {
  // order-4 LPC by Levinson-Durbin on the whole history
  double r[5];
  for (int l = 0; l <= 4; l++) {
    const int n = (kPitchHist - l) & ~3;
    float s = dot4(p4_ + l, p4_, n);
    for (int i = l + n; i < kPitchHist; i++) s += p4_[i] * p4_[i - l];
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
  const v4 a1 = splat(static_cast<float>(a[1])), a2 = splat(static_cast<float>(a[2]));
  const v4 a3 = splat(static_cast<float>(a[3])), a4 = splat(static_cast<float>(a[4]));
  for (int n = 4; n < kPitchHist; n += 4) {
    st(res_ + n - 4, ld(p4_ + n) + a1 * ld(p4_ + n - 1) + a2 * ld(p4_ + n - 2) + a3 * ld(p4_ + n - 3) + a4 * ld(p4_ + n - 4));
  }
  const int n0 = kRes - kPitchWin;
  const float* cur = res_ + n0;
  const double e0 = dot4(cur, cur, kPitchWin);
  if (e0 <= 0) return 0;
  // energies of the lagged windows, sliding from kLagMin up
  double e1[kLagMax + 2];
  e1[kLagMin] = dot4(cur - kLagMin, cur - kLagMin, kPitchWin);
  for (int lag = kLagMin + 1; lag <= kLagMax; lag++) {
    const float in = res_[n0 - lag], out = res_[kRes - lag];
    e1[lag] = e1[lag - 1] + in * in - out * out;
  }
  auto corr = [&](int lag) {
    const double s = dot4(cur, cur - lag, kPitchWin);
    return s <= 0 ? 0.0 : (s * s) / (e0 * e1[lag] + 1e-30);
  };
  double best = 0;
  int bestLag = 0;
  for (int lag = kLagMin; lag <= kLagMax; lag += 2) {
    const double c = corr(lag);
    if (c > best) {
      best = c;
      bestLag = lag;
    }
  }
  if (bestLag == 0) return 0;
  for (int lag = bestLag - 1; lag <= bestLag + 1; lag += 2) {
    if (lag < kLagMin || lag > kLagMax) continue;
    const double c = corr(lag);
    if (c > best) best = c;
  }
  return std::sqrt(best);
}

// One 10 ms hop at 8 kHz (both buffers are filtered in place).
// far8: the far end's hop, or nullptr when it is silent (or not given: farGiven).
uint32_t Vad::hop(float* near8, float* far8, bool farGiven) {
  uint32_t flags = 0;
  filters(near8, far8);
  bands(near_, near8);
  // 2 ms block energies below 1 kHz (the newest 40 samples of the 4 kHz path)
  double lpE = 0;
  for (int j = 0; j < kHop / kBlk; j++) {
    const float* v = p4_ + kPitchHist - kHop / 2 + (kBlk / 2) * j;
    const double s = dot4(v, v, kBlk / 2);
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
    const double s = dot4(near8 + kBlk * j, near8 + kBlk * j, kBlk);
    blk_[blkPos_] = s;
    blkPos_ = (blkPos_ + 1) % kBlocks;
    hopE += s;
  }

  // far end: band history and echo estimate
  bool farActive = false;
  if (farGiven) {
    // a silent far end (digital zero for a while) has no bands: no FFT for it
    if (far8)
      bands(far_, far8);
    else
      for (int b = 0; b < kBands; b++) far_.band[b] = 0;
    farPos_ = (farPos_ + 1) % kFarHist;
    double tot = 0;
    for (int b = 0; b < kBands; b++) {
      farHist_[farPos_][b] = far_.band[b];
      tot += far_.band[b];
    }
    farTot_[farPos_] = tot;
    // the same bands in "talk-spurt time": advanced only by hops that carry far-end
    // samples, so across a silence it still holds the end of the last spurt
    if (far8 && far_.silentHops == 0) {
      spurtPos_ = (spurtPos_ + 1) % kFarHist;
      for (int b = 0; b < kBands; b++) spurtHist_[spurtPos_][b] = far_.band[b];
    }
    for (int d = 0; d < kDelays; d++) {
      if (farTot_[(farPos_ - d + kFarHist) % kFarHist] > kFarActive) {
        farActive = true;
        break;
      }
    }
  }
  farRun_ = farGiven && far_.silentHops == 0 ? farRun_ + 1 : 0;
  if (farActive) {
    flags |= kFarEndActive;
    // the echo path is learnt while the near end is not talking (no double talk) and,
    // once the delay is known, only inside a talk spurt whose echo has had time to
    // arrive: not in its first delay + spread hops, nor once the far end is silent
    // (an echo path that pauses with the far end, a playout buffer, plays the tail
    // of a spurt only when the next one starts)
    const bool settled = farActiveHops_ < kWarmHops || echoDelay_ < 0 || farRun_ > echoDelay_ + kEchoSpread;
    if (!speaking_ && settled) echoUpdate();
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
        // the delay moves by a frame or two between talk spurts (the reference is the
        // frame most recently sent): +-kEchoSpread hops around the estimate; and the
        // echo may be held over a silence: the spurt history at the same delays.
        // Lossy codecs on the echo path (Opus out to the user, Opus back) move energy
        // into the neighbouring bands (MDCT spreading, CELT band folding): the far end
        // of those bands counts at kEchoLeak.
        double mx = 0;
        const int b0 = b > 0 ? b - 1 : 0;
        const int b1 = b < kBands - 1 ? b + 1 : b;
        for (int d = echoDelay_ - kEchoSpread; d <= echoDelay_ + kEchoSpread; d++) {
          if (d < 0) continue;
          for (int bb = b0; bb <= b1; bb++) {
            const double wgt = bb == b ? 1.0 : kEchoLeak;
            const double v = farHist_[(farPos_ - d + kFarHist) % kFarHist][bb] * wgt;
            if (v > mx) mx = v;
            const double w = spurtHist_[(spurtPos_ - d + kFarHist) % kFarHist][bb] * wgt;
            if (w > mx) mx = w;
          }
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
      const double db = db10(g);
      snrSum += db < 30 ? db : 30;
    }
    shape[b] = db10(near_.band[b] + floor_[b]);
    shapeMean += shape[b];
  }
  if (decim_ > 1) {
    // 4-8 kHz counts as kHfWeight bands, when it is not the agent's echo
    if (!farActive && hfFloor_ > 0) {
      const double g = hfE / hfFloor_;
      if (g > 1) {
        const double db = db10(g);
        snrSum += kHfWeight * (db < 30 ? db : 30);
      }
    }
    shape[kBands] = db10(hfE + hfFloor_ + 1e-12);
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
    fgDb = db10(1 + rs / fs) - bgDb_;
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
  float* slot = powRing_[h % kRing];
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
  // a voiced hop for D: periodic, standing out, not a tone, with some speech evidence
  // even if under the speech threshold (a vowel's edge next to a consonant cluster:
  // "ex|cuse" over an active far end, where the 4-8 kHz band does not count)
  const bool voicedFg = harm >= voicedHarm && score >= kVoicedScore && fgDb >= fgThr && peak < kStartPeak;
  if (warm) {
    // (kept per hop for relearnSegmentStart: the background before this hop's update,
    // the hop's level over the floor, whether it was speech)
    const int slot = static_cast<int>((hop8_ - 1) % kBgHist);
    bgHistDb_[slot] = bgDb_;
    bgHistVar_[slot] = bgVar_;
    bgHistLvl_[slot] = fgDb + bgDb_;
    bgHistSpeech_[slot] = isSpeech;
    bgHistHop_[slot] = hop8_ - 1;
    bgHops_++;
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
    // the voiced hop just before the first speech hop belongs to the segment
    segVoiced_ = prevVoicedFg_ ? 1 : 0;
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
      if (voicedFg) segVoiced_++;
      if (speechRun_ >= kStartHops) {
        speaking_ = true;
        reachedFired_ = false;
        quietRun_ = 0;
        fgQuiet_ = 0;
        onset_ = candOnset_;
        reached_ = -1;
        flags |= kSpeechStart;
        relearnSegmentStart();
      }
    } else if (speechRun_ > 0 && ++candGap_ > kCandGap) {
      speechRun_ = 0;
      segVoiced_ = 0;
    } else if (speechRun_ > 0 && voicedFg) {
      segVoiced_++;
    }
  } else {
    if (voicedFg) segVoiced_++;
    if (isFg) {
      fgQuiet_ = 0;
      lastFgEnd_ = hopEnd;
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
  prevVoicedFg_ = voicedFg;
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

// At a segment start: when the background was quiet (not busy) and learnt before the
// onset, the hops from the onset on are learnt again as segment hops (slowly, unless
// non-speech close to the background), from the background as it was before them.
void Vad::relearnSegmentStart() {
  const int64_t last = hop8_ - 1;  // this hop
  const int64_t first = onset_ / (static_cast<int64_t>(decim_) * kHop);
  if (first < 0 || last - first >= kBgHist) return;
  const int s0 = static_cast<int>(first % kBgHist);
  if (bgHistHop_[s0] != first || bgHops_ - (last - first + 1) < kBgSettled) return;
  if (bgHistDb_[s0] > kBgFree) return;
  double bg = bgHistDb_[s0];
  double v = bgHistVar_[s0];
  for (int64_t h = first; h <= last; h++) {
    const int k = static_cast<int>(h % kBgHist);
    if (bgHistHop_[k] != h) continue;
    const double fg = bgHistLvl_[k] - bg;
    const double a = !bgHistSpeech_[k] && fg < kFgLearn ? kBgFast : kBgSlow;
    bg += a * fg;
    v += a * (fg * fg - v);
  }
  bgDb_ = bg;
  bgVar_ = v;
}

// Normalized correlation of the fine spectra of hops h and h - lag (0 before the stream).
double Vad::specCorr(int64_t h, int lag) const {
  if (h - lag < 0) return 0;
  const float* cur = powRing_[h % kRing];
  const float* old = powRing_[(h - lag) % kRing];
  // bins outside kEdges[0]..kEdges[kBands] are 0 in the ring: whole vectors from bin 0
  v4 s = splat(0), sxx = splat(0), syy = splat(0);
  for (int k = 0; k < kSpecEnd; k += 4) {
    const v4 c = ld(cur + k), o = ld(old + k);
    s += c * o;
    sxx += c * c;
    syy += o * o;
  }
  const double xx = hsum(sxx), yy = hsum(syy);
  return xx > 0 && yy > 0 ? hsum(s) / std::sqrt(xx * yy) : 0;
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
double Vad::peakShare(const float* cur) const {
  v4 acc = splat(0);
  for (int k = 0; k < kSpecEnd; k += 4) acc += ld(cur + k);
  const double tot = hsum(acc);
  float best = 0, best2 = 0;
  int k1 = 0;
  for (int k = kEdges[0] + 1; k < kEdges[kBands] - 1; k++) {
    const float s3 = cur[k - 1] + cur[k] + cur[k + 1];
    if (s3 > best) {
      best = s3;
      k1 = k;
    }
  }
  for (int k = kEdges[0] + 1; k < kEdges[kBands] - 1; k++) {
    if (k > k1 - 3 && k < k1 + 3) continue;
    const float s3 = cur[k - 1] + cur[k] + cur[k + 1];
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
  // no positive correlation at any delay once the path is known (the user's own onset,
  // with no echo on the line): keep the delay, whose gains then go to 0, rather than
  // fall back to the warm-up prior (a +3 dB echo of the loudest far end) that masks
  // the user for the rest of the segment
  if (best < 0 && farActiveHops_ > kWarmHops && echoDelay_ >= 0) best = echoDelay_;
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
    bool farLive = false;
    if (farEnd) {
      // the far end while the agent is silent: after kFarSkip hops of digital zero
      // its filters and window hold (almost exactly) zeros; skip its processing
      const int16_t* f = farEnd + h * hopIn;
      int nz = 0;
      for (int i = 0; i < hopIn; i++) nz |= f[i];
      far_.silentHops = nz ? 0 : far_.silentHops + 1;
      if (far_.silentHops == kFarSkip + 1) resetChannel(far_), far_.silentHops = kFarSkip + 1;
      farLive = far_.silentHops <= kFarSkip;
      if (farLive) toInternal(far_, f, f8_, nullptr);
    }
    // events accumulate over the hops of the frame; kSpeech is the state at its end
    flags = (flags & ~static_cast<uint32_t>(kSpeech)) | hop(n8_, farLive ? f8_ : nullptr, farEnd != nullptr);
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
