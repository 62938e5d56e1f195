// N-API entry points: flat functions over an external handle (DESIGN.md: the
// addon exposes flat functions, JavaScript owns buffers and handles).
// platform/native/index.ts is the typed facade over exactly these.
#include <node_api.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "addon.h"
#include "napi_util.h"
#include "sys.h"

namespace dmvpn {

napi_value benchInit(napi_env env, napi_value exports);  // bench.cc

namespace {

constexpr uint32_t kMagic = 0x444d5650;  // "DMVP"

struct Handle {
  uint32_t magic = kMagic;
  Dataplane* dp = nullptr;
  napi_env env = nullptr;
  bool cleanupHook = false;
};

void envCleanup(void* arg) {
  Handle* h = static_cast<Handle*>(arg);
  h->cleanupHook = false;
  if (h->dp) h->dp->shutdown();  // join the thread before the tsfn goes away
}

void closeHandle(Handle* h) {
  if (h->cleanupHook) {
    napi_remove_env_cleanup_hook(h->env, envCleanup, h);
    h->cleanupHook = false;
  }
  if (h->dp) h->dp->shutdown();
}

void finalizeHandle(napi_env env, void* data, void* hint) {
  Handle* h = static_cast<Handle*>(data);
  closeHandle(h);
  if (h->dp) h->dp->releaseExternal();
  h->magic = 0;
  delete h;
}

Dataplane* unwrap(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  void* p = nullptr;
  if (t == napi_external) napi_get_value_external(env, v, &p);
  Handle* h = static_cast<Handle*>(p);
  if (!h || h->magic != kMagic || !h->dp) {
    throwType(env, "handle", "a dataplane handle");
    return nullptr;
  }
  return h->dp;
}

// config.<name>, when present: an integer in min..max, stored times scale. False with the error thrown.
template <class T>
bool optionalUint(napi_env env, napi_value obj, const char* name, uint64_t min, uint64_t max, T* out,
                  uint64_t scale = 1) {
  napi_value v;
  bool has;
  if (!prop(env, obj, name, &v, &has)) return false;
  if (!has) return true;
  const std::string what = std::string("config.") + name;
  uint64_t u;
  if (!toUint(env, v, what.c_str(), min, max, &u)) return false;
  *out = static_cast<T>(u * scale);
  return true;
}

// config.<name>, when present: a boolean.
bool optionalBool(napi_env env, napi_value obj, const char* name, bool* out) {
  napi_value v;
  bool has;
  if (!prop(env, obj, name, &v, &has)) return false;
  const std::string what = std::string("config.") + name;
  return !has || toBool(env, v, what.c_str(), out);
}

// Reads the fields present in `obj` over `base` (configure() is partial).
bool parseConfig(napi_env env, napi_value obj, Config* c) {
  napi_valuetype t;
  napi_typeof(env, obj, &t);
  if (t != napi_object) {
    throwType(env, "config", "an object");
    return false;
  }
  napi_value v;
  bool has;
  int64_t i;
  if (!prop(env, obj, "key", &v, &has)) return false;
  if (has) {
    napi_valuetype kt;
    napi_typeof(env, v, &kt);
    if (kt == napi_null) {
      c->keyPresent = false;
      c->key = 0;
    } else {
      if (!toU32(env, v, "config.key", &c->key)) return false;
      c->keyPresent = true;
    }
  }
  if (!optionalUint(env, obj, "localNbma", 0, 0xffffffffull, &c->localNbma)) return false;
  if (!optionalUint(env, obj, "ttl", 1, 255, &c->ttl)) return false;
  if (!prop(env, obj, "tos", &v, &has)) return false;
  if (has) {
    if (!toInt(env, v, "config.tos", -1, 255, &i)) return false;
    c->tos = static_cast<int>(i);
  }
  if (!optionalUint(env, obj, "mtu", 68, 65535, &c->mtu)) return false;
  if (!optionalUint(env, obj, "mssClamp", 0, 65495, &c->mssClamp)) return false;
  if (!optionalBool(env, obj, "redirect", &c->redirect)) return false;
  if (!prop(env, obj, "hairpinDirect", &v, &has)) return false;
  if (has) {
    bool d;
    if (!toBool(env, v, "config.hairpinDirect", &d)) return false;
    c->hairpin = d ? Hairpin::Direct : Hairpin::Kernel;
  }
  if (!optionalBool(env, obj, "reportMulticast", &c->reportMulticast)) return false;
  if (!optionalUint(env, obj, "handUpProtocol", 0, 255, &c->handUpProtocol)) return false;
  if (!optionalUint(env, obj, "fallbackNbma", 0, 0xffffffffull, &c->fallbackNbma)) return false;
  if (!optionalUint(env, obj, "missIntervalMs", 0, 3600000, &c->missIntervalNs, 1000000ull)) return false;
  if (!optionalUint(env, obj, "redirectIntervalMs", 0, 3600000, &c->redirectIntervalNs, 1000000ull)) return false;
  if (!prop(env, obj, "multicastNbma", &v, &has)) return false;
  if (has) {
    bool isArr = false;
    napi_is_array(env, v, &isArr);
    if (!isArr) {
      throwType(env, "config.multicastNbma", "an array of addresses");
      return false;
    }
    uint32_t n = 0;
    napi_get_array_length(env, v, &n);
    if (n > 65536) {
      throwRange(env, "config.multicastNbma", "at most 65536 entries");
      return false;
    }
    std::vector<uint32_t> list;
    for (uint32_t k = 0; k < n; k++) {
      napi_value e;
      uint32_t a;
      napi_get_element(env, v, k, &e);
      if (!toU32(env, e, "config.multicastNbma[]", &a)) return false;
      list.push_back(a);
    }
    c->multicastNbma = std::move(list);
  }
  return true;
}

napi_value configToJs(napi_env env, const Config& c) {
  napi_value o;
  napi_create_object(env, &o);
  napi_value key;
  if (c.keyPresent) key = u32(env, c.key);
  else napi_get_null(env, &key);
  napi_set_named_property(env, o, "key", key);
  napi_set_named_property(env, o, "localNbma", u32(env, c.localNbma));
  napi_set_named_property(env, o, "ttl", i32(env, c.ttl));
  napi_set_named_property(env, o, "tos", i32(env, c.tos));
  napi_set_named_property(env, o, "mtu", u32(env, c.mtu));
  napi_set_named_property(env, o, "mssClamp", u32(env, c.mssClamp));
  napi_set_named_property(env, o, "redirect", boolean(env, c.redirect));
  napi_set_named_property(env, o, "hairpinDirect", boolean(env, c.hairpin == Hairpin::Direct));
  napi_set_named_property(env, o, "reportMulticast", boolean(env, c.reportMulticast));
  napi_set_named_property(env, o, "fallbackNbma", u32(env, c.fallbackNbma));
  napi_set_named_property(env, o, "handUpProtocol", u32(env, c.handUpProtocol));
  napi_set_named_property(env, o, "missIntervalMs", num(env, static_cast<double>(c.missIntervalNs / 1000000ull)));
  napi_set_named_property(env, o, "redirectIntervalMs",
                          num(env, static_cast<double>(c.redirectIntervalNs / 1000000ull)));
  napi_value list;
  napi_create_array_with_length(env, c.multicastNbma.size(), &list);
  for (size_t k = 0; k < c.multicastNbma.size(); k++) {
    napi_set_element(env, list, static_cast<uint32_t>(k), u32(env, c.multicastNbma[k]));
  }
  napi_set_named_property(env, o, "multicastNbma", list);
  return o;
}

napi_value Version(napi_env env, napi_callback_info info) {
  return str(env, "dmvpn_native " DMVPN_NATIVE_VERSION " (N-API 8)");
}

napi_value OpenTun(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!args(env, info, 2, argv)) return nullptr;
  std::string name;
  if (!toString(env, argv[0], "name", &name)) return nullptr;
  uint64_t mtu = 0;
  if (!isUndefined(env, argv[1]) && !toUint(env, argv[1], "mtu", 0, 65535, &mtu)) return nullptr;
  std::string actual;
  const char* sc = "";
  int fd = openTun(name, static_cast<int>(mtu), &actual, &sc);
  if (fd < 0) {
    throwErrno(env, sc, -fd);
    return nullptr;
  }
  napi_value o;
  napi_create_object(env, &o);
  napi_set_named_property(env, o, "fd", i32(env, fd));
  napi_set_named_property(env, o, "name", str(env, actual.c_str()));
  return o;
}

}  // namespace

// (local, device?, sndbuf?, rcvbuf?) -> fd of a raw IPv4 socket for `protocol`
// (47 for GRE, 50 for ESP), bound to the local NBMA address.
napi_value openRawProtocolSocket(napi_env env, napi_callback_info info, int protocol) {
  napi_value argv[4];
  if (!args(env, info, 4, argv)) return nullptr;
  GreSocketOptions o;
  o.protocol = protocol;
  uint64_t x;
  if (!toU32(env, argv[0], "local", &o.local)) return nullptr;
  if (!isUndefined(env, argv[1]) && !toString(env, argv[1], "device", &o.device)) return nullptr;
  if (!isUndefined(env, argv[2])) {
    if (!toUint(env, argv[2], "sndbuf", 0, 1u << 30, &x)) return nullptr;
    o.sndbuf = static_cast<int>(x);
  }
  if (!isUndefined(env, argv[3])) {
    if (!toUint(env, argv[3], "rcvbuf", 0, 1u << 30, &x)) return nullptr;
    o.rcvbuf = static_cast<int>(x);
  }
  const char* sc = "";
  int fd = openGreSocket(o, &sc);
  if (fd < 0) {
    throwErrno(env, sc, -fd);
    return nullptr;
  }
  return i32(env, fd);
}

namespace {

napi_value OpenGreSocket(napi_env env, napi_callback_info info) { return openRawProtocolSocket(env, info, 47); }

napi_value CloseFd(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!args(env, info, 1, argv)) return nullptr;
  uint64_t fd;
  if (!toUint(env, argv[0], "fd", 0, 0x7fffffff, &fd)) return nullptr;
  if (close(static_cast<int>(fd)) < 0) {
    throwErrno(env, "close", errno);
    return nullptr;
  }
  return undefinedValue(env);
}

// create(tunFd, greFd, config, onEvents) -> handle. Owns both fds from here on,
// also when it throws.
napi_value Create(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!args(env, info, 4, argv)) return nullptr;
  uint64_t tunFd, greFd;
  if (!toUint(env, argv[0], "tunFd", 0, 0x7fffffff, &tunFd)) return nullptr;
  if (!toUint(env, argv[1], "greFd", 0, 0x7fffffff, &greFd)) return nullptr;
  auto cfg = std::make_shared<Config>();
  napi_valuetype ft;
  napi_typeof(env, argv[3], &ft);
  if (!parseConfig(env, argv[2], cfg.get()) || ft != napi_function) {
    if (ft != napi_function) {
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (!pending) throwType(env, "onEvents", "a function");
    }
    close(static_cast<int>(tunFd));
    close(static_cast<int>(greFd));
    return nullptr;
  }
  Dataplane* dp = new Dataplane(static_cast<int>(tunFd), static_cast<int>(greFd), cfg);
  napi_threadsafe_function tsfn = nullptr;
  napi_value name = str(env, "dmvpn-dataplane");
  if (napi_create_threadsafe_function(env, argv[3], nullptr, name, 0, 1, dp, &Dataplane::tsfnFinalize, dp,
                                      &Dataplane::callJs, &tsfn) != napi_ok) {
    close(static_cast<int>(tunFd));
    close(static_cast<int>(greFd));
    delete dp;
    throwLastError(env);
    return nullptr;
  }
  Handle* h = new Handle();
  h->dp = dp;
  h->env = env;
  const char* sc = "";
  int r = dp->init(tsfn, &sc);
  if (r < 0) {
    dp->releaseExternal();  // shuts down, the tsfn finalizer frees
    delete h;
    throwErrno(env, sc, -r);
    return nullptr;
  }
  napi_value ext;
  if (napi_create_external(env, h, finalizeHandle, nullptr, &ext) != napi_ok) {
    dp->releaseExternal();
    delete h;
    throwLastError(env);
    return nullptr;
  }
  // Registered after the tsfn's own hook, so it runs first at environment
  // teardown: the thread is joined before the tsfn is destroyed.
  if (napi_add_env_cleanup_hook(env, envCleanup, h) == napi_ok) h->cleanupHook = true;
  return ext;
}

Handle* unwrapHandle(napi_env env, napi_value v) {
  if (!unwrap(env, v)) return nullptr;
  void* p = nullptr;
  napi_get_value_external(env, v, &p);
  return static_cast<Handle*>(p);
}

napi_value Start(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Dataplane* dp = dataplaneArgs(env, info, argv);
  if (!dp) return nullptr;
  const char* sc = "";
  int r = dp->start(&sc);
  return undefinedOrThrow(env, r, sc);
}

napi_value Close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!args(env, info, 1, argv)) return nullptr;
  Handle* h = unwrapHandle(env, argv[0]);
  if (!h) return nullptr;
  closeHandle(h);
  return undefinedValue(env);
}

napi_value Ref(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Dataplane* dp = dataplaneArgs(env, info, argv);
  bool on;
  if (!dp || !toBool(env, argv[1], "ref", &on)) return nullptr;
  if (dp->closed() || !dp->tsfn()) return undefinedValue(env);
  NAPI_TRY(env, on ? napi_ref_threadsafe_function(env, dp->tsfn()) : napi_unref_threadsafe_function(env, dp->tsfn()));
  return undefinedValue(env);
}

napi_value Configure(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Dataplane* dp = dataplaneArgs(env, info, argv);
  if (!dp) return nullptr;
  auto cfg = std::make_shared<Config>(*dp->config());
  if (!parseConfig(env, argv[1], cfg.get())) return nullptr;
  if (dp->closed()) {
    throwErrno(env, "configure", EBADF);
    return nullptr;
  }
  const char* sc = "";
  int r = dp->setConfig(cfg, &sc);
  return undefinedOrThrow(env, r, sc);
}

napi_value GetConfig(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Dataplane* dp = dataplaneArgs(env, info, argv);
  if (!dp) return nullptr;
  return configToJs(env, *dp->config());
}

}  // namespace

napi_value tablesInit(napi_env env, napi_value exports);  // ops.cc
napi_value ioInit(napi_env env, napi_value exports);      // ops.cc
napi_value rawInit(napi_env env, napi_value exports);     // rawsock.cc
napi_value packetInit(napi_env env, napi_value exports);  // packet_socket.cc
napi_value espInit(napi_env env, napi_value exports);     // esp_ops.cc
napi_value offloadInit(napi_env env, napi_value exports); // offload_ops.cc
napi_value udpEncapInit(napi_env env, napi_value exports); // udp_encap.cc

void defineFunction(napi_env env, napi_value exports, const char* name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn);
  napi_set_named_property(env, exports, name, fn);
}

Dataplane* unwrapDataplane(napi_env env, napi_value v) { return unwrap(env, v); }

napi_value Init(napi_env env, napi_value exports) {
  defineFunction(env, exports, "version", Version);
  defineFunction(env, exports, "openTun", OpenTun);
  defineFunction(env, exports, "openGreSocket", OpenGreSocket);
  defineFunction(env, exports, "closeFd", CloseFd);
  defineFunction(env, exports, "create", Create);
  defineFunction(env, exports, "start", Start);
  defineFunction(env, exports, "close", Close);
  defineFunction(env, exports, "ref", Ref);
  defineFunction(env, exports, "configure", Configure);
  defineFunction(env, exports, "getConfig", GetConfig);
  tablesInit(env, exports);
  ioInit(env, exports);
  rawInit(env, exports);
  packetInit(env, exports);
  benchInit(env, exports);
  offloadInit(env, exports);
  udpEncapInit(env, exports);
  if (!espInit(env, exports)) return nullptr;  // OpenSSL mismatch: the load fails with a clear error
  return exports;
}

}  // namespace dmvpn

NAPI_MODULE_INIT() { return dmvpn::Init(env, exports); }
