// ESP in the dataplane: GRE packets to a peer with an outbound SA leave as ESP
// (transport mode, next header 47) on a raw protocol-50 socket; ESP received
// there is checked, decrypted and handed to the GRE decapsulation with its
// outer source address. A peer marked protected without an SA yet gets a short
// queue, flushed when the SA is pushed (IKE finishing), instead of clear GRE.
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "dataplane.h"
#include "sys.h"

namespace dmvpn {

int Dataplane::attachEsp(int fd, const char** syscall) {
  *syscall = "attachEsp";
  if (closed_) return -EBADF;
  if (running_ || espFd_ >= 0) return -EBUSY;  // the thread reads espFd_ without the lock
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
  espFd_ = fd;
  return 0;
}

bool Dataplane::espSendOne(Sa& sa, uint32_t nbma, const uint8_t* gre, size_t greLen, const uint8_t* pkt,
                           size_t len, int tos, int flags) {
  uint64_t seq;
  uint8_t iv[16];
  if (!sa.nextSeq(&seq, iv)) {
    counters.add(C_dropEspSeqExhausted);
    return false;
  }
  const size_t total = greLen + len;
  if (espBuf_.size() < total + sa.overhead(total)) espBuf_.resize(PKT_BUF + 128);
  if (total + sa.overhead(total) > espBuf_.size()) {
    counters.add(C_dropTooBig);
    return false;
  }
  // The payload is assembled right where seal() encrypts it in place.
  uint8_t* body = espBuf_.data() + 8 + sa.ivLength();
  memcpy(body, gre, greLen);
  memcpy(body + greLen, pkt, len);
  const size_t n = sa.seal(seq, iv, body, total, 47, espBuf_.data());
  if (n == 0) {
    counters.add(C_dropEspEncryptFail);
    return false;
  }
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(nbma);
  struct iovec iov = {espBuf_.data(), n};
  struct msghdr m;
  memset(&m, 0, sizeof m);
  m.msg_name = &sin;
  m.msg_namelen = sizeof sin;
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  union {
    struct cmsghdr align;
    uint8_t buf[CMSG_SPACE(sizeof(int))];
  } control;
  if (tos >= 0) {
    m.msg_control = control.buf;
    m.msg_controllen = sizeof control.buf;
    struct cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_TOS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &tos, sizeof tos);
  }
  while (sendmsg(espFd_, &m, flags) < 0) {
    if (errno == EINTR) continue;
    counters.add(C_dropSendFail);
    return false;
  }
  sa.packets++;
  sa.bytes += total;
  counters.add(C_espTxPackets);
  counters.add(C_espTxBytes, n);
  return true;
}

bool Dataplane::espOut(uint32_t nbma, const uint8_t* hdr, size_t hl, const uint8_t* pkt, size_t len, int tos,
                       int flags) {
  if (esp_.empty() || espFd_ < 0) return false;
  auto it = esp_.outbound.find(nbma);
  if (it != esp_.outbound.end()) {
    espSendOne(*it->second, nbma, hdr, hl, pkt, len, tos, flags);
    return true;
  }
  auto q = esp_.protectedPeers.find(nbma);
  if (q == esp_.protectedPeers.end()) return false;  // unprotected peer: GRE in the clear
  const uint64_t now = monotonicNs();
  auto& pk = q->second.packets;
  while (!pk.empty() && now - pk.front().first > EspQueue::kMaxAgeNs) {
    pk.pop_front();
    counters.add(C_dropEspQueueExpired);
  }
  if (pk.size() >= EspQueue::kMax) {
    counters.add(C_dropEspQueueFull);
    return true;
  }
  std::vector<uint8_t> copy(hl + len);
  memcpy(copy.data(), hdr, hl);
  memcpy(copy.data() + hl, pkt, len);
  pk.emplace_back(now, std::move(copy));
  counters.add(C_espQueued);
  return true;
}

void Dataplane::espFlush(uint32_t nbma, bool send) {
  auto q = esp_.protectedPeers.find(nbma);
  if (q == esp_.protectedPeers.end()) return;
  auto it = esp_.outbound.find(nbma);
  const uint64_t now = monotonicNs();
  auto& pk = q->second.packets;
  for (auto& e : pk) {
    if (!send || it == esp_.outbound.end() || espFd_ < 0 || now - e.first > EspQueue::kMaxAgeNs) {
      counters.add(C_dropEspQueueExpired);
      continue;
    }
    // From the JavaScript thread: never block the event loop.
    if (espSendOne(*it->second, nbma, e.second.data(), e.second.size(), nullptr, 0, -1, MSG_DONTWAIT)) {
      counters.add(C_espQueueFlushed);
    }
  }
  pk.clear();
}

void Dataplane::espBatch(const Config& cfg) {
  for (int i = 0; i < RX_BATCH; i++) {
    rxMsgs_[i].msg_hdr.msg_name = nullptr;
    rxMsgs_[i].msg_hdr.msg_namelen = 0;
    rxMsgs_[i].msg_hdr.msg_control = nullptr;
    rxMsgs_[i].msg_hdr.msg_controllen = 0;
    rxMsgs_[i].msg_hdr.msg_flags = 0;
  }
  int n = recvmmsg(espFd_, rxMsgs_, RX_BATCH, MSG_DONTWAIT, nullptr);
  if (n <= 0) return;
  const uint64_t now = monotonicNs();
  tx_->begin(greFd_, cfg);
  // The SAs (replay windows, cipher contexts) live under the table lock.
  std::unique_lock<std::mutex> lk(mu_);
  for (int i = 0; i < n; i++) {
    espDecap(cfg, greBuf_ + static_cast<size_t>(i) * PKT_BUF, rxMsgs_[i].msg_len, rxMsgs_[i].msg_hdr.msg_flags,
             lk, now);
  }
  if (lk.owns_lock()) lk.unlock();
  tx_->flush(counters);
}

void Dataplane::espDecap(const Config& cfg, uint8_t* p, size_t len, int msgFlags, std::unique_lock<std::mutex>& lk,
                         uint64_t now) {
  counters.add(C_espRxPackets);
  counters.add(C_espRxBytes, len);
  if (msgFlags & MSG_TRUNC) {
    counters.add(C_dropTruncated);
    return;
  }
  if (len < 20 || (p[0] >> 4) != 4 || (p[0] & 0x0f) < 5) {
    counters.add(len < 20 ? C_dropEspTooShort : C_dropBadOuterIp);
    return;
  }
  const size_t ihl = static_cast<size_t>(p[0] & 0x0f) * 4;
  const size_t total = rd16(p + 2);
  if (ihl > len || total > len || total < ihl) {
    counters.add(C_dropBadOuterIp);
    return;
  }
  uint8_t* esp = p + ihl;
  const size_t espLen = total - ihl;
  if (espLen < 8) {
    counters.add(C_dropEspTooShort);
    return;
  }
  if (!lk.owns_lock()) lk.lock();
  auto it = esp_.inbound.find(rd32(esp));
  if (it == esp_.inbound.end()) {
    counters.add(C_dropEspUnknownSpi);
    return;
  }
  uint8_t* gre = nullptr;
  size_t greLen = 0;
  uint8_t nh = 0;
  switch (it->second->open(esp, espLen, &gre, &greLen, &nh, true)) {
    case EspStatus::Ok: break;
    case EspStatus::TooShort: counters.add(C_dropEspTooShort); return;
    case EspStatus::Replay: counters.add(C_dropEspReplay); return;
    case EspStatus::AuthFailed: counters.add(C_dropEspAuth); return;
    case EspStatus::Error: counters.add(C_dropEspAuth); return;
    case EspStatus::BadPadding: counters.add(C_dropEspBadPadding); return;
    case EspStatus::BadNextHeader: counters.add(C_dropEspBadNextHeader); return;
  }
  decapGre(cfg, rd32(p + 12), rd32(p + 16), gre, greLen, lk, now);
}

}  // namespace dmvpn

namespace dmvpn {

int Dataplane::sendEspRaw(uint32_t nbma, const uint8_t* bytes, size_t len) {
  if (closed_ || espFd_ < 0) return -EBADF;
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(nbma);
  if (sendto(espFd_, bytes, len, MSG_DONTWAIT, reinterpret_cast<struct sockaddr*>(&sin), sizeof sin) < 0) {
    int e = errno;
    counters.add(C_dropSendFail);
    return e == EAGAIN || e == ENOBUFS ? 0 : -e;
  }
  return 1;
}

}  // namespace dmvpn
