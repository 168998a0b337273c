// Opus encoding for the agent's voice, plain C++ over libopus (no Node headers).
//
// One Encoder per outgoing stream. Every libopus return code is checked; failures
// are reported as libopus's negative error values, which `errorCode()` names with
// a stable string (OPUS_BAD_ARG, ...) and `errorMessage()` describes.
#pragma once
#include <cstddef>
#include <cstdint>

struct OpusEncoder;

namespace voxbridge {
namespace opus {

enum class Application : int { Voip = 0, Audio = 1, LowDelay = 2 };

struct EncoderConfig {
  int sampleRate = 48000;  // 8000, 12000, 16000, 24000 or 48000
  int channels = 1;        // 1 or 2
  Application application = Application::Voip;
  int bitrate = 32000;     // bits/s, 6000..510000; 0 = libopus default
  int complexity = 5;      // 0..10
  bool inbandFec = false;
  bool dtx = false;
};

// Our own (non-libopus) status for a frame size that Opus cannot encode.
constexpr int kBadFrameSize = -100;

// Largest Opus packet we produce for one frame (RFC 6716 allows up to 1275 bytes).
constexpr size_t kMaxPacket = 1275;

class Encoder {
 public:
  Encoder() = default;
  ~Encoder();
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  // Creates the libopus encoder and applies the settings. Returns 0 (OPUS_OK) or a
  // negative error; on error the object stays unusable.
  int init(const EncoderConfig& cfg);

  // Encodes one frame of `frameSamples` samples per channel (interleaved PCM16).
  // Returns the packet length in bytes (> 0), or a negative error.
  int encode(const int16_t* pcm, size_t frameSamples, uint8_t* out, size_t outCap);

  // Back to a fresh stream state (a new talk-spurt). Returns 0 or a negative error.
  int reset();

  int setBitrate(int bitsPerSecond);

  bool ready() const { return enc_ != nullptr; }
  int sampleRate() const { return cfg_.sampleRate; }
  int channels() const { return cfg_.channels; }

  // True for the frame sizes Opus accepts at `sampleRate` (2.5 to 60 ms).
  static bool validFrameSize(int sampleRate, size_t frameSamples);

 private:
  OpusEncoder* enc_ = nullptr;
  EncoderConfig cfg_;
};

// Stable name of a status: "OPUS_OK", "OPUS_BAD_ARG", ..., "OPUS_BAD_FRAME_SIZE".
const char* errorCode(int status);
// Human-readable description (libopus's opus_strerror, or ours).
const char* errorMessage(int status);

// libopus version string, e.g. "libopus 1.3.1".
const char* libraryVersion();

}  // namespace opus
}  // namespace voxbridge
