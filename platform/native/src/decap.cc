// Tunnel -> overlay: GRE datagrams from the raw socket are checked (outer
// IPv4, GRE flags, checksum, key); IPv4 payloads go to the TUN, everything
// else (NHRP) goes up to JavaScript. On a hub, a payload that routes straight
// back into the tunnel is reported for an NHRP redirect.
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dataplane.h"
#include "sys.h"

namespace dmvpn {

void Dataplane::greBatch(const Config& cfg) {
  for (int i = 0; i < RX_BATCH; i++) {
    rxMsgs_[i].msg_hdr.msg_name = nullptr;
    rxMsgs_[i].msg_hdr.msg_namelen = 0;
    rxMsgs_[i].msg_hdr.msg_control = nullptr;
    rxMsgs_[i].msg_hdr.msg_controllen = 0;
    rxMsgs_[i].msg_hdr.msg_flags = 0;
  }
  int n = recvmmsg(greFd_, rxMsgs_, RX_BATCH, MSG_DONTWAIT, nullptr);
  if (n <= 0) return;
  const uint64_t now = monotonicNs();
  tx_->begin(greFd_, cfg);
  // The table is only needed for hairpin traffic; taken at most once per batch.
  std::unique_lock<std::mutex> lk(mu_, std::defer_lock);
  for (int i = 0; i < n; i++) {
    decapsulate(cfg, greBuf_ + static_cast<size_t>(i) * PKT_BUF, rxMsgs_[i].msg_len,
                rxMsgs_[i].msg_hdr.msg_flags, lk, now);
  }
  // ESP was only added with the lock held (hairpin to a protected peer).
  if (tx_->esp.n) espSend(*tx_);
  if (lk.owns_lock()) lk.unlock();
  tx_->flush(counters);
  tunFlush();
}

void Dataplane::decapsulate(const Config& cfg, uint8_t* p, size_t len, int msgFlags,
                            std::unique_lock<std::mutex>& lk, uint64_t now) {
  counters.add(C_greRxPackets);
  counters.add(C_greRxBytes, len);
  if (msgFlags & MSG_TRUNC) {
    counters.add(C_dropTruncated);
    return;
  }
  // Outer IPv4: a raw socket gets the whole datagram, header included,
  // already reassembled and with its header checksum checked by the kernel.
  if (len < 20) {
    counters.add(C_dropTooShort);
    return;
  }
  const size_t ihl = static_cast<size_t>(p[0] & 0x0f) * 4;
  if ((p[0] >> 4) != 4 || ihl < 20) {
    counters.add(C_dropBadOuterIp);
    return;
  }
  const size_t total = rd16(p + 2);
  if (ihl > len || total > len) {
    counters.add(C_dropTooShort);
    return;
  }
  if (total < ihl) {
    counters.add(C_dropBadOuterIp);
    return;
  }
  decapGre(cfg, rd32(p + 12), rd32(p + 16), p + ihl, total - ihl, lk, now);
}

void Dataplane::decapGre(const Config& cfg, uint32_t srcNbma, uint32_t dstNbma, uint8_t* gre, size_t greLen,
                         std::unique_lock<std::mutex>& lk, uint64_t now, uint16_t encapPort) {
  GreInfo g;
  switch (parseGre(gre, greLen, cfg.keyPresent, cfg.key, &g)) {
    case GreStatus::Ok: break;
    case GreStatus::TooShort: counters.add(C_dropTooShort); return;
    case GreStatus::BadGre: counters.add(C_dropBadGre); return;
    case GreStatus::BadChecksum: counters.add(C_dropBadChecksum); return;
    case GreStatus::WrongKey: counters.add(C_dropWrongKey); return;
  }
  uint8_t* inner = gre + g.headerLength;
  size_t innerLen = greLen - g.headerLength;

  if (g.protocolType != ETH_P_IPV4) {
    // NHRP and every other payload type: the control plane's business.
    counters.add(C_controlPackets);
    Event e(EventKind::Gre);
    e.a = srcNbma;
    e.b = dstNbma;
    e.protocolType = g.protocolType;
    e.greFlags = g.flags;
    e.keyPresent = g.keyPresent;
    e.key = g.key;
    e.srcPort = encapPort;
    e.data.assign(inner, inner + innerLen);
    pending_.push_back(std::move(e));
    return;
  }

  Ipv4Info ip;
  if (innerLen < 20) {
    counters.add(C_dropTooShort);
    return;
  }
  if (!parseIpv4(inner, innerLen, &ip)) {
    counters.add(C_dropBadInner);
    return;
  }
  innerLen = ip.totalLength;
  if (cfg.handUpProtocol != 0 && ip.protocol == cfg.handUpProtocol) {
    // A routing protocol speaking over the tunnel (EIGRP): the control plane's.
    counters.add(C_controlPackets);
    Event e(EventKind::Gre);
    e.a = srcNbma;
    e.b = dstNbma;
    e.protocolType = ETH_P_IPV4;
    e.greFlags = g.flags;
    e.keyPresent = g.keyPresent;
    e.key = g.key;
    e.srcPort = encapPort;
    e.data.assign(inner, inner + innerLen);
    pending_.push_back(std::move(e));
    return;
  }
  if (cfg.mssClamp && ip.protocol == 6 && clampMss(inner, ip, cfg.mssClamp)) counters.add(C_mssClamped);

  if ((cfg.redirect || cfg.hairpin == Hairpin::Direct) && !isMulticastOrBroadcast(ip.dst)) {
    if (!lk.owns_lock()) lk.lock();
    Resolution r = resolve(ip.dst);
    // In from one peer, out to another one: the hub case for an NHRP redirect
    // (the control plane answers the event with a Traffic Indication).
    if (r.kind == Resolution::Peer && r.nbma != srcNbma) {
      counters.add(C_hairpinPackets);
      const uint64_t key = (static_cast<uint64_t>(srcNbma) << 32) | ip.dst;
      if (cfg.redirect && redirectLimiter_.allow(key, now, cfg.redirectIntervalNs)) {
        counters.add(C_redirectEvents);
        Event e(EventKind::Redirect);
        e.a = srcNbma;
        e.b = r.nbma;
        e.c = ip.src;
        e.d = ip.dst;
        e.data.assign(inner, inner + innerLen);
        pending_.push_back(std::move(e));
      }
      if (cfg.hairpin == Hairpin::Direct) {
        if (ip.ttl > 1) {
          decrementTtl(inner);
          r.entry->txPackets++;
          r.entry->txBytes += innerLen;
          tx_->add(r.nbma, inner, innerLen, cfg.tos < 0 ? ip.tos : -1, counters);
          return;
        }
        // The kernel answers with ICMP time exceeded.
        counters.add(C_hairpinTtlExpired);
      }
    }
  }

  tunQueue(inner, innerLen);
}

}  // namespace dmvpn
