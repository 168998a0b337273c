// Thin N-API binding over native/src/opus_encoder.h: one wrapped object per
// outgoing stream. encode() reads the caller's Int16Array in place and writes the
// packet into the caller's Uint8Array; no JS object is created per frame.
// Every failure throws an Error whose `code` is the libopus status name.
#include <napi.h>

#include "opus_encoder.h"

namespace voxbridge {
namespace {

Napi::Value throwCode(Napi::Env env, const char* code, const char* message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value throwStatus(Napi::Env env, int status, const char* what) {
  std::string msg = std::string(what) + ": " + opus::errorMessage(status);
  return throwCode(env, opus::errorCode(status), msg.c_str());
}

class OpusEncoderWrap : public Napi::ObjectWrap<OpusEncoderWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "OpusEncoder",
                       {
                           InstanceMethod<&OpusEncoderWrap::Encode>("encode"),
                           InstanceMethod<&OpusEncoderWrap::Reset>("reset"),
                           InstanceMethod<&OpusEncoderWrap::SetBitrate>("setBitrate"),
                       });
  }

  // new OpusEncoder(sampleRate, channels, { application: 0|1|2, bitrate, complexity, fec, dtx })
  explicit OpusEncoderWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<OpusEncoderWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
      throwCode(env, "OPUS_BAD_ARG", "new OpusEncoder(sampleRate, channels, options?)");
      return;
    }
    opus::EncoderConfig cfg;
    cfg.sampleRate = info[0].As<Napi::Number>().Int32Value();
    cfg.channels = info[1].As<Napi::Number>().Int32Value();
    if (info.Length() > 2 && info[2].IsObject()) {
      Napi::Object o = info[2].As<Napi::Object>();
      Napi::Value v = o.Get("application");
      if (v.IsNumber()) {
        const int a = v.As<Napi::Number>().Int32Value();
        if (a < 0 || a > 2) {
          throwCode(env, "OPUS_BAD_ARG", "application must be 0 (voip), 1 (audio) or 2 (low delay)");
          return;
        }
        cfg.application = static_cast<opus::Application>(a);
      }
      v = o.Get("bitrate");
      if (v.IsNumber()) cfg.bitrate = v.As<Napi::Number>().Int32Value();
      v = o.Get("complexity");
      if (v.IsNumber()) cfg.complexity = v.As<Napi::Number>().Int32Value();
      v = o.Get("fec");
      if (!v.IsUndefined()) cfg.inbandFec = v.ToBoolean().Value();
      v = o.Get("dtx");
      if (!v.IsUndefined()) cfg.dtx = v.ToBoolean().Value();
    }
    const int rc = enc_.init(cfg);
    if (rc != 0) throwStatus(env, rc, "opus_encoder_create");
  }

  // encode(pcm: Int16Array, out: Uint8Array) -> packet bytes written at out[0]
  Napi::Value Encode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsTypedArray())
      return throwCode(env, "OPUS_BAD_ARG", "encode(pcm: Int16Array, out: Uint8Array)");
    auto pcm = info[0].As<Napi::TypedArray>();
    auto out = info[1].As<Napi::TypedArray>();
    if (pcm.TypedArrayType() != napi_int16_array || out.TypedArrayType() != napi_uint8_array)
      return throwCode(env, "OPUS_BAD_ARG", "encode: pcm must be an Int16Array and out a Uint8Array");
    if (!enc_.ready()) return throwCode(env, "OPUS_INVALID_STATE", "encode: the encoder failed to initialise");
    auto pcm16 = pcm.As<Napi::Int16Array>();
    auto out8 = out.As<Napi::Uint8Array>();
    const size_t ch = static_cast<size_t>(enc_.channels());
    if (pcm16.ElementLength() % ch != 0) return throwCode(env, "OPUS_BAD_ARG", "encode: pcm length is not a multiple of channels");
    const int n = enc_.encode(pcm16.Data(), pcm16.ElementLength() / ch, out8.Data(), out8.ElementLength());
    if (n < 0) return throwStatus(env, n, "opus_encode");
    return Napi::Number::New(env, n);
  }

  Napi::Value Reset(const Napi::CallbackInfo& info) {
    const int rc = enc_.reset();
    if (rc != 0) return throwStatus(info.Env(), rc, "OPUS_RESET_STATE");
    return info.Env().Undefined();
  }

  Napi::Value SetBitrate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) return throwCode(env, "OPUS_BAD_ARG", "setBitrate(bitsPerSecond)");
    const int rc = enc_.setBitrate(info[0].As<Napi::Number>().Int32Value());
    if (rc != 0) return throwStatus(env, rc, "OPUS_SET_BITRATE");
    return env.Undefined();
  }

 private:
  opus::Encoder enc_;
};

}  // namespace

void InitOpus(Napi::Env env, Napi::Object exports) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("OpusEncoder", OpusEncoderWrap::Define(env));
  o.Set("version", Napi::String::New(env, opus::libraryVersion()));
  o.Set("maxPacket", Napi::Number::New(env, static_cast<double>(opus::kMaxPacket)));
  exports.Set("opus", o);
}

}  // namespace voxbridge
