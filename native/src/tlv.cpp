#include "tlv.h"

#include <cstdlib>
#include <cstring>

namespace voxbridge {
namespace tlv {

namespace {
inline uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}
inline uint32_t be16(const uint8_t* p) { return (uint32_t(p[0]) << 8) | uint32_t(p[1]); }
}  // namespace

bool isKnownAudioSocketKind(uint8_t kind) {
  return kind == kHangup || kind == kId || kind == kAudio || kind == kError;
}

Status readHeader(Format f, const uint8_t* buf, size_t len, uint32_t maxPayload,
                  uint32_t* kind, uint32_t* payloadLen) {
  if (f == Format::Ctrl) {
    // Reject a wrong magic as soon as the bytes we have disagree with it, so a
    // garbage stream fails fast instead of waiting for 8 bytes.
    static const uint8_t magic[4] = {'c', 't', 'r', 'l'};
    const size_t n = len < 4 ? len : 4;
    if (std::memcmp(buf, magic, n) != 0) return Status::BadMagic;
    if (len < kCtrlHeader) return Status::NeedMore;
    *kind = kCtrlKind;
    *payloadLen = be32(buf + 4);
  } else {
    if (len < 1) return Status::NeedMore;
    if (!isKnownAudioSocketKind(buf[0])) return Status::UnknownKind;
    if (len < kAudioSocketHeader) return Status::NeedMore;
    *kind = buf[0];
    *payloadLen = be16(buf + 1);
  }
  return *payloadLen > maxPayload ? Status::Oversize : Status::Ok;
}

BatchResult decodeBatch(Format f, const uint8_t* buf, size_t len, uint32_t maxPayload,
                        uint32_t* out, size_t maxFrames, bool final) {
  const size_t hs = headerSize(f);
  size_t pos = 0;
  size_t frames = 0;
  while (pos < len) {
    if (frames == maxFrames) return {frames, pos, Status::OutFull};
    uint32_t kind = 0, plen = 0;
    Status s = readHeader(f, buf + pos, len - pos, maxPayload, &kind, &plen);
    if (s == Status::NeedMore) return {frames, pos, final ? Status::Truncated : Status::NeedMore};
    if (s != Status::Ok) return {frames, pos, s};
    if (len - pos - hs < plen) return {frames, pos, final ? Status::Truncated : Status::NeedMore};
    out[3 * frames] = kind;
    out[3 * frames + 1] = static_cast<uint32_t>(pos + hs);
    out[3 * frames + 2] = plen;
    ++frames;
    pos += hs + plen;
  }
  return {frames, pos, Status::Ok};
}

size_t writeHeader(Format f, uint32_t kind, size_t payloadLen, uint8_t* dst, size_t cap) {
  if (f == Format::Ctrl) {
    if (cap < kCtrlHeader || payloadLen > 0xffffffffu) return 0;
    dst[0] = 'c'; dst[1] = 't'; dst[2] = 'r'; dst[3] = 'l';
    dst[4] = uint8_t(payloadLen >> 24);
    dst[5] = uint8_t(payloadLen >> 16);
    dst[6] = uint8_t(payloadLen >> 8);
    dst[7] = uint8_t(payloadLen);
    return kCtrlHeader;
  }
  if (cap < kAudioSocketHeader || payloadLen > 0xffff || kind > 0xff) return 0;
  dst[0] = uint8_t(kind);
  dst[1] = uint8_t(payloadLen >> 8);
  dst[2] = uint8_t(payloadLen);
  return kAudioSocketHeader;
}

size_t encode(Format f, uint32_t kind, const uint8_t* payload, size_t payloadLen,
              uint8_t* dst, size_t cap) {
  const size_t hs = headerSize(f);
  if (cap < hs || cap - hs < payloadLen) return 0;
  if (writeHeader(f, kind, payloadLen, dst, cap) == 0) return 0;
  if (payloadLen) std::memmove(dst + hs, payload, payloadLen);
  return hs + payloadLen;
}

StreamDecoder::StreamDecoder(Format f, uint32_t maxPayload) : format_(f), maxPayload_(maxPayload) {}
StreamDecoder::~StreamDecoder() { std::free(body_); }

Status StreamDecoder::push(const uint8_t* chunk, size_t len, Sink sink, void* ctx) {
  const size_t hs = headerSize(format_);
  size_t pos = 0;
  while (pos < len) {
    switch (state_) {
      case State::Failed:
        return failure_;
      case State::Header: {
        if (have_ == 0) {
          // Fast path: frames wholly inside this chunk are reported in place.
          uint32_t kind = 0, plen = 0;
          Status s = readHeader(format_, chunk + pos, len - pos, maxPayload_, &kind, &plen);
          if (s == Status::Ok && len - pos - hs >= plen) {
            sink(ctx, kind, chunk + pos + hs, plen);
            pos += hs + plen;
            continue;
          }
          if (s != Status::Ok && s != Status::NeedMore) {
            state_ = State::Failed;
            failure_ = s;
            return s;
          }
        }
        // Slow path: collect the header byte by byte across chunks.
        const size_t take = (hs - have_) < (len - pos) ? (hs - have_) : (len - pos);
        std::memcpy(header_ + have_, chunk + pos, take);
        have_ += take;
        pos += take;
        uint32_t kind = 0, plen = 0;
        Status s = readHeader(format_, header_, have_, maxPayload_, &kind, &plen);
        if (s == Status::NeedMore) break;
        if (s != Status::Ok) {
          state_ = State::Failed;
          failure_ = s;
          return s;
        }
        kind_ = kind;
        need_ = plen;
        have_ = 0;
        if (plen == 0) {
          sink(ctx, kind_, nullptr, 0);
          break;
        }
        // The length was checked against maxPayload above, before allocating.
        uint8_t* body = static_cast<uint8_t*>(std::realloc(body_, plen));
        if (!body) {
          state_ = State::Failed;
          failure_ = Status::Oversize;
          return failure_;
        }
        body_ = body;
        state_ = State::Body;
        break;
      }
      case State::Body: {
        const size_t take = (need_ - have_) < (len - pos) ? (need_ - have_) : (len - pos);
        std::memcpy(body_ + have_, chunk + pos, take);
        have_ += take;
        pos += take;
        if (have_ == need_) {
          sink(ctx, kind_, body_, need_);
          have_ = 0;
          state_ = State::Header;
        }
        break;
      }
    }
  }
  if (state_ == State::Failed) return failure_;
  return have_ == 0 && state_ == State::Header ? Status::Ok : Status::NeedMore;
}

Status StreamDecoder::end() {
  if (state_ == State::Failed) return failure_;
  if (have_ != 0 || state_ == State::Body) {
    state_ = State::Failed;
    failure_ = Status::Truncated;
    return failure_;
  }
  return Status::Ok;
}

const char* statusName(Status s) {
  switch (s) {
    case Status::Ok: return "OK";
    case Status::NeedMore: return "NEED_MORE";
    case Status::OutFull: return "OUT_FULL";
    case Status::BadMagic: return "TLV_BAD_MAGIC";
    case Status::Oversize: return "TLV_OVERSIZE";
    case Status::Truncated: return "TLV_TRUNCATED";
    case Status::UnknownKind: return "TLV_UNKNOWN_KIND";
  }
  return "UNKNOWN";
}

}  // namespace tlv
}  // namespace voxbridge
