// When received data reached the bridge's socket, as the kernel saw it.
//
// The bridge dates a user's packet by when it reached its socket (DESIGN.md: t_onset is
// the moment the onset's packet reaches the bridge). Node can only say when the event
// loop read it, which on a busy loop is tens of ms later (bench:bargein's "onset
// delivery").
// - UDP (UdpRx): SO_TIMESTAMPNS makes the kernel stamp each datagram as it is queued;
//   recvBatch() reads the waiting ones in one recvmmsg() and gives each its age (now −
//   stamp), so the caller can date it on its own clock.
// - TCP (tcpDataAgeMs): a stream socket read by Node's own reader; TCP_INFO says how
//   long ago its last data segment arrived (kernel jiffies: 1-10 ms steps).
//
// Plain C++ and POSIX sockets; no Node headers. Linux (recvmmsg, SO_TIMESTAMPNS, TCP_INFO).
#pragma once

#include <cstddef>
#include <cstdint>

namespace vox {

class UdpRx {
 public:
  static constexpr int kMaxBatch = 32;        // datagrams per recvBatch()
  static constexpr size_t kSlot = 2048;       // bytes per datagram slot (RTP on loopback is < 1500)
  static constexpr size_t kBufferBytes = kMaxBatch * kSlot;

  struct Meta {
    uint32_t length;  // bytes of the datagram in its slot (slot i starts at i * kSlot)
    bool truncated;   // longer than kSlot: dropped by the caller
    double ageMs;     // now − the kernel's receive time (0 when the kernel gave none)
  };

  UdpRx() = default;
  ~UdpRx();
  UdpRx(const UdpRx&) = delete;
  UdpRx& operator=(const UdpRx&) = delete;

  // A non-blocking socket on 127.0.0.1:port (0: any), receive timestamps on.
  // 0 or -errno.
  int open(uint16_t port = 0);
  uint16_t localPort() const;
  // Connects to 127.0.0.1:port: only that peer's datagrams are received, send() goes there.
  int connect(uint16_t port);
  // Reads up to kMaxBatch waiting datagrams into buf (kBufferBytes): their count, 0 when
  // none is waiting, or -errno (ECONNREFUSED: the connected peer is gone; the error is
  // consumed, reading again goes on).
  int recvBatch(uint8_t* buf, Meta* meta);
  // One datagram to the connected peer: bytes sent or -errno (EAGAIN: the socket buffer is full).
  int send(const uint8_t* data, size_t len);
  int fd() const { return fd_; }
  void close();

 private:
  int fd_ = -1;
};

// How long ago the last data segment reached a TCP socket, ms (the kernel's jiffies
// granularity), or -errno (not a TCP socket, closed).
int tcpDataAgeMs(int fd);

}  // namespace vox
