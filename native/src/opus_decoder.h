// Opus decoding for the voices the agent listens to (room participants, SIP
// callers), plain C++ over libopus (no Node headers).
//
// One Decoder per incoming stream. libopus synthesises at the rate asked for, so a
// decoder created at 16 kHz hands the core its own rate with no resampler. Status
// values are libopus's (negative = error); errorCode()/errorMessage() in
// opus_encoder.h name them.
#pragma once
#include <cstddef>
#include <cstdint>

struct OpusDecoder;

namespace voxbridge {
namespace opus {

class Decoder {
 public:
  Decoder() = default;
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // sampleRate: 8000, 12000, 16000, 24000 or 48000; channels 1 or 2. Returns 0 or a
  // negative libopus error; on error the object stays unusable.
  int init(int sampleRate, int channels);

  // Decodes one packet into `pcm` (interleaved, capacity `capSamples` per channel).
  // Returns samples per channel (> 0) or a negative error. A packet longer than the
  // capacity is OPUS_BUFFER_TOO_SMALL, never a write past it.
  int decode(const uint8_t* packet, size_t len, int16_t* pcm, size_t capSamples);

  // Packet-loss concealment for `samples` per channel (a lost packet's duration,
  // a multiple of 2.5 ms). Returns samples written or a negative error.
  int conceal(int16_t* pcm, size_t samples);

  // Recovers a lost packet from the in-band FEC of the packet that followed it
  // (`samples` = the lost packet's duration). Without FEC data libopus conceals.
  int decodeFec(const uint8_t* nextPacket, size_t len, int16_t* pcm, size_t samples);

  int reset();

  bool ready() const { return dec_ != nullptr; }
  int sampleRate() const { return rate_; }
  int channels() const { return channels_; }

 private:
  OpusDecoder* dec_ = nullptr;
  int rate_ = 0;
  int channels_ = 0;
};

}  // namespace opus
}  // namespace voxbridge
