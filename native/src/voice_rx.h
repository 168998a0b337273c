// The agents' voice input, off the event loop: one thread reads every agent's loopback
// RTP socket, decodes the participants' Opus and runs the agent's VAD there, and takes
// the barge-in decision the moment the deciding packet has been read.
//
// Why: on the event loop a user's packet waits in its socket while the loop works
// through every other session (at 100 sessions on 2 cores, tens of ms at p99:
// BENCHMARKS.md, "processing"), and the agent's voice keeps leaving meanwhile. Here
// the packet is read when it arrives, and when the socket's user voice reaches the
// interrupt condition while the agent's speech is armed (arm(), set by the session
// from its interrupt policy), the agent's pacer queue is gated (Pacer::gate) at once:
// nothing of the stopped speech leaves after the decision, whatever the event loop is
// doing. The session learns of it with the frame (kFired) and does the rest (splicer,
// LLM/TTS abort, records) as it would for its own decision.
//
// Per socket (one per agent): the voices of the participants it consumes, by SSRC
// (RTP parsed, sequence gaps concealed with libopus PLC, duplicates and late packets
// dropped: as src/rooms/opusRtpReceiver.ts), 16 kHz PCM cut into 20 ms frames; one
// "user" voice at a time (the first heard that may lead, as the agent listens to one
// user) goes through the socket's VAD with its far-end reference (far_end.h), paired by
// the packets' RTP timestamps rather than their arrival (media_clock.h). Human
// voices (a takeover) are delivered without the VAD; others are only tracked.
//
// Frames reach the event loop through drain(), with a notification from this thread:
// at once for a decision, else once 64 frames or 10 ms of them are waiting. Times are on the caller's clock: the monotonic
// clock plus the offset given to the constructor.
//
// Plain C++ and POSIX (epoll, eventfd); no Node headers.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "far_end.h"
#include "media_clock.h"
#include "opus_decoder.h"
#include "pacer.h"
#include "recv_time.h"
#include "vad.h"

namespace vox {

class VoiceRx {
 public:
  static constexpr int kRate = 16000;
  static constexpr int kFrame = 320;  // 20 ms at kRate: the VAD's frame
  static constexpr int kMaxConceal = 5;
  static constexpr int kMaxPacketSamples = 1920;  // 120 ms: the longest Opus packet
  static constexpr int kBatchesPerWake = 8;       // per socket and wake-up, as udpSocket.ts
  /** Frames waiting for the event loop at most (10 s of 100 voices); more are dropped and counted. */
  static constexpr size_t kMaxQueued = 50000;
  static constexpr double kHoldMs = 50;
  /** The event loop is told of waiting frames after this long, or kNotifyBatch of them (a decision: at once). */
  static constexpr double kNotifyAfterMs = 10;
  static constexpr size_t kNotifyBatch = 64;  // a gate's hold() bound (the gate follows at once)

  // Frame flags above the VAD's own (voxbridge::vad::Flag, bits 0-4).
  static constexpr uint32_t kVadRan = 1u << 8;      // the socket's user voice: flags and out[] are the VAD's
  static constexpr uint32_t kFired = 1u << 9;       // the barge-in was decided on this frame
  static constexpr uint32_t kConcealed = 1u << 10;  // (part of) the frame is PLC for a lost packet

  // arm() modes, as the session's interrupt policy (src/agent/interruptPolicy.ts)
  static constexpr int kArmOff = 0;
  static constexpr int kArmOnset = 1;     // any user voice onset
  static constexpr int kArmDuration = 2;  // the VAD's "D reached" (or reached earlier in the segment)

  // results of the calls below
  static constexpr int kOk = 0;
  static constexpr int kNoSocket = -1000;
  static constexpr int kNoVoice = -1001;
  static constexpr int kBadArg = -1002;

  struct Frame {
    int32_t socket;
    int32_t voice;
    uint32_t flags;
    int32_t flushed;    // kFired: packets the gate dropped (-1: no pacer queue was armed)
    double arrivalMs;   // when the packet carrying the frame's last sample reached the socket
    double mediaMs;     // that packet's time on the sender's clock (media_clock.h): the far-end pairing's
    double decisionMs;  // kFired: when the decision was taken; no agent packet left after it
    double wireAbortMs;  // kFired: when the armed requests' connections were shut down (0: none)
    double out[voxbridge::vad::kOutCount];
    int16_t pcm[kFrame];
  };

  struct Stats {
    uint64_t datagrams = 0;
    uint64_t rtcp = 0;
    uint64_t dropped = 0;    // not RTP, or an SSRC without a voice
    uint64_t malformed = 0;  // bad RTP, or another payload type
    uint64_t late = 0;       // duplicate or older than the last
    uint64_t lost = 0;       // sequence gaps
    uint64_t decodeErrors = 0;
    uint64_t frames = 0;     // delivered
    uint64_t overflows = 0;  // frames dropped: the event loop did not drain
    uint64_t fired = 0;
    uint64_t recvErrors = 0;
  };

  /** `offsetMs`: the caller's clock minus CLOCK_MONOTONIC ms. */
  explicit VoiceRx(double offsetMs);
  ~VoiceRx();
  VoiceRx(const VoiceRx&) = delete;
  VoiceRx& operator=(const VoiceRx&) = delete;

  /** Called on the receive thread when frames become waiting (once until drain() empties the queue). */
  void setNotify(void (*fn)(void*), void* ctx);
  /** nice -10 for the thread when it starts (where permitted); false: as created. */
  void requestHighPriority(bool on) { wantHigh_ = on; }

  /** A loopback UDP socket (port written to `port`), watched by the thread (started if not). Id or -errno. */
  int openSocket(uint16_t* port);
  int connect(int sock, uint16_t port);
  /** One datagram to the connected peer: bytes sent or -errno. */
  int send(int sock, const uint8_t* data, size_t len);
  /** Stops watching and closes; frames of it still queued are delivered. */
  int closeSocket(int sock);

  /**
   * A voice on `sock` (payloadType -1: any). `human`: delivered without the VAD;
   * `mayLead`: may become the socket's user voice. Returns the voice id or an error.
   */
  int addVoice(int sock, uint32_t ssrc, int payloadType, bool human, bool mayLead);
  int removeVoice(int voice);

  /** Gives the socket its user pipeline: a VAD with `c` (validated) and a far-end reference. */
  int setVad(int sock, const voxbridge::vad::Config& c);
  int setInterruptMs(int sock, int ms);
  /** One far-end frame per agent clock tick (kFrame samples or nullptr for silence), at `atMs`. */
  int farEnd(int sock, double atMs, const int16_t* frame);
  /** Far-end frames given for after `atMs` did not sound (flushed): see FarEndRef::cut. */
  int farEndCut(int sock, double atMs, double reissueFromMs);
  /**
   * Arms (or disarms, kArmOff) the socket's barge-in: on a user frame meeting `mode`,
   * `pacer`'s `queue` is gated at once (queue -1: the frame is only marked) and the
   * socket disarmed. Returns 1 when a barge-in fired since the last arm() (the caller
   * must let it be handled before new speech), else 0, or an error.
   */
  int arm(int sock, int mode, Pacer* pacer, int queue);
  /**
   * The connection of a request the socket's barge-in also stops (the agent's LLM/TTS
   * requests): `fd` is duplicated, and on a decision the connection is shut down
   * (shutdown(SHUT_RDWR): the server sees it close at the decision, not when the event
   * loop gets to abort the request). Returns a token (> 0) or an error.
   */
  int addAbortFd(int sock, int fd);
  /** Closes the duplicate; returns 1 when the decision shut the connection down, 0 if not, or an error. */
  int removeAbortFd(int sock, int token) { return abortFd(sock, token, true); }
  /** 1 when a decision shut the token's connection down, else 0 (or an error). */
  int wireAborted(int sock, int token) { return abortFd(sock, token, false); }

  /**
   * Moves up to `max` waiting frames out, oldest first, except that a socket with a
   * barge-in waiting has its frames up to it moved out before the other sockets'.
   */
  size_t drain(Frame* out, size_t max);
  size_t queued();
  Stats stats(int sock);  // sock -1: totals of every socket ever opened
  /** CLOCK_MONOTONIC ms. */
  static double monoMs();

 private:
  struct Voice {
    int id = 0;
    uint32_t ssrc = 0;
    int payloadType = -1;
    bool human = false;
    bool mayLead = false;
    voxbridge::opus::Decoder dec;
    int lastSeq = -1;
    int lastSamples = kFrame;
    RtpMediaTime rtpTime{48000};  // Opus's RTP clock (RFC 7587)
    MediaClock clock;
    int16_t pend[kFrame];
    int pendN = 0;
    bool concealedPend = false;
  };
  struct Socket {
    std::mutex mu;  // the thread while it reads; the caller's calls
    int id = 0;
    UdpRx udp;
    std::vector<std::unique_ptr<Voice>> voices;
    int userVoice = -1;
    std::unique_ptr<voxbridge::vad::Vad> vad;
    std::unique_ptr<FarEndRef> far;
    bool onsetSeen = false;
    bool reached = false;
    int armMode = kArmOff;
    Pacer* pacer = nullptr;
    int queue = -1;
    bool firedSinceArm = false;
    struct AbortFd {
      int token;
      int fd;        // our duplicate
      bool shut;     // shut down by a decision
    };
    std::vector<AbortFd> abortFds;
    int nextToken = 1;
    bool watched = false;
    Stats stats;
  };

  std::shared_ptr<Socket> find(int sock);
  /** Runs f(socket) under its lock; kNoSocket without it. */
  template <class F>
  int withSocket(int sock, F&& f);
  int abortFd(int sock, int token, bool remove);
  int ensureThread();
  static void* threadMain(void* self);
  void run();
  void readSocket(Socket& s, std::vector<Frame>& out);
  void onDatagram(Socket& s, const uint8_t* p, size_t len, double arrivalMs, std::vector<Frame>& out);
  void emitPcm(Socket& s, Voice& v, const int16_t* pcm, int n, double arrivalMs, double mediaMs, bool concealed, std::vector<Frame>& out);
  void frameOut(Socket& s, Voice& v, double arrivalMs, double mediaMs, std::vector<Frame>& out);
  void publish(std::vector<Frame>& batch);
  void promoteFired();

  const double offsetMs_;
  std::mutex tableMu_;
  std::unordered_map<int, std::shared_ptr<Socket>> sockets_;
  std::unordered_map<int, int> voiceSocket_;  // voice id -> socket id
  int nextSocket_ = 1;
  int nextVoice_ = 1;
  Stats closed_;

  std::mutex outMu_;
  std::vector<Frame> out_;
  size_t outHead_ = 0;
  size_t firedQueued_ = 0;  // frames with kFired in out_ (outMu_)
  double pendingSince_ = 0;  // when frames began to wait with no wake-up sent (outMu_; 0: none)
  std::atomic<bool> notified_{false};
  void (*notify_)(void*) = nullptr;
  void* notifyCtx_ = nullptr;

  int epfd_ = -1;
  int wakefd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<bool> wantHigh_{true};
  bool started_ = false;
  pthread_t thread_{};
  std::vector<uint8_t> buf_;  // the thread's receive buffer
};

}  // namespace vox
