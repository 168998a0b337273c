// TLV framing of binary control and audio-socket frames, plain C++ (no Node headers).
//
// Two wire formats share one decoder:
//  - ctrl:        "ctrl" (4 ASCII bytes) + uint32 big-endian length + payload (JSON)
//  - audiosocket: kind (1 byte) + uint16 big-endian length + payload
//                 kinds: 0x00 hangup, 0x01 id, 0x10 slin audio, 0xff error
//
// Decoding never copies payloads: it reports (kind, offset, length) triples that
// point into the caller's buffer. Limits are checked as soon as a header is read.
#pragma once
#include <cstddef>
#include <cstdint>

namespace voxbridge {
namespace tlv {

enum class Format : uint32_t { Ctrl = 0, AudioSocket = 1 };

// Stable status values shared with the TypeScript side (src/native/tlvCodes.ts).
enum class Status : int32_t {
  Ok = 0,           // every byte consumed
  NeedMore = 1,     // a partial frame remains after `consumed`
  OutFull = 2,      // the output array filled up; call again from `consumed`
  BadMagic = -1,    // ctrl frame does not start with "ctrl"
  Oversize = -2,    // declared length exceeds the configured maximum
  Truncated = -3,   // stream ended inside a frame
  UnknownKind = -4, // audiosocket kind not in the known set
};

constexpr size_t kCtrlHeader = 8;
constexpr size_t kAudioSocketHeader = 3;
constexpr uint32_t kCtrlKind = 0x63; // reported kind for ctrl frames ('c')

enum AudioSocketKind : uint8_t {
  kHangup = 0x00,
  kId = 0x01,
  kAudio = 0x10,
  kError = 0xff,
};

inline size_t headerSize(Format f) { return f == Format::Ctrl ? kCtrlHeader : kAudioSocketHeader; }
bool isKnownAudioSocketKind(uint8_t kind);

struct BatchResult {
  size_t frames;    // triples written
  size_t consumed;  // bytes fully decoded (start of the first undecoded frame)
  Status status;
};

// Inspects one header at buf[0..len). Returns Ok with *kind/*payloadLen when a
// full header is present, NeedMore when it is not, or an error status.
Status readHeader(Format f, const uint8_t* buf, size_t len, uint32_t maxPayload,
                  uint32_t* kind, uint32_t* payloadLen);

// Decodes complete frames from buf[0..len). For frame i writes out[3i]=kind,
// out[3i+1]=payload offset (relative to buf), out[3i+2]=payload length.
// Stops at the first partial or malformed frame. `final` means no more bytes
// will follow, so a partial frame is Truncated rather than NeedMore.
BatchResult decodeBatch(Format f, const uint8_t* buf, size_t len, uint32_t maxPayload,
                        uint32_t* out, size_t maxFrames, bool final);

// Writes a header for a payload of `payloadLen` bytes. Returns bytes written or 0
// when dst is too small or the length does not fit the format.
size_t writeHeader(Format f, uint32_t kind, size_t payloadLen, uint8_t* dst, size_t cap);

// Writes header + payload. Returns bytes written, or 0 when dst is too small.
size_t encode(Format f, uint32_t kind, const uint8_t* payload, size_t payloadLen,
              uint8_t* dst, size_t cap);

// Incremental decoder for byte streams split at arbitrary positions. Frames
// wholly inside a chunk are reported in place; only a frame that spans chunks
// is copied into the decoder's own buffer. Used by the fuzzer and C++ callers;
// the Node side runs the same state machine in src/native/tlvStream.ts over
// decodeBatch.
class StreamDecoder {
 public:
  using Sink = void (*)(void* ctx, uint32_t kind, const uint8_t* payload, size_t len);

  StreamDecoder(Format f, uint32_t maxPayload);
  ~StreamDecoder();
  StreamDecoder(const StreamDecoder&) = delete;
  StreamDecoder& operator=(const StreamDecoder&) = delete;

  // Feeds one chunk; calls sink for each complete frame. Returns Ok/NeedMore or
  // an error; after an error the decoder stays failed (the stream cannot resync).
  Status push(const uint8_t* chunk, size_t len, Sink sink, void* ctx);
  // Declares end of stream: Truncated if a frame is incomplete.
  Status end();
  size_t buffered() const { return have_; }

 private:
  enum class State { Header, Body, Failed };
  Format format_;
  uint32_t maxPayload_;
  State state_ = State::Header;
  uint8_t header_[kCtrlHeader] = {};
  uint8_t* body_ = nullptr;  // owned copy of a frame spanning chunks
  size_t have_ = 0;          // bytes held of the current header or body
  uint32_t kind_ = 0;
  uint32_t need_ = 0;        // payload length of the frame being assembled
  Status failure_ = Status::Ok;
};

const char* statusName(Status s);

}  // namespace tlv
}  // namespace voxbridge
