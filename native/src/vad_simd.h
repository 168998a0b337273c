// Shared by the VAD's sources, included before their code: the arithmetic
// conventions (the TS fallback must be able to follow the C++ step for step) and
// 4- and 8-lane float vector helpers, and the per-hop functions' CPU clones.
#pragma once
#include <cstddef>  // defines __GLIBC__ where it applies

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

}  // namespace simd
}  // namespace vad
}  // namespace voxbridge
