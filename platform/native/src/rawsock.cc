// A raw IPv4 socket for one IP protocol on one interface (EIGRP, protocol 88,
// on LAN interfaces: RFC 7868 section 5.2 sends hellos to 224.0.0.10). Control
// traffic only, so it is polled on Node's own event loop (uv_poll) and each
// datagram is handed to a JavaScript callback; the kernel builds the IP header.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <string>
#include <vector>

#include "napi_util.h"

namespace dmvpn {
namespace {

constexpr uint32_t kMagic = 0x52415753;  // "RAWS"

// Freed once both the uv handle is closed and the JavaScript handle is
// collected (as the packet socket, packet_socket_loop.cc): a send after close
// finds the state and fails with EBADF instead of touching freed memory.
struct RawSock {
  uint32_t magic = kMagic;
  napi_env env = nullptr;
  uv_poll_t poll;
  int fd = -1;
  napi_ref callback = nullptr;
  napi_async_context async = nullptr;
  // Environment teardown (a worker ending) waits on this hook until the poll
  // handle is closed: its close callback lives in this library.
  napi_async_cleanup_hook_handle cleanupHook = nullptr;
  bool closing = false;
  bool external = true;   // the JavaScript handle still exists
  bool pollOpen = false;  // the uv handle is not closed yet
  bool jsReleased = false;
  int dispatching = 0;    // nesting of calls into JavaScript
  uint8_t buf[65536];
};

void maybeFree(RawSock* s) {
  if (s->pollOpen || s->external) return;
  s->magic = 0;
  delete s;
}

void onClosed(uv_handle_t* h) {
  RawSock* s = static_cast<RawSock*>(h->data);
  s->pollOpen = false;
  if (s->cleanupHook) {
    napi_remove_async_cleanup_hook(s->cleanupHook);
    s->cleanupHook = nullptr;
  }
  maybeFree(s);
}

void releaseJs(RawSock* s) {
  if (s->jsReleased) return;
  s->jsReleased = true;
  if (s->callback) napi_delete_reference(s->env, s->callback);
  s->callback = nullptr;
  if (s->async) napi_async_destroy(s->env, s->async);
  s->async = nullptr;
}

void closeSock(RawSock* s) {
  if (s->closing) return;
  s->closing = true;
  uv_poll_stop(&s->poll);
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
  uv_close(reinterpret_cast<uv_handle_t*>(&s->poll), onClosed);
  // Closed from inside the callback: the async context is in use until it returns.
  if (s->dispatching == 0) releaseJs(s);
}

void envCleanup(napi_async_cleanup_hook_handle, void* arg) {
  closeSock(static_cast<RawSock*>(arg));  // onClosed removes the hook
}

void onReadable(uv_poll_t* h, int status, int events) {
  RawSock* s = static_cast<RawSock*>(h->data);
  if (s->closing || s->jsReleased || status < 0 || !(events & UV_READABLE)) return;
  napi_env env = s->env;
  s->dispatching++;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) {
    s->dispatching--;
    return;
  }
  napi_value resource;
  napi_get_undefined(env, &resource);
  napi_callback_scope cscope = nullptr;
  if (napi_open_callback_scope(env, resource, s->async, &cscope) != napi_ok) cscope = nullptr;
  // Bounded: at most 64 datagrams per wake-up, so a flood cannot starve the loop.
  for (int i = 0; cscope && i < 64 && !s->closing; i++) {
    sockaddr_in from{};
    socklen_t flen = sizeof from;
    ssize_t n = recvfrom(s->fd, s->buf, sizeof s->buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &flen);
    if (n < 0) break;
    napi_value cb, argv[2], ab, u8, global, result;
    void* data;
    if (napi_create_arraybuffer(env, static_cast<size_t>(n), &data, &ab) != napi_ok) break;
    memcpy(data, s->buf, static_cast<size_t>(n));
    napi_create_typedarray(env, napi_uint8_array, static_cast<size_t>(n), ab, 0, &u8);
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &from.sin_addr, text, sizeof text);
    argv[0] = u8;
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &argv[1]);
    if (napi_get_reference_value(env, s->callback, &cb) != napi_ok || !cb) break;
    napi_get_global(env, &global);
    napi_make_callback(env, s->async, global, cb, 2, argv, &result);
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) break;  // surfaces as an uncaught exception once the scope closes
  }
  if (cscope) napi_close_callback_scope(env, cscope);
  napi_close_handle_scope(env, scope);
  if (--s->dispatching == 0 && s->closing) releaseJs(s);
}

void finalize(napi_env env, void* data, void*) {
  RawSock* s = static_cast<RawSock*>(data);
  s->external = false;
  closeSock(s);
  maybeFree(s);
}

RawSock* unwrapSock(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  void* p = nullptr;
  if (t == napi_external) napi_get_value_external(env, v, &p);
  RawSock* s = static_cast<RawSock*>(p);
  if (!s || s->magic != kMagic) {
    throwType(env, "handle", "a raw socket handle");
    return nullptr;
  }
  return s;
}

// rawOpen(protocol, device, groups[], ttl, onPacket) -> handle
napi_value RawOpen(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!args(env, info, 5, argv)) return nullptr;
  uint64_t proto, ttl;
  std::string dev;
  if (!toUint(env, argv[0], "protocol", 1, 255, &proto)) return nullptr;
  if (!toString(env, argv[1], "device", &dev)) return nullptr;
  if (!toUint(env, argv[3], "ttl", 1, 255, &ttl)) return nullptr;
  napi_valuetype t;
  napi_typeof(env, argv[4], &t);
  if (t != napi_function) {
    throwType(env, "onPacket", "a function");
    return nullptr;
  }
  unsigned ifindex = if_nametoindex(dev.c_str());
  if (ifindex == 0) {
    throwErrno(env, "if_nametoindex", errno ? errno : ENODEV);
    return nullptr;
  }
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, static_cast<int>(proto));
  if (fd < 0) {
    throwErrno(env, "socket", errno);
    return nullptr;
  }
  auto fail = [&](const char* sc) -> napi_value {
    int e = errno;
    close(fd);
    throwErrno(env, sc, e);
    return nullptr;
  };
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev.c_str(), static_cast<socklen_t>(dev.size())) < 0) return fail("setsockopt(SO_BINDTODEVICE)");
  ip_mreqn mif{};
  mif.imr_ifindex = static_cast<int>(ifindex);
  if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mif, sizeof mif) < 0) return fail("setsockopt(IP_MULTICAST_IF)");
  int off = 0, ittl = static_cast<int>(ttl);
  if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &off, sizeof off) < 0) return fail("setsockopt(IP_MULTICAST_LOOP)");
  if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ittl, sizeof ittl) < 0) return fail("setsockopt(IP_MULTICAST_TTL)");
  if (setsockopt(fd, IPPROTO_IP, IP_TTL, &ittl, sizeof ittl) < 0) return fail("setsockopt(IP_TTL)");
  // Routing-protocol traffic: IP precedence 6 (internetwork control), as IOS sends EIGRP.
  int tos = 0xc0;
  if (setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof tos) < 0) return fail("setsockopt(IP_TOS)");
  // IOS sends EIGRP with DF clear (EIGRP_adjacency.pcap), as the userspace dataplane builds it:
  // no path MTU discovery on routing-protocol datagrams.
  int pmtu = IP_PMTUDISC_DONT;
  if (setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu) < 0) return fail("setsockopt(IP_MTU_DISCOVER)");
  uint32_t n = 0;
  napi_get_array_length(env, argv[2], &n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value g;
    napi_get_element(env, argv[2], i, &g);
    std::string group;
    if (!toString(env, g, "groups[]", &group)) {
      close(fd);
      return nullptr;
    }
    ip_mreqn m{};
    if (inet_pton(AF_INET, group.c_str(), &m.imr_multiaddr) != 1) {
      close(fd);
      throwType(env, "groups[]", "dotted IPv4 multicast addresses");
      return nullptr;
    }
    m.imr_ifindex = static_cast<int>(ifindex);
    if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) < 0) return fail("setsockopt(IP_ADD_MEMBERSHIP)");
  }
  RawSock* s = new RawSock();
  s->env = env;
  s->fd = fd;
  napi_create_reference(env, argv[4], 1, &s->callback);
  napi_value name;
  napi_create_string_utf8(env, "dmvpn:rawsocket", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, nullptr, name, &s->async);
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &s->poll, fd);
  s->poll.data = s;
  s->pollOpen = true;
  uv_poll_start(&s->poll, UV_READABLE, onReadable);
  napi_add_async_cleanup_hook(env, envCleanup, s, &s->cleanupHook);
  napi_value handle;
  napi_create_external(env, s, finalize, nullptr, &handle);
  return handle;
}

// rawSend(handle, dst, payload) -> boolean (false: would block, counted by the caller)
napi_value RawSend(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!args(env, info, 3, argv)) return nullptr;
  RawSock* s = unwrapSock(env, argv[0]);
  if (!s) return nullptr;
  if (s->closing) {
    throwErrno(env, "sendto", EBADF);
    return nullptr;
  }
  uint32_t dst;
  if (!toU32(env, argv[1], "dst", &dst)) return nullptr;
  uint8_t* data;
  size_t len;
  if (!toBytes(env, argv[2], "payload", &data, &len)) return nullptr;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(dst);
  ssize_t r = sendto(s->fd, data, len, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&to), sizeof to);
  if (r < 0) {
    if (errno == EAGAIN || errno == ENOBUFS) return boolean(env, false);
    throwErrno(env, "sendto", errno);
    return nullptr;
  }
  return boolean(env, true);
}

napi_value RawClose(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!args(env, info, 1, argv)) return nullptr;
  RawSock* s = unwrapSock(env, argv[0]);
  if (!s) return nullptr;
  closeSock(s);
  return undefinedValue(env);
}

}  // namespace

void defineFunction(napi_env env, napi_value exports, const char* name, napi_callback cb);

napi_value rawInit(napi_env env, napi_value exports) {
  defineFunction(env, exports, "rawOpen", RawOpen);
  defineFunction(env, exports, "rawSend", RawSend);
  defineFunction(env, exports, "rawClose", RawClose);
  return exports;
}

}  // namespace dmvpn
