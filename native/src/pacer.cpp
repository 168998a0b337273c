#include "pacer.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <limits>

namespace vox {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();


void add(PacerStats& a, const PacerStats& b) {
  a.sent += b.sent;
  a.late += b.late;
  a.lateSumMs += b.lateSumMs;
  if (b.maxLateMs > a.maxLateMs) a.maxLateMs = b.maxLateMs;
  a.flushed += b.flushed;
  a.overflows += b.overflows;
  a.sendErrors += b.sendErrors;
  a.recordsLost += b.recordsLost;
  a.enqueuedLate += b.enqueuedLate;
  a.partialWrites += b.partialWrites;
  for (int i = 0; i <= kLatenessBuckets; i++) a.lateness[i] += b.lateness[i];
}
}  // namespace

PiMutex::PiMutex() {
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT);
  pthread_mutex_init(&m_, &a);
  pthread_mutexattr_destroy(&a);
}

PiMutex::~PiMutex() { pthread_mutex_destroy(&m_); }

MonoCond::MonoCond() {
  pthread_condattr_t a;
  pthread_condattr_init(&a);
  pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  pthread_cond_init(&c_, &a);
  pthread_condattr_destroy(&a);
}

MonoCond::~MonoCond() { pthread_cond_destroy(&c_); }

void MonoCond::waitUntil(PiMutex& m, double ms) {
  timespec ts;
  const double s = ms / 1e3;
  ts.tv_sec = static_cast<time_t>(s);
  ts.tv_nsec = static_cast<long>((s - static_cast<double>(ts.tv_sec)) * 1e9);
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  if (ts.tv_nsec < 0) ts.tv_nsec = 0;
  pthread_cond_timedwait(&c_, m.native(), &ts);
}

Pacer::~Pacer() {
  {
    CallerLock lock(*this);
    stop_ = true;
  }
  cv_.signal();
  if (started_) pthread_join(thread_, nullptr);
  for (auto& q : queues_)
    if (q && q->fd >= 0) ::close(q->fd);
}

double Pacer::nowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

Pacer::CallerLock::CallerLock(Pacer& p) : p_(p) {
  p_.callers_.fetch_add(1, std::memory_order_seq_cst);
  p_.mu_.lock();
  p_.callers_.fetch_sub(1, std::memory_order_relaxed);
}

// With a priority-inheritance mutex, unlocking with a waiter blocked on it hands the
// lock to that waiter (the kernel makes it the owner), and lock() then waits for it
// and boosts it. A caller that has counted itself but not yet reached the futex is
// given a moment (we may share its CPU, and we run at real-time priority).
bool Pacer::stepAside() {
  stepAsides_.fetch_add(1, std::memory_order_relaxed);
  mu_.unlock();
  // at most ~0.5 ms by the clock (a sleep of 10 µs can take 100 µs where this thread
  // does not run at real-time priority)
  const double until = nowMs() + 0.5;
  for (;;) {
    const double now = nowMs();
    if (now > until || (callers_.load(std::memory_order_seq_cst) == 0 && !held(now))) break;
    timespec ts{0, 10000};  // 10 µs
    nanosleep(&ts, nullptr);
  }
  mu_.lock();
  return callers_.load(std::memory_order_seq_cst) == 0;
}

Pacer::Queue* Pacer::find(int q) {
  if (q < 0 || static_cast<size_t>(q) >= queues_.size()) return nullptr;
  return queues_[q].get();
}

int Pacer::open(uint16_t* port) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t n = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n) != 0) {
    const int e = errno;
    ::close(fd);
    return -e;
  }
  // Nothing is read from this socket (the peer's RTCP is not needed): keep its
  // receive buffer small so ignored datagrams cost little memory.
  int rcv = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  *port = ntohs(a.sin_port);
  return addQueue(fd, false);
}

// Takes `fd` (closed on failure): a new queue on it, the sender thread started if needed.
int Pacer::addQueue(int fd, bool stream) {
  CallerLock lock(*this);
  const int t = ensureThread();
  if (t < 0) {
    ::close(fd);
    return t;
  }
  size_t i = 0;
  while (i < queues_.size() && queues_[i]) i++;
  if (i == queues_.size()) queues_.emplace_back();
  queues_[i] = std::make_unique<Queue>();
  queues_[i]->fd = fd;
  queues_[i]->stream = stream;
  return static_cast<int>(i);
}

int Pacer::connect(int q, uint16_t port) {
  int fd;
  {
    CallerLock lock(*this);
    Queue* s = find(q);
    if (!s) return kNoQueue;
    fd = s->fd;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? 0 : -errno;
}

int Pacer::openStream(int fd) {
  const int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return -errno;
  return addQueue(dup, true);
}

// Called with mu_ held: bytes of a stream's head item still to write once begun (0: none begun).
int Pacer::unwritten(const Queue& s) {
  return s.stream && s.count > 0 && s.off > 0 ? s.ring[s.head].len - s.off : 0;
}

int Pacer::partial(int q) {
  CallerLock lock(*this);
  Queue* s = find(q);
  return s ? unwritten(*s) : kNoQueue;
}

void* Pacer::threadMain(void* self) {
  static_cast<Pacer*>(self)->run();
  return nullptr;
}

// Called with mu_ held.
int Pacer::ensureThread() {
  if (started_) return 0;
  const int e = pthread_create(&thread_, nullptr, &Pacer::threadMain, this);
  if (e != 0) return -e;
  started_ = true;
  return 0;
}

int Pacer::enqueue(int q, const uint8_t* data, size_t len, double dueMs, uint32_t id) {
  // a datagram is never cut: one packet, or refused
  if (len > static_cast<size_t>(kMaxPacket)) return kTooLarge;
  return enqueueFrame(q, nullptr, 0, data, len, dueMs, id);
}

double Pacer::hold(double maxMs) {
  holdUntil_.store(nowMs() + maxMs, std::memory_order_seq_cst);
  // the clock is read after the store is visible: a send dated later sees the hold
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return nowMs();
}

bool Pacer::held(double at) const {
  // the clock read that made `at` comes before this load (see hold())
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return at < holdUntil_.load(std::memory_order_seq_cst);
}

int Pacer::enqueueFrame(int q, const uint8_t* head, size_t headLen, const uint8_t* body, size_t bodyLen, double dueMs, uint32_t id) {
  const size_t total = headLen + bodyLen;
  const size_t slots = (total + kMaxPacket - 1) / kMaxPacket;
  if (total == 0) return kOk;  // nothing to send
  if (slots > static_cast<size_t>(kCapacity)) return kTooLarge;
  bool wake;
  {
    CallerLock lock(*this);
    Queue* s = find(q);
    if (!s) return kNoQueue;
    if (s->gated && dueMs > 0) {
      s->stats.flushed++;  // a frame of the speech a gate stopped: it will not leave
      return kGated;
    }
    if (static_cast<size_t>(kCapacity - s->count) < slots) {
      s->stats.overflows++;
      return kFull;
    }
    if (dueMs > 0 && nowMs() - dueMs > kLateMs) s->stats.enqueuedLate++;
    size_t off = 0;  // of the frame, head then body
    for (size_t k = 0; k < slots; k++) {
      Packet& p = s->ring[(s->head + s->count) % kCapacity];
      const size_t n = total - off < static_cast<size_t>(kMaxPacket) ? total - off : static_cast<size_t>(kMaxPacket);
      size_t w = 0;
      if (off < headLen) {
        w = headLen - off < n ? headLen - off : n;
        std::memcpy(p.data, head + off, w);
      }
      if (w < n) std::memcpy(p.data + w, body + (off + w - headLen), n - w);
      p.dueMs = dueMs;
      p.id = k + 1 == slots ? id : 0;
      p.len = static_cast<uint16_t>(n);
      s->count++;
      off += n;
    }
    wake = mustWake(dueMs);
  }
  if (wake) cv_.signal();
  return kOk;
}

// Only if the item is due before the time the sender sleeps until; an untimed one
// rides on a wake-up due within kRideMs.
bool Pacer::mustWake(double dueMs) const {
  if (waitingUntil_ == 0) return true;  // idle until notified
  return dueMs > 0 ? dueMs < waitingUntil_ : nowMs() + kRideMs < waitingUntil_;
}

int Pacer::dropQueued(int q, bool gateAfter) {
  CallerLock lock(*this);
  holdUntil_.store(0, std::memory_order_seq_cst);
  Queue* s = find(q);
  if (!s) return kNoQueue;
  s->gated = gateAfter;
  // a stream's partly written item is finished: dropping it would cut a message
  const int keep = unwritten(*s) > 0 ? 1 : 0;
  const int n = s->count - keep;
  for (int i = keep; i < s->count; i++)
    if (s->ring[(s->head + i) % kCapacity].dueMs > 0) s->stats.flushed++;  // timed items only
  s->count = keep;
  return n;
}

int Pacer::ungate(int q) {
  CallerLock lock(*this);
  Queue* s = find(q);
  if (!s) return kNoQueue;
  s->gated = false;
  return kOk;
}

int Pacer::drain(int q, uint32_t* ids, double* sentMs, double* beganMs, int max) {
  CallerLock lock(*this);
  Queue* s = find(q);
  if (!s) return kNoQueue;
  int n = 0;
  while (n < max && s->recCount > 0) {
    const Record& r = s->records[s->recHead];
    ids[n] = r.id;
    sentMs[n] = r.sentMs;
    if (beganMs) beganMs[n] = r.beganMs;
    n++;
    s->recHead = (s->recHead + 1) % kRecords;
    s->recCount--;
  }
  return n;
}

int Pacer::pending(int q) {
  CallerLock lock(*this);
  Queue* s = find(q);
  return s ? s->count : kNoQueue;
}

bool Pacer::stats(int q, PacerStats* out) {
  CallerLock lock(*this);
  Queue* s = find(q);
  if (!s) return false;
  *out = s->stats;
  return true;
}

PacerStats Pacer::totals() {
  CallerLock lock(*this);
  PacerStats t = closed_;
  for (auto& q : queues_)
    if (q) add(t, q->stats);
  return t;
}

int Pacer::close(int q) {
  CallerLock lock(*this);
  holdUntil_.store(0, std::memory_order_seq_cst);
  Queue* s = find(q);
  if (!s) return kNoQueue;
  const int left = unwritten(*s);
  add(closed_, s->stats);
  if (s->fd >= 0) ::close(s->fd);
  queues_[q].reset();
  return left;
}

// Called with mu_ held.
void Pacer::sent(Queue& s, const Packet& p, double at, double began) {
  if (p.dueMs > 0) timing(s, p, at);
  if (s.recCount == kRecords) {
    s.recHead = (s.recHead + 1) % kRecords;
    s.recCount--;
    s.stats.recordsLost++;
  }
  s.records[(s.recHead + s.recCount) % kRecords] = Record{p.id, at, began};
  s.recCount++;
}

// Called with mu_ held: a timed item's lateness (items due "now", 0, have none).
void Pacer::timing(Queue& s, const Packet& p, double at) {
  const double late = at - p.dueMs;
  s.stats.sent++;
  if (late > kLateMs) s.stats.late++;
  if (late > 0) s.stats.lateSumMs += late;
  if (late > s.stats.maxLateMs) s.stats.maxLateMs = late;
  int k = 0;
  while (k < kLatenessBuckets && late > kLatenessBoundsMs[k]) k++;
  s.stats.lateness[k]++;
}

void Pacer::pop(Queue& s) {
  s.head = (s.head + 1) % kCapacity;
  s.count--;
  s.off = 0;
}

// Called with mu_ held: the lock spans the send, which is what makes flush() final.
bool Pacer::sendDue(Queue& s, double now) {
  if (s.stream && s.retryAt > now) return true;
  s.retryAt = 0;
  while (s.count > 0) {
    Packet& p = s.ring[s.head];
    if (p.dueMs > now) break;
    // The send time is taken before the call: on loopback, send() runs the receiver's
    // path (softirq) inside the call, tens of µs or more under load, and a frame handed
    // to the kernel before a barge-in decision must not be dated after it.
    const double at = nowMs();
    // A caller waiting for the lock (a flush, most urgently) goes first, and so does a
    // flush announced by hold(); a stream's item part way written is finished before
    // (its bytes must stay contiguous).
    if (s.off == 0 && ((!passIgnoresCallers_ && callers_.load(std::memory_order_seq_cst) > 0) || held(at))) return false;
    const ssize_t r = ::send(s.fd, p.data + s.off, p.len - s.off, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (!s.stream) {
      if (r < 0) s.stats.sendErrors++;
      else sent(s, p, at, at);
      pop(s);
      continue;
    }
    if (s.off == 0) s.beganMs = at;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      s.retryAt = at + kRetryMs;  // the peer is not reading: keep the bytes, in order
      return true;
    }
    if (r < 0) {
      // the connection is gone: nothing queued can be written any more
      s.stats.sendErrors += s.count;
      s.count = 0;
      s.off = 0;
      return true;
    }
    s.off = static_cast<uint16_t>(s.off + r);
    if (s.off < p.len) {
      s.retryAt = at + kRetryMs;
      return true;
    }
    if (s.beganMs < at) s.stats.partialWrites++;
    sent(s, p, at, s.beganMs);
    pop(s);
  }
  return true;
}

void Pacer::run() {
  int got = kNormal;
  if (wanted_ >= kRealtime) {
    sched_param sp{};
    sp.sched_priority = sched_get_priority_min(SCHED_FIFO);
    if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0) got = kRealtime;
  }
  if (got == kNormal && wanted_ >= kHigh) {
    // per thread on Linux: PRIO_PROCESS with a thread id sets that thread's nice
    if (setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), -10) == 0) got = kHigh;
  }
  got_ = got;
  std::lock_guard<PiMutex> lock(mu_);
  bool ignoreCallers = false;
  while (!stop_) {
    // A caller counted in callers_ but preempted before it reached the lock would
    // otherwise stop every send until its thread runs again (a normal-priority thread on
    // a busy machine: many ms; seen as frames late with none handed in late). After a
    // step-aside it did not come to, the next pass goes on without waiting for callers
    // (an announced flush, hold(), is still waited for).
    passIgnoresCallers_ = ignoreCallers;
    ignoreCallers = false;
    // Sub-millisecond early sends are fine (the receiver's jitter buffer does not
    // see them); waking again for 50 µs is not.
    const double now = nowMs() + 0.05;
    double next = kInf;
    bool yielded = false;
    for (auto& q : queues_) {
      if (!q || q->count == 0) continue;
      if (!sendDue(*q, now)) {
        yielded = true;
        break;
      }
      if (q->count == 0) continue;
      const double at = q->retryAt > 0 ? q->retryAt : q->ring[q->head].dueMs;
      if (at < next) next = at;
    }
    if (yielded) {
      // the pass starts over once the callers are done (queues_ may have changed)
      if (!stepAside()) {
        stepAsidesCut_.fetch_add(1, std::memory_order_relaxed);
        ignoreCallers = true;
      }
      continue;
    }
    if (next == kInf) {
      waitingUntil_ = 0;
      cv_.wait(mu_);
    } else {
      waitingUntil_ = next;
      cv_.waitUntil(mu_, next);
    }
  }
}

}  // namespace vox
