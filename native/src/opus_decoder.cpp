#include "opus_decoder.h"

#include <opus.h>

namespace voxbridge {
namespace opus {

namespace {
// 120 ms at 48 kHz: the longest packet Opus has (RFC 6716 §3.2.5).
constexpr size_t kMaxFrameAt48k = 5760;

bool validRate(int r) { return r == 8000 || r == 12000 || r == 16000 || r == 24000 || r == 48000; }
}  // namespace

Decoder::~Decoder() {
  if (dec_) opus_decoder_destroy(dec_);
}

int Decoder::init(int sampleRate, int channels) {
  if (dec_) {
    opus_decoder_destroy(dec_);
    dec_ = nullptr;
  }
  if (!validRate(sampleRate) || (channels != 1 && channels != 2)) return OPUS_BAD_ARG;
  int err = OPUS_OK;
  OpusDecoder* d = opus_decoder_create(sampleRate, channels, &err);
  if (err != OPUS_OK || !d) {
    if (d) opus_decoder_destroy(d);
    return err != OPUS_OK ? err : OPUS_ALLOC_FAIL;
  }
  dec_ = d;
  rate_ = sampleRate;
  channels_ = channels;
  return OPUS_OK;
}

int Decoder::decode(const uint8_t* packet, size_t len, int16_t* pcm, size_t capSamples) {
  if (!dec_) return OPUS_INVALID_STATE;
  if (!packet || len == 0 || !pcm) return OPUS_BAD_ARG;
  if (len > 1275 * 3) return OPUS_INVALID_PACKET;  // larger than any 120 ms packet
  // Checked before decoding: libopus would otherwise fail only after parsing.
  const int n = opus_packet_get_nb_samples(packet, static_cast<opus_int32>(len), rate_);
  if (n < 0) return n;
  if (static_cast<size_t>(n) > capSamples) return OPUS_BUFFER_TOO_SMALL;
  const size_t cap = capSamples > kMaxFrameAt48k ? kMaxFrameAt48k : capSamples;
  return opus_decode(dec_, packet, static_cast<opus_int32>(len), pcm, static_cast<int>(cap), 0);
}

int Decoder::conceal(int16_t* pcm, size_t samples) {
  if (!dec_) return OPUS_INVALID_STATE;
  if (!pcm || samples == 0 || samples > kMaxFrameAt48k) return OPUS_BAD_ARG;
  // PLC needs a multiple of 2.5 ms.
  if ((samples * 400) % static_cast<size_t>(rate_) != 0) return OPUS_BAD_ARG;
  return opus_decode(dec_, nullptr, 0, pcm, static_cast<int>(samples), 0);
}

int Decoder::decodeFec(const uint8_t* next, size_t len, int16_t* pcm, size_t samples) {
  if (!dec_) return OPUS_INVALID_STATE;
  if (!next || len == 0 || !pcm || samples == 0 || samples > kMaxFrameAt48k) return OPUS_BAD_ARG;
  if ((samples * 400) % static_cast<size_t>(rate_) != 0) return OPUS_BAD_ARG;
  if (len > 1275 * 3) return OPUS_INVALID_PACKET;
  return opus_decode(dec_, next, static_cast<opus_int32>(len), pcm, static_cast<int>(samples), 1);
}

int Decoder::reset() {
  if (!dec_) return OPUS_INVALID_STATE;
  return opus_decoder_ctl(dec_, OPUS_RESET_STATE);
}

}  // namespace opus
}  // namespace voxbridge
