#include "offload.h"

#include <string.h>

#include "packet.h"

namespace dmvpn {

namespace {

constexpr uint8_t TCP_FIN = 0x01, TCP_PSH = 0x08, TCP_ACK = 0x10, TCP_CWR = 0x80;
constexpr uint16_t IP_DF = 0x4000, IP_MF = 0x2000;

inline uint16_t host16(const uint8_t* p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return v;
}

inline void putHost16(uint8_t* p, uint16_t v) { memcpy(p, &v, 2); }

void ipv4HeaderChecksum(uint8_t* ip, size_t ipLen) {
  ip[10] = ip[11] = 0;
  wr16(ip + 10, static_cast<uint16_t>(~foldSum(csumAdd(ip, ipLen))));
}

}  // namespace

VnetHdr readVnetHdr(const uint8_t* p) {
  VnetHdr h;
  h.flags = p[0];
  h.gsoType = p[1];
  h.hdrLen = host16(p + 2);
  h.gsoSize = host16(p + 4);
  h.csumStart = host16(p + 6);
  h.csumOffset = host16(p + 8);
  return h;
}

void writeVnetHdr(uint8_t* p, const VnetHdr& h) {
  p[0] = h.flags;
  p[1] = h.gsoType;
  putHost16(p + 2, h.hdrLen);
  putHost16(p + 4, h.gsoSize);
  putHost16(p + 6, h.csumStart);
  putHost16(p + 8, h.csumOffset);
}

uint32_t csumAdd(const uint8_t* p, size_t n, uint32_t initial) {
  uint64_t acc = 0;
  size_t i = 0;
  // 32-bit halves of 64-bit loads into a 64-bit accumulator: no carry is lost
  // below 2^32 additions, far beyond 64 KB.
  for (; i + 16 <= n; i += 16) {
    uint64_t a, b;
    memcpy(&a, p + i, 8);
    memcpy(&b, p + i + 8, 8);
    acc += (a & 0xffffffffu) + (a >> 32) + (b & 0xffffffffu) + (b >> 32);
  }
  for (; i + 4 <= n; i += 4) {
    uint32_t w;
    memcpy(&w, p + i, 4);
    acc += w;
  }
  acc = (acc & 0xffffffffu) + (acc >> 32);
  acc = (acc & 0xffffffffu) + (acc >> 32);
  uint32_t s = static_cast<uint32_t>(acc);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  s = ((s & 0xff) << 8) | (s >> 8);
#endif
  // The tail (fewer than 4 bytes) in network order; an odd last byte is the
  // high half of a word padded with zero.
  for (; i + 1 < n; i += 2) s += rd16(p + i);
  if (i < n) s += static_cast<uint32_t>(p[i]) << 8;
  return s + initial;
}

uint32_t pseudoHeaderSum(const uint8_t* ip, uint8_t protocol, size_t l4Length) {
  uint32_t s = rd16(ip + 12) + rd16(ip + 14) + rd16(ip + 16) + rd16(ip + 18);
  return s + protocol + static_cast<uint32_t>(l4Length);
}

bool completeChecksum(uint8_t* pkt, size_t len, size_t start, size_t offset) {
  if (start > len || offset + 2 > len - start) return false;
  uint16_t v = static_cast<uint16_t>(~foldSum(csumAdd(pkt + start, len - start)));
  wr16(pkt + start + offset, v == 0 ? 0xffff : v);
  return true;
}

bool tcpChecksumOk(const uint8_t* pkt, size_t ipLen, size_t total) {
  const size_t l4 = total - ipLen;
  return foldSum(csumAdd(pkt + ipLen, l4, pseudoHeaderSum(pkt, 6, l4))) == 0xffff;
}

bool tcpGsoPrepare(const uint8_t* pkt, size_t len, uint16_t mss, TcpGso* g) {
  Ipv4Info ip;
  if (mss == 0 || !parseIpv4(pkt, len, &ip) || ip.protocol != 6) return false;
  if (rd16(pkt + 6) & (IP_MF | 0x1fff)) return false;  // a fragment is no super-packet
  const size_t total = ip.totalLength;
  if (total < ip.headerLength + 20u) return false;
  const size_t thl = static_cast<size_t>(pkt[ip.headerLength + 12] >> 4) * 4;
  if (thl < 20 || ip.headerLength + thl > total) return false;
  g->ipLen = ip.headerLength;
  g->hdrLen = ip.headerLength + thl;
  g->payload = total - g->hdrLen;
  g->mss = mss;
  g->count = g->payload == 0 ? 1 : (g->payload + mss - 1) / mss;
  return true;
}

size_t tcpGsoSegment(const uint8_t* pkt, const TcpGso& g, size_t i, uint8_t* out) {
  const size_t off = i * g.mss;
  const size_t plen = g.payload - off < g.mss ? g.payload - off : g.mss;
  const size_t total = g.hdrLen + plen;
  memcpy(out, pkt, g.hdrLen);
  memcpy(out + g.hdrLen, pkt + g.hdrLen + off, plen);
  wr16(out + 2, static_cast<uint16_t>(total));
  wr16(out + 4, static_cast<uint16_t>(rd16(pkt + 4) + i));
  ipv4HeaderChecksum(out, g.ipLen);
  uint8_t* tcp = out + g.ipLen;
  wr32(tcp + 4, static_cast<uint32_t>(rd32(pkt + g.ipLen + 4) + off));
  uint8_t flags = tcp[13];
  if (i + 1 != g.count) flags &= static_cast<uint8_t>(~(TCP_FIN | TCP_PSH));
  if (i != 0) flags &= static_cast<uint8_t>(~TCP_CWR);
  tcp[13] = flags;
  tcp[16] = tcp[17] = 0;
  const size_t l4 = total - g.ipLen;
  wr16(tcp + 16, static_cast<uint16_t>(~foldSum(csumAdd(tcp, l4, pseudoHeaderSum(out, 6, l4)))));
  return total;
}

// --- GRO ---

bool TcpGro::appendable(const Group& gr, int i) const {
  const int h = gr.head, t = gr.tail;
  const uint8_t *a = pkt_[h], *b = pkt_[i], *last = pkt_[t];
  if (gr.closed || hdr_[i] != hdr_[h]) return false;
  if (a[1] != b[1] || a[8] != b[8]) return false;            // ToS, TTL
  if (rd32(a + 28) != rd32(b + 28)) return false;             // ACK number
  if (memcmp(a + 40, b + 40, hdr_[h] - 40) != 0) return false;  // TCP options
  const size_t tailPayload = len_[t] - hdr_[t];
  const size_t payload = len_[i] - hdr_[i];
  if (tailPayload != gr.gsoSize || payload > gr.gsoSize) return false;
  if (rd32(b + 24) != rd32(last + 24) + tailPayload) return false;  // in sequence
  return hdr_[h] + gr.payload + payload <= 65535;
}

bool TcpGro::add(uint8_t* pkt, size_t len) {
  if (n_ == kMaxPackets) return false;
  const int i = n_++;
  pkt_[i] = pkt;
  len_[i] = len;
  skip_[i] = 0;
  hdr_[i] = 0;
  next_[i] = -1;
  // Which flow, and may it merge (IPv4 without options, TCP, DF, no fragment).
  bool tcp = false;
  uint32_t ports = 0;
  if (len >= 40 && pkt[0] == 0x45 && pkt[9] == 6 && rd16(pkt + 2) <= len) {
    len = len_[i] = rd16(pkt + 2);
    const size_t thl = static_cast<size_t>(pkt[32] >> 4) * 4;
    if (len >= 20 + thl && thl >= 20) {
      tcp = true;
      ports = rd32(pkt + 20);
      const uint16_t frag = rd16(pkt + 6);
      const uint8_t flags = pkt[33];
      if ((frag & (IP_MF | 0x1fff)) == 0 && (frag & IP_DF) && (flags & ~TCP_PSH) == TCP_ACK && len > 20 + thl &&
          tcpChecksumOk(pkt, 20, len)) {
        hdr_[i] = 20 + thl;
      }
    }
  }
  const uint32_t src = tcp ? rd32(pkt + 12) : 0, dst = tcp ? rd32(pkt + 16) : 0;
  int f = -1;
  if (tcp) {
    for (int k = 0; k < open_; k++) {
      if (flows_[k].src == src && flows_[k].dst == dst && flows_[k].ports == ports) f = k;
    }
  }
  if (f >= 0 && hdr_[i] && appendable(group_[flows_[f].group], i)) {
    Group& gr = group_[flows_[f].group];
    next_[gr.tail] = i;
    gr.tail = i;
    gr.count++;
    gr.bytes += len;
    const size_t payload = len - hdr_[i];
    gr.payload += payload;
    skip_[i] = hdr_[i];
    // A short segment or PSH ends the run (the kernel flushes there too).
    if (payload < gr.gsoSize || (pkt[33] & TCP_PSH)) {
      gr.closed = true;
      flows_[f] = flows_[--open_];
    }
    return true;
  }
  if (f >= 0) {
    // Same flow, cannot follow: what is merged so far goes first, as it is.
    group_[flows_[f].group].closed = true;
    flows_[f] = flows_[--open_];
  }
  Group& gr = group_[groups_];
  gr = Group();
  gr.head = gr.tail = i;
  gr.count = 1;
  gr.bytes = len;
  gr.payload = hdr_[i] ? len - hdr_[i] : 0;
  gr.gsoSize = gr.payload;
  gr.closed = hdr_[i] == 0 || (pkt[33] & TCP_PSH) != 0;
  if (!gr.closed) {
    if (open_ == kOpen) {  // the oldest open flow stops merging
      group_[flows_[0].group].closed = true;
      memmove(flows_, flows_ + 1, sizeof flows_[0] * (kOpen - 1));
      open_--;
    }
    flows_[open_++] = Flow{src, dst, ports, groups_};
  }
  groups_++;
  return true;
}

void TcpGro::finish() {
  for (int g = 0; g < groups_; g++) {
    const Group& gr = group_[g];
    vnet_[g] = VnetHdr();
    if (gr.count < 2) continue;
    uint8_t* ip = pkt_[gr.head];
    const size_t total = hdr_[gr.head] + gr.payload;
    wr16(ip + 2, static_cast<uint16_t>(total));
    ipv4HeaderChecksum(ip, 20);
    if (pkt_[gr.tail][33] & TCP_PSH) ip[33] |= TCP_PSH;
    // NEEDS_CSUM: the field holds the pseudo-header sum, the kernel (or the
    // receiver's offload) adds the rest.
    wr16(ip + 36, foldSum(pseudoHeaderSum(ip, 6, total - 20)));
    VnetHdr& v = vnet_[g];
    v.flags = VNET_F_NEEDS_CSUM;
    v.gsoType = VNET_GSO_TCPV4;
    v.hdrLen = static_cast<uint16_t>(hdr_[gr.head]);
    v.gsoSize = static_cast<uint16_t>(gr.gsoSize);
    v.csumStart = 20;
    v.csumOffset = 16;
  }
}

}  // namespace dmvpn
