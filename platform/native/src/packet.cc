#include "packet.h"

namespace dmvpn {

uint32_t onesSum(const uint8_t* p, size_t n, uint32_t sum) {
  size_t i = 0;
  for (; i + 1 < n; i += 2) sum += rd16(p + i);
  if (i < n) sum += static_cast<uint32_t>(p[i]) << 8;  // odd length: pad with zero
  return sum;
}

uint16_t foldSum(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

bool checksumOk(const uint8_t* p, size_t n) { return foldSum(onesSum(p, n)) == 0xffff; }

uint16_t checksumReplace16(uint16_t hc, uint16_t oldWord, uint16_t newWord) {
  uint32_t sum = static_cast<uint16_t>(~hc);
  sum += static_cast<uint16_t>(~oldWord);
  sum += newWord;
  return static_cast<uint16_t>(~foldSum(sum));
}

bool parseIpv4(const uint8_t* p, size_t n, Ipv4Info* out) {
  if (n < 20) return false;
  if ((p[0] >> 4) != 4) return false;
  const size_t ihl = static_cast<size_t>(p[0] & 0x0f) * 4;
  if (ihl < 20) return false;
  const uint16_t total = rd16(p + 2);
  if (total < ihl || total > n) return false;
  out->headerLength = static_cast<uint8_t>(ihl);
  out->tos = p[1];
  out->totalLength = total;
  out->fragOffset = rd16(p + 6) & 0x1fff;
  out->ttl = p[8];
  out->protocol = p[9];
  out->src = rd32(p + 12);
  out->dst = rd32(p + 16);
  return true;
}

GreStatus parseGre(const uint8_t* p, size_t n, bool keyPresent, uint32_t key, GreInfo* out) {
  if (n < 4) return GreStatus::TooShort;
  const uint16_t flags = rd16(p);
  if ((flags & GRE_VERSION) != 0 || (flags & GRE_R) != 0) return GreStatus::BadGre;
  size_t hl = 4;
  if (flags & GRE_C) hl += 4;
  size_t keyAt = hl;
  if (flags & GRE_K) hl += 4;
  if (flags & GRE_S) hl += 4;
  if (n < hl) return GreStatus::TooShort;
  // RFC 2784 section 2.5: the checksum covers the GRE header and the payload.
  if ((flags & GRE_C) && !checksumOk(p, n)) return GreStatus::BadChecksum;
  const bool hasKey = (flags & GRE_K) != 0;
  const uint32_t k = hasKey ? rd32(p + keyAt) : 0;
  if (hasKey != keyPresent || (hasKey && k != key)) return GreStatus::WrongKey;
  out->flags = flags;
  out->protocolType = rd16(p + 2);
  out->keyPresent = hasKey;
  out->key = k;
  out->headerLength = hl;
  return GreStatus::Ok;
}

size_t buildGreHeader(uint8_t* out, bool keyPresent, uint32_t key, uint16_t protocolType) {
  wr16(out, keyPresent ? GRE_K : 0);
  wr16(out + 2, protocolType);
  if (!keyPresent) return 4;
  wr32(out + 4, key);
  return 8;
}

// Apply a change of the two bytes at `off` (relative to the start of the
// checksummed region) to the checksum `hc`. At an odd offset the bytes sit in
// two different 16-bit words; the unchanged halves of those words cancel out,
// so each byte is replaced on its own at its position in its word.
static uint16_t patchChecksum16(uint16_t hc, size_t off, uint16_t oldv, uint16_t newv) {
  if ((off & 1) == 0) return checksumReplace16(hc, oldv, newv);
  hc = checksumReplace16(hc, oldv >> 8, newv >> 8);                    // low half of word off-1
  return checksumReplace16(hc, (oldv & 0xff) << 8, (newv & 0xff) << 8);  // high half of word off+1
}

bool clampMss(uint8_t* pkt, const Ipv4Info& ip, uint16_t mss) {
  if (ip.protocol != 6 || ip.fragOffset != 0) return false;
  const size_t segLen = ip.totalLength - ip.headerLength;
  if (segLen < 20) return false;
  uint8_t* tcp = pkt + ip.headerLength;
  if ((tcp[13] & 0x02) == 0) return false;  // not SYN
  const size_t doff = static_cast<size_t>(tcp[12] >> 4) * 4;
  if (doff < 20 || doff > segLen) return false;
  // RFC 9293 section 3.2 option list: kind 0 ends it, kind 1 is a one-byte NOP,
  // every other option has a length octet covering kind and length.
  size_t i = 20;
  while (i < doff) {
    const uint8_t kind = tcp[i];
    if (kind == 0) break;
    if (kind == 1) {
      i++;
      continue;
    }
    if (i + 1 >= doff) break;
    const uint8_t len = tcp[i + 1];
    if (len < 2 || i + len > doff) break;
    if (kind == 2 && len == 4) {
      const uint16_t cur = rd16(tcp + i + 2);
      if (cur <= mss) return false;
      const uint16_t ck = rd16(tcp + 16);
      wr16(tcp + i + 2, mss);
      wr16(tcp + 16, patchChecksum16(ck, i + 2, cur, mss));
      return true;
    }
    i += len;
  }
  return false;
}

void decrementTtl(uint8_t* pkt) {
  const uint16_t oldWord = rd16(pkt + 8);
  pkt[8]--;
  const uint16_t newWord = rd16(pkt + 8);
  wr16(pkt + 10, checksumReplace16(rd16(pkt + 10), oldWord, newWord));
}

}  // namespace dmvpn
