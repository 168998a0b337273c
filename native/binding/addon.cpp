// Module entry: registers the thin bindings over the plain C++ cores.
#include <napi.h>

namespace voxbridge {
void InitTlv(Napi::Env env, Napi::Object exports);
void InitOpus(Napi::Env env, Napi::Object exports);
void InitVad(Napi::Env env, Napi::Object exports);
void InitPacer(Napi::Env env, Napi::Object exports);
void InitRecvTime(Napi::Env env, Napi::Object exports);
void InitVoiceRx(Napi::Env env, Napi::Object exports);
}  // namespace voxbridge

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  voxbridge::InitTlv(env, exports);
  voxbridge::InitOpus(env, exports);
  voxbridge::InitVad(env, exports);
  voxbridge::InitPacer(env, exports);
  voxbridge::InitRecvTime(env, exports);
  voxbridge::InitVoiceRx(env, exports);
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  return exports;
}

NODE_API_MODULE(voxbridge_native, Init)
