// N-API entry points for the tables, single-packet I/O and counters.
#include <cerrno>
#include <cstring>
#include <vector>

#include "addon.h"
#include "napi_util.h"

namespace dmvpn {
namespace {

napi_value PeerSet(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!args(env, info, 3, argv)) return nullptr;
  Dataplane* dp = unwrapDataplane(env, argv[0]);
  uint32_t overlay, nbma;
  if (!dp || !toU32(env, argv[1], "overlay", &overlay) || !toU32(env, argv[2], "nbma", &nbma)) return nullptr;
  std::lock_guard<std::mutex> lk(dp->tableLock());
  dp->peers().set(overlay, nbma);
  return undefinedValue(env);
}

napi_value PeerDelete(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!args(env, info, 2, argv)) return nullptr;
  Dataplane* dp = unwrapDataplane(env, argv[0]);
  uint32_t overlay;
  if (!dp || !toU32(env, argv[1], "overlay", &overlay)) return nullptr;
  std::lock_guard<std::mutex> lk(dp->tableLock());
  return boolean(env, dp->peers().erase(overlay));
}

napi_value PeerClear(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!args(env, info, 1, argv)) return nullptr;
  Dataplane* dp = unwrapDataplane(env, argv[0]);
  if (!dp) return nullptr;
  std::lock_guard<std::mutex> lk(dp->tableLock());
  const size_t n = dp->peers().size();
  dp->peers().clear();
  return u32(env, static_cast<uint32_t>(n));
}

napi_value PeerDump(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!args(env, info, 1, argv)) return nullptr;
  Dataplane* dp = unwrapDataplane(env, argv[0]);
  if (!dp) return nullptr;
  struct Row {
    uint32_t overlay;
    PeerEntry e;
  };
  std::vector<Row> rows;
  {
    std::lock_guard<std::mutex> lk(dp->tableLock());
    rows.reserve(dp->peers().size());
    dp->peers().forEach([&](uint32_t o, const PeerEntry& e) { rows.push_back(Row{o, e}); });
  }
  napi_value arr;
  napi_create_array_with_length(env, rows.size(), &arr);
  for (size_t i = 0; i < rows.size(); i++) {
    napi_value o;
    napi_create_object(env, &o);
    napi_set_named_property(env, o, "overlay", u32(env, rows[i].overlay));
    napi_set_named_property(env, o, "nbma", u32(env, rows[i].e.nbma));
    napi_set_named_property(env, o, "txPackets", num(env, static_cast<double>(rows[i].e.txPackets)));
    napi_set_named_property(env, o, "txBytes", num(env, static_cast<double>(rows[i].e.txBytes)));
    napi_set_element(env, arr, static_cast<uint32_t>(i), o);
  }
  return arr;
}

bool prefixArgs(napi_env env, napi_value* argv, uint32_t* prefix, int* len) {
  uint64_t l;
  if (!toU32(env, argv[1], "prefix", prefix) || !toUint(env, argv[2], "length", 0, 32, &l)) return false;
  *len = static_cast<int>(l);
  return true;
}

napi_value RouteSet(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!args(env, info, 4, argv)) return nullptr;
  Dataplane* dp = unwrapDataplane(env, argv[0]);
  uint32_t prefix, nh;
  int len;
  if (!dp || !prefixArgs(env, argv, &prefix, &len) || !toU32(env, argv[3], "nextHop", &nh)) return nullptr;
  std::lock_guard<std::mutex> lk(dp->tableLock());
  dp->routes().set(prefix, len, nh);
  return undefinedValue(env);
}

napi_value RouteDelete(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!args(env, info, 3, argv)) return nullptr;
  Dataplane* dp = unwrapDataplane(env, argv[0]);
  uint32_t prefix;
  int len;
  if (!dp || !prefixArgs(env, argv, &prefix, &len)) return nullptr;
  std::lock_guard<std::mutex> lk(dp->tableLock());
  return boolean(env, dp->routes().erase(prefix, len));
}

napi_value RouteClear(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!args(env, info, 1, argv)) return nullptr;
  Dataplane* dp = unwrapDataplane(env, argv[0]);
  if (!dp) return nullptr;
  std::lock_guard<std::mutex> lk(dp->tableLock());
  const size_t n = dp->routes().size();
  dp->routes().clear();
  return u32(env, static_cast<uint32_t>(n));
}

napi_value RouteDump(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!args(env, info, 1, argv)) return nullptr;
  Dataplane* dp = unwrapDataplane(env, argv[0]);
  if (!dp) return nullptr;
  struct Row {
    uint32_t prefix;
    int len;
    uint32_t nh;
  };
  std::vector<Row> rows;
  {
    std::lock_guard<std::mutex> lk(dp->tableLock());
    dp->routes().forEach([&](uint32_t p, int l, uint32_t nh) { rows.push_back(Row{p, l, nh}); });
  }
  napi_value arr;
  napi_create_array_with_length(env, rows.size(), &arr);
  for (size_t i = 0; i < rows.size(); i++) {
    napi_value o;
    napi_create_object(env, &o);
    napi_set_named_property(env, o, "prefix", u32(env, rows[i].prefix));
    napi_set_named_property(env, o, "length", u32(env, static_cast<uint32_t>(rows[i].len)));
    napi_set_named_property(env, o, "nextHop", u32(env, rows[i].nh));
    napi_set_element(env, arr, static_cast<uint32_t>(i), o);
  }
  return arr;
}

napi_value Lookup(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!args(env, info, 2, argv)) return nullptr;
  Dataplane* dp = unwrapDataplane(env, argv[0]);
  uint32_t dst;
  if (!dp || !toU32(env, argv[1], "dst", &dst)) return nullptr;
  Resolution r;
  {
    std::lock_guard<std::mutex> lk(dp->tableLock());
    r = dp->resolve(dst);
  }
  napi_value o;
  napi_create_object(env, &o);
  const char* kind = r.kind == Resolution::Peer ? "peer" : r.kind == Resolution::Miss ? "miss" : "multicast";
  napi_set_named_property(env, o, "kind", str(env, kind));
  napi_set_named_property(env, o, "nbma", u32(env, r.nbma));
  napi_set_named_property(env, o, "nextHop", u32(env, r.nextHop));
  return o;
}

// 1 -> true, 0 -> false (would block), < 0 -> throws.
napi_value sendResult(napi_env env, int r, const char* syscall) {
  if (r < 0) {
    throwErrno(env, syscall, -r);
    return nullptr;
  }
  return boolean(env, r > 0);
}

napi_value SendGre(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!args(env, info, 4, argv)) return nullptr;
  Dataplane* dp = unwrapDataplane(env, argv[0]);
  uint32_t nbma;
  uint64_t proto;
  uint8_t* data;
  size_t len;
  if (!dp || !toU32(env, argv[1], "nbma", &nbma) || !toUint(env, argv[2], "protocolType", 0, 0xffff, &proto) ||
      !toBytes(env, argv[3], "payload", &data, &len)) {
    return nullptr;
  }
  if (len > 65535 - 20 - 8) {
    throwRange(env, "payload length", "at most 65507 bytes");
    return nullptr;
  }
  return sendResult(env, dp->sendGre(nbma, static_cast<uint16_t>(proto), data, len, false), "sendmsg");
}

napi_value SendRaw(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!args(env, info, 3, argv)) return nullptr;
  Dataplane* dp = unwrapDataplane(env, argv[0]);
  uint32_t nbma;
  uint8_t* data;
  size_t len;
  if (!dp || !toU32(env, argv[1], "nbma", &nbma) || !toBytes(env, argv[2], "bytes", &data, &len)) return nullptr;
  if (len > 65535 - 20) {
    throwRange(env, "bytes length", "at most 65515 bytes");
    return nullptr;
  }
  return sendResult(env, dp->sendGre(nbma, 0, data, len, true), "sendmsg");
}

napi_value WriteTun(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!args(env, info, 2, argv)) return nullptr;
  Dataplane* dp = unwrapDataplane(env, argv[0]);
  uint8_t* data;
  size_t len;
  if (!dp || !toBytes(env, argv[1], "packet", &data, &len)) return nullptr;
  return sendResult(env, dp->writeTun(data, len), "write");
}

napi_value SendInner(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!args(env, info, 2, argv)) return nullptr;
  Dataplane* dp = unwrapDataplane(env, argv[0]);
  uint8_t* data;
  size_t len;
  if (!dp || !toBytes(env, argv[1], "packet", &data, &len)) return nullptr;
  // The MSS clamp rewrites in place: work on a copy, the caller's bytes stay as given.
  std::vector<uint8_t> copy(data, data + len);
  int r = dp->sendInner(copy.data(), copy.size());
  if (r < 0) {
    throwErrno(env, "sendmmsg", -r);
    return nullptr;
  }
  return u32(env, static_cast<uint32_t>(r));
}

napi_value Stats(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!args(env, info, 1, argv)) return nullptr;
  Dataplane* dp = unwrapDataplane(env, argv[0]);
  if (!dp) return nullptr;
  napi_value o;
  napi_create_object(env, &o);
  for (int i = 0; i < C_COUNT; i++) {
    napi_set_named_property(env, o, kCounterNames[i],
                            num(env, static_cast<double>(dp->counters.get(static_cast<Counter>(i)))));
  }
  return o;
}

napi_value CounterNames(napi_env env, napi_callback_info info) {
  napi_value arr;
  napi_create_array_with_length(env, C_COUNT, &arr);
  for (int i = 0; i < C_COUNT; i++) napi_set_element(env, arr, static_cast<uint32_t>(i), str(env, kCounterNames[i]));
  return arr;
}

}  // namespace

napi_value tablesInit(napi_env env, napi_value exports) {
  defineFunction(env, exports, "peerSet", PeerSet);
  defineFunction(env, exports, "peerDelete", PeerDelete);
  defineFunction(env, exports, "peerClear", PeerClear);
  defineFunction(env, exports, "peerDump", PeerDump);
  defineFunction(env, exports, "routeSet", RouteSet);
  defineFunction(env, exports, "routeDelete", RouteDelete);
  defineFunction(env, exports, "routeClear", RouteClear);
  defineFunction(env, exports, "routeDump", RouteDump);
  defineFunction(env, exports, "lookup", Lookup);
  return exports;
}

napi_value ioInit(napi_env env, napi_value exports) {
  defineFunction(env, exports, "sendGre", SendGre);
  defineFunction(env, exports, "sendRaw", SendRaw);
  defineFunction(env, exports, "writeTun", WriteTun);
  defineFunction(env, exports, "sendInner", SendInner);
  defineFunction(env, exports, "stats", Stats);
  defineFunction(env, exports, "counterNames", CounterNames);
  return exports;
}

}  // namespace dmvpn
