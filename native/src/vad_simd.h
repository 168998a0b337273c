// Shared by the VAD's sources, included before their code: the arithmetic
// conventions (the TS fallback must be able to follow the C++ step for step) and
// 4-lane float vector helpers.
#pragma once

// Same arithmetic as JavaScript: no fused multiply-add (applies to the including
// file from here on).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
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

// sum of a[i] * b[i], n a multiple of 4
inline float dot4(const float* a, const float* b, int n) {
  v4 acc = splat(0);
  for (int i = 0; i < n; i += 4) acc += ld(a + i) * ld(b + i);
  return hsum(acc);
}

}  // namespace simd
}  // namespace vad
}  // namespace voxbridge
