// Shared by the VAD's sources, included before their code: the arithmetic
// conventions (the TS fallback must be able to follow the C++ step for step) and
// 4- and 8-lane float vector helpers, dB of 4 or 8 doubles, and the per-hop
// functions' CPU clones.
#pragma once
#include <cstddef>  // defines __GLIBC__ where it applies
#include <cstring>

// Same arithmetic as JavaScript: no fused multiply-add (applies to the including
// file from here on).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

// VAD_HOT marks the per-hop functions (on their definitions): GCC compiles each
// for x86-64-v4 (AVX-512: more vector registers, masked tails; GCC still prefers
// 256-bit vectors there), x86-64-v3 (AVX2: 8 floats or 4 doubles per instruction,
// 3-operand forms) and the baseline, and the loader picks one by the CPU (GNU
// ifunc: glibc on x86-64). All give the same bits: the same operations per element
// and no fused multiply-add. Elsewhere, and with clang (whose multiversioning needs
// the attribute on every declaration), one baseline build.
#if defined(__x86_64__) && defined(__ELF__) && defined(__GLIBC__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(VOXBRIDGE_VAD_BASELINE_ONLY)
#define VAD_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VAD_HOT
#endif

namespace voxbridge {
namespace vad {
namespace simd {

// 4-lane float vectors (GCC/Clang vector extensions: SSE on x86-64, NEON on arm64).
typedef float v4 __attribute__((vector_size(16)));
typedef float v4u __attribute__((vector_size(16), aligned(4)));  // unaligned access
inline v4 ld(const float* p) { return *reinterpret_cast<const v4u*>(p); }
inline void st(float* p, v4 v) { *reinterpret_cast<v4u*>(p) = v; }
inline v4 splat(float x) { return v4{x, x, x, x}; }
inline float hsum(v4 v) { return (v[0] + v[1]) + (v[2] + v[3]); }
inline v4 vmax(v4 a, v4 b) { return a > b ? a : b; }
inline float hmax(v4 v) {
  const float x = v[0] > v[1] ? v[0] : v[1], y = v[2] > v[3] ? v[2] : v[3];
  return x > y ? x : y;
}

// 8-lane vectors for element-wise loops: one AVX instruction in the x86-64-v3 clone,
// two SSE ones in the baseline (same bits either way). Loads and stores are macros:
// a function taking or returning one has a different ABI with and without AVX (GCC
// warns, clang refuses to compile it in the baseline).
typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));
#define VAD_LD8(p) (*reinterpret_cast<const ::voxbridge::vad::simd::v8u*>(p))
#define VAD_ST8(p, v) (*reinterpret_cast<::voxbridge::vad::simd::v8u*>(p) = (v))

// 16-lane vectors, the same way: one AVX-512 instruction in the x86-64-v4 clone (on
// a CPU with full-width AVX-512 units, twice the work of an AVX one per cycle), two AVX
// ones in the x86-64-v3 clone, four SSE ones in the baseline (same bits in all). For
// element-wise work, loads and stores only: without AVX-512, GCC lowers any shuffle of
// a 16-lane vector (even two 8-lane ones put side by side) lane by lane.
typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));
#define VAD_LD16(p) (*reinterpret_cast<const ::voxbridge::vad::simd::v16u*>(p))
#define VAD_ST16(p, v) (*reinterpret_cast<::voxbridge::vad::simd::v16u*>(p) = (v))

// sum of a[i] * b[i], n a multiple of 4
inline float dot4(const float* a, const float* b, int n) {
  v4 acc = splat(0);
  for (int i = 0; i < n; i += 4) acc += ld(a + i) * ld(b + i);
  return hsum(acc);
}

// 10 log10(x) for x > 0, to ~1e-6 dB, of 4 or 8 values at once: exponent from
// the bits, log2 of the mantissa (in [sqrt(1/2), sqrt(2))) by the atanh series. Per
// lane the same operations as db10 in src/native/vadMath.ts (the exponent as an
// exact double, its branch as a blend), so each value is bit for bit a scalar one's.
typedef double v4d __attribute__((vector_size(32)));
typedef unsigned long long v4q __attribute__((vector_size(32)));
typedef double v8d __attribute__((vector_size(64)));
typedef unsigned long long v8q __attribute__((vector_size(64)));
template <typename vd, typename vq>
__attribute__((always_inline)) inline void db10v(const double* in, double* out) {
  static_assert(sizeof(vd) == sizeof(vq) && sizeof(vd) > sizeof(double), "vectors of doubles and of their bits");
  vd x;
  std::memcpy(&x, in, sizeof x);
  vq bits;
  std::memcpy(&bits, &x, sizeof x);
  // 2^52 + biased exponent, as a double: minus 2^52 + 1023 is e, exactly
  vq eb = ((bits >> 52) & 0x7ffull) | 0x4330000000000000ull;
  vd e;
  std::memcpy(&e, &eb, sizeof e);
  e = (e - 4503599627370496.0) - 1023.0;
  vq mb = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
  vd m;
  std::memcpy(&m, &mb, sizeof m);
  const vq big = reinterpret_cast<vq>(m > 1.4142135623730951);
  const vd half = m * 0.5;
  const vq one = reinterpret_cast<vq>(vd{} + 1.0);
  m = reinterpret_cast<vd>((reinterpret_cast<vq>(half) & big) | (reinterpret_cast<vq>(m) & ~big));
  e = e + reinterpret_cast<vd>(one & big);
  const vd t = (m - 1.0) / (m + 1.0);
  const vd t2 = t * t;
  const vd ln = 2.0 * t * (1.0 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7 + t2 * (1.0 / 9)))));
  const vd r = 4.342944819032518 * (ln + e * 0.6931471805599453);
  std::memcpy(out, &r, sizeof r);
}

}  // namespace simd
}  // namespace vad
}  // namespace voxbridge
