// See recv_time.h.
#include "recv_time.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

namespace vox {

namespace {

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

}  // namespace

UdpRx::~UdpRx() { close(); }

int UdpRx::open(uint16_t port) {
  if (fd_ >= 0) return -EISCONN;
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  const int on = 1;
  // A kernel without it still works: ages then read 0 (dated at read, as node:dgram does).
  (void)::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  // Room for a burst: every voice of a room arrives here, and an event loop held for
  // 100 ms leaves 5 packets per voice waiting (the kernel caps it at net.core.rmem_max).
  const int rcvbuf = 1 << 20;
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  const sockaddr_in a = loopback(port);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) < 0) {
    const int e = errno;
    ::close(fd);
    return -e;
  }
  fd_ = fd;
  return 0;
}

uint16_t UdpRx::localPort() const {
  sockaddr_in a{};
  socklen_t n = sizeof a;
  if (fd_ < 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &n) < 0) return 0;
  return ntohs(a.sin_port);
}

int UdpRx::connect(uint16_t port) {
  if (fd_ < 0) return -EBADF;
  const sockaddr_in a = loopback(port);
  return ::connect(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a) < 0 ? -errno : 0;
}

int UdpRx::recvBatch(uint8_t* buf, Meta* meta) {
  if (fd_ < 0) return -EBADF;
  mmsghdr msgs[kMaxBatch];
  iovec iov[kMaxBatch];
  // room for one struct timespec control message per datagram
  alignas(cmsghdr) char ctl[kMaxBatch][CMSG_SPACE(sizeof(timespec))];
  std::memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < kMaxBatch; i++) {
    iov[i].iov_base = buf + i * kSlot;
    iov[i].iov_len = kSlot;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_control = ctl[i];
    msgs[i].msg_hdr.msg_controllen = sizeof ctl[i];
  }
  int n;
  do {
    n = ::recvmmsg(fd_, msgs, kMaxBatch, MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  for (int i = 0; i < n; i++) {
    const msghdr& h = msgs[i].msg_hdr;
    meta[i].length = msgs[i].msg_len;
    meta[i].truncated = (h.msg_flags & MSG_TRUNC) != 0;
    meta[i].ageMs = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
      timespec ts;
      std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
      const double age = (now.tv_sec - ts.tv_sec) * 1e3 + (now.tv_nsec - ts.tv_nsec) / 1e6;
      // the same clock read twice: never negative, unless it was stepped in between
      meta[i].ageMs = age > 0 ? age : 0;
    }
  }
  return n;
}

int UdpRx::send(const uint8_t* data, size_t len) {
  if (fd_ < 0) return -EBADF;
  ssize_t r;
  do {
    r = ::send(fd_, data, len, MSG_DONTWAIT);
  } while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : static_cast<int>(r);
}

void UdpRx::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

int tcpDataAgeMs(int fd) {
  tcp_info ti{};
  socklen_t n = sizeof ti;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &n) < 0) return -errno;
  return static_cast<int>(ti.tcpi_last_data_recv);
}

}  // namespace vox
