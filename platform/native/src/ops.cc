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
  uint32_t overlay, nbma;
  Dataplane* dp = dataplaneArgs(env, info, argv, "overlay", &overlay);
  if (!dp || !toU32(env, argv[2], "nbma", &nbma)) return nullptr;
  std::lock_guard<std::mutex> lk(dp->tableLock());
  dp->peers().set(overlay, nbma);
  return undefinedValue(env);
}

napi_value PeerDelete(napi_env env, napi_callback_info info) {
  return eraseByKey(env, info, "overlay", [](Dataplane* dp, uint32_t overlay) { return dp->peers().erase(overlay); });
}

// peerClear(h) / routeClear(h) -> how many entries there were.
template <class Table>
napi_value clearTable(napi_env env, napi_callback_info info, Table& (Dataplane::*table)()) {
  napi_value argv[1];
  Dataplane* dp = dataplaneArgs(env, info, argv);
  if (!dp) return nullptr;
  std::lock_guard<std::mutex> lk(dp->tableLock());
  Table& t = (dp->*table)();
  const size_t n = t.size();
  t.clear();
  return u32(env, static_cast<uint32_t>(n));
}

napi_value PeerClear(napi_env env, napi_callback_info info) { return clearTable(env, info, &Dataplane::peers); }

// peerDump / routeDump: the rows copied by collect(dp, rows) under the table
// lock (JavaScript values are made after it is released), one object each.
template <class Row, class Collect, class Fill>
napi_value dumpTable(napi_env env, napi_callback_info info, Collect collect, Fill fill) {
  napi_value argv[1];
  Dataplane* dp = dataplaneArgs(env, info, argv);
  if (!dp) return nullptr;
  std::vector<Row> rows;
  {
    std::lock_guard<std::mutex> lk(dp->tableLock());
    collect(dp, rows);
  }
  return objectArray(env, rows, fill);
}

struct PeerRow {
  uint32_t overlay;
  PeerEntry e;
};

napi_value PeerDump(napi_env env, napi_callback_info info) {
  auto collect = [](Dataplane* dp, std::vector<PeerRow>& rows) {
    rows.reserve(dp->peers().size());
    dp->peers().forEach([&](uint32_t o, const PeerEntry& e) { rows.push_back(PeerRow{o, e}); });
  };
  return dumpTable<PeerRow>(env, info, collect, [env](napi_value o, const PeerRow& r) {
    napi_set_named_property(env, o, "overlay", u32(env, r.overlay));
    napi_set_named_property(env, o, "nbma", u32(env, r.e.nbma));
    napi_set_named_property(env, o, "txPackets", num(env, static_cast<double>(r.e.txPackets)));
    napi_set_named_property(env, o, "txBytes", num(env, static_cast<double>(r.e.txBytes)));
  });
}

bool prefixArgs(napi_env env, napi_value* argv, uint32_t* prefix, int* len) {
  uint64_t l;
  if (!toU32(env, argv[1], "prefix", prefix) || !toUint(env, argv[2], "length", 0, 32, &l)) return false;
  *len = static_cast<int>(l);
  return true;
}

napi_value RouteSet(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  Dataplane* dp = dataplaneArgs(env, info, argv);
  uint32_t prefix, nh;
  int len;
  if (!dp || !prefixArgs(env, argv, &prefix, &len) || !toU32(env, argv[3], "nextHop", &nh)) return nullptr;
  std::lock_guard<std::mutex> lk(dp->tableLock());
  dp->routes().set(prefix, len, nh);
  return undefinedValue(env);
}

napi_value RouteDelete(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  Dataplane* dp = dataplaneArgs(env, info, argv);
  uint32_t prefix;
  int len;
  if (!dp || !prefixArgs(env, argv, &prefix, &len)) return nullptr;
  std::lock_guard<std::mutex> lk(dp->tableLock());
  return boolean(env, dp->routes().erase(prefix, len));
}

napi_value RouteClear(napi_env env, napi_callback_info info) { return clearTable(env, info, &Dataplane::routes); }

struct RouteRow {
  uint32_t prefix;
  int len;
  uint32_t nh;
};

napi_value RouteDump(napi_env env, napi_callback_info info) {
  auto collect = [](Dataplane* dp, std::vector<RouteRow>& rows) {
    dp->routes().forEach([&](uint32_t p, int l, uint32_t nh) { rows.push_back(RouteRow{p, l, nh}); });
  };
  return dumpTable<RouteRow>(env, info, collect, [env](napi_value o, const RouteRow& r) {
    napi_set_named_property(env, o, "prefix", u32(env, r.prefix));
    napi_set_named_property(env, o, "length", u32(env, static_cast<uint32_t>(r.len)));
    napi_set_named_property(env, o, "nextHop", u32(env, r.nh));
  });
}

napi_value Lookup(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  uint32_t dst;
  Dataplane* dp = dataplaneArgs(env, info, argv, "dst", &dst);
  if (!dp) return nullptr;
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

napi_value SendGre(napi_env env, napi_callback_info info) {
  AddressedPayload a;
  Dataplane* dp = addressedPayloadArgs(env, info, "nbma", "protocolType", 0, 0xffff, "payload", &a);
  if (!dp) return nullptr;
  if (a.len > 65535 - 20 - 8) {
    throwRange(env, "payload length", "at most 65507 bytes");
    return nullptr;
  }
  return sentOrThrow(env, dp->sendGre(a.addr, static_cast<uint16_t>(a.number), a.data, a.len, false), "sendmsg");
}

napi_value SendRaw(napi_env env, napi_callback_info info) {
  AddressedPayload a;
  Dataplane* dp = addressedPayloadArgs(env, info, "nbma", nullptr, 0, 0, "bytes", &a);
  if (!dp) return nullptr;
  if (a.len > 65535 - 20) {
    throwRange(env, "bytes length", "at most 65515 bytes");
    return nullptr;
  }
  return sentOrThrow(env, dp->sendGre(a.addr, 0, a.data, a.len, true), "sendmsg");
}

napi_value WriteTun(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Dataplane* dp = dataplaneArgs(env, info, argv);
  uint8_t* data;
  size_t len;
  if (!dp || !toBytes(env, argv[1], "packet", &data, &len)) return nullptr;
  return sentOrThrow(env, dp->writeTun(data, len), "write");
}

napi_value SendInner(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Dataplane* dp = dataplaneArgs(env, info, argv);
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
  Dataplane* dp = dataplaneArgs(env, info, argv);
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

Dataplane* addressedPayloadArgs(napi_env env, napi_callback_info info, const char* addrName, const char* numberName,
                                uint64_t min, uint64_t max, const char* payloadName, AddressedPayload* a) {
  napi_value argv[4];
  Dataplane* dp = dataplaneArgs(env, info, argv, addrName, &a->addr);
  if (!dp || (numberName && !toUint(env, argv[2], numberName, min, max, &a->number)) ||
      !toBytes(env, argv[numberName ? 3 : 2], payloadName, &a->data, &a->len)) {
    return nullptr;
  }
  return dp;
}

napi_value tablesInit(napi_env env, napi_value exports) {
  defineFunctions(env, exports, {
      {"peerSet", PeerSet},
      {"peerDelete", PeerDelete},
      {"peerClear", PeerClear},
      {"peerDump", PeerDump},
      {"routeSet", RouteSet},
      {"routeDelete", RouteDelete},
      {"routeClear", RouteClear},
      {"routeDump", RouteDump},
      {"lookup", Lookup},
  });
  return exports;
}

napi_value ioInit(napi_env env, napi_value exports) {
  defineFunctions(env, exports, {
      {"sendGre", SendGre},
      {"sendRaw", SendRaw},
      {"writeTun", WriteTun},
      {"sendInner", SendInner},
      {"stats", Stats},
      {"counterNames", CounterNames},
  });
  return exports;
}

}  // namespace dmvpn
