// Segmentation and coalescing offloads at the TUN (pure functions, no I/O).
//
// With IFF_VNET_HDR every packet read from or written to the TUN starts with
// a struct virtio_net_hdr (include/uapi/linux/virtio_net.h), and TUNSETOFFLOAD
// lets the kernel hand over TCP super-packets (up to 64 KB, one read instead
// of ~45) and packets whose checksum is left to us. The tunnel carries only
// MTU-sized packets, so what is read is split here (GSO) before GRE/ESP; what
// comes out of the tunnel in one receive batch is merged back per TCP flow
// (GRO) into one write, which the kernel forwards as one packet and segments
// again only where it must.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dmvpn {

// struct virtio_net_hdr: 10 bytes, fields in host byte order (a TUN without
// TUNSETVNETLE/BE uses the host's, the virtio 0.9 "legacy" layout).
struct VnetHdr {
  uint8_t flags = 0;
  uint8_t gsoType = 0;
  uint16_t hdrLen = 0;     // bytes of IP + TCP headers
  uint16_t gsoSize = 0;    // payload bytes per segment
  uint16_t csumStart = 0;  // checksum from here to the end ...
  uint16_t csumOffset = 0; // ... goes here, relative to csumStart
};
constexpr size_t VNET_HDR_LEN = 10;
constexpr uint8_t VNET_F_NEEDS_CSUM = 1;
constexpr uint8_t VNET_GSO_NONE = 0;
constexpr uint8_t VNET_GSO_TCPV4 = 1;
constexpr uint8_t VNET_GSO_ECN = 0x80;  // the TCP super-packet has CWR set

VnetHdr readVnetHdr(const uint8_t* p);
void writeVnetHdr(uint8_t* p, const VnetHdr& h);

// One's-complement sum (RFC 1071) of [p, p+n) in network byte order, added to
// `initial`; fold it with foldSum (packet.h). Sums 8 bytes at a time in host
// order and swaps once at the end (RFC 1071 section 2 (B)): the same folded
// value as onesSum, several times faster. Chained calls need even lengths
// except for the last piece.
uint32_t csumAdd(const uint8_t* p, size_t n, uint32_t initial = 0);

// The IPv4 pseudo-header of RFC 9293 section 3.1 (RFC 768 for UDP), summed.
uint32_t pseudoHeaderSum(const uint8_t* ipHeader, uint8_t protocol, size_t l4Length);

// VIRTIO_NET_HDR_F_NEEDS_CSUM on a single packet: the field at
// start+offset holds the pseudo-header sum; the checksum of everything from
// start on replaces it (0 goes out as 0xFFFF, as the kernel's
// skb_checksum_help does). False when the offsets fall outside the packet.
bool completeChecksum(uint8_t* pkt, size_t len, size_t start, size_t offset);

// True when the TCP checksum of an IPv4 packet (header length ipLen, total
// length total) verifies.
bool tcpChecksumOk(const uint8_t* pkt, size_t ipLen, size_t total);

// A TCP/IPv4 super-packet to be cut into segments of at most mss payload bytes.
struct TcpGso {
  size_t ipLen = 0;    // IPv4 header
  size_t hdrLen = 0;   // IPv4 + TCP headers
  size_t payload = 0;  // bytes after the headers
  size_t mss = 0;
  size_t count = 0;    // segments, at least 1
};

// Checks that pkt is an unfragmented IPv4 TCP packet whose headers are all
// there, trims it to its IPv4 total length, and plans the cut.
bool tcpGsoPrepare(const uint8_t* pkt, size_t len, uint16_t mss, TcpGso* g);

// Writes segment i (0 <= i < g.count) to out as a whole packet, as the
// kernel's tcp_gso_segment would: the headers of the super-packet with the
// IPv4 total length, ID (+i) and header checksum, the TCP sequence number
// (+i*mss) and checksum of this segment; FIN and PSH only on the last
// segment, CWR only on the first. Returns the segment's length
// (<= g.hdrLen + g.mss).
size_t tcpGsoSegment(const uint8_t* pkt, const TcpGso& g, size_t i, uint8_t* out);

// Merges runs of consecutive TCP segments of the same flow, in the order they
// were added, as the kernel's tcp4_gro_receive does: same addresses, ports,
// ToS, TTL, ACK number and options, DF set, in-sequence, only ACK (and PSH on
// the last) among the flags, every segment but the last of the same size,
// checksums right, 64 KB at most. Anything else is a group of its own.
class TcpGro {
 public:
  static constexpr int kMaxPackets = 256;
  static constexpr int kOpen = 8;  // flows merged at once

  void reset() { n_ = 0; groups_ = 0; open_ = 0; }
  // The packet stays where it is (and is patched in place by finish());
  // false when kMaxPackets are already held.
  bool add(uint8_t* pkt, size_t len);
  int packets() const { return n_; }

  struct Group {
    int head = -1, tail = -1, count = 0;
    size_t bytes = 0;    // sum of the IPv4 total lengths
    size_t payload = 0;  // TCP payload bytes
    size_t gsoSize = 0;  // payload of the first segment
    bool closed = false;
  };
  // Patches the first packet of each multi-packet group into the headers of
  // the merged packet (IPv4 total length and checksum, PSH, the TCP checksum
  // field holding the pseudo-header sum for VIRTIO_NET_HDR_F_NEEDS_CSUM) and
  // fills its virtio header. Call once after the adds.
  void finish();
  int groups() const { return groups_; }
  const Group& group(int g) const { return group_[g]; }
  const VnetHdr& vnet(int g) const { return vnet_[g]; }
  uint8_t* packet(int i) const { return pkt_[i]; }
  size_t length(int i) const { return len_[i]; }
  // Where the part of packet i that a merged write takes starts: its TCP
  // payload for every member but the head, which is written whole.
  size_t skip(int i) const { return skip_[i]; }
  int next(int i) const { return next_[i]; }

 private:
  struct Flow {
    uint32_t src, dst, ports;
    int group;
  };
  bool appendable(const Group& gr, int i) const;
  int n_ = 0, groups_ = 0, open_ = 0;
  uint8_t* pkt_[kMaxPackets];
  size_t len_[kMaxPackets];
  size_t skip_[kMaxPackets];
  size_t hdr_[kMaxPackets];  // IPv4 + TCP header bytes; 0 = not mergeable
  int next_[kMaxPackets];
  Group group_[kMaxPackets];
  VnetHdr vnet_[kMaxPackets];
  Flow flows_[kOpen];
};

}  // namespace dmvpn
