// See voice_rx.h.
#include "voice_rx.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

namespace vox {

namespace {

uint32_t be32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) | (static_cast<uint32_t>(p[2]) << 8) | p[3];
}

struct RtpView {
  int payloadType;
  int seq;
  uint32_t timestamp;
  uint32_t ssrc;
  size_t off, len;
};

// RFC 3550 fixed header, CSRCs, one extension, padding: as src/media/rtp.ts's parseRtp.
bool parseRtp(const uint8_t* p, size_t n, RtpView* v) {
  if (n < 12 || (p[0] >> 6) != 2) return false;
  size_t off = 12 + 4 * static_cast<size_t>(p[0] & 0x0f);
  if (off > n) return false;
  if (p[0] & 0x10) {
    if (off + 4 > n) return false;
    const size_t words = (static_cast<size_t>(p[off + 2]) << 8) | p[off + 3];
    off += 4 + 4 * words;
    if (off > n) return false;
  }
  size_t end = n;
  if (p[0] & 0x20) {
    const size_t pad = p[n - 1];
    if (pad == 0 || end - pad < off) return false;
    end -= pad;
  }
  v->payloadType = p[1] & 0x7f;
  v->seq = (p[2] << 8) | p[3];
  v->timestamp = be32(p + 4);
  v->ssrc = be32(p + 8);
  v->off = off;
  v->len = end - off;
  return true;
}

void add(VoiceRx::Stats& a, const VoiceRx::Stats& b) {
  a.datagrams += b.datagrams;
  a.rtcp += b.rtcp;
  a.dropped += b.dropped;
  a.malformed += b.malformed;
  a.late += b.late;
  a.lost += b.lost;
  a.decodeErrors += b.decodeErrors;
  a.frames += b.frames;
  a.overflows += b.overflows;
  a.fired += b.fired;
  a.recvErrors += b.recvErrors;
}

}  // namespace

double VoiceRx::monoMs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

VoiceRx::VoiceRx(double offsetMs) : offsetMs_(offsetMs), buf_(UdpRx::kBufferBytes) {}

VoiceRx::~VoiceRx() {
  if (started_) {
    stop_.store(true);
    const uint64_t one = 1;
    (void)!::write(wakefd_, &one, sizeof one);
    pthread_join(thread_, nullptr);
  }
  if (epfd_ >= 0) ::close(epfd_);
  if (wakefd_ >= 0) ::close(wakefd_);
}

void VoiceRx::setNotify(void (*fn)(void*), void* ctx) {
  std::lock_guard<std::mutex> g(outMu_);
  notify_ = fn;
  notifyCtx_ = ctx;
}

int VoiceRx::ensureThread() {
  if (started_) return 0;
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) return -errno;
  wakefd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakefd_ < 0) return -errno;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;  // socket ids start at 1
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev) < 0) return -errno;
  const int r = pthread_create(&thread_, nullptr, &VoiceRx::threadMain, this);
  if (r != 0) return -r;
  started_ = true;
  return 0;
}

void* VoiceRx::threadMain(void* self) {
  static_cast<VoiceRx*>(self)->run();
  return nullptr;
}

std::shared_ptr<VoiceRx::Socket> VoiceRx::find(int sock) {
  std::lock_guard<std::mutex> g(tableMu_);
  auto it = sockets_.find(sock);
  return it == sockets_.end() ? nullptr : it->second;
}

int VoiceRx::openSocket(uint16_t* port) {
  auto s = std::make_shared<Socket>();
  int r = s->udp.open(0);
  if (r < 0) return r;
  std::lock_guard<std::mutex> g(tableMu_);
  r = ensureThread();
  if (r < 0) return r;
  s->id = nextSocket_++;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = static_cast<uint64_t>(s->id);
  sockets_[s->id] = s;
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, s->udp.fd(), &ev) < 0) {
    const int e = errno;
    sockets_.erase(s->id);
    return -e;
  }
  s->watched = true;
  if (port) *port = s->udp.localPort();
  return s->id;
}

template <class F>
int VoiceRx::withSocket(int sock, F&& f) {
  auto s = find(sock);
  if (!s) return kNoSocket;
  std::lock_guard<std::mutex> g(s->mu);
  return f(*s);
}

int VoiceRx::connect(int sock, uint16_t port) {
  return withSocket(sock, [&](Socket& s) { return s.udp.connect(port); });
}

int VoiceRx::send(int sock, const uint8_t* data, size_t len) {
  auto s = find(sock);
  if (!s) return kNoSocket;
  // no lock: a datagram send and the thread's reads do not share state
  return s->udp.send(data, len);
}

int VoiceRx::closeSocket(int sock) {
  std::shared_ptr<Socket> s;
  {
    std::lock_guard<std::mutex> g(tableMu_);
    auto it = sockets_.find(sock);
    if (it == sockets_.end()) return kNoSocket;
    s = it->second;
    sockets_.erase(it);
    for (auto& v : s->voices) voiceSocket_.erase(v->id);
    (void)::epoll_ctl(epfd_, EPOLL_CTL_DEL, s->udp.fd(), nullptr);
  }
  // the thread may be reading it: the socket's lock waits for that
  std::lock_guard<std::mutex> g(s->mu);
  s->watched = false;
  s->udp.close();
  for (auto& a : s->abortFds) ::close(a.fd);
  s->abortFds.clear();
  std::lock_guard<std::mutex> g2(tableMu_);
  add(closed_, s->stats);
  return kOk;
}

int VoiceRx::addVoice(int sock, uint32_t ssrc, int payloadType, bool human, bool mayLead) {
  if (payloadType < -1 || payloadType > 127) return kBadArg;
  auto s = find(sock);
  if (!s) return kNoSocket;
  auto v = std::make_unique<Voice>();
  const int r = v->dec.init(kRate, 1);
  if (r < 0) return r;
  v->ssrc = ssrc;
  v->payloadType = payloadType;
  v->human = human;
  v->mayLead = mayLead;
  {
    std::lock_guard<std::mutex> g(tableMu_);
    v->id = nextVoice_++;
    voiceSocket_[v->id] = sock;
  }
  const int id = v->id;
  std::lock_guard<std::mutex> g(s->mu);
  for (auto& o : s->voices)
    if (o->ssrc == ssrc) {
      // a new consumer for an SSRC replaces the old one (the handler map in loopbackRtp.ts does the same)
      if (s->userVoice == o->id) s->userVoice = -1;
      o = std::move(v);
      return id;
    }
  s->voices.push_back(std::move(v));
  return id;
}

int VoiceRx::removeVoice(int voice) {
  int sock;
  {
    std::lock_guard<std::mutex> g(tableMu_);
    auto it = voiceSocket_.find(voice);
    if (it == voiceSocket_.end()) return kNoVoice;
    sock = it->second;
    voiceSocket_.erase(it);
  }
  auto s = find(sock);
  if (!s) return kNoVoice;
  std::lock_guard<std::mutex> g(s->mu);
  for (size_t i = 0; i < s->voices.size(); i++)
    if (s->voices[i]->id == voice) {
      if (s->userVoice == voice) s->userVoice = -1;
      s->voices.erase(s->voices.begin() + static_cast<long>(i));
      return kOk;
    }
  return kNoVoice;
}

int VoiceRx::setVad(int sock, const voxbridge::vad::Config& c) {
  if (voxbridge::vad::validate(c) != voxbridge::vad::Status::Ok || c.sampleRate != kRate || c.frameMs * kRate / 1000 != kFrame) return kBadArg;
  return withSocket(sock, [&](Socket& s) {
    s.vad = std::make_unique<voxbridge::vad::Vad>(c);
    s.far = std::make_unique<FarEndRef>(kFrame);
    s.onsetSeen = false;
    s.reached = false;
    return kOk;
  });
}

int VoiceRx::setInterruptMs(int sock, int ms) {
  return withSocket(sock, [&](Socket& s) { return s.vad ? static_cast<int>(s.vad->setInterruptMs(ms)) : kBadArg; });
}

int VoiceRx::farEnd(int sock, double atMs, const int16_t* frame) {
  return withSocket(sock, [&](Socket& s) {
    if (!s.far) return kBadArg;
    s.far->onTick(atMs, frame);
    return kOk;
  });
}

int VoiceRx::farEndCut(int sock, double atMs, double reissueFromMs) {
  return withSocket(sock, [&](Socket& s) {
    if (!s.far) return kBadArg;
    s.far->cut(atMs, reissueFromMs);
    return kOk;
  });
}

int VoiceRx::addAbortFd(int sock, int fd) {
  auto s = find(sock);
  if (!s) return kNoSocket;
  const int d = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (d < 0) return -errno;
  std::lock_guard<std::mutex> g(s->mu);
  const int token = s->nextToken++;
  s->abortFds.push_back({token, d, false});
  return token;
}

int VoiceRx::abortFd(int sock, int token, bool remove) {
  return withSocket(sock, [&](Socket& s) {
    for (auto it = s.abortFds.begin(); it != s.abortFds.end(); ++it)
      if (it->token == token) {
        const int shut = it->shut ? 1 : 0;
        if (remove) {
          ::close(it->fd);
          s.abortFds.erase(it);
        }
        return shut;
      }
    return kBadArg;
  });
}

int VoiceRx::arm(int sock, int mode, Pacer* pacer, int queue) {
  if (mode < kArmOff || mode > kArmDuration) return kBadArg;
  return withSocket(sock, [&](Socket& s) {
    const bool fired = s.firedSinceArm;
    s.firedSinceArm = false;
    s.armMode = mode;
    s.pacer = pacer;
    s.queue = pacer ? queue : -1;
    return fired ? 1 : 0;
  });
}

size_t VoiceRx::drain(Frame* out, size_t max) {
  std::lock_guard<std::mutex> g(outMu_);
  if (firedQueued_ > 0) promoteFired();
  size_t n = 0;
  while (n < max && outHead_ < out_.size()) {
    if (out_[outHead_].flags & kFired) firedQueued_--;
    out[n++] = out_[outHead_++];
  }
  if (outHead_ == out_.size()) {
    firedQueued_ = 0;
    pendingSince_ = 0;
    out_.clear();
    outHead_ = 0;
    notified_.store(false);  // under outMu_, as publish() reads it: no notification is lost
  }
  return n;
}

// A barge-in's frame goes to the event loop first (with its socket's frames before it,
// in order): the session acts on it (aborts the requests) before it works through the
// other agents' frames. Frames keep their order within a socket. Called with outMu_.
void VoiceRx::promoteFired() {
  std::vector<int> fired;  // sockets with a decision waiting, in order of their first
  size_t lastFired = outHead_;
  for (size_t i = outHead_; i < out_.size(); i++)
    if (out_[i].flags & kFired) {
      lastFired = i;
      bool seen = false;
      for (int s : fired) seen = seen || s == out_[i].socket;
      if (!seen) fired.push_back(out_[i].socket);
    }
  if (fired.empty()) return;
  auto isFiredSocket = [&](int sock) {
    for (int s : fired)
      if (s == sock) return true;
    return false;
  };
  // up to the last decision: that socket's frames first; everything after keeps its place
  std::vector<Frame> first, rest;
  for (size_t i = outHead_; i <= lastFired; i++) (isFiredSocket(out_[i].socket) ? first : rest).push_back(out_[i]);
  size_t k = outHead_;
  for (auto& f : first) out_[k++] = f;
  for (auto& f : rest) out_[k++] = f;
}

size_t VoiceRx::queued() {
  std::lock_guard<std::mutex> g(outMu_);
  return out_.size() - outHead_;
}

VoiceRx::Stats VoiceRx::stats(int sock) {
  if (sock >= 0) {
    auto s = find(sock);
    if (!s) return Stats();
    std::lock_guard<std::mutex> g(s->mu);
    return s->stats;
  }
  std::vector<std::shared_ptr<Socket>> all;
  Stats t;
  {
    std::lock_guard<std::mutex> g(tableMu_);
    t = closed_;
    for (auto& kv : sockets_) all.push_back(kv.second);
  }
  for (auto& s : all) {
    std::lock_guard<std::mutex> g(s->mu);
    add(t, s->stats);
  }
  return t;
}

void VoiceRx::run() {
  if (wantHigh_.load()) (void)setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), -10);
  epoll_event evs[64];
  std::vector<Frame> batch;
  batch.reserve(256);
  while (!stop_.load()) {
    // frames waiting without a wake-up of the event loop are announced by kNotifyAfterMs
    int timeout = -1;
    {
      std::lock_guard<std::mutex> g(outMu_);
      if (!notified_.load() && out_.size() > outHead_) {
        const double left = pendingSince_ + kNotifyAfterMs - monoMs();
        timeout = left <= 0 ? 0 : static_cast<int>(left) + 1;
      }
    }
    const int n = ::epoll_wait(epfd_, evs, 64, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < n; i++) {
      const int id = static_cast<int>(evs[i].data.u64);
      if (id == 0) {
        uint64_t v;
        (void)!::read(wakefd_, &v, sizeof v);
        continue;
      }
      auto s = find(id);
      if (!s) continue;
      std::lock_guard<std::mutex> g(s->mu);
      if (s->watched) readSocket(*s, batch);
    }
    publish(batch);
  }
}

void VoiceRx::readSocket(Socket& s, std::vector<Frame>& out) {
  UdpRx::Meta meta[UdpRx::kMaxBatch];
  for (int b = 0; b < kBatchesPerWake; b++) {
    const int n = s.udp.recvBatch(buf_.data(), meta);
    if (n < 0) {
      if (n == -EAGAIN || n == -EWOULDBLOCK) return;
      s.stats.recvErrors++;  // ECONNREFUSED (the transport is gone) is consumed; read on
      continue;
    }
    const double now = monoMs() + offsetMs_;
    for (int i = 0; i < n; i++) {
      s.stats.datagrams++;
      if (meta[i].truncated) {
        s.stats.dropped++;
        continue;
      }
      onDatagram(s, buf_.data() + static_cast<size_t>(i) * UdpRx::kSlot, meta[i].length, now - meta[i].ageMs, out);
    }
    if (n < UdpRx::kMaxBatch) return;
  }
}

void VoiceRx::onDatagram(Socket& s, const uint8_t* p, size_t len, double arrivalMs, std::vector<Frame>& out) {
  if (len < 12 || (p[0] >> 6) != 2) {
    s.stats.dropped++;
    return;
  }
  // RFC 5761: RTCP packet types 192-223 sit where RTP's marker bit and payload types 64-95 would be
  if (p[1] >= 192 && p[1] <= 223) {
    s.stats.rtcp++;
    return;
  }
  const uint32_t ssrc = be32(p + 8);
  Voice* v = nullptr;
  for (auto& o : s.voices)
    if (o->ssrc == ssrc) v = o.get();
  if (!v) {
    s.stats.dropped++;
    return;
  }
  RtpView r;
  if (!parseRtp(p, len, &r) || (v->payloadType >= 0 && r.payloadType != v->payloadType)) {
    s.stats.malformed++;
    return;
  }
  if (s.userVoice < 0 && v->mayLead) s.userVoice = v->id;  // the first heard leads (agentParticipant's onVoice)
  const bool decode = v->human || s.userVoice == v->id;
  int16_t pcm[kMaxPacketSamples];
  const int delta = v->lastSeq >= 0 ? (r.seq - v->lastSeq) & 0xffff : 1;
  if (delta == 0 || delta > 0x8000) {
    s.stats.late++;
    return;
  }
  // the packet's time on the sender's clock (its capture), for the far-end pairing
  const double mediaMs = v->clock.at(v->rtpTime.ms(r.timestamp), arrivalMs);
  if (delta > 1) {
    const int missing = delta - 1;
    s.stats.lost += static_cast<uint64_t>(missing);
    if (decode && missing <= kMaxConceal)
      for (int k = 0; k < missing; k++) {
        const int c = v->dec.conceal(pcm, static_cast<size_t>(v->lastSamples));
        // the lost packets came before this one, one after the other
        const double at = mediaMs - static_cast<double>(missing - k) * v->lastSamples / (kRate / 1000);
        if (c > 0) emitPcm(s, *v, pcm, c, arrivalMs, at, true, out);
      }
  }
  v->lastSeq = r.seq;
  if (!decode || r.len == 0) return;
  const int n = v->dec.decode(p + r.off, r.len, pcm, kMaxPacketSamples);
  if (n <= 0) {
    s.stats.decodeErrors++;
    return;
  }
  v->lastSamples = n;
  emitPcm(s, *v, pcm, n, arrivalMs, mediaMs, false, out);
}

void VoiceRx::emitPcm(Socket& s, Voice& v, const int16_t* pcm, int n, double arrivalMs, double mediaMs, bool concealed,
                      std::vector<Frame>& out) {
  int off = 0;
  while (off < n) {
    const int take = kFrame - v.pendN < n - off ? kFrame - v.pendN : n - off;
    std::memcpy(v.pend + v.pendN, pcm + off, sizeof(int16_t) * static_cast<size_t>(take));
    v.pendN += take;
    v.concealedPend = v.concealedPend || concealed;
    off += take;
    if (v.pendN == kFrame) {
      frameOut(s, v, arrivalMs, mediaMs, out);
      v.pendN = 0;
      v.concealedPend = false;
    }
  }
}

void VoiceRx::frameOut(Socket& s, Voice& v, double arrivalMs, double mediaMs, std::vector<Frame>& out) {
  out.emplace_back();
  Frame& f = out.back();
  f.socket = s.id;
  f.voice = v.id;
  f.flags = v.concealedPend ? kConcealed : 0;
  f.flushed = 0;
  f.arrivalMs = arrivalMs;
  f.mediaMs = mediaMs;
  f.decisionMs = 0;
  f.wireAbortMs = 0;
  std::memcpy(f.pcm, v.pend, sizeof f.pcm);
  for (double& o : f.out) o = 0;
  s.stats.frames++;
  if (s.userVoice != v.id || !s.vad) return;
  const uint32_t flags = s.vad->process(f.pcm, s.far->next(mediaMs), f.out);
  f.flags |= flags | kVadRan;
  // the session's view of the segment (src/agent/voiceInput.ts), then its policy
  const bool start = (flags & voxbridge::vad::kSpeechStart) != 0;
  const bool reachedNow = (flags & voxbridge::vad::kDurationReached) != 0;
  if (start) {
    s.onsetSeen = true;
    s.reached = false;
  }
  const bool reachedInSegment = s.reached && (flags & voxbridge::vad::kSpeech) != 0;
  if (reachedNow) s.reached = true;
  if (flags & voxbridge::vad::kSpeechEnd) s.reached = false;
  if (s.armMode == kArmOff || !s.onsetSeen) return;
  const bool trigger = s.armMode == kArmOnset ? (start || f.out[voxbridge::vad::kOutSpeechMs] > 0) : (reachedNow || reachedInSegment);
  if (!trigger) return;
  if (s.pacer && s.queue >= 0) {
    // hold first: no send begins after the decision's time, until the gate's flush
    f.decisionMs = s.pacer->hold(kHoldMs) + offsetMs_;
    f.flushed = s.pacer->gate(s.queue);
  } else {
    f.decisionMs = monoMs() + offsetMs_;
    f.flushed = -1;
  }
  // the requests of the stopped speech: their servers see the connections close now
  bool shut = false;
  for (auto& a : s.abortFds)
    if (!a.shut) {
      a.shut = true;
      (void)::shutdown(a.fd, SHUT_RDWR);
      shut = true;
    }
  if (shut) f.wireAbortMs = monoMs() + offsetMs_;
  f.flags |= kFired;
  s.armMode = kArmOff;
  s.firedSinceArm = true;
  s.stats.fired++;
}

void VoiceRx::publish(std::vector<Frame>& batch) {
  bool call = false;
  void (*fn)(void*) = nullptr;
  void* ctx = nullptr;
  {
    std::lock_guard<std::mutex> g(outMu_);
    bool decision = false;
    for (auto& f : batch) {
      // (a decision is never dropped: the session must learn of it and lift the gate)
      if (out_.size() - outHead_ >= kMaxQueued && !(f.flags & kFired)) {
        auto s = find(f.socket);  // (tableMu_ after outMu_: never the other way round)
        if (s) {
          std::lock_guard<std::mutex> gs(s->mu);
          s->stats.overflows++;
        }
        continue;
      }
      if (f.flags & kFired) {
        firedQueued_++;
        decision = true;
      }
      out_.push_back(f);
    }
    // The event loop is woken at once for a decision, else once kNotifyBatch frames wait
    // or the oldest has waited kNotifyAfterMs: a wake-up per packet would cost the loop a
    // pass per packet (at 100 agents, 5,000 a second) for frames nothing there waits for.
    const size_t waiting = out_.size() - outHead_;
    if (waiting > 0 && !notified_.load() && pendingSince_ == 0) pendingSince_ = monoMs();
    if (waiting > 0 && !notified_.load() &&
        (decision || waiting >= kNotifyBatch || monoMs() - pendingSince_ >= kNotifyAfterMs)) {
      notified_.store(true);
      call = notify_ != nullptr;
      fn = notify_;
      ctx = notifyCtx_;
    }
  }
  batch.clear();
  if (call) fn(ctx);
}

}  // namespace vox
