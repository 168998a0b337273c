// CPU of native/src/vad.cpp on raw PCM16 mono files (no Node), for profiling:
//   g++ -O3 -Inative/src native/test/vad_perf.cpp native/src/vad*.cpp -o /tmp/vad_perf
//   /tmp/vad_perf 16000 near.raw [far.raw]      # µs per second of audio
//   valgrind --tool=callgrind /tmp/vad_perf ...  # where the time goes
// "hash" is FNV-1a over the bytes of every frame's outputs: two builds agree on it
// when they agree on every output bit (test/native/vadIsa.test.ts compares the
// x86-64-v3 clones with -DVOXBRIDGE_VAD_BASELINE_ONLY this way).
#include <cstring>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "vad.h"

static std::vector<int16_t> readRaw(const char* path) {
  std::vector<int16_t> v;
  FILE* f = std::fopen(path, "rb");
  if (!f) {
    std::perror(path);
    std::exit(2);
  }
  int16_t buf[4096];
  size_t n;
  while ((n = std::fread(buf, 2, 4096, f)) > 0) v.insert(v.end(), buf, buf + n);
  std::fclose(f);
  return v;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: vad_perf rate near.raw [far.raw] [repeats]\n");
    return 2;
  }
  voxbridge::vad::Config c;
  c.sampleRate = std::atoi(argv[1]);
  c.frameMs = 20;
  const std::vector<int16_t> near = readRaw(argv[2]);
  const std::vector<int16_t> far = argc > 3 && argv[3][0] != '-' ? readRaw(argv[3]) : std::vector<int16_t>();
  const int repeats = argc > 4 ? std::atoi(argv[4]) : 5;
  voxbridge::vad::Vad vad(c);
  const size_t n = static_cast<size_t>(vad.frameSamples());
  double out[voxbridge::vad::kOutCount];
  uint32_t acc = 0;
  double check = 0;  // of every frame's score and SNR
  uint64_t hash = 1469598103934665603ull;
  // process CPU time, not wall time: on a shared VM the wall clock also counts time
  // the process was not running
  timespec c0, c1;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
  for (int r = 0; r < repeats; r++) {
    vad.reset();
    for (size_t i = 0; i + n <= near.size(); i += n)
    {
      acc += vad.process(near.data() + i, far.size() >= i + n ? far.data() + i : nullptr, out);
      check += out[voxbridge::vad::kOutScore] + 1e-3 * out[voxbridge::vad::kOutSnrDb];
      unsigned char bytes[sizeof out];
      std::memcpy(bytes, out, sizeof out);
      for (unsigned char b : bytes) hash = (hash ^ b) * 1099511628211ull;
    }
  }
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
  const double us = (c1.tv_sec - c0.tv_sec) * 1e6 + (c1.tv_nsec - c0.tv_nsec) / 1e3;
  const double sec = static_cast<double>(near.size()) / c.sampleRate * repeats;
  std::printf("%.1f us per s of audio (%.2f us per 10 ms), flags sum %u, check %.17g, hash %016llx\n", us / sec,
              us / sec / 100, acc, check, static_cast<unsigned long long>(hash));
  return 0;
}
