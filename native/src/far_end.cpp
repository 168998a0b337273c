// See far_end.h (and src/agent/farEnd.ts, which this mirrors step for step).
#include "far_end.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace vox {

FarEndRef::FarEndRef(int frameSamples)
    : n_(frameSamples), frames_(static_cast<size_t>(kSlots) * frameSamples), silent_(frameSamples) {}

void FarEndRef::onTick(double atMs, const int16_t* frame) {
  const int64_t n = ++newest_;
  const int slot = static_cast<int>(n % kSlots);
  sentAt_[slot] = atMs;
  sounding_[slot] = frame != nullptr;
  if (frame) std::memcpy(&frames_[static_cast<size_t>(slot) * n_], frame, sizeof(int16_t) * n_);
}

const int16_t* FarEndRef::next(double arrivalMs) {
  if (newest_ < 0) return silent_.data();
  // the frame being sent when the packet arrived: the newest one sent at or before it
  int64_t target = newest_;
  const int64_t oldest = std::max<int64_t>(0, newest_ - kSlots + 1);
  while (target > oldest && sentAt_[target % kSlots] > arrivalMs) target--;
  if (cursor_ < 0 || cursor_ < oldest) {
    place(target);
  } else {
    const double d = static_cast<double>(target - cursor_);
    const int w = static_cast<int>(dN_++ % kWindow);
    dRing_[w] = d;
    dAt_[w] = arrivalMs;
    if (dN_ >= kWindow && arrivalMs - dAt_[dN_ % kWindow] >= kWindowSpanMs) {
      double lo = std::numeric_limits<double>::infinity(), hi = -lo;
      for (int i = 0; i < kWindow; i++) {
        lo = std::min(lo, dRing_[i]);
        hi = std::max(hi, dRing_[i]);
      }
      if (lo > kResync) place(cursor_ + static_cast<int64_t>(lo));
      else if (hi < -kResync) place(cursor_ + static_cast<int64_t>(hi));
    }
  }
  // user frames a little ahead of the ticks (clock drift, a late tick): repeat the newest
  const int64_t at = std::min(cursor_, newest_);
  cursor_ = at + 1;
  const int slot = static_cast<int>(at % kSlots);
  return sounding_[slot] ? &frames_[static_cast<size_t>(slot) * n_] : silent_.data();
}

void FarEndRef::cut(double atMs, double reissueFromMs) {
  for (int i = 0; i < kSlots; i++)
    if (sentAt_[i] > atMs) sounding_[i] = false;
  // slot times increase: the periods to be given again are the newest
  const int64_t oldest = std::max<int64_t>(0, newest_ - kSlots + 1);
  while (newest_ >= oldest && sentAt_[newest_ % kSlots] >= reissueFromMs) newest_--;
  if (cursor_ > newest_ + 1) cursor_ = newest_ + 1;
}

void FarEndRef::place(int64_t k) {
  cursor_ = k;
  dN_ = 0;
  resyncs_++;
}

}  // namespace vox
