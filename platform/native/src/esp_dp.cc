// ESP in the dataplane: GRE packets to a peer with an outbound SA leave as ESP
// (transport mode, next header 47) on a raw protocol-50 socket, or in UDP
// when the SA says so (NAT traversal, esp_udp.cc); ESP received on either is
// checked, decrypted and handed to the GRE decapsulation with its outer
// source address. A peer marked protected without an SA yet gets a short
// queue, flushed when the SA is pushed (IKE finishing), instead of clear GRE.
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
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

EspTxBatch::~EspTxBatch() { free(arena); }

bool Dataplane::espSeal(Sa& sa, uint32_t nbma, const uint8_t* gre, size_t greLen, const uint8_t* pkt, size_t len,
                        int tos, TxBatch& tx) {
  // RFC 3948 section 2.1: ESP-in-UDP is the same ESP packet, from UDP port 4500
  // to the peer's (NAT-translated) port; the kernel adds the UDP header.
  const bool udp = sa.params().encap;
  const int fd = udp ? udpFd_ : espFd_;
  if (fd < 0) {  // setOutboundSa checks the socket exists; this only guards
    counters.add(C_dropSendFail);
    return false;
  }
  const size_t total = greLen + len;
  const size_t need = total + sa.overhead(total);
  EspTxBatch& b = tx.esp;
  if (need > EspTxBatch::kArena) {
    counters.add(C_dropTooBig);
    return false;
  }
  if (!b.arena) {
    b.arena = static_cast<uint8_t*>(malloc(EspTxBatch::kArena));
    if (!b.arena) {
      counters.add(C_dropSendFail);
      return false;
    }
  }
  // 16-byte aligned slots keep the cipher on aligned buffers.
  const size_t slot = (need + 15) & ~static_cast<size_t>(15);
  if (b.n == TX_BATCH || b.used + slot > EspTxBatch::kArena) espSend(tx);
  uint64_t seq;
  uint8_t iv[16];
  if (!sa.nextSeq(&seq, iv)) {
    counters.add(C_dropEspSeqExhausted);
    return false;
  }
  uint8_t* out = b.arena + b.used;
  // The payload is assembled right where seal() encrypts it in place.
  uint8_t* body = out + 8 + sa.ivLength();
  memcpy(body, gre, greLen);
  if (len) memcpy(body + greLen, pkt, len);
  const size_t n = sa.seal(seq, iv, body, total, 47, out);
  if (n == 0) {
    counters.add(C_dropEspEncryptFail);
    return false;
  }
  const int i = b.n++;
  b.used += slot;
  struct sockaddr_in& sin = b.addr[i];
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(nbma);
  if (udp) sin.sin_port = htons(sa.params().encapDstPort);
  b.iov[i].iov_base = out;
  b.iov[i].iov_len = n;
  struct msghdr& m = b.msgs[i].msg_hdr;
  memset(&m, 0, sizeof m);
  m.msg_name = &sin;
  m.msg_namelen = sizeof sin;
  m.msg_iov = &b.iov[i];
  m.msg_iovlen = 1;
  if (tos >= 0) {
    m.msg_control = b.control[i].buf;
    m.msg_controllen = sizeof b.control[i].buf;
    struct cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_TOS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &tos, sizeof tos);
  }
  b.fd[i] = fd;
  b.sa[i] = &sa;
  b.plain[i] = static_cast<uint32_t>(total);
  b.udp[i] = udp;
  return true;
}

void Dataplane::espSend(TxBatch& tx) {
  EspTxBatch& b = tx.esp;
  int i = 0;
  while (i < b.n) {
    // One sendmmsg per run of packets for the same socket (raw 50 or UDP 4500).
    int run = 1;
    while (i + run < b.n && b.fd[i + run] == b.fd[i]) run++;
    int r = sendmmsg(b.fd[i], b.msgs + i, static_cast<unsigned>(run), tx.sendFlags);
    if (r < 0) {
      if (errno == EINTR) continue;
      // The first message failed (no route, buffer full ...): count it, go on.
      counters.add(C_dropSendFail);
      i++;
      continue;
    }
    for (int j = i; j < i + r; j++) {
      b.sa[j]->packets++;
      b.sa[j]->bytes += b.plain[j];
      counters.add(C_espTxPackets);
      counters.add(C_espTxBytes, b.iov[j].iov_len);
      if (b.udp[j]) counters.add(C_espUdpTxPackets);
    }
    i += r;
  }
  b.n = 0;
  b.used = 0;
}

bool Dataplane::espOut(uint32_t nbma, const uint8_t* hdr, size_t hl, const uint8_t* pkt, size_t len, int tos,
                       TxBatch& tx) {
  if (esp_.empty() || (espFd_ < 0 && udpFd_ < 0)) return false;
  auto it = esp_.outbound.find(nbma);
  if (it != esp_.outbound.end()) {
    espSeal(*it->second, nbma, hdr, hl, pkt, len, tos, tx);
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
  // From the JavaScript thread (jsTx_ never blocks the event loop).
  // Every ESP counter moves under the table lock, held here: the difference
  // is exactly what this flush sent.
  TxBatch& tx = *jsTx_;
  const uint64_t sentBefore = counters.get(C_espTxPackets);
  for (auto& e : pk) {
    if (!send || it == esp_.outbound.end() || now - e.first > EspQueue::kMaxAgeNs) {
      counters.add(C_dropEspQueueExpired);
      continue;
    }
    espSeal(*it->second, nbma, e.second.data(), e.second.size(), nullptr, 0, -1, tx);
  }
  espSend(tx);
  counters.add(C_espQueueFlushed, counters.get(C_espTxPackets) - sentBefore);
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
  if (tx_->esp.n) espSend(*tx_);
  if (lk.owns_lock()) lk.unlock();
  tx_->flush(counters);
  tunFlush();
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
  espInbound(cfg, p + ihl, total - ihl, rd32(p + 12), rd32(p + 16), 0, lk, now);
}

void Dataplane::espInbound(const Config& cfg, uint8_t* esp, size_t espLen, uint32_t src, uint32_t dst,
                           uint16_t srcPort, std::unique_lock<std::mutex>& lk, uint64_t now) {
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
  if (srcPort) {
    // Authentic: where this peer's NAT maps it now. The keying side reads it
    // to follow a changed mapping (RFC 7296 section 2.23: send to the address
    // and port of the most recent authenticated packet).
    it->second->natSrc = src;
    it->second->natSrcPort = srcPort;
  }
  decapGre(cfg, src, dst, gre, greLen, lk, now, srcPort);
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
