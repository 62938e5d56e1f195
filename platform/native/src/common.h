// Shared definitions of the userspace mGRE dataplane: counters, configuration,
// wire constants. Addresses are IPv4 in host byte order (uint32_t) everywhere
// inside the addon; conversion to and from network order happens at the edges
// (packet parsing, sockaddr_in).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#define DMVPN_NATIVE_VERSION "0.1.0"

namespace dmvpn {

// Every counter the dataplane keeps, in the order stats() reports them.
// Names are the JavaScript property names; drop* counters are per drop reason.
#define DP_COUNTERS(X)                                                        \
  X(tunRxPackets)     /* IP packets read from the TUN (overlay -> tunnel); a split super-packet counts its segments */ \
  X(tunRxBytes)                                                               \
  X(greTxPackets)     /* GRE packets handed to the raw socket */              \
  X(greTxBytes)       /* GRE header + payload bytes (outer IP not counted) */ \
  X(greRxPackets)     /* IP datagrams received on the raw socket */           \
  X(greRxBytes)       /* whole IP datagram bytes */                           \
  X(tunTxPackets)     /* decapsulated packets written to the TUN, merged ones each counted */ \
  X(tunTxBytes)                                                               \
  X(multicastPackets) /* TUN packets to 224.0.0.0/4 or 255.255.255.255 */     \
  X(multicastCopies)  /* GRE copies made for the multicast NBMA list */       \
  X(missPackets)      /* TUN packets without an NBMA mapping */               \
  X(fallbackPackets)  /* misses sent to the fallback NBMA (the NHS) */        \
  X(controlPackets)   /* non-IPv4 GRE payloads (NHRP ...) handed to JS */     \
  X(hairpinPackets)   /* decapsulated packets that route back to a peer */    \
  X(hairpinTtlExpired) /* direct hairpin, inner TTL <= 1: left to the kernel */ \
  X(redirectEvents)   /* redirect events reported (after rate limiting) */    \
  X(mssClamped)       /* TCP SYNs whose MSS option was lowered */             \
  X(eventsQueued)                                                             \
  X(eventsDelivered)                                                          \
  X(jsGreTxPackets)   /* sendGre/sendRaw calls that were sent */             \
  X(jsTunTxPackets)   /* writeTun calls that were written */                  \
  X(dropNoMapping)    /* miss and no fallback NBMA */                         \
  X(dropNoMulticastTarget)                                                    \
  X(dropNotIpv4)      /* TUN packet that is not IPv4 (IPv6 ...) */            \
  X(dropTooBig)       /* TUN packet longer than the tunnel MTU */             \
  X(dropTooShort)     /* truncated outer IP, GRE header or inner packet */    \
  X(dropTruncated)    /* datagram larger than the receive buffer */           \
  X(dropBadOuterIp)                                                           \
  X(dropBadGre)       /* GRE version != 0 or routing present */               \
  X(dropBadChecksum)  /* GRE checksum present and wrong */                    \
  X(dropWrongKey)     /* key missing, unexpected or different */              \
  X(dropBadInner)     /* proto 0x0800 payload that is not a sane IPv4 */      \
  X(dropTunWriteFail)                                                         \
  X(dropSendFail)                                                             \
  X(dropEventOverflow)                                                        \
  X(espTxPackets)     /* ESP packets sent (GRE protected by an SA), raw or in UDP */ \
  X(espTxBytes)       /* whole ESP packet bytes (outer IP not counted) */      \
  X(espRxPackets)     /* ESP received: raw socket datagrams and ESP-in-UDP */  \
  X(espRxBytes)                                                               \
  X(espQueued)        /* GRE packets queued for a protected peer without SA */ \
  X(espQueueFlushed)  /* queued packets sent when the SA arrived */            \
  X(dropEspQueueFull)                                                         \
  X(dropEspQueueExpired)                                                      \
  X(dropEspSeqExhausted) /* non-ESN counter at 2^32-1 (RFC 4303 3.3.3) */     \
  X(dropEspEncryptFail)                                                       \
  X(dropEspTooShort)                                                          \
  X(dropEspUnknownSpi)                                                        \
  X(dropEspReplay)                                                            \
  X(dropEspAuth)      /* ICV check failed */                                  \
  X(dropEspBadPadding)                                                        \
  X(dropEspBadNextHeader) /* decrypted next header is not 47 (GRE) */        \
  X(udpRxPackets)     /* datagrams on the UDP-encapsulation socket (4500) */  \
  X(udpRxBytes)       /* their UDP payload bytes */                            \
  X(udpIkeRxPackets)  /* IKE behind the non-ESP marker, handed up */          \
  X(udpIkeTxPackets)  /* sendIke calls that were sent */                      \
  X(natKeepaliveRx)   /* 1-octet 0xFF NAT-keepalives (RFC 3948 2.3) */         \
  X(natKeepaliveTx)                                                           \
  X(espUdpRxPackets)  /* ESP-in-UDP received (also in espRxPackets) */         \
  X(espUdpTxPackets)  /* ESP-in-UDP sent (also in espTxPackets) */             \
  X(dropUdpEncapShort) /* 4500 datagram too short for what it starts with */ \
  X(tunRxGsoPackets)  /* TCP super-packets read from the TUN and split (tun_io.cc) */ \
  X(tunTxGroPackets)  /* merged TCP packets written to the TUN (each counts its segments in tunTxPackets) */

enum Counter : int {
#define DP_ENUM(name) C_##name,
  DP_COUNTERS(DP_ENUM)
#undef DP_ENUM
      C_COUNT
};

extern const char* const kCounterNames[C_COUNT];

struct Counters {
  std::atomic<uint64_t> v[C_COUNT];
  Counters() {
    for (auto& x : v) x.store(0, std::memory_order_relaxed);
  }
  inline void add(Counter c, uint64_t n = 1) { v[c].fetch_add(n, std::memory_order_relaxed); }
  inline uint64_t get(Counter c) const { return v[c].load(std::memory_order_relaxed); }
};

// How a decapsulated packet whose destination resolves to another peer of the
// tunnel is forwarded.
enum class Hairpin : uint8_t {
  // Written to the TUN; the kernel routes it back into the TUN (needs
  // net.ipv4.ip_forward=1), so firewall rules and TTL handling are the kernel's.
  Kernel = 0,
  // Re-encapsulated to the other peer at once, TTL decremented here.
  Direct = 1,
};

// Immutable snapshot of the configuration; replaced as a whole by configure().
struct Config {
  bool keyPresent = false;
  uint32_t key = 0;
  uint32_t localNbma = 0;
  int ttl = 255;      // outer TTL (Cisco's tunnel default is 255)
  int tos = -1;       // outer ToS, -1 = copy the inner packet's (Cisco's `tunnel tos` default)
  // Largest inner packet accepted from the TUN: an Ethernet underlay's 1500
  // minus the 20-byte outer IPv4 header and the 8-byte keyed GRE header.
  uint32_t mtu = 1472;
  uint16_t mssClamp = 0;  // 0 = off
  bool redirect = false;  // report hairpin packets (NHRP redirect on a hub)
  Hairpin hairpin = Hairpin::Kernel;
  bool reportMulticast = false;
  // Inner IPv4 protocol decapsulated packets of which go up to JavaScript instead of
  // the TUN (EIGRP, 88, runs in the control plane), 0 = none.
  uint8_t handUpProtocol = 0;
  uint32_t fallbackNbma = 0;  // 0 = drop misses
  uint64_t missIntervalNs = 1000000000ull;
  uint64_t redirectIntervalNs = 1000000000ull;
  std::vector<uint32_t> multicastNbma;
};

// GRE (RFC 2784 section 2, RFC 2890 section 2) flag bits of the first word.
constexpr uint16_t GRE_C = 0x8000;
constexpr uint16_t GRE_R = 0x4000;
constexpr uint16_t GRE_K = 0x2000;
constexpr uint16_t GRE_S = 0x1000;
constexpr uint16_t GRE_VERSION = 0x0007;

constexpr uint16_t ETH_P_IPV4 = 0x0800;
constexpr uint16_t ETH_P_NHRP = 0x2001;  // Cisco's NHRP over GRE

constexpr int RX_BATCH = 64;            // packets per read batch (TUN and raw)
constexpr size_t PKT_BUF = 65536;       // one slot: the largest IPv4 datagram
constexpr int TX_BATCH = 256;           // messages per sendmmsg
constexpr size_t EVENT_QUEUE_MAX = 65536; // events waiting for JavaScript
constexpr size_t EVENT_BYTES_MAX = 32u << 20;

inline bool isMulticastOrBroadcast(uint32_t dst) {
  return (dst & 0xf0000000u) == 0xe0000000u || dst == 0xffffffffu;
}

}  // namespace dmvpn
