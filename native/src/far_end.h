// The far-end reference for echo rejection, for a VAD run off the event loop
// (voice_rx.h): what the agent sent, as a continuous stream of frames (one per clock
// tick, silence when nothing was sent), and a cursor that hands the VAD one reference
// frame per user frame. A port of src/agent/farEnd.ts, where the rule is explained:
// the cursor moves one frame per user frame, placed by time at the start and moved
// again only when every packet of the last kWindow user frames, arrived over at least
// kWindowSpanMs, puts it more than kResync frames off in the same direction.
//
// Not thread-safe: the owner serialises onTick() and next(). Plain C++.
#pragma once

#include <cstdint>
#include <vector>

namespace vox {

class FarEndRef {
 public:
  // 1.28 s of 20 ms frames: a user frame delayed up to media_clock.h's kRebaseMs (1 s)
  // on its uplink still finds the frame sent when it was captured
  static constexpr int kSlots = 64;
  static constexpr int kResync = 3;
  static constexpr int kWindow = 10;
  static constexpr double kWindowSpanMs = 150;

  explicit FarEndRef(int frameSamples);

  /** Once per clock tick: the frame sent at `atMs`, or nullptr when the agent sent nothing. */
  void onTick(double atMs, const int16_t* frame);
  /**
   * The reference for the next user frame, dated `arrivalMs` (its media time by
   * media_clock.h, as voice_rx gives it, or its packet's arrival)
   * (frameSamples() samples, valid until the next onTick()).
   */
  const int16_t* next(double arrivalMs);
  /**
   * Frames given with a time after `atMs` did not sound after all (the agent's queued
   * frames were flushed): they become silence. For a caller that gives frames when they
   * are queued, with their due time, rather than when they were sent. Those at or after
   * `reissueFromMs` are removed: their periods will be given again (the caller makes
   * the next frame on its tick), and a slot left for them would put the stream that many
   * frames ahead of time, the cursor off the echo until a resync.
   */
  void cut(double atMs, double reissueFromMs);
  int frameSamples() const { return n_; }
  /** Cursor placements (start, drift, a gap in the user's audio). */
  uint64_t resyncs() const { return resyncs_; }

 private:
  void place(int64_t k);

  int n_;
  std::vector<int16_t> frames_;  // kSlots frames
  std::vector<int16_t> silent_;
  double sentAt_[kSlots] = {};
  bool sounding_[kSlots] = {};
  int64_t newest_ = -1;  // index of the newest slot written (frames since the start)
  int64_t cursor_ = -1;
  double dRing_[kWindow] = {};
  double dAt_[kWindow] = {};
  int64_t dN_ = 0;
  uint64_t resyncs_ = 0;
};

}  // namespace vox
