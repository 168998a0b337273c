// Thin N-API binding over native/src/pacer.h: one process-wide pacer (one sender
// thread for every agent), addressed by queue id. Packets are copied into the
// pacer's ring (the caller's buffer is free at once); send records come back through
// caller-provided typed arrays; no JS object is created per packet.
#include <napi.h>

#include <cstring>

#include "throw_code.h"
#include "pacer.h"
#include "process_pacer.h"

namespace voxbridge {

// One sender thread for the process, shared by every Node environment (worker
// threads included) and by the voice receiver's gate; destroyed (thread joined) at
// process exit.
vox::Pacer& processPacer() {
  static vox::Pacer p;
  return p;
}

namespace {

vox::Pacer& pacer() { return processPacer(); }

bool argQueue(const Napi::CallbackInfo& info, int* q) {
  if (info.Length() < 1 || !info[0].IsNumber()) return false;
  *q = info[0].As<Napi::Number>().Int32Value();
  return true;
}

// open() -> [queue, localPort]
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint16_t port = 0;
  const int q = pacer().open(&port);
  if (q < 0) return throwCode(env, "PACER_OPEN", std::string("pacer open (socket or sender thread): ") + std::strerror(-q));
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, Napi::Number::New(env, q));
  a.Set(1u, Napi::Number::New(env, port));
  return a;
}

// connect(queue, port)
Napi::Value Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int q;
  if (!argQueue(info, &q) || info.Length() < 2 || !info[1].IsNumber()) return throwCode(env, "PACER_BAD_ARG", "connect(queue, port)");
  const int r = pacer().connect(q, static_cast<uint16_t>(info[1].As<Napi::Number>().Uint32Value()));
  if (r == vox::Pacer::kNoQueue) return throwCode(env, "PACER_NO_QUEUE", "no such pacer queue");
  if (r < 0) return throwCode(env, "PACER_SOCKET", std::string("pacer connect: ") + std::strerror(-r));
  return env.Undefined();
}

// openStream(fd) -> queue: writes to a connected stream socket the caller owns (duplicated)
Napi::Value OpenStream(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return throwCode(env, "PACER_BAD_ARG", "openStream(fd)");
  const int fd = info[0].As<Napi::Number>().Int32Value();
  if (fd < 0) return throwCode(env, "PACER_BAD_ARG", "openStream: fd must be >= 0");
  const int q = pacer().openStream(fd);
  if (q < 0) return throwCode(env, "PACER_OPEN", std::string("pacer openStream (dup or sender thread): ") + std::strerror(-q));
  return Napi::Number::New(env, q);
}

// partial(queue) -> bytes of a stream item still to write (0: at an item boundary)
Napi::Value Partial(const Napi::CallbackInfo& info) {
  int q;
  if (!argQueue(info, &q)) return throwCode(info.Env(), "PACER_BAD_ARG", "partial(queue)");
  return Napi::Number::New(info.Env(), pacer().partial(q));
}

// enqueue(queue, packet: Uint8Array, dueMs, id) -> 0 | -1 full | -2 too large | -3 no queue
Napi::Value Enqueue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int q;
  if (!argQueue(info, &q) || info.Length() < 4 || !info[1].IsTypedArray() || !info[2].IsNumber() || !info[3].IsNumber())
    return throwCode(env, "PACER_BAD_ARG", "enqueue(queue, packet, dueMs, id)");
  auto pkt = info[1].As<Napi::Uint8Array>();
  if (pkt.TypedArrayType() != napi_uint8_array) return throwCode(env, "PACER_BAD_ARG", "enqueue: packet must be a Uint8Array");
  const int r = pacer().enqueue(q, pkt.Data(), pkt.ByteLength(), info[2].As<Napi::Number>().DoubleValue(), info[3].As<Napi::Number>().Uint32Value());
  return Napi::Number::New(env, r);
}

// enqueueFrame(queue, head: Uint8Array, body: Uint8Array, dueMs, id) -> 0 or a negative code (see Pacer::enqueueFrame)
Napi::Value EnqueueFrame(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int q;
  if (!argQueue(info, &q) || info.Length() < 5 || !info[1].IsTypedArray() || !info[2].IsTypedArray() || !info[3].IsNumber() || !info[4].IsNumber())
    return throwCode(env, "PACER_BAD_ARG", "enqueueFrame(queue, head, body, dueMs, id)");
  auto head = info[1].As<Napi::Uint8Array>();
  auto body = info[2].As<Napi::Uint8Array>();
  if (head.TypedArrayType() != napi_uint8_array || body.TypedArrayType() != napi_uint8_array)
    return throwCode(env, "PACER_BAD_ARG", "enqueueFrame: head and body must be Uint8Arrays");
  const int r = pacer().enqueueFrame(q, head.Data(), head.ByteLength(), body.Data(), body.ByteLength(), info[3].As<Napi::Number>().DoubleValue(),
                                     info[4].As<Napi::Number>().Uint32Value());
  return Napi::Number::New(env, r);
}

Napi::Value Flush(const Napi::CallbackInfo& info) {
  int q;
  if (!argQueue(info, &q)) return throwCode(info.Env(), "PACER_BAD_ARG", "flush(queue)");
  return Napi::Number::New(info.Env(), pacer().flush(q));
}

// gate(queue) -> packets dropped (a flush that refuses timed items until the next flush/ungate)
Napi::Value Gate(const Napi::CallbackInfo& info) {
  int q;
  if (!argQueue(info, &q)) return throwCode(info.Env(), "PACER_BAD_ARG", "gate(queue)");
  return Napi::Number::New(info.Env(), pacer().gate(q));
}

// ungate(queue) -> 0 or kNoQueue
Napi::Value Ungate(const Napi::CallbackInfo& info) {
  int q;
  if (!argQueue(info, &q)) return throwCode(info.Env(), "PACER_BAD_ARG", "ungate(queue)");
  return Napi::Number::New(info.Env(), pacer().ungate(q));
}

// hold(maxMs) -> the time just after the announcement (the pacer's clock, ms); see Pacer::hold
Napi::Value Hold(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return throwCode(env, "PACER_BAD_ARG", "hold(maxMs)");
  const double ms = info[0].As<Napi::Number>().DoubleValue();
  if (!(ms > 0 && ms <= 100)) return throwCode(env, "PACER_BAD_ARG", "hold: maxMs must be in (0, 100]");
  return Napi::Number::New(env, pacer().hold(ms));
}

Napi::Value Release(const Napi::CallbackInfo& info) {
  pacer().release();
  return info.Env().Undefined();
}

// drain(queue, ids: Uint32Array, sentMs: Float64Array[, beganMs: Float64Array]) -> n (min of the lengths at most)
Napi::Value Drain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int q;
  if (!argQueue(info, &q) || info.Length() < 3 || !info[1].IsTypedArray() || !info[2].IsTypedArray())
    return throwCode(env, "PACER_BAD_ARG", "drain(queue, ids, sentMs)");
  auto ids = info[1].As<Napi::Uint32Array>();
  auto at = info[2].As<Napi::Float64Array>();
  if (ids.TypedArrayType() != napi_uint32_array || at.TypedArrayType() != napi_float64_array)
    return throwCode(env, "PACER_BAD_ARG", "drain: ids must be a Uint32Array and sentMs a Float64Array");
  size_t max = ids.ElementLength() < at.ElementLength() ? ids.ElementLength() : at.ElementLength();
  double* began = nullptr;
  if (info.Length() > 3 && !info[3].IsUndefined()) {
    if (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
      return throwCode(env, "PACER_BAD_ARG", "drain: beganMs must be a Float64Array");
    auto b = info[3].As<Napi::Float64Array>();
    if (b.ElementLength() < max) max = b.ElementLength();
    began = b.Data();
  }
  return Napi::Number::New(env, pacer().drain(q, ids.Data(), at.Data(), began, static_cast<int>(max)));
}

Napi::Value Pending(const Napi::CallbackInfo& info) {
  int q;
  if (!argQueue(info, &q)) return throwCode(info.Env(), "PACER_BAD_ARG", "pending(queue)");
  return Napi::Number::New(info.Env(), pacer().pending(q));
}

void writeStats(const vox::PacerStats& s, Napi::Float64Array out) {
  const double v[] = {s.sent, s.late, s.lateSumMs, s.maxLateMs, s.flushed, s.overflows, s.sendErrors, s.recordsLost, s.enqueuedLate, s.partialWrites};
  constexpr size_t kFields = sizeof v / sizeof v[0];
  const size_t len = out.ElementLength();
  for (size_t i = 0; i < kFields && i < len; i++) out[i] = v[i];
  // then the lateness histogram's counts
  for (size_t i = 0; i <= static_cast<size_t>(vox::kLatenessBuckets) && kFields + i < len; i++) out[kFields + i] = s.lateness[i];
}

// stats(queue, out: Float64Array(10 + 9)): the fields, then the lateness histogram -> false if no such queue; totals(out)
Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int q;
  if (!argQueue(info, &q) || info.Length() < 2 || !info[1].IsTypedArray()) return throwCode(env, "PACER_BAD_ARG", "stats(queue, out)");
  vox::PacerStats s;
  if (!pacer().stats(q, &s)) return Napi::Boolean::New(env, false);
  writeStats(s, info[1].As<Napi::Float64Array>());
  return Napi::Boolean::New(env, true);
}

Napi::Value Totals(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsTypedArray()) return throwCode(info.Env(), "PACER_BAD_ARG", "totals(out)");
  writeStats(pacer().totals(), info[0].As<Napi::Float64Array>());
  return info.Env().Undefined();
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  int q;
  if (!argQueue(info, &q)) return throwCode(info.Env(), "PACER_BAD_ARG", "close(queue)");
  return Napi::Number::New(info.Env(), pacer().close(q));
}

// priority(mode?) -> what the sender thread got (-1: not started); mode sets the request
Napi::Value Priority(const Napi::CallbackInfo& info) {
  if (info.Length() > 0 && info[0].IsNumber()) pacer().requestPriority(info[0].As<Napi::Number>().Int32Value());
  return Napi::Number::New(info.Env(), pacer().priority());
}

Napi::Value Now(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), vox::Pacer::nowMs()); }

// stepAsides() -> [times the sender let waiting callers go first, of which cut short (the caller never came)]
Napi::Value StepAsides(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, Napi::Number::New(env, static_cast<double>(pacer().stepAsides())));
  a.Set(1u, Napi::Number::New(env, static_cast<double>(pacer().stepAsidesCut())));
  return a;
}

}  // namespace

void InitPacer(Napi::Env env, Napi::Object exports) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("open", Napi::Function::New<Open>(env, "open"));
  o.Set("connect", Napi::Function::New<Connect>(env, "connect"));
  o.Set("openStream", Napi::Function::New<OpenStream>(env, "openStream"));
  o.Set("partial", Napi::Function::New<Partial>(env, "partial"));
  o.Set("enqueue", Napi::Function::New<Enqueue>(env, "enqueue"));
  o.Set("flush", Napi::Function::New<Flush>(env, "flush"));
  o.Set("gate", Napi::Function::New<Gate>(env, "gate"));
  o.Set("ungate", Napi::Function::New<Ungate>(env, "ungate"));
  o.Set("drain", Napi::Function::New<Drain>(env, "drain"));
  o.Set("hold", Napi::Function::New<Hold>(env, "hold"));
  o.Set("release", Napi::Function::New<Release>(env, "release"));
  o.Set("enqueueFrame", Napi::Function::New<EnqueueFrame>(env, "enqueueFrame"));
  o.Set("pending", Napi::Function::New<Pending>(env, "pending"));
  o.Set("stats", Napi::Function::New<Stats>(env, "stats"));
  o.Set("totals", Napi::Function::New<Totals>(env, "totals"));
  o.Set("stepAsides", Napi::Function::New<StepAsides>(env, "stepAsides"));
  o.Set("close", Napi::Function::New<Close>(env, "close"));
  o.Set("now", Napi::Function::New<Now>(env, "now"));
  o.Set("priority", Napi::Function::New<Priority>(env, "priority"));
  o.Set("capacity", Napi::Number::New(env, vox::Pacer::kCapacity));
  o.Set("maxPacket", Napi::Number::New(env, vox::Pacer::kMaxPacket));
  Napi::Array bounds = Napi::Array::New(env, vox::kLatenessBuckets);
  for (uint32_t i = 0; i < static_cast<uint32_t>(vox::kLatenessBuckets); i++) bounds.Set(i, Napi::Number::New(env, vox::kLatenessBoundsMs[i]));
  o.Set("latenessBoundsMs", bounds);
  exports.Set("pacer", o);
}

}  // namespace voxbridge
