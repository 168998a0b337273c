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
  // Called 50-100 times a second per stream: one napi_get_typedarray_info per array
  // (it fails on anything but a TypedArray) instead of the wrapper's several checks.
  Napi::Value Process(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const size_t n = static_cast<size_t>(vad_.frameSamples());
    if (info.Length() < 3) return throwArg(env, "process(pcm: Int16Array, farEnd: Int16Array | null, out: Float64Array)");
    napi_typedarray_type type;
    size_t len;
    void* data;
    if (napi_get_typedarray_info(env, info[0], &type, &len, &data, nullptr, nullptr) != napi_ok || type != napi_int16_array)
      return throwArg(env, "process(pcm: Int16Array, farEnd: Int16Array | null, out: Float64Array)");
    if (len != n) return throwArg(env, "process: pcm must hold exactly one frame");
    const int16_t* pcm = static_cast<const int16_t*>(data);
    const int16_t* far = nullptr;
    napi_valuetype vt;
    if (napi_typeof(env, info[1], &vt) != napi_ok) return throwArg(env, "process: bad farEnd");
    if (vt != napi_null && vt != napi_undefined) {
      if (napi_get_typedarray_info(env, info[1], &type, &len, &data, nullptr, nullptr) != napi_ok || type != napi_int16_array)
        return throwArg(env, "process: farEnd must be an Int16Array or null");
      if (len != n) return throwArg(env, "process: farEnd must hold exactly one frame");
      far = static_cast<const int16_t*>(data);
    }
    if (napi_get_typedarray_info(env, info[2], &type, &len, &data, nullptr, nullptr) != napi_ok ||
        type != napi_float64_array || len < static_cast<size_t>(vad::kOutCount))
      return throwArg(env, "process: out must be a Float64Array of length >= 9");
    const uint32_t flags = vad_.process(pcm, far, static_cast<double*>(data));
    napi_value r;
    napi_create_uint32(env, flags, &r);
    return Napi::Value(env, r);
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
