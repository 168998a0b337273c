// A vowel-like test source for the native tests (vad_test, voice_rx_test): glottal
// pulses with a gliding pitch through moving formants, in syllables. Header-only.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace testsig {

constexpr double kPi = 3.141592653589793;

inline int16_t clip16(double v) { return static_cast<int16_t>(v > 32767 ? 32767 : (v < -32768 ? -32768 : std::lround(v))); }

struct Resonator {  // two-pole resonator
  double y1 = 0, y2 = 0;
  double run(double x, double f, double bw, double fs) {
    const double r = std::exp(-kPi * bw / fs);
    const double y = (1 - r) * x + 2 * r * std::cos(2 * kPi * f / fs) * y1 - r * r * y2;
    y2 = y1;
    y1 = y;
    return y;
  }
};

// Syllables of a vowel-like sound: `syll` ms on, `gap` ms off, from `startMs` for `lenMs`.
inline std::vector<int16_t> speechLike(int rate, double seconds, double startMs, double lenMs, double syll, double gap,
                                double level) {
  std::vector<int16_t> out(static_cast<size_t>(seconds * rate));
  Resonator f1, f2, f3;
  double phase = 0;
  for (size_t i = 0; i < out.size(); i++) {
    const double t = i * 1000.0 / rate;
    double env = 0;
    if (t >= startMs && t < startMs + lenMs) {
      const double u = std::fmod(t - startMs, syll + gap);
      if (u < syll) env = std::sin(kPi * u / syll);
      env = env > 0.3 ? 1 : env / 0.3;
    }
    const double f0 = 120 + 50 * std::sin(2 * kPi * t / 900.0);  // gliding pitch
    phase += f0 / rate;
    double pulse = 0;
    if (phase >= 1) {
      phase -= 1;
      pulse = 1;
    }
    const double a = 500 + 250 * std::sin(2 * kPi * t / 310.0);  // moving formants
    const double b = 1500 + 600 * std::sin(2 * kPi * t / 430.0);
    double v = f1.run(pulse, a, 80, rate);
    v = v + 0.6 * f2.run(pulse, b, 120, rate) + 0.3 * f3.run(pulse, 2600, 200, rate);
    out[i] = clip16(level * env * v);
  }
  return out;
}

}  // namespace testsig
