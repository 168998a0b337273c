// Signal path of the VAD; see vad_signal.h. Mirrored in src/native/vadSignal.ts
// (in double: the parity test compares decisions, and scores to within 1e-3).
#include "vad_signal.h"

#include <cmath>

#include "vad_simd.h"

namespace voxbridge {
namespace vad {

using namespace simd;

namespace {

constexpr double kPi = 3.141592653589793;

// Bit reversal of the 128-point complex FFT's indices, at compile time: the loops
// over it below are unrolled into loads and stores at constant offsets.
struct BitRev {
  int v[kFft / 2];
  constexpr BitRev() : v() {
    for (int i = 0; i < kFft / 2; i++) {
      int r = 0;
      for (int b = 0; b < 7; b++) r |= ((i >> b) & 1) << (6 - b);
      v[i] = r;
    }
  }
};
constexpr BitRev kRev;

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

void BiquadBlock::design(const double* b, const double* a) {
  b0 = static_cast<float>(b[0]);
  b1 = static_cast<float>(b[1]);
  b2 = static_cast<float>(b[2]);
  double h[8], r1[8], r2[8];
  for (int k = 0; k < 8; k++) {
    const double h1 = k >= 1 ? h[k - 1] : 0, h2 = k >= 2 ? h[k - 2] : 0;
    h[k] = (k == 0 ? 1 : 0) - a[1] * h1 - a[2] * h2;
    // zero input from y[-1] = 1 (r1) and from y[-2] = 1 (r2)
    r1[k] = -a[1] * (k >= 1 ? r1[k - 1] : 1) - a[2] * (k >= 2 ? r1[k - 2] : (k == 1 ? 1 : 0));
    r2[k] = -a[1] * (k >= 1 ? r2[k - 1] : 0) - a[2] * (k >= 2 ? r2[k - 2] : (k == 1 ? 0 : 1));
  }
  for (int j = 0; j < 8; j++)
    for (int k = 0; k < 8; k++) g[j][k] = k >= j ? static_cast<float>(h[j]) : 0;
  for (int k = 0; k < 8; k++) {
    p1[k] = static_cast<float>(r1[k]);
    p2[k] = static_cast<float>(r2[k]);
  }
}

namespace {

// One biquad over a hop in 8-sample blocks: in -> out (may be the same buffer), the
// state carried over. The recursion carries only each block's last two outputs
// (scalar, the same operations as their vector lanes), so it waits for one product
// and two sums per block; the rest is vector work off that path.
inline void biquadHop(const BiquadBlock& q, BiquadState& st, const float* in, float* out) {
  constexpr int kBlocks = kHop / 8;
  // the input with its two previous samples in front (xp[6], xp[7]); then its FIR
  // part, with 8 zeros in front (read only where g is 0)
  alignas(32) float xp[8 + kHop], up[8 + kHop];
  xp[6] = st.x2;
  xp[7] = st.x1;
  for (int m = 0; m < kHop; m += 8) VAD_ST8(xp + 8 + m, VAD_LD8(in + m));
  st.x2 = in[kHop - 2];
  st.x1 = in[kHop - 1];
  for (int j = 0; j < 8; j++) up[j] = 0;
  for (int m = 0; m < kHop; m += 8)
    VAD_ST8(up + 8 + m, q.b0 * VAD_LD8(xp + 8 + m) + q.b1 * VAD_LD8(xp + 7 + m) + q.b2 * VAD_LD8(xp + 6 + m));
  alignas(32) float yf[kHop];
  for (int m = 0; m < kHop; m += 8) {
    v8 acc = VAD_LD8(q.g[0]) * VAD_LD8(up + 8 + m);
    for (int j = 1; j < 8; j++) acc += VAD_LD8(q.g[j]) * VAD_LD8(up + 8 + m - j);
    VAD_ST8(yf + m, acc);
  }
  float s1[kBlocks], s2[kBlocks];  // the state each block starts from
  float y1 = st.y1, y2 = st.y2;
  for (int b = 0; b < kBlocks; b++) {
    s1[b] = y1;
    s2[b] = y2;
    const float n1 = yf[8 * b + 7] + (q.p1[7] * y1 + q.p2[7] * y2);
    const float n2 = yf[8 * b + 6] + (q.p1[6] * y1 + q.p2[6] * y2);
    y1 = n1;
    y2 = n2;
  }
  st.y1 = y1;
  st.y2 = y2;
  const v8 p1 = VAD_LD8(q.p1), p2 = VAD_LD8(q.p2);
  for (int b = 0; b < kBlocks; b++) VAD_ST8(out + 8 * b, VAD_LD8(yf + 8 * b) + (p1 * s1[b] + p2 * s2[b]));
}

// Two radix-2 stages of the FFT on 4 vectors at re/im + {0, s, 2s, 3s}: pairs 0-1
// and 2-3 with twiddles at ta, then 0-2 at tb and 1-3 at tc (offsets into the
// twiddle tables), in registers; each butterfly the same operations as one stage
// at a time.
__attribute__((always_inline)) inline void twoStages(float* re, float* im, int s, const float* twr, const float* twi,
                                                     int ta, int tb, int tc) {
  v8 r[4], i[4];
  for (int k = 0; k < 4; k++) {
    r[k] = VAD_LD8(re + k * s);
    i[k] = VAD_LD8(im + k * s);
  }
  // (u, q) -> (u + w q, u - w q)
  auto bfly = [&](int u, int q, int t) __attribute__((always_inline)) {
    const v8 wr = VAD_LD8(twr + t), wi = VAD_LD8(twi + t);
    const v8 tr = wr * r[q] - wi * i[q];
    const v8 ti = wr * i[q] + wi * r[q];
    r[q] = r[u] - tr;
    i[q] = i[u] - ti;
    r[u] = r[u] + tr;
    i[u] = i[u] + ti;
  };
  bfly(0, 1, ta);
  bfly(2, 3, ta);
  bfly(0, 2, tb);
  bfly(1, 3, tc);
  for (int k = 0; k < 4; k++) {
    VAD_ST8(re + k * s, r[k]);
    VAD_ST8(im + k * s, i[k]);
  }
}

}  // namespace

SignalPath::SignalPath(int sampleRate) {
  decim_ = sampleRate / 8000;
  groupDelay_ = sampleRate == 8000 ? 0 : (sampleRate == 16000 ? 14 : 51);
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
  hp_.design(hb, ha);
  lp_.design(lb, la);
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
  reset();
}

void SignalPath::reset() {
  lpState_ = BiquadState{0, 0, 0, 0};
  for (int i = 0; i < kPitchHist; i++) p4_[i] = 0;
}

// n input samples (one hop: 80 * decim) -> 80 samples at 8 kHz, scaled to [-1, 1).
// 16 kHz is kept as its even and odd samples: the half-band filter is then a plain
// 16-tap FIR over the odd ones plus the centre tap, 4 outputs at a time.
VAD_HOT void SignalPath::toInternal(Channel& ch, const int16_t* pcm, float* out8, double* hfOut) {
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
  const float hc = h2_[(kFir2 - 1) / 2];
  for (int m = 0; m < kHop; m += 8) {
    v8 acc = hc * VAD_LD8(ev + kHalfHist / 2 + 1 + m);
    for (int q = 0; q <= kHalfHist; q++) acc += h2_[2 * q] * VAD_LD8(od + kHalfHist + m - q);
    VAD_ST8(out8 + m, acc);
  }
  for (int i = 0; i < kHalfHist; i++) {
    ev[i] = ev[kHop + i];
    od[i] = od[kHop + i];
  }
}

// 100 Hz high-pass of both paths, and the 1 kHz low-pass of the near end kept at
// 4 kHz (the periodicity path).
VAD_HOT void SignalPath::filters(Channel& near, float* x, Channel& far, float* far8) {
  std::memmove(p4_, p4_ + kHop / 2, sizeof(float) * (kPitchHist - kHop / 2));
  float* p4 = p4_ + kPitchHist - kHop / 2;
  // near end: high-pass in place, then the low-pass of its output
  alignas(32) float lo[kHop];
  biquadHop(hp_, near.hp, x, x);
  biquadHop(lp_, lpState_, x, lo);
  for (int i = 0; i < kHop / 2; i++) p4[i] = lo[2 * i + 1];
  if (far8) biquadHop(hp_, far.hp, far8, far8);
}

// Appends a hop to the channel's window and computes its 16 band energies: a real
// 256-point FFT (Hann) as a complex 128-point FFT of (even, odd) pairs, in float.
VAD_HOT void SignalPath::bands(Channel& ch, const float* x, float* pow) {
  if (!pow) pow = ch.pow;
  const int first = kFft - ch.ringPos < kHop ? kFft - ch.ringPos : kHop;
  std::memcpy(ch.ring + ch.ringPos, x, sizeof(float) * first);
  std::memcpy(ch.ring, x + first, sizeof(float) * (kHop - first));
  ch.ringPos = (ch.ringPos + kHop) % kFft;
  const int n2 = kFft / 2;
  float* __restrict re = re_;
  float* __restrict im = im_;
  // oldest sample first, windowed (two contiguous runs of the ring)
  alignas(32) float w[kFft];
  const int start = ch.ringPos;  // a multiple of kHop, so a multiple of 8
  for (int n = 0; n < kFft - start; n += 8) VAD_ST8(w + n, VAD_LD8(ch.ring + start + n) * VAD_LD8(win_ + n));
  for (int n = kFft - start; n < kFft; n += 8) VAD_ST8(w + n, VAD_LD8(ch.ring + n - (kFft - start)) * VAD_LD8(win_ + n));
  // into bit-reversed order and through the first two radix-2 stages at once
  // (twiddles 1 and -i: no products), in registers: group g's inputs are the
  // windowed pairs at 2 kRev[g..g+3] (kRev is its own inverse)
#pragma GCC unroll 32
  for (int g = 0; g < n2; g += 4) {
    const int i0 = 2 * kRev.v[g], i1 = 2 * kRev.v[g + 1], i2 = 2 * kRev.v[g + 2], i3 = 2 * kRev.v[g + 3];
    const float ar = w[i0] + w[i1], ai = w[i0 + 1] + w[i1 + 1];
    const float br = w[i0] - w[i1], bi = w[i0 + 1] - w[i1 + 1];
    const float cr = w[i2] + w[i3], ci = w[i2 + 1] + w[i3 + 1];
    const float dr = w[i2] - w[i3], di = w[i2 + 1] - w[i3 + 1];
    re[g] = ar + cr, im[g] = ai + ci;
    re[g + 2] = ar - cr, im[g + 2] = ai - ci;
    re[g + 1] = br + di, im[g + 1] = bi - dr;  // b + (-i) d
    re[g + 3] = br - di, im[g + 3] = bi + dr;
  }
  // the other stages, 4 (then 8) butterflies at a time; twr_[half + j] = cos(2 pi j / size)
  for (int i = 0; i < n2; i += 8) {
    const v4 wr = ld(twr_ + 4), wi = ld(twi_ + 4);
    float* pr = re + i;
    float* pi = im + i;
    const v4 qr = ld(pr + 4), qi = ld(pi + 4);
    const v4 tr = wr * qr - wi * qi;
    const v4 ti = wr * qi + wi * qr;
    const v4 ur = ld(pr), ui = ld(pi);
    st(pr + 4, ur - tr);
    st(pi + 4, ui - ti);
    st(pr, ur + tr);
    st(pi, ui + ti);
  }
  // the last four stages two at a time (twr_[half + j] = cos(2 pi j / size)): sizes 16
  // and 32 on each 32-point block (4 vectors), then sizes 64 and 128 on each set of 8
  // columns c, c + 32, c + 64, c + 96
  for (int blk = 0; blk < n2; blk += 32) twoStages(re + blk, im + blk, 8, twr_, twi_, 8, 16, 24);
  for (int c = 0; c < 32; c += 8) twoStages(re + c, im + c, 32, twr_ + c, twi_ + c, 32, 64, 96);
  // the real spectrum from the complex one: X[k] = E[k] + W^k O[k]
  // (8 bins at a time: k = 3..122, kc = 128 - k read backwards; bins 118..122 are
  // written but not used)
  for (int k = kEdges[0]; k < kEdges[kBandCount]; k += 8) {
    const int kc = n2 - k - 7;  // k in 3..115, so kc in 6..118
    const v8 zr = VAD_LD8(re + k), zi = VAD_LD8(im + k);
    const v8 rc = VAD_LD8(re + kc), ic = VAD_LD8(im + kc);
    const v8 cr = __builtin_shufflevector(rc, rc, 7, 6, 5, 4, 3, 2, 1, 0);
    const v8 ci = -__builtin_shufflevector(ic, ic, 7, 6, 5, 4, 3, 2, 1, 0);
    const v8 er = 0.5f * (zr + cr), ei = 0.5f * (zi + ci);
    const v8 orr = 0.5f * (zr - cr), oi = 0.5f * (zi - ci);
    // odd part: -i * (orr + i oi) = oi - i orr, times exp(-2 pi i k / 256)
    const v8 wr = VAD_LD8(cos_ + k), wi = -VAD_LD8(sin_ + k);
    const v8 xr = er + (oi * wr + orr * wi);
    const v8 xi = ei + (oi * wi - orr * wr);
    VAD_ST8(pow + k, xr * xr + xi * xi);
  }
  for (int k = kEdges[kBandCount]; k < kSpecEnd + 3; k++) pow[k] = 0;  // (written by the last 8 bins)
#pragma GCC unroll 16
  for (int b = 0; b < kBandCount; b++) {
    float s = 0;
#pragma GCC unroll 17
    for (int k = kEdges[b]; k < kEdges[b + 1]; k++) s += pow[k];
    ch.band[b] = s;
  }
}

// Max normalized autocorrelation (60-400 Hz) of the LPC-whitened low band: even
// lags first, then the neighbours of the best one.
VAD_HOT double SignalPath::periodicity() {
  // order-4 LPC by Levinson-Durbin on the whole history
  double r[5];
  {
    // dot4(p4_ + l, p4_, n_l) for the 5 lags in one pass: 5 independent chains, each
    // the same operations as its own dot4 (n_l = 152, 148, 148, 148, 148)
    v4 acc[5] = {splat(0), splat(0), splat(0), splat(0), splat(0)};
    for (int i = 0; i < kPitchHist - 4; i += 4) {
      const v4 b = ld(p4_ + i);
      for (int l = 0; l <= 4; l++) acc[l] += ld(p4_ + l + i) * b;
    }
    acc[0] += ld(p4_ + kPitchHist - 4) * ld(p4_ + kPitchHist - 4);
    for (int l = 0; l <= 4; l++) {
      const int n = (kPitchHist - l) & ~3;
      float s = hsum(acc[l]);
      for (int i = l + n; i < kPitchHist; i++) s += p4_[i] * p4_[i - l];
      r[l] = s;
    }
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
  auto norm = [&](int lag, double s) { return s <= 0 ? 0.0 : (s * s) / (e0 * e1[lag] + 1e-30); };
  auto corr = [&](int lag) { return norm(lag, dot4(cur, cur - lag, kPitchWin)); };
  // the even lags 4 at a time: 4 independent chains (a single one waits on each
  // add), each the same operations as its own dot4
  double even[kLagMax + 1];
  int g = kLagMin;
  for (; g + 6 <= kLagMax; g += 8) {
    v4 s0 = splat(0), s1 = splat(0), s2 = splat(0), s3 = splat(0);
    for (int i = 0; i < kPitchWin; i += 4) {
      const v4 c = ld(cur + i);
      s0 += c * ld(cur - g + i);
      s1 += c * ld(cur - g - 2 + i);
      s2 += c * ld(cur - g - 4 + i);
      s3 += c * ld(cur - g - 6 + i);
    }
    even[g] = hsum(s0);
    even[g + 2] = hsum(s1);
    even[g + 4] = hsum(s2);
    even[g + 6] = hsum(s3);
  }
  for (; g <= kLagMax; g += 2) even[g] = dot4(cur, cur - g, kPitchWin);
  double best = 0;
  int bestLag = 0;
  for (int lag = kLagMin; lag <= kLagMax; lag += 2) {
    const double c = norm(lag, even[lag]);
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

}  // namespace vad
}  // namespace voxbridge
