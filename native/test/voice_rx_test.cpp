// Standalone test of native/src/voice_rx.cpp (no Node): real loopback sockets, a
// sender thread playing Opus RTP at real-time pace (silence, then a vowel-like
// "speech"), the real pacer sending the agent's packets, and the caller's calls
// (far-end ticks, drains) from another thread. Run plain, under ThreadSanitizer and
// under ASan/UBSan by voice_rx.sh. Checks:
//   - the barge-in fires on the user's "D reached", the pacer queue is gated in the
//     same step: no agent packet is sent after the decision, later timed enqueues are
//     refused until a flush lifts the gate;
//   - RTCP, unknown SSRCs, other payload types, duplicates and losses are counted,
//     a lost packet is concealed (a frame flagged kConcealed), nothing throws;
//   - a human voice is delivered without the VAD, a second user voice is not decoded;
//   - closing a socket while packets arrive is safe.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "opus_encoder.h"
#include "speech_like.h"
#include "pacer.h"
#include "voice_rx.h"

using vox::Pacer;
using vox::VoiceRx;

namespace {

int failures = 0;
#define CHECK(cond, ...)                     \
  do {                                       \
    if (!(cond)) {                           \
      std::fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      std::fprintf(stderr, __VA_ARGS__);     \
      std::fprintf(stderr, "\n");            \
      failures++;                            \
    }                                        \
  } while (0)

using testsig::kPi;
constexpr int kRate = 16000;
constexpr int kFrame = 320;
constexpr int kPt = 111;

// Silence until startMs, then vowel-like syllables, with a little hum under all of it.
std::vector<int16_t> userAudio(double seconds, double startMs) {
  auto out = testsig::speechLike(kRate, seconds, startMs, 1e9, 180, 60, 3000);
  for (size_t i = 0; i < out.size(); i++)
    out[i] = testsig::clip16(out[i] + 20 * std::sin(2 * kPi * 50 * (i * 1000.0 / kRate) / 1000.0));
  return out;
}

int udpSocket(uint16_t* port) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  *port = ntohs(a.sin_port);
  return fd;
}

void sendTo(int fd, uint16_t port, const uint8_t* p, size_t n) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  ::sendto(fd, p, n, 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
}

size_t rtp(uint8_t* out, int pt, uint16_t seq, uint32_t ts, uint32_t ssrc, const uint8_t* payload, size_t len) {
  out[0] = 0x80;
  out[1] = static_cast<uint8_t>(pt);
  out[2] = seq >> 8;
  out[3] = seq & 0xff;
  for (int i = 0; i < 4; i++) out[4 + i] = (ts >> (24 - 8 * i)) & 0xff;
  for (int i = 0; i < 4; i++) out[8 + i] = (ssrc >> (24 - 8 * i)) & 0xff;
  std::memcpy(out + 12, payload, len);
  return 12 + len;
}

void sleepUntil(double ms) {
  const double d = ms - VoiceRx::monoMs();
  if (d > 0) std::this_thread::sleep_for(std::chrono::microseconds(static_cast<long>(d * 1000)));
}

void testBargeIn() {
  Pacer pacer;
  uint16_t agentPort = 0, wirePort = 0;
  const int q = pacer.open(&agentPort);
  CHECK(q >= 0, "pacer open %d", q);
  const int wire = udpSocket(&wirePort);  // where the agent's packets go (the SFU)
  pacer.connect(q, wirePort);

  VoiceRx rx(0);  // the caller's clock is the monotonic one here
  uint16_t port = 0;
  const int sock = rx.openSocket(&port);
  CHECK(sock > 0, "openSocket %d", sock);
  uint16_t userPort = 0;
  const int user = udpSocket(&userPort);
  CHECK(rx.connect(sock, userPort) == 0, "connect");
  const int voice = rx.addVoice(sock, 0x1234, kPt, false, true);
  const int other = rx.addVoice(sock, 0x5678, kPt, false, true);  // a second target: tracked, not decoded
  const int human = rx.addVoice(sock, 0x9abc, kPt, true, false);
  CHECK(voice > 0 && other > 0 && human > 0, "addVoice %d %d %d", voice, other, human);
  voxbridge::vad::Config vc;
  vc.interruptMs = 200;
  CHECK(rx.setVad(sock, vc) == 0, "setVad");
  voxbridge::vad::Config bad;
  bad.sampleRate = 8000;
  CHECK(rx.setVad(sock, bad) == VoiceRx::kBadArg, "setVad at 8 kHz is refused");
  CHECK(rx.arm(sock, VoiceRx::kArmDuration, &pacer, q) == 0, "arm");
  // an LLM request's connection, lent to the barge-in: its server must see it close at the decision
  const int lst = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in la{};
  la.sin_family = AF_INET;
  la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(lst, reinterpret_cast<sockaddr*>(&la), sizeof la);
  ::listen(lst, 1);
  socklen_t ln = sizeof la;
  ::getsockname(lst, reinterpret_cast<sockaddr*>(&la), &ln);
  const int cli = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(::connect(cli, reinterpret_cast<sockaddr*>(&la), sizeof la) == 0, "connect the request");
  const int srv = ::accept(lst, nullptr, nullptr);
  const int token = rx.addAbortFd(sock, cli);
  CHECK(token > 0, "addAbortFd %d", token);
  CHECK(rx.wireAborted(sock, token) == 0, "not shut before a decision");
  std::atomic<double> serverSawClose{0};
  std::thread server([&] {
    char b[16];
    while (::recv(srv, b, sizeof b, 0) > 0) {
    }
    serverSawClose.store(VoiceRx::monoMs());
  });

  voxbridge::opus::EncoderConfig ec;
  ec.sampleRate = kRate;
  voxbridge::opus::Encoder enc;
  CHECK(enc.init(ec) == 0, "encoder");
  const auto audio = userAudio(3.0, 1000);
  const double t0 = VoiceRx::monoMs() + 20;

  std::atomic<bool> stop{false};
  // the agent: frames handed to the pacer 60 ms ahead, every 20 ms (as the frame clock does)
  std::atomic<int> gatedRefusals{0};
  std::thread agent([&] {
    uint8_t pkt[200] = {0x80, 96};
    for (int k = 0; !stop.load() && k < 200; k++) {
      sleepUntil(t0 + 20 * k);
      const int r = pacer.enqueue(q, pkt, sizeof pkt, t0 + 20 * k + 60, static_cast<uint32_t>(k + 1));
      if (r == Pacer::kGated) gatedRefusals++;
    }
  });
  // the session's clock: a far-end tick every 20 ms (silence) and drains
  std::vector<VoiceRx::Frame> got;
  std::mutex gotMu;
  std::thread caller([&] {
    VoiceRx::Frame f[16];
    for (int k = 0; !stop.load(); k++) {
      sleepUntil(t0 + 20 * k);
      rx.farEnd(sock, VoiceRx::monoMs(), nullptr);
      for (size_t n; (n = rx.drain(f, 16)) > 0;) {
        std::lock_guard<std::mutex> g(gotMu);
        got.insert(got.end(), f, f + n);
      }
    }
  });
  // the users: RTP at real-time pace, with one lost packet, one duplicate, RTCP and strays
  uint8_t opus[1275], pkt[1400];
  for (int k = 0; k * kFrame + kFrame <= static_cast<int>(audio.size()); k++) {
    sleepUntil(t0 + 20 * k);
    const int n = enc.encode(&audio[static_cast<size_t>(k) * kFrame], kFrame, opus, sizeof opus);
    if (n <= 0) continue;
    if (k == 20) continue;  // lost
    const size_t len = rtp(pkt, kPt, static_cast<uint16_t>(k), static_cast<uint32_t>(k * 960), 0x1234, opus, n);
    sendTo(user, port, pkt, len);
    if (k == 30) sendTo(user, port, pkt, len);  // duplicate
    if (k % 10 == 0) {
      sendTo(user, port, pkt, rtp(pkt, kPt, static_cast<uint16_t>(k / 10), 0, 0x5678, opus, n));
      sendTo(user, port, pkt, rtp(pkt, kPt, static_cast<uint16_t>(k / 10), 0, 0x9abc, opus, n));
      sendTo(user, port, pkt, rtp(pkt, kPt, 0, 0, 0xdead, opus, n));  // unknown SSRC
      sendTo(user, port, pkt, rtp(pkt, 0, 0, 0, 0x1234, opus, n));    // another payload type
      const uint8_t sr[28] = {0x80, 200, 0, 6, 0, 0, 0x12, 0x34};       // an RTCP sender report
      sendTo(user, port, sr, sizeof sr);
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  stop.store(true);
  agent.join();
  caller.join();
  VoiceRx::Frame f[16];
  for (size_t n; (n = rx.drain(f, 16)) > 0;) got.insert(got.end(), f, f + n);

  const VoiceRx::Frame* fired = nullptr;
  int userFrames = 0, humanFrames = 0, otherFrames = 0, concealed = 0, fires = 0;
  for (const auto& fr : got) {
    if (fr.voice == voice) {
      userFrames++;
      CHECK(fr.flags & VoiceRx::kVadRan, "a user frame went through the VAD");
    }
    if (fr.voice == human) {
      humanFrames++;
      CHECK(!(fr.flags & VoiceRx::kVadRan), "a human frame skips the VAD");
    }
    if (fr.voice == other) otherFrames++;
    if (fr.flags & VoiceRx::kConcealed) concealed++;
    if (fr.flags & VoiceRx::kFired) {
      fires++;
      if (!fired) fired = &fr;
    }
  }
  CHECK(userFrames >= 145 && userFrames <= 150, "user frames %d", userFrames);
  CHECK(humanFrames >= 14, "human frames %d", humanFrames);
  CHECK(otherFrames == 0, "the second user voice is not decoded (%d)", otherFrames);
  // packet 20 is lost for the user, and the strays' packet 2 with it (the human's is decoded, so concealed)
  CHECK(concealed == 2, "two concealed frames (%d)", concealed);
  CHECK(fires == 1, "one barge-in (%d)", fires);
  if (fired) {
    const double heard = fired->arrivalMs - (t0 + 1000);
    CHECK(heard >= 160 && heard < 600, "fired %.1f ms after the speech began", heard);
    CHECK(fired->decisionMs >= fired->arrivalMs, "decision after arrival");
    CHECK(fired->decisionMs - fired->arrivalMs < 50, "decided %.1f ms after the packet arrived", fired->decisionMs - fired->arrivalMs);
    CHECK(fired->flushed >= 1, "the gate dropped queued packets (%d)", fired->flushed);
    // nothing of the agent left after the decision
    uint32_t ids[64];
    double sent[64];
    int late = 0, total = 0;
    for (int n; (n = pacer.drain(q, ids, sent, nullptr, 64)) > 0;)
      for (int i = 0; i < n; i++, total++)
        if (sent[i] > fired->decisionMs) late++;
    CHECK(total > 10, "the agent spoke before (%d)", total);
    CHECK(late == 0, "%d agent packets left after the decision", late);
    CHECK(gatedRefusals.load() > 0, "later frames were refused by the gate");
    CHECK(fired->wireAbortMs >= fired->decisionMs && fired->wireAbortMs - fired->decisionMs < 5, "request shut down %.2f ms after the decision",
          fired->wireAbortMs - fired->decisionMs);
  }
  if (!fired) ::shutdown(cli, SHUT_RDWR);  // (no decision: let the server thread end)
  server.join();
  if (fired) CHECK(serverSawClose.load() - fired->decisionMs < 20, "the server saw the request end %.2f ms after the decision",
                   serverSawClose.load() - fired->decisionMs);
  CHECK(rx.wireAborted(sock, token) == 1, "shut by the decision");
  CHECK(rx.removeAbortFd(sock, token) == 1 && rx.removeAbortFd(sock, token) == VoiceRx::kBadArg, "removeAbortFd");
  ::close(cli);
  ::close(srv);
  ::close(lst);
  const auto s = rx.stats(sock);
  CHECK(s.rtcp >= 14, "rtcp %llu", static_cast<unsigned long long>(s.rtcp));
  CHECK(s.dropped >= 14, "dropped %llu", static_cast<unsigned long long>(s.dropped));
  CHECK(s.malformed >= 14, "malformed %llu", static_cast<unsigned long long>(s.malformed));
  CHECK(s.late == 1, "late %llu", static_cast<unsigned long long>(s.late));
  CHECK(s.lost == 3, "lost %llu", static_cast<unsigned long long>(s.lost));
  CHECK(s.fired == 1, "fired %llu", static_cast<unsigned long long>(s.fired));
  CHECK(s.overflows == 0, "overflows");
  // a fire is reported to the next arm(); the gate holds until a flush
  uint8_t one[20] = {0x80, 96};
  CHECK(pacer.enqueue(q, one, sizeof one, VoiceRx::monoMs() + 10, 999) == Pacer::kGated, "still gated");
  CHECK(rx.arm(sock, VoiceRx::kArmDuration, &pacer, q) == 1, "arm reports the fire");
  CHECK(rx.arm(sock, VoiceRx::kArmOff, nullptr, -1) == 0, "and only once");
  pacer.flush(q);
  CHECK(pacer.enqueue(q, one, sizeof one, VoiceRx::monoMs() + 10, 999) == Pacer::kOk, "a flush lifts the gate");
  CHECK(rx.removeVoice(voice) == 0 && rx.removeVoice(voice) == VoiceRx::kNoVoice, "removeVoice");
  CHECK(rx.closeSocket(sock) == 0 && rx.closeSocket(sock) == VoiceRx::kNoSocket, "closeSocket");
  CHECK(rx.addVoice(sock, 1, kPt, false, true) == VoiceRx::kNoSocket, "no voice on a closed socket");
  ::close(user);
  ::close(wire);
  pacer.close(q);
}

// The media clock, on the vectors of test/media/mediaClock.test.ts (the TS twin's test).
void testMediaClock() {
  vox::MediaClock c;
  CHECK(c.at(0, 100) == 100 && c.at(20, 120) == 120, "on time: the arrival");
  CHECK(c.at(5040, 140) == 140 && c.rebases() == 1, "a forward jump is taken at once");
  CHECK(c.at(10, 160) == 160 && c.rebases() == 2, "a restart re-bases");
  const double late = 160 + 20 + vox::MediaClock::kRebaseMs + 50;
  CHECK(c.at(30, late) == late && c.rebases() == 3, "a hold-up past kRebaseMs re-bases");
  vox::MediaClock h;
  for (int k = 0; k < 15; k++) {
    const double arrival = (k >= 5 && k < 10 ? 10 * 20 + 3 + 40 : k * 20 + 3) + 50000.0;
    const double t = h.at(1000 + 20 * k, arrival);
    CHECK(t <= arrival && std::fabs(t - 50000 - (k * 20 + 3)) <= vox::MediaClock::kLeakMsPerS * 0.16 + 1e-9, "packet %d dated %.3f", k, t - 50000);
  }
  vox::RtpMediaTime r(48000);
  const double a = r.ms(0xfffffc40u);
  CHECK(std::fabs(r.ms(0) - a - 20) < 1e-9 && std::fabs(r.ms(960) - a - 40) < 1e-9 && std::fabs(r.ms(0) - a - 20) < 1e-9, "RTP time across the wrap");
}

// The far-end reference given ahead (due times): a frame is paired once its time has
// come, and frames cut after a flush become silence.
void testFarEndAhead() {
  vox::FarEndRef f(4);
  const int16_t a[4] = {1, 1, 1, 1}, b[4] = {2, 2, 2, 2}, c[4] = {3, 3, 3, 3};
  f.onTick(100, a);
  f.onTick(120, b);
  f.onTick(140, c);  // queued ahead: due at 140
  CHECK(f.next(121)[0] == 2, "the frame sounding when the packet arrived");
  CHECK(f.next(141)[0] == 3, "the next user frame, the next reference frame");
  f.onTick(160, a);
  f.onTick(180, b);
  f.onTick(200, c);
  f.onTick(220, a);
  // flushed at 150: 160-220 never left; the caller makes the period of 200 again
  f.cut(150, 190);
  CHECK(f.next(161)[0] == 0, "a frame cut by a flush is silence");
  CHECK(f.next(181)[0] == 0, "so is the next one");
  f.onTick(200, b);  // the periods given again take their own slots, once
  f.onTick(220, c);
  CHECK(f.next(201)[0] == 2, "the period given again, not a second slot for it");
  CHECK(f.next(221)[0] == 3, "and the next");
}

// A decision waiting for the event loop is drained before the other sockets' frames
// (its own socket's earlier frames with it, in order).
void testFiredFirst() {
  VoiceRx rx(0);
  uint16_t pa, pb, pu;
  const int a = rx.openSocket(&pa), b = rx.openSocket(&pb);
  const int user = udpSocket(&pu);
  rx.addVoice(a, 1, kPt, false, true);
  const int vb = rx.addVoice(b, 2, kPt, false, true);
  voxbridge::vad::Config vc;
  vc.interruptMs = 0;
  rx.setVad(a, vc);
  rx.setVad(b, vc);
  rx.arm(b, VoiceRx::kArmOnset, nullptr, -1);
  voxbridge::opus::EncoderConfig ec;
  ec.sampleRate = kRate;
  voxbridge::opus::Encoder enc;
  enc.init(ec);
  const auto speech = userAudio(1.5, 300);
  std::vector<int16_t> quiet(speech.size());
  uint8_t opus[1275], pkt[1400];
  for (int k = 0; k * kFrame + kFrame <= static_cast<int>(speech.size()); k++) {
    int n = enc.encode(&quiet[static_cast<size_t>(k) * kFrame], kFrame, opus, sizeof opus);
    sendTo(user, pa, pkt, rtp(pkt, kPt, static_cast<uint16_t>(k), 0, 1, opus, n));
    n = enc.encode(&speech[static_cast<size_t>(k) * kFrame], kFrame, opus, sizeof opus);
    sendTo(user, pb, pkt, rtp(pkt, kPt, static_cast<uint16_t>(k), 0, 2, opus, n));
    if (k % 10 == 9) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::vector<VoiceRx::Frame> got;
  VoiceRx::Frame f[16];
  for (size_t n; (n = rx.drain(f, 16)) > 0;) got.insert(got.end(), f, f + n);
  size_t firedAt = got.size();
  for (size_t i = 0; i < got.size(); i++)
    if (got[i].flags & VoiceRx::kFired) firedAt = i;
  CHECK(firedAt < got.size(), "a decision on socket b");
  int seq = 0;
  bool inOrder = true;
  for (size_t i = 0; i <= firedAt && i < got.size(); i++) {
    CHECK(got[i].socket == b, "frame %zu before the decision is socket %d's", i, got[i].socket);
    inOrder = inOrder && got[i].voice == vb;
    seq++;
  }
  CHECK(inOrder && seq > 10, "socket b's frames first, in order (%d)", seq);
  CHECK(got.size() > firedAt + 50, "socket a's frames follow (%zu)", got.size() - firedAt);
  ::close(user);
}

// Sockets opened and closed while a sender floods them: no crash, no race (TSan).
void testCloseUnderLoad() {
  VoiceRx rx(0);
  std::atomic<bool> stop{false};
  std::atomic<uint16_t> target{0};
  std::thread flood([&] {
    uint16_t p;
    const int fd = udpSocket(&p);
    uint8_t pkt[60];
    const uint8_t payload[20] = {0xf8};
    for (uint16_t seq = 0; !stop.load(); seq++) {
      const uint16_t t = target.load();
      if (t) sendTo(fd, t, pkt, rtp(pkt, kPt, seq, 0, 7, payload, sizeof payload));
    }
    ::close(fd);
  });
  for (int round = 0; round < 50; round++) {
    uint16_t port;
    const int s = rx.openSocket(&port);
    rx.addVoice(s, 7, kPt, false, true);
    voxbridge::vad::Config vc;
    rx.setVad(s, vc);
    target.store(port);
    std::this_thread::sleep_for(std::chrono::milliseconds(4));
    VoiceRx::Frame f[8];
    rx.drain(f, 8);
    rx.closeSocket(s);
  }
  stop.store(true);
  flood.join();
  VoiceRx::Frame f[64];
  while (rx.drain(f, 64) > 0) {
  }
  CHECK(rx.stats(-1).datagrams > 0, "the flood arrived");
}

}  // namespace

int main() {
  testMediaClock();
  testFarEndAhead();
  testBargeIn();
  testFiredFirst();
  testCloseUnderLoad();
  if (failures) {
    std::fprintf(stderr, "voice_rx_test: %d failure(s)\n", failures);
    return 1;
  }
  std::printf("voice_rx_test: ok\n");
  return 0;
}
