// Allocation-free header work on packets in place: IPv4 checks, GRE parse and
// build, TCP MSS clamping, TTL decrement. Pure functions, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common.h"

namespace dmvpn {

inline uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t rd32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | p[3];
}
inline void wr16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void wr32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// One's-complement sum of 16-bit big-endian words (RFC 1071), not folded.
uint32_t onesSum(const uint8_t* p, size_t n, uint32_t initial = 0);
uint16_t foldSum(uint32_t sum);
// True when the Internet checksum over [p, p+n) (checksum field included) verifies.
bool checksumOk(const uint8_t* p, size_t n);
// RFC 1624 equation 3: the checksum after one 16-bit word changed from m to m'.
uint16_t checksumReplace16(uint16_t hc, uint16_t oldWord, uint16_t newWord);

struct Ipv4Info {
  uint32_t src;
  uint32_t dst;
  uint16_t totalLength;
  uint16_t fragOffset;  // in 8-byte units
  uint8_t headerLength;
  uint8_t protocol;
  uint8_t ttl;
  uint8_t tos;
};

// Checks version 4, IHL >= 5, IHL <= total length <= n (RFC 791 section 3.1).
// Bytes beyond totalLength are allowed (the caller trims).
bool parseIpv4(const uint8_t* p, size_t n, Ipv4Info* out);

enum class GreStatus { Ok, TooShort, BadGre, BadChecksum, WrongKey };

struct GreInfo {
  uint16_t flags;
  uint16_t protocolType;
  bool keyPresent;
  uint32_t key;
  size_t headerLength;
};

// Parse and check a GRE header against the tunnel's key. Like Linux ip_gre
// (and the project's GRE codec), version != 0 and the RFC 1701 routing bit are
// rejected; the checksum (RFC 2784 section 2.5) is verified when present; a
// keyed tunnel takes only packets with its key and an unkeyed one only packets
// without a key (RFC 2890 section 2.1: the key identifies the tunnel).
GreStatus parseGre(const uint8_t* p, size_t n, bool keyPresent, uint32_t key, GreInfo* out);

// Writes the 4- or 8-byte header we send (no checksum, no sequence number,
// as IOS does by default) and returns its length.
size_t buildGreHeader(uint8_t* out, bool keyPresent, uint32_t key, uint16_t protocolType);

// Cisco `ip tcp adjust-mss`: lower the MSS option of a TCP SYN (or SYN-ACK) to
// `mss` when larger, fixing the TCP checksum incrementally so that a packet
// with a wrong checksum stays wrong. Only unfragmented or first fragments with
// the whole TCP header present are touched. Returns true when rewritten.
bool clampMss(uint8_t* pkt, const Ipv4Info& ip, uint16_t mss);

// Decrement the TTL of a valid IPv4 header and patch its checksum (RFC 1624).
void decrementTtl(uint8_t* pkt);

}  // namespace dmvpn
