// Standalone unit test of native/src/vad.cpp on synthetic signals (no Node):
//   native/test/run.sh
// A vowel-like source (glottal pulses with a gliding pitch through moving formant
// resonators, in syllables) must be detected and measured; silence, noise, a tone,
// clicks and the echo of the same "speech" must not barge in.
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <vector>

#include "speech_like.h"
#include "vad.h"

using namespace voxbridge::vad;

static int failures = 0;
#define CHECK(cond, ...)                                         \
  do {                                                           \
    if (!(cond)) {                                               \
      failures++;                                                \
      std::printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      std::printf(__VA_ARGS__);                                  \
      std::printf("\n");                                         \
    }                                                            \
  } while (0)

namespace {

using testsig::kPi;

struct Rng {  // xorshift, deterministic
  uint64_t s = 88172645463325252ull;
  double next() {  // uniform in [-1, 1)
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return (s >> 11) * (2.0 / 9007199254740992.0) - 1.0;
  }
};

using testsig::clip16;

using testsig::speechLike;

struct Result {
  int starts = 0, ends = 0, reached = 0;
  int firstStart = -1, firstReached = -1;  // frame index
  double onsetAtReach = -1, reachedSample = -1;
  std::vector<uint32_t> flags;
};

Result runVad(const Config& c, const std::vector<int16_t>& x, const std::vector<int16_t>* far = nullptr) {
  Vad v(c);
  Result r;
  double out[kOutCount];
  const size_t n = v.frameSamples();
  for (size_t i = 0, k = 0; i + n <= x.size(); i += n, k++) {
    const uint32_t f = v.process(&x[i], far ? &(*far)[i] : nullptr, out);
    r.flags.push_back(f);
    if (f & kSpeechStart) {
      if (r.starts++ == 0) r.firstStart = static_cast<int>(k);
    }
    if (f & kSpeechEnd) r.ends++;
    if (f & kDurationReached) {
      if (r.reached++ == 0) {
        r.firstReached = static_cast<int>(k);
        r.onsetAtReach = out[kOutOnset];
        r.reachedSample = out[kOutReached];
      }
    }
  }
  return r;
}

Config cfg(int rate, int frameMs, int d = 200) {
  Config c;
  c.sampleRate = rate;
  c.frameMs = frameMs;
  c.interruptMs = d;
  c.hangoverMs = 200;
  return c;
}

void testValidate() {
  CHECK(validate(cfg(16000, 20)) == Status::Ok, "defaults");
  CHECK(validate(cfg(44100, 20)) == Status::BadSampleRate, "44.1 kHz");
  CHECK(validate(cfg(16000, 25)) == Status::BadFrameMs, "25 ms");
  CHECK(validate(cfg(16000, 20, -1)) == Status::BadInterruptMs, "negative D");
  Config c = cfg(16000, 20);
  c.hangoverMs = 10;
  CHECK(validate(c) == Status::BadHangoverMs, "hangover");
  Vad v(cfg(8000, 30));
  CHECK(v.frameSamples() == 240, "8 kHz 30 ms frame = %d", v.frameSamples());
  CHECK(v.setInterruptMs(20000) == Status::BadInterruptMs, "setInterruptMs range");
}

void testSilenceAndNoise() {
  for (int rate : {8000, 16000, 48000}) {
    std::vector<int16_t> zero(rate * 3, 0);
    Result r = runVad(cfg(rate, 20), zero);
    CHECK(r.starts == 0, "silence at %d Hz started %d segments", rate, r.starts);
    Rng g;
    std::vector<int16_t> noise(rate * 10);
    for (auto& s : noise) s = clip16(300 * g.next());
    r = runVad(cfg(rate, 20), noise);
    CHECK(r.reached == 0, "white noise at %d Hz: %d barge-ins", rate, r.reached);
  }
}

void testSpeechDetectedAndMeasured() {
  for (int rate : {8000, 16000, 48000}) {
    for (int frameMs : {10, 20, 30}) {
      Rng g;
      auto x = speechLike(rate, 4, 1000, 2000, 180, 60, 3000);
      for (auto& s : x) s = clip16(s + 30 * g.next());
      for (int d : {0, 200, 500}) {
        Result r = runVad(cfg(rate, frameMs, d), x);
        CHECK(r.starts >= 1, "%d Hz %d ms: no speech", rate, frameMs);
        if (r.starts == 0) continue;
        const double startMs = (r.firstStart + 1) * frameMs;
        CHECK(startMs >= 1000 && startMs <= 1000 + 60 + frameMs, "%d Hz %d ms: start at %.0f ms", rate, frameMs, startMs);
        CHECK(r.reached >= 1, "%d Hz %d ms D=%d: never reached", rate, frameMs, d);
        if (r.reached == 0) continue;
        if (d == 0) {
          CHECK(r.firstReached == r.firstStart, "D=0 fires with the start");
        } else {
          const double due = r.onsetAtReach + d * (rate / 1000);
          const double endOfFrame = (r.firstReached + 1.0) * frameMs * (rate / 1000);
          CHECK(r.reachedSample == due, "reached sample %.0f, due %.0f", r.reachedSample, due);
          CHECK(endOfFrame >= due && endOfFrame - due <= frameMs * (rate / 1000), "%d Hz %d ms D=%d: fired %.0f samples after due",
                rate, frameMs, d, endOfFrame - due);
        }
        // continuous across the 60 ms gaps between syllables: one segment for the 2 s
        CHECK(r.starts == 1 && r.ends == 1, "%d Hz %d ms: %d starts %d ends", rate, frameMs, r.starts, r.ends);
      }
    }
  }
}

void testToneAndClicks() {
  const int rate = 16000;
  std::vector<int16_t> tone(rate * 8, 0);
  for (size_t i = 0; i < tone.size(); i++) {
    const double t = static_cast<double>(i) / rate;
    const bool on = std::fmod(t, 3.0) < 2.0;  // 2 s on, 1 s off
    tone[i] = on ? clip16(4000 * std::sin(2 * kPi * 1000 * t)) : 0;
  }
  Result r = runVad(cfg(rate, 20), tone);
  CHECK(r.reached == 0, "1 kHz tone: %d barge-ins", r.reached);

  Rng g;
  std::vector<int16_t> clicks(rate * 8, 0);
  for (auto& s : clicks) s = clip16(20 * g.next());
  for (size_t at = rate / 10; at + 200 < clicks.size(); at += rate / 7) {
    for (int i = 0; i < 120; i++) clicks[at + i] = clip16(clicks[at + i] + 20000 * std::exp(-i / 25.0) * g.next());
  }
  r = runVad(cfg(rate, 20), clicks);
  CHECK(r.reached == 0, "clicks: %d barge-ins", r.reached);
}

void testEcho() {
  const int rate = 16000;
  // the agent talks (far end); its echo comes back 100 ms later, 10 dB down
  auto far = speechLike(rate, 12, 200, 11000, 200, 80, 6000);
  std::vector<int16_t> near(far.size(), 0);
  const size_t delay = rate / 10;
  Rng g;
  for (size_t i = 0; i < near.size(); i++) near[i] = clip16((i >= delay ? 0.316 * far[i - delay] : 0) + 10 * g.next());
  Result r = runVad(cfg(rate, 20), near, &far);
  CHECK(r.reached == 0, "echo alone: %d barge-ins", r.reached);
  r = runVad(cfg(rate, 20), near);
  CHECK(r.reached >= 1, "the same audio without the far-end reference is speech (%d)", r.reached);
}

// A word whose first consonant is under the noise but in 4-8 kHz: white noise, then
// 120 ms of high-frequency noise (a fricative: about 5 dB over the noise in 4-8 kHz,
// 4 dB under it below 4 kHz), then the vowel. The narrow-band onset stage starts the
// segment on the fricative, before the vowel; the noise alone starts nothing, even at D = 0.
void testNarrowBandOnset() {
  const int rate = 16000;
  const double fricMs = 2500, vowelMs = 2620;
  Rng g, h;
  auto x = speechLike(rate, 4, vowelMs, 800, 180, 60, 4000);
  std::vector<int16_t> noise(x.size());
  double prev = 0;
  for (size_t i = 0; i < x.size(); i++) {
    const double t = i * 1000.0 / rate;
    const double w = h.next();
    const double fric = t >= fricMs && t < vowelMs ? 300 * (w - prev) : 0;
    prev = w;
    noise[i] = clip16(300 * g.next());
    x[i] = clip16(x[i] + noise[i] + fric);
  }
  Result r = runVad(cfg(rate, 20, 0), x);
  const double startMs = r.starts > 0 ? (r.firstStart + 1) * 20.0 : -1;
  CHECK(startMs >= fricMs && startMs < vowelMs, "fricative-initial word: start at %.0f ms (fricative %.0f, vowel %.0f)", startMs, fricMs, vowelMs);
  r = runVad(cfg(rate, 20, 0), noise);
  CHECK(r.starts == 0, "white noise alone: %d starts at D = 0", r.starts);
}

// The onset stage says which band's rise fired: a rise in 4-8 kHz alone gives kFiresHf
// (vad.cpp lets only that one start a segment over babble and music), a rise below
// 4 kHz gives kFires alone.
void testOnsetStageHfFire() {
  for (int risen : {16, 3}) {
    OnsetStage s;
    s.reset();
    Rng g;
    double db[OnsetStage::kBands];
    int fired = 0;
    for (int hop = 0; hop < 300; hop++) {
      for (int b = 0; b < OnsetStage::kBands; b++) db[b] = 40 + 2 * g.next();  // uniform +-2 dB: a spread of 1.15
      if (hop >= 250) db[risen] += 8;  // a rise of several spreads, held
      const int f = s.hop(db, OnsetStage::kBands, OnsetStage::Mode::Learn);
      CHECK(hop >= 250 || f == 0, "band %d: fired at hop %d on the learnt level alone", risen, hop);
      if (hop >= 250) fired |= f;
    }
    const int want = risen == 16 ? (OnsetStage::kFires | OnsetStage::kFiresHf) : OnsetStage::kFires;
    CHECK(fired == want, "a rise in band %d fires %d (want %d)", risen, fired, want);
  }
}

// The 4-8 kHz band fires on a smaller sum when its rise held (a fricative's), not on a
// click train: on a flat learnt level (spread 1 dB), a held rise of 2.2 dB fires on its
// 5th hop (the quick rule alone waits for the 6th); a 4 dB one-hop rise every 3 hops
// (clicks) fires nothing.
int firstHfFire(const std::vector<double>& rise) {
  OnsetStage s;
  s.reset();
  double db[OnsetStage::kBands];
  for (int hop = 0; hop < 200 + static_cast<int>(rise.size()); hop++) {
    for (int b = 0; b < OnsetStage::kBands; b++) db[b] = 40;
    if (hop >= 200) db[16] += rise[hop - 200];
    if (s.hop(db, OnsetStage::kBands, OnsetStage::Mode::Learn) & OnsetStage::kFiresHf) return hop - 200;
  }
  return -1;
}

void testOnsetStageHeldRise() {
  const int held = firstHfFire(std::vector<double>(12, 2.2));
  CHECK(held == 4, "a held 2.2-spread rise: first 4-8 kHz fire on hop %d (want 4, the 5th)", held);
  std::vector<double> clicks(60, 0);
  for (size_t i = 0; i < clicks.size(); i += 3) clicks[i] = 4;
  const int click = firstHfFire(clicks);
  CHECK(click == -1, "a click every 3 hops: 4-8 kHz fire on hop %d", click);
}

void testResetIsDeterministic() {
  auto x = speechLike(16000, 3, 500, 1500, 180, 60, 3000);
  Vad v(cfg(16000, 10));
  double out[kOutCount];
  std::vector<double> a, b;
  for (size_t i = 0; i + 160 <= x.size(); i += 160) a.push_back(v.process(&x[i], nullptr, out) + out[kOutSpeechMs]);
  v.reset();
  for (size_t i = 0; i + 160 <= x.size(); i += 160) b.push_back(v.process(&x[i], nullptr, out) + out[kOutSpeechMs]);
  CHECK(a == b, "reset then the same input gives the same output");
}

}  // namespace

int main() {
  testValidate();
  testSilenceAndNoise();
  testSpeechDetectedAndMeasured();
  testToneAndClicks();
  testEcho();
  testNarrowBandOnset();
  testOnsetStageHfFire();
  testOnsetStageHeldRise();
  testResetIsDeterministic();
  if (failures) {
    std::printf("vad_test: %d failure(s)\n", failures);
    return 1;
  }
  std::printf("vad_test: all passed\n");
  return 0;
}
