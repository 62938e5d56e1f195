// NAT traversal for ESP, RFC 3948: one UDP socket on port 4500 carries three
// things, told apart by their first octets (section 2):
//   0xFF alone          a NAT-keepalive (2.3): counted, dropped
//   00 00 00 00 ...     the non-ESP marker, an IKE message behind it (2.2):
//                       handed up with its source address and port
//   anything else       ESP whose first word is the SPI (2.1): the same inbound
//                       SA table, replay window and GRE path as raw ESP
// IKE on 4500 and ESP-in-UDP must share the socket: the NAT keeps one mapping
// for the pair of addresses and ports, and the peer sends both to it.
// Transport mode behind a NAT needs no checksum fix-up after decryption
// (section 3.1.2): the protected payload is GRE, whose optional checksum
// covers no IP addresses. The UDP checksum is the kernel's: section 2.1 lets
// a sender zero it, but a receiver must accept one either way.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dataplane.h"
#include "sys.h"

namespace dmvpn {

namespace {

// RFC 3948 section 2.2: the marker is an SPI of zero, which ESP never sends.
constexpr size_t kMarker = 4;
// An IKE header (RFC 7296 section 3.1; IKEv1's has the same 28 octets): less
// than this behind the marker is not an IKE message.
constexpr size_t kIkeHeader = 28;
constexpr uint8_t kKeepalive = 0xff;

int fail(const char** syscall, const char* name, int fd) {
  int e = errno;
  if (fd >= 0) close(fd);
  *syscall = name;
  return -e;
}

}  // namespace

int openUdpEncapSocket(uint32_t local, uint16_t port, const std::string& device, int sndbuf, int rcvbuf,
                       const char** syscall) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return fail(syscall, "socket", -1);
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
    return fail(syscall, "setsockopt(SO_REUSEADDR)", fd);
  }
  if (!device.empty() && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device.data(), device.size()) < 0) {
    return fail(syscall, "setsockopt(SO_BINDTODEVICE)", fd);
  }
  if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0 &&
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) < 0) {
    return fail(syscall, "setsockopt(SO_SNDBUF)", fd);
  }
  if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0 &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0) {
    return fail(syscall, "setsockopt(SO_RCVBUF)", fd);
  }
  // Like the raw GRE and ESP sockets: a tunnel packet larger than the path is
  // fragmented, not refused with EMSGSIZE.
  int pmtu = IP_PMTUDISC_DONT;
  if (setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu) < 0) {
    return fail(syscall, "setsockopt(IP_MTU_DISCOVER)", fd);
  }
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(local);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) < 0) return fail(syscall, "bind", fd);
  return fd;
}

int Dataplane::attachEspUdp(int fd, const char** syscall) {
  *syscall = "attachEspUdp";
  if (closed_) return -EBADF;
  if (running_ || udpFd_ >= 0) return -EBUSY;  // the thread reads udpFd_ without the lock
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  memset(&sa, 0, sizeof sa);
  if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&sa), &len) < 0) {
    *syscall = "getsockname";
    return -errno;
  }
  if (sa.sin_family != AF_INET || sa.sin_port == 0) {
    *syscall = "attachEspUdp: an IPv4 UDP socket bound to a port";
    return -EINVAL;
  }
  const Config& c = *cfg_;
  int r = applySocketConfig(fd, c.ttl, c.tos, syscall);
  if (r < 0) return r;
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd, &ev) < 0) {
    *syscall = "epoll_ctl";
    return -errno;
  }
  udpLocal_ = ntohl(sa.sin_addr.s_addr);
  udpPort_ = ntohs(sa.sin_port);
  udpFd_ = fd;
  return 0;
}

void Dataplane::udpBatch(const Config& cfg) {
  for (int i = 0; i < RX_BATCH; i++) {
    rxMsgs_[i].msg_hdr.msg_name = &rxAddr_[i];
    rxMsgs_[i].msg_hdr.msg_namelen = sizeof rxAddr_[i];
    rxMsgs_[i].msg_hdr.msg_control = nullptr;
    rxMsgs_[i].msg_hdr.msg_controllen = 0;
    rxMsgs_[i].msg_hdr.msg_flags = 0;
  }
  int n = recvmmsg(udpFd_, rxMsgs_, RX_BATCH, MSG_DONTWAIT, nullptr);
  if (n <= 0) return;
  const uint64_t now = monotonicNs();
  tx_->begin(greFd_, cfg);
  // Keepalives and IKE need no table; the lock is taken at the first ESP packet.
  std::unique_lock<std::mutex> lk(mu_, std::defer_lock);
  for (int i = 0; i < n; i++) {
    udpDatagram(cfg, greBuf_ + static_cast<size_t>(i) * PKT_BUF, rxMsgs_[i].msg_len, rxMsgs_[i].msg_hdr.msg_flags,
                rxAddr_[i], lk, now);
  }
  if (tx_->esp.n) espSend(*tx_);  // hairpin to a protected peer; the lock is held
  if (lk.owns_lock()) lk.unlock();
  tx_->flush(counters);
  tunFlush();
}

void Dataplane::udpDatagram(const Config& cfg, uint8_t* p, size_t len, int msgFlags, const struct sockaddr_in& from,
                            std::unique_lock<std::mutex>& lk, uint64_t now) {
  counters.add(C_udpRxPackets);
  counters.add(C_udpRxBytes, len);
  if (msgFlags & MSG_TRUNC) {
    counters.add(C_dropTruncated);
    return;
  }
  const uint32_t src = ntohl(from.sin_addr.s_addr);
  const uint16_t srcPort = ntohs(from.sin_port);
  if (len == 1 && p[0] == kKeepalive) {
    counters.add(C_natKeepaliveRx);
    return;
  }
  if (len < kMarker) {  // neither a keepalive nor room for an SPI
    counters.add(C_dropUdpEncapShort);
    return;
  }
  if (rd32(p) == 0) {
    if (len < kMarker + kIkeHeader) {
      counters.add(C_dropUdpEncapShort);
      return;
    }
    counters.add(C_udpIkeRxPackets);
    Event e(EventKind::Ike);
    e.a = src;
    e.srcPort = srcPort;
    e.data.assign(p + kMarker, p + len);
    pending_.push_back(std::move(e));
    return;
  }
  counters.add(C_espRxPackets);
  counters.add(C_espRxBytes, len);
  counters.add(C_espUdpRxPackets);
  // The socket is bound to one address; bound to any, the configured NBMA.
  espInbound(cfg, p, len, src, udpLocal_ ? udpLocal_ : cfg.localNbma, srcPort, lk, now);
}

int Dataplane::sendUdp(uint32_t dst, uint16_t port, const struct iovec* iov, int iovcnt) {
  if (closed_ || udpFd_ < 0) return -EBADF;
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(dst);
  struct msghdr m;
  memset(&m, 0, sizeof m);
  m.msg_name = &sin;
  m.msg_namelen = sizeof sin;
  m.msg_iov = const_cast<struct iovec*>(iov);
  m.msg_iovlen = static_cast<size_t>(iovcnt);
  // The JavaScript thread: never block the event loop.
  while (sendmsg(udpFd_, &m, MSG_DONTWAIT) < 0) {
    if (errno == EINTR) continue;
    int e = errno;
    counters.add(C_dropSendFail);
    return e == EAGAIN || e == ENOBUFS ? 0 : -e;
  }
  return 1;
}

int Dataplane::sendIke(uint32_t dst, uint16_t port, const uint8_t* msg, size_t len) {
  static const uint8_t marker[kMarker] = {0, 0, 0, 0};
  struct iovec iov[2] = {{const_cast<uint8_t*>(marker), kMarker}, {const_cast<uint8_t*>(msg), len}};
  int r = sendUdp(dst, port, iov, 2);
  if (r > 0) counters.add(C_udpIkeTxPackets);
  return r;
}

int Dataplane::sendNatKeepalive(uint32_t dst, uint16_t port) {
  uint8_t one = kKeepalive;
  struct iovec iov = {&one, 1};
  int r = sendUdp(dst, port, &iov, 1);
  if (r > 0) counters.add(C_natKeepaliveTx);
  return r;
}

}  // namespace dmvpn
