#include "events.h"

namespace dmvpn {

size_t EventQueue::pushAll(std::vector<Event>& events, size_t maxEvents, size_t maxBytes) {
  size_t dropped = 0;
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& e : events) {
    if (q_.size() >= maxEvents || bytes_ + e.data.size() > maxBytes) {
      dropped++;
      continue;
    }
    bytes_ += e.data.size();
    q_.push_back(std::move(e));
  }
  events.clear();
  return dropped;
}

void EventQueue::take(std::vector<Event>* out) {
  std::lock_guard<std::mutex> lk(mu_);
  out->swap(q_);
  q_.clear();
  bytes_ = 0;
}

bool RateLimiter::allow(uint64_t key, uint64_t nowNs, uint64_t intervalNs) {
  if (intervalNs == 0) return true;
  uint64_t h = key * 0x9e3779b97f4a7c15ull;
  Slot& s = slots_[(h >> 32) % kSlots];
  if (s.used && s.key == key && nowNs - s.lastNs < intervalNs) return false;
  s.used = true;
  s.key = key;
  s.lastNs = nowNs;
  return true;
}

static void setU32(napi_env env, napi_value obj, const char* name, uint32_t v) {
  napi_value x;
  napi_create_uint32(env, v, &x);
  napi_set_named_property(env, obj, name, x);
}

static void setStr(napi_env env, napi_value obj, const char* name, const char* v) {
  napi_value x;
  napi_create_string_utf8(env, v, NAPI_AUTO_LENGTH, &x);
  napi_set_named_property(env, obj, name, x);
}

static const char* kindName(EventKind k) {
  switch (k) {
    case EventKind::Gre: return "gre";
    case EventKind::Miss: return "miss";
    case EventKind::Multicast: return "multicast";
    case EventKind::Redirect: return "redirect";
    case EventKind::Ike: return "ike";
  }
  return "unknown";
}

napi_value eventsToJs(napi_env env, const std::vector<Event>& events) {
  napi_value arr;
  napi_create_array_with_length(env, events.size(), &arr);
  uint32_t i = 0;
  for (const auto& e : events) {
    napi_value obj;
    napi_create_object(env, &obj);
    setStr(env, obj, "kind", kindName(e.kind));
    switch (e.kind) {
      case EventKind::Gre:
        setU32(env, obj, "srcNbma", e.a);
        setU32(env, obj, "dstNbma", e.b);
        setU32(env, obj, "protocolType", e.protocolType);
        setU32(env, obj, "flags", e.greFlags);
        if (e.keyPresent) setU32(env, obj, "key", e.key);
        if (e.srcPort) setU32(env, obj, "srcPort", e.srcPort);
        break;
      case EventKind::Miss:
        setU32(env, obj, "dst", e.a);
        setU32(env, obj, "nextHop", e.b);
        break;
      case EventKind::Multicast:
        setU32(env, obj, "dst", e.a);
        setU32(env, obj, "src", e.b);
        break;
      case EventKind::Redirect:
        setU32(env, obj, "srcNbma", e.a);
        setU32(env, obj, "dstNbma", e.b);
        setU32(env, obj, "src", e.c);
        setU32(env, obj, "dst", e.d);
        break;
      case EventKind::Ike:
        setU32(env, obj, "src", e.a);
        setU32(env, obj, "srcPort", e.srcPort);
        break;
    }
    napi_value buf;
    void* unused;
    napi_create_buffer_copy(env, e.data.size(), e.data.data(), &unused, &buf);
    napi_set_named_property(env, obj, "packet", buf);
    napi_set_element(env, arr, i++, obj);
  }
  return arr;
}

}  // namespace dmvpn
