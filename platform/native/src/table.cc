#include "table.h"

namespace dmvpn {

void PeerTable::set(uint32_t overlay, uint32_t nbma) {
  auto it = map_.find(overlay);
  if (it != map_.end()) {
    if (it->second.nbma != nbma) it->second = PeerEntry{nbma, 0, 0};
    return;
  }
  map_.emplace(overlay, PeerEntry{nbma, 0, 0});
}

bool PeerTable::erase(uint32_t overlay) { return map_.erase(overlay) > 0; }

void RouteTable::set(uint32_t prefix, int len, uint32_t nextHop) {
  byLen_[len][prefix & mask(len)] = nextHop;
  present_ |= 1ull << len;
}

bool RouteTable::erase(uint32_t prefix, int len) {
  if (byLen_[len].erase(prefix & mask(len)) == 0) return false;
  if (byLen_[len].empty()) present_ &= ~(1ull << len);
  return true;
}

void RouteTable::clear() {
  for (auto& m : byLen_) m.clear();
  present_ = 0;
}

bool RouteTable::lookup(uint32_t dst, uint32_t* nextHop, int* lenOut) const {
  uint64_t bits = present_;
  while (bits) {
    const int len = 63 - __builtin_clzll(bits);  // longest length still to try
    bits &= ~(1ull << len);
    const auto& m = byLen_[len];
    auto it = m.find(dst & mask(len));
    if (it != m.end()) {
      *nextHop = it->second;
      *lenOut = len;
      return true;
    }
  }
  return false;
}

size_t RouteTable::size() const {
  size_t n = 0;
  for (const auto& m : byLen_) n += m.size();
  return n;
}

}  // namespace dmvpn
