#include "opus_encoder.h"

#include <opus.h>

namespace voxbridge {
namespace opus {

namespace {

int applicationValue(Application a) {
  switch (a) {
    case Application::Audio:
      return OPUS_APPLICATION_AUDIO;
    case Application::LowDelay:
      return OPUS_APPLICATION_RESTRICTED_LOWDELAY;
    case Application::Voip:
    default:
      return OPUS_APPLICATION_VOIP;
  }
}

bool validRate(int r) { return r == 8000 || r == 12000 || r == 16000 || r == 24000 || r == 48000; }

}  // namespace

Encoder::~Encoder() {
  if (enc_) opus_encoder_destroy(enc_);
}

int Encoder::init(const EncoderConfig& cfg) {
  if (enc_) {
    opus_encoder_destroy(enc_);
    enc_ = nullptr;
  }
  if (!validRate(cfg.sampleRate) || (cfg.channels != 1 && cfg.channels != 2) || cfg.complexity < 0 ||
      cfg.complexity > 10 || (cfg.bitrate != 0 && (cfg.bitrate < 6000 || cfg.bitrate > 510000)))
    return OPUS_BAD_ARG;
  int err = OPUS_OK;
  OpusEncoder* e = opus_encoder_create(cfg.sampleRate, cfg.channels, applicationValue(cfg.application), &err);
  if (err != OPUS_OK || !e) {
    if (e) opus_encoder_destroy(e);
    return err != OPUS_OK ? err : OPUS_ALLOC_FAIL;
  }
  int rc = OPUS_OK;
  if (cfg.bitrate != 0) rc = opus_encoder_ctl(e, OPUS_SET_BITRATE(cfg.bitrate));
  if (rc == OPUS_OK) rc = opus_encoder_ctl(e, OPUS_SET_COMPLEXITY(cfg.complexity));
  if (rc == OPUS_OK) rc = opus_encoder_ctl(e, OPUS_SET_INBAND_FEC(cfg.inbandFec ? 1 : 0));
  if (rc == OPUS_OK) rc = opus_encoder_ctl(e, OPUS_SET_DTX(cfg.dtx ? 1 : 0));
  if (rc == OPUS_OK) rc = opus_encoder_ctl(e, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
  if (rc != OPUS_OK) {
    opus_encoder_destroy(e);
    return rc;
  }
  enc_ = e;
  cfg_ = cfg;
  return OPUS_OK;
}

bool Encoder::validFrameSize(int sampleRate, size_t n) {
  // 2.5, 5, 10, 20, 40, 60 ms: n * 400 / rate in {1, 2, 4, 8, 16, 24}.
  if (sampleRate <= 0) return false;
  const size_t r = static_cast<size_t>(sampleRate);
  if ((n * 400) % r != 0) return false;
  const size_t q = n * 400 / r;
  return q == 1 || q == 2 || q == 4 || q == 8 || q == 16 || q == 24;
}

int Encoder::encode(const int16_t* pcm, size_t frameSamples, uint8_t* out, size_t outCap) {
  if (!enc_) return OPUS_INVALID_STATE;
  if (!pcm || !out || outCap == 0) return OPUS_BAD_ARG;
  if (!validFrameSize(cfg_.sampleRate, frameSamples)) return kBadFrameSize;
  const opus_int32 cap = static_cast<opus_int32>(outCap > kMaxPacket ? kMaxPacket : outCap);
  const opus_int32 n = opus_encode(enc_, pcm, static_cast<int>(frameSamples), out, cap);
  return n;  // > 0 bytes, or a negative libopus error (OPUS_BUFFER_TOO_SMALL, ...)
}

int Encoder::reset() {
  if (!enc_) return OPUS_INVALID_STATE;
  return opus_encoder_ctl(enc_, OPUS_RESET_STATE);
}

int Encoder::setBitrate(int bps) {
  if (!enc_) return OPUS_INVALID_STATE;
  if (bps < 6000 || bps > 510000) return OPUS_BAD_ARG;
  const int rc = opus_encoder_ctl(enc_, OPUS_SET_BITRATE(bps));
  if (rc == OPUS_OK) cfg_.bitrate = bps;
  return rc;
}

const char* errorCode(int status) {
  switch (status) {
    case OPUS_OK:
      return "OPUS_OK";
    case OPUS_BAD_ARG:
      return "OPUS_BAD_ARG";
    case OPUS_BUFFER_TOO_SMALL:
      return "OPUS_BUFFER_TOO_SMALL";
    case OPUS_INTERNAL_ERROR:
      return "OPUS_INTERNAL_ERROR";
    case OPUS_INVALID_PACKET:
      return "OPUS_INVALID_PACKET";
    case OPUS_UNIMPLEMENTED:
      return "OPUS_UNIMPLEMENTED";
    case OPUS_INVALID_STATE:
      return "OPUS_INVALID_STATE";
    case OPUS_ALLOC_FAIL:
      return "OPUS_ALLOC_FAIL";
    case kBadFrameSize:
      return "OPUS_BAD_FRAME_SIZE";
    default:
      return status > 0 ? "OPUS_OK" : "OPUS_UNKNOWN_ERROR";
  }
}

const char* errorMessage(int status) {
  if (status == kBadFrameSize) return "frame size must be 2.5, 5, 10, 20, 40 or 60 ms at the encoder's sample rate";
  return opus_strerror(status);
}

const char* libraryVersion() { return opus_get_version_string(); }

}  // namespace opus
}  // namespace voxbridge
