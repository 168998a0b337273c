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
// kOddOnly: out gets the odd outputs only (40).
// (Inlined: a function of its own would be compiled for the baseline only.)
template <bool kOddOnly = false>
__attribute__((always_inline)) inline void biquadHop(const BiquadBlock& q, BiquadState& st, const float* in, float* out) {
  constexpr int kBlocks = kHop / 8;
  // the FIR part, then its path through the all-pole part within each block; the
  // shifted inputs are made in registers from the block and the one before it (the
  // two previous samples in front of the first block, 8 zeros in front of the FIR
  // part, read only where g is 0): loads across two recent stores would wait for them.
  // (8 at a time: 16-lane shifts are slow without AVX-512.)
  alignas(32) float yf[kHop];
  v8 xprev = {0, 0, 0, 0, 0, 0, st.x2, st.x1}, uprev = {0, 0, 0, 0, 0, 0, 0, 0};
  const v8 g0 = VAD_LD8(q.g[0]), g1 = VAD_LD8(q.g[1]), g2 = VAD_LD8(q.g[2]), g3 = VAD_LD8(q.g[3]);
  const v8 g4 = VAD_LD8(q.g[4]), g5 = VAD_LD8(q.g[5]), g6 = VAD_LD8(q.g[6]), g7 = VAD_LD8(q.g[7]);
  for (int m = 0; m < kHop; m += 8) {
    const v8 x = VAD_LD8(in + m);
    const v8 x1 = __builtin_shufflevector(xprev, x, 7, 8, 9, 10, 11, 12, 13, 14);
    const v8 x2 = __builtin_shufflevector(xprev, x, 6, 7, 8, 9, 10, 11, 12, 13);
    const v8 u = q.b0 * x + q.b1 * x1 + q.b2 * x2;
    v8 acc = g0 * u;
    acc += g1 * __builtin_shufflevector(uprev, u, 7, 8, 9, 10, 11, 12, 13, 14);
    acc += g2 * __builtin_shufflevector(uprev, u, 6, 7, 8, 9, 10, 11, 12, 13);
    acc += g3 * __builtin_shufflevector(uprev, u, 5, 6, 7, 8, 9, 10, 11, 12);
    acc += g4 * __builtin_shufflevector(uprev, u, 4, 5, 6, 7, 8, 9, 10, 11);
    acc += g5 * __builtin_shufflevector(uprev, u, 3, 4, 5, 6, 7, 8, 9, 10);
    acc += g6 * __builtin_shufflevector(uprev, u, 2, 3, 4, 5, 6, 7, 8, 9);
    acc += g7 * __builtin_shufflevector(uprev, u, 1, 2, 3, 4, 5, 6, 7, 8);
    VAD_ST8(yf + m, acc);
    xprev = x;
    uprev = u;
  }
  st.x2 = in[kHop - 2];
  st.x1 = in[kHop - 1];
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
  if constexpr (kOddOnly) {
    // the odd outputs only (40), 8 at a time from two blocks
    for (int b = 0; b < kBlocks; b += 2) {
      const v8 y0 = VAD_LD8(yf + 8 * b) + (p1 * s1[b] + p2 * s2[b]);
      const v8 y1 = VAD_LD8(yf + 8 * b + 8) + (p1 * s1[b + 1] + p2 * s2[b + 1]);
      VAD_ST8(out + 4 * b, __builtin_shufflevector(y0, y1, 1, 3, 5, 7, 9, 11, 13, 15));
    }
  } else {
    for (int b = 0; b < kBlocks; b++) VAD_ST8(out + 8 * b, VAD_LD8(yf + 8 * b) + (p1 * s1[b] + p2 * s2[b]));
  }
}

// Two radix-2 stages of the FFT on 4 vectors of 16 at re/im + {0, s, 2s, 3s}: pairs
// 0-1 and 2-3 with twiddles at ta, then 0-2 at tb and 1-3 at tc (offsets into the
// twiddle tables), in registers; each butterfly the same operations as one stage
// at a time.
__attribute__((always_inline)) inline void twoStages(float* re, float* im, int s, const float* twr, const float* twi,
                                                     int ta, int tb, int tc) {
  v16 r[4], i[4];
  for (int k = 0; k < 4; k++) {
    r[k] = VAD_LD16(re + k * s);
    i[k] = VAD_LD16(im + k * s);
  }
  // (u, q) -> (u + w q, u - w q)
  auto bfly = [&](int u, int q, int t) __attribute__((always_inline)) {
    const v16 wr = VAD_LD16(twr + t), wi = VAD_LD16(twi + t);
    const v16 tr = wr * r[q] - wi * i[q];
    const v16 ti = wr * i[q] + wi * r[q];
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
    VAD_ST16(re + k * s, r[k]);
    VAD_ST16(im + k * s, i[k]);
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
  for (int n = 0; n < kFft / 2; n++) {
    winRe_[n] = static_cast<float>(0.5 - 0.5 * std::cos((2 * kPi * (2 * n)) / kFft));
    winIm_[n] = static_cast<float>(0.5 - 0.5 * std::cos((2 * kPi * (2 * n + 1)) / kFft));
  }
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
// 16-tap FIR over the odd ones plus the centre tap, 16 outputs at a time.
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
      // (4 lanes summed in order over the block, the products 8 at a time)
      v4 acc = splat(0);
      for (int u = 0; u < kBlk; u += 8) {
        const v8 e = VAD_LD8(ev + t0 + u), o = VAD_LD8(od + t0 + u), o1 = VAD_LD8(od + t0 + u - 1);
        const v8 d0 = e - o1, d1 = o - e;
        const v8 p = d0 * d0 + d1 * d1;
        acc += __builtin_shufflevector(p, p, 0, 1, 2, 3);
        acc += __builtin_shufflevector(p, p, 4, 5, 6, 7);
      }
      hfOut[j] = hsum(acc);
    }
  }
  // out[m] = h[15] x[16 + 2m] + sum_q h[2q] x[31 + 2m - 2q], x[2t] = ev[t], x[2t + 1] = od[t]
  const float hc = h2_[(kFir2 - 1) / 2];
  for (int m = 0; m < kHop; m += 16) {
    v16 acc = hc * VAD_LD16(ev + kHalfHist / 2 + 1 + m);
    for (int q = 0; q <= kHalfHist; q++) acc += h2_[2 * q] * VAD_LD16(od + kHalfHist + m - q);
    VAD_ST16(out8 + m, acc);
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
  // near end: high-pass in place, then the low-pass of its output (its odd samples)
  biquadHop(hp_, near.hp, x, x);
  biquadHop<true>(lp_, lpState_, x, p4);
  if (far8) biquadHop(hp_, far.hp, far8, far8);
}

// Appends a hop to the channel's window and computes its 16 band energies: a real
// 256-point FFT (Hann) as a complex 128-point FFT of (even, odd) pairs, in float.
VAD_HOT void SignalPath::bands(Channel& ch, const float* x, float* pow) {
  if (!pow) pow = ch.pow;
  // the hop into the ring as 40 complex values (even, odd samples); the ring's rows
  // of 8 never wrap (40 and 128 are multiples of 8)
  constexpr int n2 = kFft / 2;
  for (int j = 0; j < kHop / 2; j += 8) {
    const v8 a = VAD_LD8(x + 2 * j), b = VAD_LD8(x + 2 * j + 8);
    const int p = (ch.ringPos + j) & (n2 - 1);
    VAD_ST8(ch.ringRe + p, __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14));
    VAD_ST8(ch.ringIm + p, __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15));
  }
  ch.ringPos = (ch.ringPos + kHop / 2) & (n2 - 1);
  const int start = ch.ringPos;  // the oldest value
  float* __restrict re = re_;
  float* __restrict im = im_;
  // The first four radix-2 stages, 8 butterflies at a time, in registers, on the
  // windowed values in their natural order (no bit-reversal pass): complex value
  // n = 8 m + l is row m, lane l. The first two stages (twiddles 1 and -i: no products)
  // take r = 8 B + l and r + 32, r + 64, r + 96 (rows B, B + 4, B + 8, B + 12) to
  // outputs e = 4 rev5(r) + k, k = 0..3 (the bit-reversed order); the third pairs r
  // with r + 16 (B with B + 2), the fourth e with e + 8 (B = 0 with 1, 2 with 3). Output
  // e = 16 rev3(l) + 4 rev2(B) + k: row B's 4 vectors k, transposed per 4 lanes, are 4
  // values in a row for each lane. Each value comes from the same operations as in one
  // butterfly at a time (twr_[half + j] = cos(2 pi j / size)).
  v8 pr[4][4], pi[4][4];  // [B][k]
  auto row = [&](int m, v8& zr, v8& zi) __attribute__((always_inline)) {
    const int at = (start + 8 * m) & (n2 - 1);
    zr = VAD_LD8(ch.ringRe + at) * VAD_LD8(winRe_ + 8 * m);
    zi = VAD_LD8(ch.ringIm + at) * VAD_LD8(winIm_ + 8 * m);
  };
  for (int b = 0; b < 4; b++) {
    v8 z0r, z0i, z1r, z1i, z2r, z2i, z3r, z3i;  // r, r + 32, r + 64, r + 96
    row(b, z0r, z0i);
    row(b + 4, z1r, z1i);
    row(b + 8, z2r, z2i);
    row(b + 12, z3r, z3i);
    const v8 ar = z0r + z2r, ai = z0i + z2i;
    const v8 br = z0r - z2r, bi = z0i - z2i;
    const v8 cr = z1r + z3r, ci = z1i + z3i;
    const v8 dr = z1r - z3r, di = z1i - z3i;
    pr[b][0] = ar + cr, pi[b][0] = ai + ci;
    pr[b][2] = ar - cr, pi[b][2] = ai - ci;
    pr[b][1] = br + di, pi[b][1] = bi - dr;  // b + (-i) d
    pr[b][3] = br - di, pi[b][3] = bi + dr;
  }
  // rows u and q, vector k: (u, q) -> (u + w q, u - w q), twiddle t
  auto bfly = [&](int u, int q, int k, int t) __attribute__((always_inline)) {
    const float wr = twr_[t], wi = twi_[t];
    const v8 tr = wr * pr[q][k] - wi * pi[q][k];
    const v8 ti = wr * pi[q][k] + wi * pr[q][k];
    pr[q][k] = pr[u][k] - tr;
    pi[q][k] = pi[u][k] - ti;
    pr[u][k] = pr[u][k] + tr;
    pi[u][k] = pi[u][k] + ti;
  };
  // the third: B = 0 with 2, 1 with 3 (twiddle k); the fourth: B = 0 with 1 (k), 2 with
  // 3 (4 + k)
  for (int k = 0; k < 4; k++) {
    bfly(0, 2, k, 4 + k);
    bfly(1, 3, k, 4 + k);
  }
  for (int k = 0; k < 4; k++) {
    bfly(0, 1, k, 8 + k);
    bfly(2, 3, k, 12 + k);
  }
  // rev3(l) * 16 for lane l, and rev2(B) * 4
  constexpr int kLane[8] = {0, 64, 32, 96, 16, 80, 48, 112};
  constexpr int kRow[4] = {0, 8, 4, 12};
  auto put = [&](float* out, const v8* p, int b) __attribute__((always_inline)) {
    const v8 t0 = __builtin_shufflevector(p[0], p[1], 0, 8, 1, 9, 4, 12, 5, 13);
    const v8 t1 = __builtin_shufflevector(p[0], p[1], 2, 10, 3, 11, 6, 14, 7, 15);
    const v8 t2 = __builtin_shufflevector(p[2], p[3], 0, 8, 1, 9, 4, 12, 5, 13);
    const v8 t3 = __builtin_shufflevector(p[2], p[3], 2, 10, 3, 11, 6, 14, 7, 15);
    const v8 c[4] = {__builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13),
                     __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15),
                     __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13),
                     __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15)};
    for (int j = 0; j < 4; j++) {  // c[j]: lane j's 4 values, then lane j + 4's
      st(out + kLane[j] + kRow[b], __builtin_shufflevector(c[j], c[j], 0, 1, 2, 3));
      st(out + kLane[j + 4] + kRow[b], __builtin_shufflevector(c[j], c[j], 4, 5, 6, 7));
    }
  };
  for (int b = 0; b < 4; b++) {
    put(re, pr[b], b);
    put(im, pi[b], b);
  }
  // the fifth stage (outputs e and e + 16 of each 32), 16 butterflies at a time
  for (int blk = 0; blk < n2; blk += 32) {
    const v16 wr = VAD_LD16(twr_ + 16), wi = VAD_LD16(twi_ + 16);
    const v16 qr = VAD_LD16(re + blk + 16), qi = VAD_LD16(im + blk + 16);
    const v16 tr = wr * qr - wi * qi;
    const v16 ti = wr * qi + wi * qr;
    const v16 ur = VAD_LD16(re + blk), ui = VAD_LD16(im + blk);
    VAD_ST16(re + blk + 16, ur - tr);
    VAD_ST16(im + blk + 16, ui - ti);
    VAD_ST16(re + blk, ur + tr);
    VAD_ST16(im + blk, ui + ti);
  }
  // the last two (sizes 64 and 128) on each set of 16 columns c, c + 32, c + 64, c + 96
  for (int c = 0; c < 32; c += 16) twoStages(re + c, im + c, 32, twr_ + c, twi_ + c, 32, 64, 96);
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
  // residual e[n] for n = 4..kPitchHist-1 -> res_[0..kRes-1], 8 at a time (then 4)
  const float a1 = static_cast<float>(a[1]), a2 = static_cast<float>(a[2]);
  const float a3 = static_cast<float>(a[3]), a4 = static_cast<float>(a[4]);
  static_assert(kRes % 8 == 4, "18 vectors of 8, then one of 4");
  for (int n = 4; n + 8 <= kPitchHist; n += 8) {
    VAD_ST8(res_ + n - 4, VAD_LD8(p4_ + n) + a1 * VAD_LD8(p4_ + n - 1) + a2 * VAD_LD8(p4_ + n - 2) +
                              a3 * VAD_LD8(p4_ + n - 3) + a4 * VAD_LD8(p4_ + n - 4));
  }
  {
    const int n = kPitchHist - 4;
    st(res_ + n - 4, ld(p4_ + n) + splat(a1) * ld(p4_ + n - 1) + splat(a2) * ld(p4_ + n - 2) + splat(a3) * ld(p4_ + n - 3) +
                         splat(a4) * ld(p4_ + n - 4));
  }
  const int n0 = kRes - kPitchWin;
  const float* cur = res_ + n0;
  // Every dot product below is 4 chains of products (one per lane, each summed in
  // order) and then hsum, as dot4 does; several run side by side, so that no add waits
  // on the one before: the window's energy, the first lagged window's, and the last
  // even lag's correlation; then the other even lags, 4 at a time
  static_assert((kLagMax - 1 - kLagMin) % 8 == 0 && kLagMax % 2 == 1, "groups of 4 even lags, then kLagMax - 1");
  constexpr int kEven = (kLagMax - kLagMin) / 2 + 1;
  double e0, e1[kLagMax + 2], even[kLagMax + 1];
  {
    v4 s0 = splat(0), s1 = splat(0), s2 = splat(0);
    for (int i = 0; i < kPitchWin; i += 4) {
      const v4 c = ld(cur + i), l = ld(cur - kLagMin + i);
      s0 += c * c;
      s1 += l * l;
      s2 += c * ld(cur - kLagMax + 1 + i);
    }
    e0 = hsum(s0);
    e1[kLagMin] = hsum(s1);
    even[kLagMax - 1] = hsum(s2);
  }
  if (e0 <= 0) return 0;
  for (int g = kLagMin; g < kLagMax - 1; g += 8) {
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
  // the energies of the lagged windows, sliding from kLagMin up
  for (int lag = kLagMin + 1; lag <= kLagMax; lag++) {
    const float in = res_[n0 - lag], out = res_[kRes - lag];
    e1[lag] = e1[lag - 1] + in * in - out * out;
  }
  auto norm = [&](int l, double s) { return s <= 0 ? 0.0 : (s * s) / (e0 * e1[l] + 1e-30); };
  // the even lags' norm 8 at a time (the same operations per lane; 3 lanes of padding
  // give 0), then the largest, at the first lag that has it (as a scan that keeps a
  // value only when it is larger: the divisions do not wait on one another, nor on a
  // branch that is hard to predict)
  typedef double v8d __attribute__((vector_size(64)));
  constexpr int kEvenVec = (kEven + 7) & ~7;
  alignas(64) double se[kEvenVec], ee[kEvenVec], cn[kEvenVec];
  for (int t = 0; t < kEvenVec; t++) {
    se[t] = t < kEven ? even[kLagMin + 2 * t] : 0;
    ee[t] = t < kEven ? e1[kLagMin + 2 * t] : 1;
  }
  v8d mx = {};
  for (int t = 0; t < kEvenVec; t += 8) {
    v8d sv, ev;
    std::memcpy(&sv, se + t, sizeof sv);
    std::memcpy(&ev, ee + t, sizeof ev);
    const v8d c = sv <= 0 ? v8d{} : (sv * sv) / (e0 * ev + 1e-30);
    std::memcpy(cn + t, &c, sizeof c);
    mx = c > mx ? c : mx;
  }
  double best = 0;
  for (int j = 0; j < 8; j++) best = mx[j] > best ? mx[j] : best;
  int bestLag = 0;
  if (best > 0) {
    int t = 0;
    while (cn[t] != best) t++;
    bestLag = kLagMin + 2 * t;
  }
  if (bestLag == 0) return 0;
  // the odd lags next to the best (bestLag - 1 is out of range at kLagMin: computed,
  // not used)
  {
    v4 s0 = splat(0), s1 = splat(0);
    for (int i = 0; i < kPitchWin; i += 4) {
      const v4 c = ld(cur + i);
      s0 += c * ld(cur - (bestLag - 1) + i);
      s1 += c * ld(cur - (bestLag + 1) + i);
    }
    const double below = hsum(s0), above = hsum(s1);
    if (bestLag - 1 >= kLagMin) {
      const double c = norm(bestLag - 1, below);
      if (c > best) best = c;
    }
    if (bestLag + 1 <= kLagMax) {
      const double c = norm(bestLag + 1, above);
      if (c > best) best = c;
    }
  }
  return std::sqrt(best);
}

}  // namespace vad
}  // namespace voxbridge
