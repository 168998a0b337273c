// Dates a stream's audio by the sender's clock (its RTP timestamps) instead of by when
// its packets arrived: media time mapped onto our clock by the smallest delay seen. The
// far-end reference pairs user frames by this time, so an uplink that delivers packets
// late and in bursts does not move the reference off the echo. A port of
// src/media/mediaClock.ts, where the rule is explained (parity test).
//
// Plain C++; not thread-safe (one per voice, owned by the receive thread).
#pragma once

#include <cmath>
#include <cstdint>

namespace vox {

class MediaClock {
 public:
  static constexpr double kLeakMsPerS = 0.5;
  static constexpr double kRebaseMs = 1000;

  /** Our time for media time `mediaMs` of a packet that arrived at `arrivalMs` (never after it). */
  double at(double mediaMs, double arrivalMs) {
    const double d = arrivalMs - mediaMs;
    if (std::isnan(offset_) || mediaMs < lastMedia_ || d - offset_ > kRebaseMs) {
      offset_ = d;
      rebases_++;
    } else {
      const double dt = arrivalMs - lastArrival_;
      if (dt > 0) offset_ += (kLeakMsPerS * dt) / 1000;
      if (d < offset_) offset_ = d;
    }
    lastArrival_ = arrivalMs;
    lastMedia_ = mediaMs;
    return mediaMs + offset_;
  }

  void reset() {
    offset_ = NAN;
    lastArrival_ = 0;
    lastMedia_ = 0;
  }
  uint64_t rebases() const { return rebases_; }

 private:
  double offset_ = NAN;
  double lastArrival_ = 0;
  double lastMedia_ = 0;
  uint64_t rebases_ = 0;
};

/** An RTP timestamp extended past its 32-bit wrap (and reordering), in ms of `clockRate`. */
class RtpMediaTime {
 public:
  explicit RtpMediaTime(int clockRate) : rate_(clockRate) {}
  double ms(uint32_t ts) {
    if (!started_) ext_ = ts;
    else ext_ += static_cast<int32_t>(ts - last_);
    started_ = true;
    last_ = ts;
    return static_cast<double>(ext_) * 1000 / rate_;
  }
  void reset() { started_ = false; }

 private:
  int rate_;
  int64_t ext_ = 0;
  uint32_t last_ = 0;
  bool started_ = false;
};

}  // namespace vox
