// libFuzzer harness for the TLV decoder (native/src/tlv.cpp).
// The first input byte picks the format, the size limit and the chunking; the
// rest is the stream. Checks, beyond "no crash / no ASan report":
//  - every reported payload lies inside the input;
//  - the streaming decoder, fed the same bytes in arbitrary chunks, reports the
//    same frames (payload bytes) and the same final status as one batch decode.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "tlv.h"

using namespace voxbridge::tlv;

namespace {
struct Collected {
  std::vector<std::vector<uint8_t>> frames;
  std::vector<uint32_t> kinds;
};

void sink(void* ctx, uint32_t kind, const uint8_t* p, size_t n) {
  auto* c = static_cast<Collected*>(ctx);
  c->kinds.push_back(kind);
  c->frames.emplace_back(p, p + n);
}

[[noreturn]] void fail(const char* why) {
  __builtin_trap();
  (void)why;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t ctl = data[0];
  const uint8_t seed = data[1];
  const Format format = (ctl & 1) ? Format::AudioSocket : Format::Ctrl;
  static const uint32_t limits[4] = {0, 16, 1024, 65536};
  const uint32_t maxPayload = limits[(ctl >> 1) & 3];
  const uint8_t* buf = data + 2;
  const size_t len = size - 2;

  // Batch decode, resuming on OutFull with a small output array.
  Collected batch;
  uint32_t out[3 * 4];
  size_t pos = 0;
  Status status = Status::Ok;
  for (;;) {
    BatchResult r = decodeBatch(format, buf + pos, len - pos, maxPayload, out, 4, true);
    for (size_t i = 0; i < r.frames; ++i) {
      const uint32_t off = out[3 * i + 1], n = out[3 * i + 2];
      if (off > len - pos || n > len - pos - off) fail("payload outside input");
      if (n > maxPayload) fail("payload over limit");
      sink(&batch, out[3 * i], buf + pos + off, n);
    }
    pos += r.consumed;
    status = r.status;
    if (status != Status::OutFull) break;
  }
  if (status == Status::NeedMore) fail("final decode returned NeedMore");

  // Stream decode with chunk sizes drawn from the seed.
  Collected stream;
  StreamDecoder dec(format, maxPayload);
  size_t p = 0;
  uint32_t x = seed * 2654435761u + 1;
  Status s = Status::Ok;
  while (p < len) {
    x = x * 1103515245u + 12345u;
    size_t n = 1 + (x >> 16) % 23;
    if (n > len - p) n = len - p;
    s = dec.push(buf + p, n, sink, &stream);
    p += n;
    if (s != Status::Ok && s != Status::NeedMore) break;
  }
  if (s == Status::Ok || s == Status::NeedMore) s = dec.end();

  if (stream.frames != batch.frames || stream.kinds != batch.kinds) fail("stream and batch frames differ");
  if (s != status) fail("stream and batch status differ");
  return 0;
}
