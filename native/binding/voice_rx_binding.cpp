// Thin N-API binding over native/src/voice_rx.h: one receiver (one thread) for the
// process, addressed by socket and voice ids. Frames come back through caller-provided
// typed arrays (drain), after a uv_async wake-up on the environment that started it;
// no JS object is created per packet or frame. Bad arguments throw (code
// VOICE_RX_BAD_ARG); per-packet trouble is counted in stats(), never thrown.
#include <napi.h>
#include <uv.h>

#include <cstring>
#include <memory>

#include "process_pacer.h"
#include "throw_code.h"
#include "voice_rx.h"

namespace voxbridge {
namespace {

constexpr int kMetaStride = 17;  // socket, voice, flags, flushed, arrivalMs, decisionMs, out[9], wireAbortMs, mediaMs

struct Receiver {
  std::unique_ptr<vox::VoiceRx> rx;
  uv_async_t* async = nullptr;
  Napi::FunctionReference onReady;
  std::unique_ptr<Napi::AsyncContext> ctx;
  napi_env env = nullptr;
};

Receiver& receiver() {
  static Receiver r;
  return r;
}

Napi::Value badArg(Napi::Env env, const char* usage) { return throwCode(env, "VOICE_RX_BAD_ARG", usage); }

vox::VoiceRx* started(const Napi::CallbackInfo& info) {
  vox::VoiceRx* rx = receiver().rx.get();
  if (!rx) throwCode(info.Env(), "VOICE_RX_STATE", "voiceRx.start() first");
  return rx;
}

bool ints(const Napi::CallbackInfo& info, size_t n) {
  if (info.Length() < n) return false;
  for (size_t i = 0; i < n; i++)
    if (!info[i].IsNumber()) return false;
  return true;
}

int intArg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int32Value(); }

// The common shape of the calls below: the receiver started, the first `n` arguments
// numbers, then `f(rx)` returns a status (a number).
template <class F>
Napi::Value numberCall(const Napi::CallbackInfo& info, size_t n, const char* usage, F f) {
  vox::VoiceRx* rx = started(info);
  if (!rx) return info.Env().Undefined();
  if (!ints(info, n)) return badArg(info.Env(), usage);
  return Napi::Number::New(info.Env(), f(*rx));
}

void OnAsync(uv_async_t* h) {
  Receiver& r = receiver();
  if (h != r.async || r.onReady.IsEmpty()) return;
  Napi::Env env(r.env);
  Napi::HandleScope scope(env);
  r.onReady.MakeCallback(env.Global(), {}, *r.ctx);
  if (env.IsExceptionPending()) {
    Napi::Error e = env.GetAndClearPendingException();
    napi_fatal_exception(env, e.Value());
  }
}

void Notify(void* /*ctx*/) {
  uv_async_t* a = receiver().async;
  if (a) uv_async_send(a);
}

// The environment is going away (process exit, a worker's end): no more calls into it.
// The thread itself is joined when the process's statics are destroyed.
void Cleanup(void* /*arg*/) {
  Receiver& r = receiver();
  if (r.rx) r.rx->setNotify(nullptr, nullptr);
  r.onReady.Reset();
  r.ctx.reset();
  if (r.async) {
    uv_close(reinterpret_cast<uv_handle_t*>(r.async), [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
    r.async = nullptr;
  }
}

// start(offsetMs, onReady: () => void, highPriority: boolean): once per process
Napi::Value Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsFunction() || !info[2].IsBoolean())
    return badArg(env, "start(offsetMs: number, onReady: () => void, highPriority: boolean)");
  Receiver& r = receiver();
  if (r.rx) return throwCode(env, "VOICE_RX_STATE", "voiceRx already started");
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) return throwCode(env, "VOICE_RX_STATE", "no event loop");
  auto* a = new uv_async_t;
  if (uv_async_init(loop, a, &OnAsync) != 0) {
    delete a;
    return throwCode(env, "VOICE_RX_STATE", "uv_async_init failed");
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(a));  // the sockets' users keep the process alive, not this
  r.async = a;
  r.env = env;
  r.onReady = Napi::Persistent(info[1].As<Napi::Function>());
  r.ctx = std::make_unique<Napi::AsyncContext>(env, "voxbridge.voiceRx");
  r.rx = std::make_unique<vox::VoiceRx>(info[0].As<Napi::Number>().DoubleValue());
  r.rx->requestHighPriority(info[2].As<Napi::Boolean>().Value());
  r.rx->setNotify(&Notify, nullptr);
  napi_add_env_cleanup_hook(env, &Cleanup, nullptr);
  return env.Undefined();
}

// open() -> [socket, localPort]
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  vox::VoiceRx* rx = started(info);
  if (!rx) return env.Undefined();
  uint16_t port = 0;
  const int s = rx->openSocket(&port);
  if (s < 0) return throwCode(env, "VOICE_RX_OPEN", std::string("voice receiver socket: ") + std::strerror(-s));
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, Napi::Number::New(env, s));
  a.Set(1u, Napi::Number::New(env, port));
  return a;
}

// connect(socket, port) -> 0 or a negative status
Napi::Value Connect(const Napi::CallbackInfo& info) {
  return numberCall(info, 2, "connect(socket, port)", [&](vox::VoiceRx& rx) { return rx.connect(intArg(info, 0), static_cast<uint16_t>(intArg(info, 1))); });
}

// send(socket, packet: Uint8Array) -> bytes or a negative status
Napi::Value Send(const Napi::CallbackInfo& info) {
  vox::VoiceRx* rx = started(info);
  if (!rx) return info.Env().Undefined();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsTypedArray()) return badArg(info.Env(), "send(socket, packet: Uint8Array)");
  Napi::TypedArray t = info[1].As<Napi::TypedArray>();
  const auto* p = static_cast<const uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
  return Napi::Number::New(info.Env(), rx->send(intArg(info, 0), p, t.ByteLength()));
}

// close(socket) -> 0 or a negative status
Napi::Value Close(const Napi::CallbackInfo& info) {
  return numberCall(info, 1, "close(socket)", [&](vox::VoiceRx& rx) { return rx.closeSocket(intArg(info, 0)); });
}

// addVoice(socket, ssrc, payloadType (-1 any), human, mayLead) -> voice id or a negative status
Napi::Value AddVoice(const Napi::CallbackInfo& info) {
  vox::VoiceRx* rx = started(info);
  if (!rx) return info.Env().Undefined();
  if (!ints(info, 3) || info.Length() < 5 || !info[3].IsBoolean() || !info[4].IsBoolean())
    return badArg(info.Env(), "addVoice(socket, ssrc, payloadType, human: boolean, mayLead: boolean)");
  const uint32_t ssrc = info[1].As<Napi::Number>().Uint32Value();
  return Napi::Number::New(info.Env(), rx->addVoice(intArg(info, 0), ssrc, intArg(info, 2), info[3].As<Napi::Boolean>().Value(),
                                                    info[4].As<Napi::Boolean>().Value()));
}

// removeVoice(voice) -> 0 or a negative status
Napi::Value RemoveVoice(const Napi::CallbackInfo& info) {
  return numberCall(info, 1, "removeVoice(voice)", [&](vox::VoiceRx& rx) { return rx.removeVoice(intArg(info, 0)); });
}

// setVad(socket, interruptMs, hangoverMs) -> 0 or a negative status (16 kHz, 20 ms frames)
Napi::Value SetVad(const Napi::CallbackInfo& info) {
  return numberCall(info, 3, "setVad(socket, interruptMs, hangoverMs)", [&](vox::VoiceRx& rx) {
    voxbridge::vad::Config c;
    c.sampleRate = vox::VoiceRx::kRate;
    c.frameMs = vox::VoiceRx::kFrame * 1000 / vox::VoiceRx::kRate;
    c.interruptMs = intArg(info, 1);
    c.hangoverMs = intArg(info, 2);
    return rx.setVad(intArg(info, 0), c);
  });
}

// setInterruptMs(socket, ms) -> the VAD's status (0 ok)
Napi::Value SetInterruptMs(const Napi::CallbackInfo& info) {
  return numberCall(info, 2, "setInterruptMs(socket, ms)", [&](vox::VoiceRx& rx) { return rx.setInterruptMs(intArg(info, 0), intArg(info, 1)); });
}

// farEnd(socket, atMs, frame: Int16Array of 320 | null) -> 0 or a negative status
Napi::Value FarEnd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  vox::VoiceRx* rx = started(info);
  if (!rx) return env.Undefined();
  if (!ints(info, 2) || info.Length() < 3) return badArg(env, "farEnd(socket, atMs, frame: Int16Array | null)");
  const int16_t* frame = nullptr;
  if (!info[2].IsNull() && !info[2].IsUndefined()) {
    napi_typedarray_type type;
    size_t len;
    void* data;
    if (napi_get_typedarray_info(env, info[2], &type, &len, &data, nullptr, nullptr) != napi_ok || type != napi_int16_array ||
        len != static_cast<size_t>(vox::VoiceRx::kFrame))
      return badArg(env, "farEnd: frame must be an Int16Array of 320 samples or null");
    frame = static_cast<const int16_t*>(data);
  }
  return Napi::Number::New(env, rx->farEnd(intArg(info, 0), info[1].As<Napi::Number>().DoubleValue(), frame));
}

// farEndCut(socket, atMs, reissueFromMs) -> 0 or a negative status
Napi::Value FarEndCut(const Napi::CallbackInfo& info) {
  return numberCall(info, 3, "farEndCut(socket, atMs, reissueFromMs)", [&](vox::VoiceRx& rx) {
    return rx.farEndCut(intArg(info, 0), info[1].As<Napi::Number>().DoubleValue(), info[2].As<Napi::Number>().DoubleValue());
  });
}

// addAbortFd(socket, fd) -> token (> 0) or a negative status; removeAbortFd(socket, token) -> 1 (it was
// shut down by a decision), 0, or a negative status; wireAborted(socket, token) -> 1, 0 or a negative status
Napi::Value AddAbortFd(const Napi::CallbackInfo& info) {
  return numberCall(info, 2, "addAbortFd(socket, fd)", [&](vox::VoiceRx& rx) { return rx.addAbortFd(intArg(info, 0), intArg(info, 1)); });
}

Napi::Value RemoveAbortFd(const Napi::CallbackInfo& info) {
  return numberCall(info, 2, "removeAbortFd(socket, token)", [&](vox::VoiceRx& rx) { return rx.removeAbortFd(intArg(info, 0), intArg(info, 1)); });
}

Napi::Value WireAborted(const Napi::CallbackInfo& info) {
  return numberCall(info, 2, "wireAborted(socket, token)", [&](vox::VoiceRx& rx) { return rx.wireAborted(intArg(info, 0), intArg(info, 1)); });
}

// arm(socket, mode, pacerQueue (-1: none)) -> 1 when a barge-in fired since the last arm, 0, or a negative status
Napi::Value Arm(const Napi::CallbackInfo& info) {
  return numberCall(info, 3, "arm(socket, mode, pacerQueue)", [&](vox::VoiceRx& rx) { return rx.arm(intArg(info, 0), intArg(info, 1), intArg(info, 2) >= 0 ? &processPacer() : nullptr, intArg(info, 2)); });
}

// drain(meta: Float64Array, pcm: Int16Array) -> frames written: meta[17 i ..] = socket, voice, flags,
// flushed, arrivalMs, decisionMs, out[0..8], wireAbortMs, mediaMs; pcm[320 i ..] = the frame's samples
Napi::Value Drain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  vox::VoiceRx* rx = started(info);
  if (!rx) return env.Undefined();
  napi_typedarray_type mt, pt;
  size_t mlen, plen;
  void *md, *pd;
  if (info.Length() < 2 || napi_get_typedarray_info(env, info[0], &mt, &mlen, &md, nullptr, nullptr) != napi_ok ||
      mt != napi_float64_array || napi_get_typedarray_info(env, info[1], &pt, &plen, &pd, nullptr, nullptr) != napi_ok ||
      pt != napi_int16_array)
    return badArg(env, "drain(meta: Float64Array, pcm: Int16Array)");
  size_t max = mlen / kMetaStride;
  if (plen / vox::VoiceRx::kFrame < max) max = plen / vox::VoiceRx::kFrame;
  if (max > 64) max = 64;
  vox::VoiceRx::Frame frames[64];
  const size_t n = rx->drain(frames, max);
  auto* m = static_cast<double*>(md);
  auto* p = static_cast<int16_t*>(pd);
  for (size_t i = 0; i < n; i++) {
    const auto& f = frames[i];
    double* o = m + i * kMetaStride;
    o[0] = f.socket;
    o[1] = f.voice;
    o[2] = f.flags;
    o[3] = f.flushed;
    o[4] = f.arrivalMs;
    o[5] = f.decisionMs;
    for (int k = 0; k < voxbridge::vad::kOutCount; k++) o[6 + k] = f.out[k];
    o[15] = f.wireAbortMs;
    o[16] = f.mediaMs;
    std::memcpy(p + i * vox::VoiceRx::kFrame, f.pcm, sizeof f.pcm);
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

// stats(socket (-1: totals), out: Float64Array of 11) -> datagrams, rtcp, dropped, malformed, late, lost,
// decodeErrors, frames, overflows, fired, recvErrors
Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  vox::VoiceRx* rx = started(info);
  if (!rx) return env.Undefined();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array || info[1].As<Napi::TypedArray>().ElementLength() < 11)
    return badArg(env, "stats(socket, out: Float64Array of 11)");
  const auto s = rx->stats(intArg(info, 0));
  double* o = info[1].As<Napi::Float64Array>().Data();
  const uint64_t v[] = {s.datagrams, s.rtcp, s.dropped, s.malformed, s.late, s.lost, s.decodeErrors, s.frames, s.overflows, s.fired, s.recvErrors};
  for (int i = 0; i < 11; i++) o[i] = static_cast<double>(v[i]);
  return env.Undefined();
}

Napi::Value Queued(const Napi::CallbackInfo& info) {
  vox::VoiceRx* rx = started(info);
  if (!rx) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), static_cast<double>(rx->queued()));
}

Napi::Value Now(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), vox::VoiceRx::monoMs()); }

}  // namespace

void InitVoiceRx(Napi::Env env, Napi::Object exports) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("start", Napi::Function::New<Start>(env, "start"));
  o.Set("open", Napi::Function::New<Open>(env, "open"));
  o.Set("connect", Napi::Function::New<Connect>(env, "connect"));
  o.Set("send", Napi::Function::New<Send>(env, "send"));
  o.Set("close", Napi::Function::New<Close>(env, "close"));
  o.Set("addVoice", Napi::Function::New<AddVoice>(env, "addVoice"));
  o.Set("removeVoice", Napi::Function::New<RemoveVoice>(env, "removeVoice"));
  o.Set("setVad", Napi::Function::New<SetVad>(env, "setVad"));
  o.Set("setInterruptMs", Napi::Function::New<SetInterruptMs>(env, "setInterruptMs"));
  o.Set("farEnd", Napi::Function::New<FarEnd>(env, "farEnd"));
  o.Set("farEndCut", Napi::Function::New<FarEndCut>(env, "farEndCut"));
  o.Set("arm", Napi::Function::New<Arm>(env, "arm"));
  o.Set("addAbortFd", Napi::Function::New<AddAbortFd>(env, "addAbortFd"));
  o.Set("removeAbortFd", Napi::Function::New<RemoveAbortFd>(env, "removeAbortFd"));
  o.Set("wireAborted", Napi::Function::New<WireAborted>(env, "wireAborted"));
  o.Set("drain", Napi::Function::New<Drain>(env, "drain"));
  o.Set("stats", Napi::Function::New<Stats>(env, "stats"));
  o.Set("queued", Napi::Function::New<Queued>(env, "queued"));
  o.Set("now", Napi::Function::New<Now>(env, "now"));
  o.Set("metaStride", Napi::Number::New(env, kMetaStride));
  o.Set("frameSamples", Napi::Number::New(env, vox::VoiceRx::kFrame));
  exports.Set("voiceRx", o);
}

}  // namespace voxbridge
