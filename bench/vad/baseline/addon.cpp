// Entry point of the baseline VAD build: the VAD sources of commit 4f10888 (before the
// babble/music and CPU work) are taken from git history by bench/vad/detectors.ts and
// built next to this file in .build/, so `npm run bench:vad` measures before and after
// in the same run. binding.gyp renames the namespace so that it cannot clash with the
// project addon loaded in the same process.
#include <napi.h>

namespace voxbridge {
void InitVad(Napi::Env env, Napi::Object exports);
}  // namespace voxbridge

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  voxbridge::InitVad(env, exports);
  return exports;
}

NODE_API_MODULE(voxbridge_vad_baseline, Init)
