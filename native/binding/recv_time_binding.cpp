// Thin N-API binding over native/src/recv_time.h. tcpDataAgeMs(fd): the age of a TCP
// socket's last received data. `new NativeUdp()` opens a loopback UDP
// socket; start(onReadable) watches it on the environment's own libuv loop (uv_poll,
// no thread), and onReadable calls recv() until it returns less than a full batch.
// recv() reads straight into the caller's buffer (no copy, no JS object per datagram)
// and writes each datagram's length and age into the caller's Float64Array.
#include <napi.h>
#include <uv.h>

#include <cstring>
#include <memory>

#include "throw_code.h"
#include "recv_time.h"

namespace voxbridge {
namespace {

class NativeUdp : public Napi::ObjectWrap<NativeUdp> {
 public:
  static Napi::Function Define(Napi::Env env) {
    Napi::Function f =
        DefineClass(env, "NativeUdp",
                    {InstanceMethod<&NativeUdp::Port>("port"), InstanceMethod<&NativeUdp::Connect>("connect"),
                     InstanceMethod<&NativeUdp::Send>("send"), InstanceMethod<&NativeUdp::Start>("start"),
                     InstanceMethod<&NativeUdp::Recv>("recv"), InstanceMethod<&NativeUdp::Close>("close"),
                     StaticValue("maxBatch", Napi::Number::New(env, vox::UdpRx::kMaxBatch)),
                     StaticValue("slotBytes", Napi::Number::New(env, static_cast<double>(vox::UdpRx::kSlot)))});
    return f;
  }

  explicit NativeUdp(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeUdp>(info) {
    const int r = rx_.open(0);
    if (r < 0) throwCode(info.Env(), "UDP_OPEN", std::string("udp socket: ") + std::strerror(-r));
  }

  ~NativeUdp() override { stop(); }

 private:
  // port() -> the bound local port
  Napi::Value Port(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), rx_.localPort()); }

  // connect(port): 127.0.0.1:port becomes the only peer
  Napi::Value Connect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) return throwCode(env, "UDP_BAD_ARG", "connect(port)");
    const int r = rx_.connect(static_cast<uint16_t>(info[0].As<Napi::Number>().Uint32Value()));
    if (r < 0) return throwCode(env, "UDP_CONNECT", std::string("udp connect: ") + std::strerror(-r));
    return env.Undefined();
  }

  // send(packet: Uint8Array) -> bytes sent, or -errno (reported, not thrown: a datagram)
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray()) return throwCode(env, "UDP_BAD_ARG", "send(packet: Uint8Array)");
    Napi::TypedArray t = info[0].As<Napi::TypedArray>();
    const auto* p = static_cast<const uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
    return Napi::Number::New(env, rx_.send(p, t.ByteLength()));
  }

  // start(onReadable): calls onReadable() on this thread's event loop whenever datagrams wait
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsFunction()) return throwCode(env, "UDP_BAD_ARG", "start(onReadable: () => void)");
    if (poll_ || rx_.fd() < 0) return throwCode(env, "UDP_STATE", "start(): already started or closed");
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) return throwCode(env, "UDP_STATE", "no event loop");
    auto* h = new uv_poll_t;
    int r = uv_poll_init_socket(loop, h, rx_.fd());
    if (r == 0) {
      h->data = this;
      r = uv_poll_start(h, UV_READABLE, &NativeUdp::OnPoll);
      if (r != 0) uv_close(reinterpret_cast<uv_handle_t*>(h), &NativeUdp::Free);
    } else {
      delete h;
    }
    if (r != 0) return throwCode(env, "UDP_POLL", std::string("uv_poll: ") + uv_strerror(r));
    poll_ = h;
    onReadable_ = Napi::Persistent(info[0].As<Napi::Function>());
    ctx_ = std::make_unique<Napi::AsyncContext>(env, "voxbridge.NativeUdp");
    Ref();  // kept alive by the loop while it is watched
    return env.Undefined();
  }

  // recv(buf: Uint8Array of maxBatch * slotBytes, meta: Float64Array of 2 * maxBatch) -> count or -errno;
  // datagram i is at buf[i * slotBytes], meta[2i] = its length (-1: longer than a slot), meta[2i + 1] = its age in ms
  Napi::Value Recv(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsTypedArray())
      return throwCode(env, "UDP_BAD_ARG", "recv(buf: Uint8Array, meta: Float64Array)");
    Napi::TypedArray b = info[0].As<Napi::TypedArray>();
    Napi::TypedArray m = info[1].As<Napi::TypedArray>();
    if (b.TypedArrayType() != napi_uint8_array || b.ByteLength() < vox::UdpRx::kBufferBytes)
      return throwCode(env, "UDP_BAD_ARG", "recv: buf must be a Uint8Array of at least maxBatch * slotBytes");
    if (m.TypedArrayType() != napi_float64_array || m.ElementLength() < 2 * vox::UdpRx::kMaxBatch)
      return throwCode(env, "UDP_BAD_ARG", "recv: meta must be a Float64Array of at least 2 * maxBatch");
    auto* buf = static_cast<uint8_t*>(b.ArrayBuffer().Data()) + b.ByteOffset();
    auto* out = reinterpret_cast<double*>(static_cast<uint8_t*>(m.ArrayBuffer().Data()) + m.ByteOffset());
    vox::UdpRx::Meta meta[vox::UdpRx::kMaxBatch];
    const int n = rx_.recvBatch(buf, meta);
    for (int i = 0; i < n; i++) {
      out[2 * i] = meta[i].truncated ? -1.0 : static_cast<double>(meta[i].length);
      out[2 * i + 1] = meta[i].ageMs;
    }
    return Napi::Number::New(env, n);
  }

  // close(): stops watching and closes the socket; idempotent
  Napi::Value Close(const Napi::CallbackInfo& info) {
    const bool watched = poll_ != nullptr;
    stop();
    if (watched) Unref();
    return info.Env().Undefined();
  }

  void stop() {
    if (poll_) {
      uv_poll_stop(poll_);
      poll_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), &NativeUdp::Free);
      poll_ = nullptr;
    }
    onReadable_.Reset();
    ctx_.reset();
    rx_.close();  // after the poll stopped: libuv must not watch a closed fd
  }

  static void Free(uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); }

  static void OnPoll(uv_poll_t* h, int status, int /*events*/) {
    auto* self = static_cast<NativeUdp*>(h->data);
    if (!self || self->onReadable_.IsEmpty()) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    // (an error on the socket, e.g. ECONNREFUSED from a peer that went away, is read
    // and reported by recv(), which clears it)
    self->onReadable_.MakeCallback(self->Value(), {}, *self->ctx_);
    if (env.IsExceptionPending()) {
      // thrown by the handler with no JavaScript caller above it: as an event handler's would be
      Napi::Error e = env.GetAndClearPendingException();
      napi_fatal_exception(env, e.Value());
    }
    // libuv stops a poll handle whose fd reported POLLERR (status UV_EBADF): the error
    // has been read now, so watch again
    if (status < 0 && self->poll_ == h) uv_poll_start(h, UV_READABLE, &NativeUdp::OnPoll);
  }

  vox::UdpRx rx_;
  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference onReadable_;
  std::unique_ptr<Napi::AsyncContext> ctx_;
};

// tcpDataAgeMs(fd) -> ms since the socket's last data segment arrived, or -errno
Napi::Value TcpDataAgeMs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return throwCode(env, "UDP_BAD_ARG", "tcpDataAgeMs(fd)");
  return Napi::Number::New(env, vox::tcpDataAgeMs(info[0].As<Napi::Number>().Int32Value()));
}

}  // namespace

void InitRecvTime(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeUdp", NativeUdp::Define(env));
  exports.Set("tcpDataAgeMs", Napi::Function::New<TcpDataAgeMs>(env, "tcpDataAgeMs"));
}

}  // namespace voxbridge
