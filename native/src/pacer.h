// A send-time pacer for the agent's RTP: packets are handed in ahead of their time
// (the frame clock runs a few frames early) and one thread, outside any JavaScript
// event loop, sends each on its own UDP socket when its time comes. A busy or
// collecting main thread then delays production, not the wire, as long as it stays
// within the lead.
//
// Each queue owns a UDP socket on 127.0.0.1 connected to one peer (a mediasoup
// PlainTransport). flush() drops what is queued and, as it takes the lock the sender
// holds while sending, nothing of it leaves after flush() returns: an interrupt stays
// a flush. Every send is recorded (id, time sent, lateness) for drain(), so the caller
// learns what actually went out and when (the echo reference is built from that).
//
// Plain C++ and POSIX sockets; no Node headers.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace vox {

/**
 * A mutex with priority inheritance: the sender thread may run at a real-time
 * priority, and the event loop's thread holds this lock for a moment per packet. If
 * that thread were preempted while holding it (a busy machine), the sender would wait
 * for it to be scheduled again; with inheritance it is boosted instead.
 */
class PiMutex {
 public:
  PiMutex();
  ~PiMutex();
  PiMutex(const PiMutex&) = delete;
  PiMutex& operator=(const PiMutex&) = delete;
  void lock() { pthread_mutex_lock(&m_); }
  void unlock() { pthread_mutex_unlock(&m_); }
  pthread_mutex_t* native() { return &m_; }

 private:
  pthread_mutex_t m_;
};

/** A condition variable whose timed wait is on CLOCK_MONOTONIC (the pacer's clock). */
class MonoCond {
 public:
  MonoCond();
  ~MonoCond();
  MonoCond(const MonoCond&) = delete;
  MonoCond& operator=(const MonoCond&) = delete;
  void wait(PiMutex& m) { pthread_cond_wait(&c_, m.native()); }
  /** Until `ms` on CLOCK_MONOTONIC, a signal, or a spurious wake-up. */
  void waitUntil(PiMutex& m, double ms);
  void signal() { pthread_cond_signal(&c_); }

 private:
  pthread_cond_t c_;
};

/** Upper bounds (ms) of the send-lateness histogram; one more bucket above the last. */
constexpr int kLatenessBuckets = 8;
constexpr double kLatenessBoundsMs[kLatenessBuckets] = {0.5, 1, 2, 5, 10, 20, 50, 100};

struct PacerStats {
  double sent = 0;
  /** Sent more than 10 ms after their due time. */
  double late = 0;
  double lateSumMs = 0;
  double maxLateMs = 0;
  /** Dropped by flush() before their time. */
  double flushed = 0;
  /** enqueue() refused: the queue was full. */
  double overflows = 0;
  double sendErrors = 0;
  /** Send records overwritten before drain() read them. */
  double recordsLost = 0;
  /** Handed in already more than 10 ms past their time (the producer was late, not the pacer). */
  double enqueuedLate = 0;
  /** Stream items that took more than one write (the socket's buffer was full part way). */
  double partialWrites = 0;
  /** Sent packets by lateness (send time − due time), per kLatenessBoundsMs bucket, then over the last. */
  double lateness[kLatenessBuckets + 1] = {};
};

class Pacer {
 public:
  static constexpr int kCapacity = 32;       // packets queued per socket (640 ms of 20 ms frames)
  static constexpr int kMaxPacket = 1400;    // bytes
  static constexpr int kRecords = 64;        // send records kept per socket until drained
  static constexpr double kLateMs = 10;
  static constexpr double kRetryMs = 1;      // a stream socket whose buffer was full is tried again
  // An untimed item (a message: subtitles, marks) waits for the sender's next wake-up
  // when that comes within this long, rather than waking it: each wake of the
  // real-time sender preempts the event loop for a pass and a send.
  static constexpr double kRideMs = 5;

  // enqueue() results
  static constexpr int kOk = 0;
  static constexpr int kFull = -1;
  static constexpr int kTooLarge = -2;
  static constexpr int kNoQueue = -3;
  static constexpr int kGated = -4;  // the queue is gated (a barge-in flushed it): timed items are refused

  Pacer() = default;
  ~Pacer();
  Pacer(const Pacer&) = delete;
  Pacer& operator=(const Pacer&) = delete;

  /** CLOCK_MONOTONIC in ms: the clock due times are on. */
  static double nowMs();

  /**
   * A queue with a UDP socket bound to 127.0.0.1 on an ephemeral port (written to
   * `port`), the sender thread started if it was not. Returns the queue id (>= 0) or
   * -errno (a socket or the thread could not be made).
   */
  int open(uint16_t* port);
  /** Connects the queue's socket to 127.0.0.1:`port`. 0 or -errno. */
  int connect(int q, uint16_t port);
  /**
   * A queue that writes to a connected stream socket the caller owns (a WebSocket's
   * TCP connection): `fd` is duplicated, so the caller may close its own. Every
   * write to that connection must then go through this queue, in order: items are
   * written whole and in sequence, a partial write is finished before the next item
   * (retried every kRetryMs while the socket's buffer is full), and flush() never
   * drops an item that is partly written. Returns the queue id or -errno.
   */
  int openStream(int fd);
  /**
   * For a stream queue: bytes of the item being written that are not written yet
   * (0: the byte stream is at an item boundary, the caller may write to the connection
   * itself once the queue is empty or closed). kNoQueue without such a queue.
   */
  int partial(int q);
  /**
   * Queues one packet to leave at `dueMs` (nowMs() clock; a past time means at once).
   * dueMs 0 is an untimed item (a message written "now", after what is queued): it has
   * a send record but stays out of the timing stats (sent, late, lateness, flushed).
   * (An enqueueFrame() of the packet alone; so an empty packet queues nothing.)
   */
  int enqueue(int q, const uint8_t* data, size_t len, double dueMs, uint32_t id);
  /**
   * Queues one frame of a stream, `head` then `body`, cut into as many packets as it
   * needs, whole or not at all (kFull: no room for all of it; kTooLarge: more than the
   * queue holds). The id goes with its last packet. One lock for the whole frame.
   */
  int enqueueFrame(int q, const uint8_t* head, size_t headLen, const uint8_t* body, size_t bodyLen, double dueMs, uint32_t id);
  /**
   * Drops every queued packet; returns how many (or kNoQueue). None of them is sent after
   * this returns. Also lifts a gate (below): the caller is handling the interruption.
   */
  int flush(int q) { return dropQueued(q, false); }
  /**
   * A flush that also gates the queue: until the next flush() (or ungate()), timed items
   * handed in are refused (kGated) and counted as flushed. A barge-in decided off the
   * event loop (voice_rx.h) stops the wire with it at once, while the event loop, which
   * learns of the decision later, may still hand in frames of the stopped speech.
   * Untimed items (messages) still pass. Returns what flush() returns.
   */
  int gate(int q) { return dropQueued(q, true); }
  /** Lifts a gate without a flush; kNoQueue or 0. */
  int ungate(int q);
  /**
   * Announces a flush: from now until the next flush() (or close(), or `maxMs` if
   * neither comes) the sender begins no send, on any queue. Returns the time just
   * after the announcement (CLOCK_MONOTONIC ms): no send begins after that time and
   * before the flush. A barge-in dates its decision with it, so a frame of the
   * stopped speech can no longer leave between the decision and the flush.
   */
  double hold(double maxMs);
  /** Ends a hold without a flush (the caller had nothing to flush: its queue was closed). */
  void release() { holdUntil_.store(0, std::memory_order_seq_cst); }
  /**
   * Moves up to `max` send records, oldest first, out; returns how many (or kNoQueue).
   * sentMs is when the send call (the last one, for a stream item written in parts) began;
   * beganMs (may be null) when the item's first send call began.
   */
  int drain(int q, uint32_t* ids, double* sentMs, double* beganMs, int max);
  /** Packets queued and not yet sent. */
  int pending(int q);
  bool stats(int q, PacerStats* out);
  /** Totals over every queue ever opened. */
  PacerStats totals();

  /**
   * The sender thread's scheduling, asked for before it starts (the first enqueue):
   * kRealtime = SCHED_FIFO at the lowest real-time priority (it runs for microseconds
   * every 5 ms, like an audio server's thread), kHigh = nice -10, kNormal = as created.
   * Each falls back to the next where not permitted; priority() says what it got.
   */
  static constexpr int kNormal = 0;
  static constexpr int kHigh = 1;
  static constexpr int kRealtime = 2;
  void requestPriority(int mode) { wanted_ = mode; }
  /** What the sender thread got (-1 before it started). */
  int priority() const { return got_; }
  /** How often the sender let a waiting caller have the lock in the middle of a pass. */
  uint64_t stepAsides() const { return stepAsides_.load(std::memory_order_relaxed); }
  /** Step-asides whose caller did not come within their wait, after which the pass went on without it. */
  uint64_t stepAsidesCut() const { return stepAsidesCut_.load(std::memory_order_relaxed); }
  /**
   * Tests only: counts (+1) or uncounts (-1) a caller without taking the lock, as a
   * thread preempted between announcing itself and reaching the lock would be.
   */
  void announceCallerForTest(int delta) { callers_.fetch_add(delta, std::memory_order_seq_cst); }
  /**
   * Drops the queue's packets and closes its socket; the id may be reused. Returns the
   * bytes of a stream item left part written (0: the stream ended at an item
   * boundary), or kNoQueue: decided under the same lock as the close.
   */
  int close(int q);

 private:
  struct Packet {
    double dueMs;
    uint32_t id;
    uint16_t len;
    uint8_t data[kMaxPacket];
  };
  struct Record {
    uint32_t id;
    double sentMs;   // the write that finished the item began
    double beganMs;  // its first write began (a stream item written in parts; else sentMs)
  };
  struct Queue {
    int fd = -1;
    bool stream = false;  // a TCP connection: partial writes are finished, never dropped
    bool gated = false;   // gate(): timed items are refused until the next flush()/ungate()
    uint16_t off = 0;     // bytes of the head item already written (stream)
    double beganMs = 0;   // when the head item's first write began (stream, off > 0)
    double retryAt = 0;   // stream: the socket's buffer was full; try again then
    Packet ring[kCapacity];
    int head = 0, count = 0;
    Record records[kRecords];
    int recHead = 0, recCount = 0;
    PacerStats stats;
  };

  /**
   * A caller's hold on mu_ (every public method's): counted while it waits, so that
   * the sender thread steps aside between two sends instead of finishing its pass
   * first. A pass at 100 connections is ~25 sends, each running the loopback
   * receiver's path inside it: a barge-in's flush waiting behind it could see one of
   * its own frames leave after the decision, and the event loop would stall.
   */
  class CallerLock {
   public:
    explicit CallerLock(Pacer& p);
    ~CallerLock() { p_.mu_.unlock(); }
    CallerLock(const CallerLock&) = delete;
    CallerLock& operator=(const CallerLock&) = delete;

   private:
    Pacer& p_;
  };

  Queue* find(int q);
  /** flush() and gate(): drops the queue's unsent items (a partly written stream item stays), gated after or not. */
  int dropQueued(int q, bool gateAfter);
  static int unwritten(const Queue& s);
  int addQueue(int fd, bool stream);
  /** Called with mu_ held: whether an item due at `dueMs` (0: untimed) must wake the sender. */
  bool mustWake(double dueMs) const;
  /** Starts the sender thread once; 0 or -errno (no exception: the addon is built without them). */
  int ensureThread();
  static void* threadMain(void* self);
  void run();
  /** False when it stopped because a caller waits for the lock (see CallerLock). */
  bool sendDue(Queue& q, double now);
  /** The sender, holding mu_: lets the waiting callers have it, then takes it back. */
  /** Lets waiting callers have the lock; false when one stayed counted but never came (see run()). */
  bool stepAside();
  /** Whether a send dated `at` must wait for an announced flush (hold()). */
  bool held(double at) const;
  void sent(Queue& s, const Packet& p, double at, double began);
  void timing(Queue& s, const Packet& p, double at);
  void pop(Queue& s);

  PiMutex mu_;
  MonoCond cv_;
  std::vector<std::unique_ptr<Queue>> queues_;
  PacerStats closed_;
  double waitingUntil_ = 0;  // the sender's wake-up time (0: idle until notified)
  bool stop_ = false;
  std::atomic<int> callers_{0};  // threads waiting in CallerLock
  std::atomic<double> holdUntil_{0};  // hold(): no send begins before this (CLOCK_MONOTONIC ms)
  std::atomic<uint64_t> stepAsides_{0};
  std::atomic<uint64_t> stepAsidesCut_{0};
  bool passIgnoresCallers_ = false;  // sender thread, under mu_: see run()
  std::atomic<int> wanted_{kRealtime};
  std::atomic<int> got_{-1};
  pthread_t thread_{};
  bool started_ = false;
};

}  // namespace vox
