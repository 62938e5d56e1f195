// The tables the NHRP control plane pushes down: overlay address -> NBMA
// address (the NHRP cache: static maps, registrations, resolution replies) and
// prefix -> overlay next hop (routes through the tunnel, shortcut routes).
// Not thread-safe by themselves: the Dataplane guards them with its mutex.
#pragma once

#include <cstdint>
#include <cstddef>
#include <unordered_map>

namespace dmvpn {

struct PeerEntry {
  uint32_t nbma;
  uint64_t txPackets;  // packets classified to this peer (TUN path and sendInner)
  uint64_t txBytes;
};

class PeerTable {
 public:
  // Adds or replaces; the per-peer counters restart when the NBMA address changes.
  void set(uint32_t overlay, uint32_t nbma);
  bool erase(uint32_t overlay);
  void clear() { map_.clear(); }
  PeerEntry* find(uint32_t overlay) {
    auto it = map_.find(overlay);
    return it == map_.end() ? nullptr : &it->second;
  }
  size_t size() const { return map_.size(); }
  template <typename F>
  void forEach(F f) const {
    for (const auto& kv : map_) f(kv.first, kv.second);
  }

 private:
  std::unordered_map<uint32_t, PeerEntry> map_;
};

// Longest-prefix match with one hash map per prefix length and a bitmask of the
// lengths in use: a lookup probes only the lengths present (a handful in a
// DMVPN: the overlay subnet, shortcut /32s and /24s, a default route).
class RouteTable {
 public:
  static uint32_t mask(int len) { return len == 0 ? 0 : ~0u << (32 - len); }
  // nextHop 0 means on-link: the destination itself is looked up in the peers.
  void set(uint32_t prefix, int len, uint32_t nextHop);
  bool erase(uint32_t prefix, int len);
  void clear();
  bool lookup(uint32_t dst, uint32_t* nextHop, int* len) const;
  size_t size() const;
  template <typename F>
  void forEach(F f) const {
    for (int len = 32; len >= 0; len--) {
      for (const auto& kv : byLen_[len]) f(kv.first, len, kv.second);
    }
  }

 private:
  std::unordered_map<uint32_t, uint32_t> byLen_[33];
  uint64_t present_ = 0;  // bit len set when byLen_[len] is non-empty
};

}  // namespace dmvpn
