// Thin N-API binding over native/src/tlv.h. Reads caller buffers in place and
// writes results into caller-provided typed arrays; creates no JS objects per frame.
#include <napi.h>

#include "tlv.h"

namespace voxbridge {
namespace {

using tlv::Format;

bool argFormat(const Napi::Value& v, Format* f) {
  if (!v.IsNumber()) return false;
  const uint32_t n = v.As<Napi::Number>().Uint32Value();
  if (n > 1) return false;
  *f = static_cast<Format>(n);
  return true;
}

Napi::Value throwType(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

// decodeBatch(format, buf: Uint8Array, start, end, maxPayload, out: Int32Array, final) -> frames
// out[0]=frames, out[1]=consumed (absolute offset in buf), out[2]=status,
// then from out[4]: kind, payloadOffset (absolute in buf), payloadLength per frame.
Napi::Value DecodeBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Format f;
  if (info.Length() < 7 || !argFormat(info[0], &f) || !info[1].IsTypedArray() ||
      !info[5].IsTypedArray())
    return throwType(env, "decodeBatch(format, buf, start, end, maxPayload, out, final)");
  auto buf = info[1].As<Napi::Uint8Array>();
  auto out = info[5].As<Napi::Int32Array>();
  if (buf.TypedArrayType() != napi_uint8_array || out.TypedArrayType() != napi_int32_array ||
      out.ElementLength() < 7)
    return throwType(env, "decodeBatch: buf must be a Uint8Array and out an Int32Array of length >= 7");
  const size_t start = info[2].As<Napi::Number>().Uint32Value();
  const size_t end = info[3].As<Napi::Number>().Uint32Value();
  if (start > end || end > buf.ElementLength()) return throwType(env, "decodeBatch: bad range");
  const uint32_t maxPayload = info[4].As<Napi::Number>().Uint32Value();
  const bool final = info[6].ToBoolean().Value();

  int32_t* o = out.Data();
  const size_t maxFrames = (out.ElementLength() - 4) / 3;
  auto r = tlv::decodeBatch(f, buf.Data() + start, end - start, maxPayload,
                            reinterpret_cast<uint32_t*>(o + 4), maxFrames, final);
  for (size_t i = 0; i < r.frames; ++i) o[4 + 3 * i + 1] += static_cast<int32_t>(start);
  o[0] = static_cast<int32_t>(r.frames);
  o[1] = static_cast<int32_t>(start + r.consumed);
  o[2] = static_cast<int32_t>(r.status);
  return Napi::Number::New(env, static_cast<double>(r.frames));
}

// encode(format, kind, payload: Uint8Array, dst: Uint8Array, dstOffset) -> bytes written (0: no room)
Napi::Value Encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Format f;
  if (info.Length() < 5 || !argFormat(info[0], &f) || !info[2].IsTypedArray() || !info[3].IsTypedArray())
    return throwType(env, "encode(format, kind, payload, dst, dstOffset)");
  auto payload = info[2].As<Napi::Uint8Array>();
  auto dst = info[3].As<Napi::Uint8Array>();
  const size_t off = info[4].As<Napi::Number>().Uint32Value();
  if (off > dst.ElementLength()) return throwType(env, "encode: dstOffset past the end");
  const size_t n = tlv::encode(f, info[1].As<Napi::Number>().Uint32Value(), payload.Data(),
                               payload.ElementLength(), dst.Data() + off, dst.ElementLength() - off);
  return Napi::Number::New(env, static_cast<double>(n));
}

// writeHeader(format, kind, payloadLen, dst: Uint8Array, dstOffset) -> header bytes (0: no room)
Napi::Value WriteHeader(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Format f;
  if (info.Length() < 5 || !argFormat(info[0], &f) || !info[3].IsTypedArray())
    return throwType(env, "writeHeader(format, kind, payloadLen, dst, dstOffset)");
  auto dst = info[3].As<Napi::Uint8Array>();
  const size_t off = info[4].As<Napi::Number>().Uint32Value();
  if (off > dst.ElementLength()) return throwType(env, "writeHeader: dstOffset past the end");
  const double len = info[2].As<Napi::Number>().DoubleValue();
  if (!(len >= 0) || len > 4294967295.0) return Napi::Number::New(env, 0);
  const size_t n = tlv::writeHeader(f, info[1].As<Napi::Number>().Uint32Value(), static_cast<size_t>(len),
                                    dst.Data() + off, dst.ElementLength() - off);
  return Napi::Number::New(env, static_cast<double>(n));
}

}  // namespace

void InitTlv(Napi::Env env, Napi::Object exports) {
  Napi::Object t = Napi::Object::New(env);
  t.Set("decodeBatch", Napi::Function::New(env, DecodeBatch, "decodeBatch"));
  t.Set("encode", Napi::Function::New(env, Encode, "encode"));
  t.Set("writeHeader", Napi::Function::New(env, WriteHeader, "writeHeader"));
  exports.Set("tlv", t);
}

}  // namespace voxbridge
