// Shared by the bindings: a JavaScript Error with a stable `code` (see docs/ERRORS.md),
// thrown into the calling environment; returns undefined for the binding to return.
#pragma once
#include <napi.h>

#include <string>

namespace voxbridge {

inline Napi::Value throwCode(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace voxbridge
