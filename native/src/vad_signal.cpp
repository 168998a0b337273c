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

void SignalPath::reset() {
  lpX1_ = lpX2_ = lpY1_ = lpY2_ = 0;
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
// 4 kHz (the periodicity path); one loop, so that the recursions overlap.
VAD_HOT void SignalPath::filters(Channel& near, float* x, Channel& far, float* far8) {
  std::memmove(p4_, p4_ + kHop / 2, sizeof(float) * (kPitchHist - kHop / 2));
  float* p4 = p4_ + kPitchHist - kHop / 2;
  Channel& c = near;
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
    Channel& f = far;
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
VAD_HOT void SignalPath::bands(Channel& ch, const float* x, float* pow) {
  if (!pow) pow = ch.pow;
  const int first = kFft - ch.ringPos < kHop ? kFft - ch.ringPos : kHop;
  std::memcpy(ch.ring + ch.ringPos, x, sizeof(float) * first);
  std::memcpy(ch.ring, x + first, sizeof(float) * (kHop - first));
  ch.ringPos = (ch.ringPos + kHop) % kFft;
  const int n2 = kFft / 2;
  float* __restrict re = re_;
  float* __restrict im = im_;
  // oldest sample first, windowed (two contiguous runs of the ring), then into
  // bit-reversed order
  alignas(32) float w[kFft];
  const int start = ch.ringPos;  // a multiple of kHop, so a multiple of 8
  for (int n = 0; n < kFft - start; n += 8) VAD_ST8(w + n, VAD_LD8(ch.ring + start + n) * VAD_LD8(win_ + n));
  for (int n = kFft - start; n < kFft; n += 8) VAD_ST8(w + n, VAD_LD8(ch.ring + n - (kFft - start)) * VAD_LD8(win_ + n));
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
  for (int half = 8; half < n2; half *= 2) {
    for (int i = 0; i < n2; i += 2 * half) {
      for (int j = 0; j < half; j += 8) {
        const v8 wr = VAD_LD8(twr_ + half + j), wi = VAD_LD8(twi_ + half + j);
        float* pr = re + i + j;
        float* pi = im + i + j;
        const v8 qr = VAD_LD8(pr + half), qi = VAD_LD8(pi + half);
        const v8 tr = wr * qr - wi * qi;
        const v8 ti = wr * qi + wi * qr;
        const v8 ur = VAD_LD8(pr), ui = VAD_LD8(pi);
        VAD_ST8(pr + half, ur - tr);
        VAD_ST8(pi + half, ui - ti);
        VAD_ST8(pr, ur + tr);
        VAD_ST8(pi, ui + ti);
      }
    }
  }
  // the real spectrum from the complex one: X[k] = E[k] + W^k O[k]
  // (4 bins at a time: k = 3..118, kc = 128 - k read backwards; bin 118 is not used)
  const v4 half = splat(0.5f);
  for (int k = kEdges[0]; k < kEdges[kBandCount]; k += 4) {
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
    st(pow + k, xr * xr + xi * xi);
  }
  for (int b = 0; b < kBandCount; b++) {
    float s = 0;
    for (int k = kEdges[b]; k < kEdges[b + 1]; k++) s += pow[k];
    ch.band[b] = s;
  }
}

// Max normalized autocorrelation (60-400 Hz) of the LPC-whitened low band: even
// lags first, then the neighbours of the best one.
VAD_HOT double SignalPath::periodicity() {
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

}  // namespace vad
}  // namespace voxbridge
