// The VAD as of commit 4f10888 (before the babble/music and CPU work), frozen so
// that `npm run bench:vad` measures before and after in the same run. Built by the
// bench into bench/vad/baseline/build; the namespace is renamed by binding.gyp
// so that it cannot clash with the project addon loaded in the same process.
#include <napi.h>

namespace voxbridge {
void InitVad(Napi::Env env, Napi::Object exports);
}  // namespace voxbridge

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  voxbridge::InitVad(env, exports);
  return exports;
}

NODE_API_MODULE(voxbridge_vad_baseline, Init)
