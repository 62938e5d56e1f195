// Overlay -> tunnel: packets the kernel routed into the TUN get a GRE header
// and leave on the raw socket towards the NBMA address of their next hop.
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "dataplane.h"
#include "sys.h"

namespace dmvpn {

void TxBatch::begin(int socketFd, const Config& cfg) {
  fd = socketFd;
  headerLength = buildGreHeader(header, cfg.keyPresent, cfg.key, ETH_P_IPV4);
  n = 0;
}

void TxBatch::add(uint32_t nbma, const uint8_t* pkt, size_t len, int tos, Counters& ctr) {
  // ESP protection (esp_dp.cc); every caller holds the table lock.
  if (owner && owner->espOut(nbma, header, headerLength, pkt, len, tos, *this)) return;
  if (n == TX_BATCH) flush(ctr);
  struct sockaddr_in& sa = addr[n];
  sa.sin_family = AF_INET;
  sa.sin_port = 0;
  sa.sin_addr.s_addr = htonl(nbma);
  memset(sa.sin_zero, 0, sizeof sa.sin_zero);
  iov[n][0].iov_base = header;
  iov[n][0].iov_len = headerLength;
  iov[n][1].iov_base = const_cast<uint8_t*>(pkt);
  iov[n][1].iov_len = len;
  struct msghdr& m = msgs[n].msg_hdr;
  m.msg_name = &sa;
  m.msg_namelen = sizeof sa;
  m.msg_iov = iov[n];
  m.msg_iovlen = 2;
  m.msg_flags = 0;
  if (tos >= 0) {
    // Per-packet outer ToS copied from the inner header (Cisco's `tunnel tos`
    // default). Linux raw sockets take IP_TOS as a control message on sendmsg.
    m.msg_control = control[n].buf;
    m.msg_controllen = sizeof control[n].buf;
    struct cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_TOS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    int t = tos;
    memcpy(CMSG_DATA(c), &t, sizeof t);
  } else {
    m.msg_control = nullptr;
    m.msg_controllen = 0;
  }
  n++;
}

void TxBatch::flush(Counters& ctr) {
  int i = 0;
  while (i < n) {
    int r = sendmmsg(fd, msgs + i, static_cast<unsigned>(n - i), sendFlags);
    if (r < 0) {
      if (errno == EINTR) continue;
      // The first message failed (no route to that NBMA, buffer full...):
      // count it and go on with the rest.
      ctr.add(C_dropSendFail);
      i++;
      continue;
    }
    for (int j = i; j < i + r; j++) {
      ctr.add(C_greTxPackets);
      ctr.add(C_greTxBytes, headerLength + iov[j][1].iov_len);
    }
    i += r;
  }
  n = 0;
}

void Dataplane::classify(const Config& cfg, uint8_t* pkt, size_t len, TxBatch& tx, bool report,
                         uint64_t now) {
  Ipv4Info ip;
  if (len == 0 || (pkt[0] >> 4) != 4) {
    counters.add(C_dropNotIpv4);
    return;
  }
  if (!parseIpv4(pkt, len, &ip)) {
    counters.add(C_dropBadInner);
    return;
  }
  len = ip.totalLength;
  if (len > cfg.mtu) {
    counters.add(C_dropTooBig);
    return;
  }
  if (cfg.mssClamp && ip.protocol == 6 && clampMss(pkt, ip, cfg.mssClamp)) counters.add(C_mssClamped);
  const int tos = cfg.tos < 0 ? ip.tos : -1;
  Resolution r = resolve(ip.dst);
  switch (r.kind) {
    case Resolution::Peer:
      r.entry->txPackets++;
      r.entry->txBytes += len;
      tx.add(r.nbma, pkt, len, tos, counters);
      return;
    case Resolution::Multicast:
      // `ip nhrp map multicast`: one unicast GRE copy per listed NBMA address.
      counters.add(C_multicastPackets);
      if (report && cfg.reportMulticast) {
        Event e(EventKind::Multicast);
        e.a = ip.dst;
        e.b = ip.src;
        e.data.assign(pkt, pkt + len);
        pending_.push_back(std::move(e));
      }
      if (cfg.multicastNbma.empty()) {
        counters.add(C_dropNoMulticastTarget);
        return;
      }
      for (uint32_t nbma : cfg.multicastNbma) {
        tx.add(nbma, pkt, len, tos, counters);
        counters.add(C_multicastCopies);
      }
      return;
    case Resolution::Miss:
      counters.add(C_missPackets);
      if (report && missLimiter_.allow(r.nextHop, now, cfg.missIntervalNs)) {
        Event e(EventKind::Miss);
        e.a = ip.dst;
        e.b = r.nextHop;
        e.data.assign(pkt, pkt + len);
        pending_.push_back(std::move(e));
      }
      // While NHRP resolves, IOS forwards through the NHS; without one, drop.
      if (cfg.fallbackNbma != 0) {
        counters.add(C_fallbackPackets);
        tx.add(cfg.fallbackNbma, pkt, len, tos, counters);
      } else {
        counters.add(C_dropNoMapping);
      }
      return;
  }
}

int Dataplane::sendInner(uint8_t* pkt, size_t len) {
  if (closed_) return -EBADF;
  std::lock_guard<std::mutex> lk(mu_);
  const Config& cfg = *cfg_;
  const uint64_t before = counters.get(C_greTxPackets) + counters.get(C_espTxPackets);
  jsTx_->begin(greFd_, cfg);
  classify(cfg, pkt, len, *jsTx_, false, 0);
  if (jsTx_->esp.n) espSend(*jsTx_);
  jsTx_->flush(counters);
  return static_cast<int>(counters.get(C_greTxPackets) + counters.get(C_espTxPackets) - before);
}

}  // namespace dmvpn
