// Thin N-API binding over native/src/opus_{encoder,decoder}.h: one wrapped object
// per stream. encode() reads the caller's Int16Array in place and writes the packet
// into the caller's Uint8Array; decode() does the reverse; no JS object is created
// per frame. Misuse (wrong argument types) throws an Error whose `code` is the
// libopus status name; a bad packet is a negative return value, not a throw, so a
// stream of garbage costs no exceptions.
#include <napi.h>

#include "throw_code.h"
#include "opus_decoder.h"
#include "opus_encoder.h"

namespace voxbridge {
namespace {

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

class OpusDecoderWrap : public Napi::ObjectWrap<OpusDecoderWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "OpusDecoder",
                       {
                           InstanceMethod<&OpusDecoderWrap::Decode>("decode"),
                           InstanceMethod<&OpusDecoderWrap::Conceal>("conceal"),
                           InstanceMethod<&OpusDecoderWrap::DecodeFec>("decodeFec"),
                           InstanceMethod<&OpusDecoderWrap::Reset>("reset"),
                       });
  }

  // new OpusDecoder(sampleRate, channels)
  explicit OpusDecoderWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<OpusDecoderWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
      throwCode(env, "OPUS_BAD_ARG", "new OpusDecoder(sampleRate, channels)");
      return;
    }
    const int rc = dec_.init(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value());
    if (rc != 0) throwStatus(env, rc, "opus_decoder_create");
  }

  // decode(packet: Uint8Array, out: Int16Array) -> samples per channel, or a negative libopus status
  Napi::Value Decode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const uint8_t* pkt = nullptr;
    size_t len = 0;
    int16_t* out = nullptr;
    size_t cap = 0;
    if (info.Length() < 2 || !bytes(info[0], &pkt, &len) || !samples(info[1], &out, &cap))
      return throwCode(env, "OPUS_BAD_ARG", "decode(packet: Uint8Array, out: Int16Array)");
    if (!dec_.ready()) return throwCode(env, "OPUS_INVALID_STATE", "decode: the decoder failed to initialise");
    if (len == 0) return Napi::Number::New(env, -1);  // OPUS_BAD_ARG: an empty payload is not a packet
    return Napi::Number::New(env, dec_.decode(pkt, len, out, cap / static_cast<size_t>(dec_.channels())));
  }

  // conceal(out: Int16Array, samples) -> samples written, or a negative status
  Napi::Value Conceal(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int16_t* out = nullptr;
    size_t cap = 0;
    if (info.Length() < 2 || !samples(info[0], &out, &cap) || !info[1].IsNumber())
      return throwCode(env, "OPUS_BAD_ARG", "conceal(out: Int16Array, samples: number)");
    if (!dec_.ready()) return throwCode(env, "OPUS_INVALID_STATE", "conceal: the decoder failed to initialise");
    const int64_t n = info[1].As<Napi::Number>().Int64Value();
    if (n <= 0 || static_cast<size_t>(n) * static_cast<size_t>(dec_.channels()) > cap)
      return throwCode(env, "OPUS_BAD_ARG", "conceal: samples must be > 0 and fit in out");
    return Napi::Number::New(env, dec_.conceal(out, static_cast<size_t>(n)));
  }

  // decodeFec(nextPacket: Uint8Array, out: Int16Array, samples) -> samples written, or a negative status
  Napi::Value DecodeFec(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const uint8_t* pkt = nullptr;
    size_t len = 0;
    int16_t* out = nullptr;
    size_t cap = 0;
    if (info.Length() < 3 || !bytes(info[0], &pkt, &len) || !samples(info[1], &out, &cap) || !info[2].IsNumber())
      return throwCode(env, "OPUS_BAD_ARG", "decodeFec(nextPacket: Uint8Array, out: Int16Array, samples: number)");
    if (!dec_.ready()) return throwCode(env, "OPUS_INVALID_STATE", "decodeFec: the decoder failed to initialise");
    const int64_t n = info[2].As<Napi::Number>().Int64Value();
    if (n <= 0 || static_cast<size_t>(n) * static_cast<size_t>(dec_.channels()) > cap)
      return throwCode(env, "OPUS_BAD_ARG", "decodeFec: samples must be > 0 and fit in out");
    if (len == 0) return Napi::Number::New(env, -1);
    return Napi::Number::New(env, dec_.decodeFec(pkt, len, out, static_cast<size_t>(n)));
  }

  Napi::Value Reset(const Napi::CallbackInfo& info) {
    const int rc = dec_.reset();
    if (rc != 0) return throwStatus(info.Env(), rc, "OPUS_RESET_STATE");
    return info.Env().Undefined();
  }

 private:
  static bool bytes(const Napi::Value& v, const uint8_t** p, size_t* n) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) return false;
    auto a = v.As<Napi::Uint8Array>();
    *p = a.Data();
    *n = a.ElementLength();
    return true;
  }
  static bool samples(const Napi::Value& v, int16_t** p, size_t* n) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int16_array) return false;
    auto a = v.As<Napi::Int16Array>();
    *p = a.Data();
    *n = a.ElementLength();
    return true;
  }

  opus::Decoder dec_;
};

}  // namespace

void InitOpus(Napi::Env env, Napi::Object exports) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("OpusEncoder", OpusEncoderWrap::Define(env));
  o.Set("OpusDecoder", OpusDecoderWrap::Define(env));
  o.Set("version", Napi::String::New(env, opus::libraryVersion()));
  o.Set("maxPacket", Napi::Number::New(env, static_cast<double>(opus::kMaxPacket)));
  exports.Set("opus", o);
}

}  // namespace voxbridge
