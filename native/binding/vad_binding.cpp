// Thin N-API binding over native/src/vad.h: one wrapped object per stream.
// process() reads the caller's Int16Arrays in place and writes its numbers into a
// caller-provided Float64Array; no JS object is created per frame.
// Bad arguments are programming errors (the TS wrapper validates first): they throw
// a TypeError with code ERR_VAD_ARG.
#include <napi.h>

#include "vad.h"

namespace voxbridge {
namespace {

Napi::Value throwArg(Napi::Env env, const char* msg) {
  Napi::Error e = Napi::TypeError::New(env, msg);
  e.Value().Set("code", Napi::String::New(env, "ERR_VAD_ARG"));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

bool isInt16Array(const Napi::Value& v) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_int16_array;
}

class NativeVad : public Napi::ObjectWrap<NativeVad> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeVad",
                       {
                           InstanceMethod<&NativeVad::Process>("process"),
                           InstanceMethod<&NativeVad::SetInterruptMs>("setInterruptMs"),
                           InstanceMethod<&NativeVad::Reset>("reset"),
                           InstanceMethod<&NativeVad::Features>("features"),
                       });
  }

  // new NativeVad(sampleRate, frameMs, interruptMs, hangoverMs)
  explicit NativeVad(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<NativeVad>(info), vad_(vad::Config()) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() ||
        !info[3].IsNumber()) {
      throwArg(env, "NativeVad(sampleRate, frameMs, interruptMs, hangoverMs)");
      return;
    }
    vad::Config c;
    c.sampleRate = info[0].As<Napi::Number>().Int32Value();
    c.frameMs = info[1].As<Napi::Number>().Int32Value();
    c.interruptMs = info[2].As<Napi::Number>().Int32Value();
    c.hangoverMs = info[3].As<Napi::Number>().Int32Value();
    if (vad::validate(c) != vad::Status::Ok) {
      throwArg(env, "NativeVad: sampleRate must be 8000/16000/48000, frameMs 10/20/30, interruptMs 0..10000, "
                    "hangoverMs 50..2000");
      return;
    }
    vad_ = vad::Vad(c);
  }

 private:
  // process(pcm: Int16Array, farEnd: Int16Array | null, out: Float64Array) -> flags
  Napi::Value Process(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !isInt16Array(info[0]) || !info[2].IsTypedArray())
      return throwArg(env, "process(pcm: Int16Array, farEnd: Int16Array | null, out: Float64Array)");
    auto pcm = info[0].As<Napi::Int16Array>();
    const size_t n = static_cast<size_t>(vad_.frameSamples());
    if (pcm.ElementLength() != n) return throwArg(env, "process: pcm must hold exactly one frame");
    const int16_t* far = nullptr;
    if (!info[1].IsNull() && !info[1].IsUndefined()) {
      if (!isInt16Array(info[1])) return throwArg(env, "process: farEnd must be an Int16Array or null");
      auto f = info[1].As<Napi::Int16Array>();
      if (f.ElementLength() != n) return throwArg(env, "process: farEnd must hold exactly one frame");
      far = f.Data();
    }
    auto out = info[2].As<Napi::TypedArray>();
    if (out.TypedArrayType() != napi_float64_array || out.ElementLength() < vad::kOutCount)
      return throwArg(env, "process: out must be a Float64Array of length >= 9");
    const uint32_t flags = vad_.process(pcm.Data(), far, out.As<Napi::Float64Array>().Data());
    return Napi::Number::New(env, flags);
  }

  // setInterruptMs(ms) -> status (0 ok, -3 out of range)
  Napi::Value SetInterruptMs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) return throwArg(env, "setInterruptMs(ms: number)");
    const double ms = info[0].As<Napi::Number>().DoubleValue();
    if (!(ms >= 0 && ms <= 10000) || ms != static_cast<double>(static_cast<int>(ms)))
      return Napi::Number::New(env, static_cast<double>(vad::Status::BadInterruptMs));
    return Napi::Number::New(env, static_cast<double>(vad_.setInterruptMs(static_cast<int>(ms))));
  }

  Napi::Value Reset(const Napi::CallbackInfo& info) {
    vad_.reset();
    return info.Env().Undefined();
  }

  // features(out: Float64Array) -> writes snrDb, sustain, harm, flux, score, stat, statShort, peak
  // (and with length >= 11: fgDb, bgDb, fgThr)
  Napi::Value Features(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
        info[0].As<Napi::TypedArray>().ElementLength() < 8)
      return throwArg(env, "features(out: Float64Array of length >= 8)");
    double* o = info[0].As<Napi::Float64Array>().Data();
    const auto& f = vad_.features();
    o[0] = f.snrDb;
    o[1] = f.sustain;
    o[2] = f.harm;
    o[3] = f.flux;
    o[4] = f.score;
    o[5] = f.stat;
    o[6] = f.statShort;
    o[7] = f.peak;
    if (info[0].As<Napi::TypedArray>().ElementLength() >= 11) {
      o[8] = f.fgDb;
      o[9] = f.bgDb;
      o[10] = f.fgThr;
    }
    return env.Undefined();
  }

  vad::Vad vad_;
};

}  // namespace

void InitVad(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeVad", NativeVad::Define(env));
}

}  // namespace voxbridge
