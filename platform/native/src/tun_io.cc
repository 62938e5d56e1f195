// The TUN side of the dataplane: reads (overlay -> tunnel) and writes
// (tunnel -> overlay). With the virtio header on (tunEnableOffload, sys.cc)
// the kernel hands over TCP super-packets of up to 64 KB, split here into
// MTU-sized segments before GRE/ESP (the tunnel carries no GSO), and packets
// with checksums left to complete; on the way out, the TCP segments of one
// receive batch are merged per flow into one write each (offload.h). The
// counters stay per IP packet: tunRxPackets counts segments, tunTxPackets
// merged segments, and tunRxGsoPackets / tunTxGroPackets the super-packets.
#include <errno.h>
#include <sys/uio.h>
#include <unistd.h>

#include "dataplane.h"
#include "sys.h"

namespace dmvpn {

void Dataplane::tunBatch(const Config& cfg) {
  size_t lens[RX_BATCH];
  int n = 0;
  while (n < RX_BATCH) {
    uint8_t* slot = tunBuf_ + static_cast<size_t>(n) * TUN_SLOT;
    ssize_t r = read(tunFd_, slot, TUN_SLOT);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;  // EAGAIN: drained
    }
    if (r == 0) break;
    lens[n++] = static_cast<size_t>(r);
  }
  if (n == 0) return;
  const uint64_t now = monotonicNs();
  tx_->begin(greFd_, cfg);
  {
    std::lock_guard<std::mutex> lk(mu_);
    segUsed_ = 0;
    for (int i = 0; i < n; i++) {
      uint8_t* p = tunBuf_ + static_cast<size_t>(i) * TUN_SLOT;
      if (vnet_) {
        tunOffered(cfg, p, lens[i], now);
        continue;
      }
      counters.add(C_tunRxPackets);
      counters.add(C_tunRxBytes, lens[i]);
      classify(cfg, p, lens[i], *tx_, true, now);
    }
    if (tx_->esp.n) espSend(*tx_);
  }
  tx_->flush(counters);
}

void Dataplane::tunOffered(const Config& cfg, uint8_t* p, size_t len, uint64_t now) {
  if (len < VNET_HDR_LEN) {
    counters.add(C_tunRxPackets);
    counters.add(C_dropTooShort);
    return;
  }
  const VnetHdr h = readVnetHdr(p);
  p += VNET_HDR_LEN;
  len -= VNET_HDR_LEN;
  const uint8_t gso = h.gsoType & static_cast<uint8_t>(~VNET_GSO_ECN);
  if (gso == VNET_GSO_NONE) {
    counters.add(C_tunRxPackets);
    counters.add(C_tunRxBytes, len);
    // Checksum offload: the kernel left the transport checksum to us (a
    // packet from a local socket or a veth peer with TX checksumming).
    if ((h.flags & VNET_F_NEEDS_CSUM) && !completeChecksum(p, len, h.csumStart, h.csumOffset)) {
      counters.add(C_dropBadInner);
      return;
    }
    classify(cfg, p, len, *tx_, true, now);
    return;
  }
  TcpGso g;
  if (gso != VNET_GSO_TCPV4 || !tcpGsoPrepare(p, len, h.gsoSize, &g)) {
    // Only TSO4 is offered (TUNSETOFFLOAD), so nothing else should come.
    counters.add(C_tunRxPackets);
    counters.add(C_tunRxBytes, len);
    counters.add(len && (p[0] >> 4) != 4 ? C_dropNotIpv4 : C_dropBadInner);
    return;
  }
  counters.add(C_tunRxGsoPackets);
  for (size_t i = 0; i < g.count; i++) {
    if (segUsed_ + g.hdrLen + g.mss > SEG_BUF) {
      // The GRE batch points into segBuf_: send it before reusing the space.
      tx_->flush(counters);
      segUsed_ = 0;
    }
    uint8_t* out = segBuf_ + segUsed_;
    const size_t sl = tcpGsoSegment(p, g, i, out);
    segUsed_ += (sl + 15) & ~static_cast<size_t>(15);
    counters.add(C_tunRxPackets);
    counters.add(C_tunRxBytes, sl);
    classify(cfg, out, sl, *tx_, true, now);
  }
}

void Dataplane::tunQueue(uint8_t* pkt, size_t len) {
  if (!vnet_) {
    if (write(tunFd_, pkt, len) < 0) {
      counters.add(C_dropTunWriteFail);
      return;
    }
    counters.add(C_tunTxPackets);
    counters.add(C_tunTxBytes, len);
    return;
  }
  if (!gro_->add(pkt, len)) {
    tunFlush();
    gro_->add(pkt, len);
  }
}

void Dataplane::tunFlush() {
  TcpGro& gro = *gro_;
  if (gro.packets() == 0) return;
  gro.finish();
  struct iovec iov[TcpGro::kMaxPackets + 1];
  uint8_t hdr[VNET_HDR_LEN];
  for (int k = 0; k < gro.groups(); k++) {
    const TcpGro::Group& g = gro.group(k);
    writeVnetHdr(hdr, gro.vnet(k));
    iov[0].iov_base = hdr;
    iov[0].iov_len = sizeof hdr;
    int n = 1;
    for (int i = g.head; i >= 0; i = gro.next(i)) {
      iov[n].iov_base = gro.packet(i) + gro.skip(i);
      iov[n].iov_len = gro.length(i) - gro.skip(i);
      n++;
    }
    ssize_t r;
    do {
      r = writev(tunFd_, iov, n);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      counters.add(C_dropTunWriteFail, static_cast<uint64_t>(g.count));
      continue;
    }
    counters.add(C_tunTxPackets, static_cast<uint64_t>(g.count));
    counters.add(C_tunTxBytes, g.bytes);
    if (g.count > 1) counters.add(C_tunTxGroPackets);
  }
  gro.reset();
}

}  // namespace dmvpn
