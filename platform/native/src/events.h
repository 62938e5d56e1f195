// What the dataplane thread hands up to JavaScript, batched: one
// napi_threadsafe_function call carries every event queued since the last one.
#pragma once

#include <node_api.h>

#include <cstdint>
#include <mutex>
#include <vector>

namespace dmvpn {

enum class EventKind : uint8_t {
  // A GRE payload that is not IPv4 (NHRP 0x2001, anything else): a = outer
  // source NBMA, b = outer destination, proto/flags/key from the GRE header.
  Gre = 0,
  // A TUN packet without an NBMA mapping: a = destination, b = the overlay
  // next hop that has no mapping (the address NHRP must resolve).
  Miss = 1,
  // A TUN packet to a multicast or broadcast address: a = destination, b = source.
  Multicast = 2,
  // A decapsulated packet that routes back into the tunnel (hub): a = the
  // NBMA it came from, b = the NBMA it goes to, c = inner source, d = inner destination.
  Redirect = 3,
  // An IKE message that came on the UDP-encapsulation socket behind the
  // non-ESP marker (RFC 3948 section 2.2): a = source address, srcPort its
  // port (after any NAT), data = the message without the marker.
  Ike = 4,
};

struct Event {
  explicit Event(EventKind k) : kind(k) {}
  EventKind kind;
  uint16_t protocolType = 0;
  uint16_t greFlags = 0;
  bool keyPresent = false;
  uint32_t key = 0;
  uint32_t a = 0, b = 0, c = 0, d = 0;
  // Ike, and Gre when the GRE came in UDP-encapsulated ESP: the outer UDP
  // source port (0: not UDP).
  uint16_t srcPort = 0;
  std::vector<uint8_t> data;
};

class EventQueue {
 public:
  // Appends what fits within the limits; returns how many were dropped.
  size_t pushAll(std::vector<Event>& events, size_t maxEvents, size_t maxBytes);
  void take(std::vector<Event>* out);

 private:
  std::mutex mu_;
  std::vector<Event> q_;
  size_t bytes_ = 0;
};

// A direct-mapped table of recently reported keys: at most one report per key
// per interval, and a bounded memory whatever the traffic (a collision only
// lets an extra report through).
class RateLimiter {
 public:
  bool allow(uint64_t key, uint64_t nowNs, uint64_t intervalNs);

 private:
  static constexpr size_t kSlots = 1024;
  struct Slot {
    uint64_t key = 0;
    uint64_t lastNs = 0;
    bool used = false;
  };
  Slot slots_[kSlots];
};

// Builds the JavaScript array of plain event objects (see platform/native/index.ts).
napi_value eventsToJs(napi_env env, const std::vector<Event>& events);

}  // namespace dmvpn
