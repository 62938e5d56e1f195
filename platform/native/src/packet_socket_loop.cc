// The event-loop side of the packet socket (packet_socket.h): receiving in
// recvmmsg batches, calls into JavaScript, the device going down or away, and
// the socket's lifetime.
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "napi_util.h"
#include "packet_socket.h"

namespace dmvpn {
namespace pktsock {

// ---- lifetime: freed once both the uv handles and the JavaScript handle are gone

static void maybeFree(PacketSock* s) {
  if (s->openHandles > 0 || s->external) return;
  free(s->slots);
  s->magic = 0;
  delete s;
}

static void onHandleClosed(uv_handle_t* h) {
  PacketSock* s = static_cast<PacketSock*>(h->data);
  if (--s->openHandles == 0 && s->cleanupHook) {
    napi_remove_async_cleanup_hook(s->cleanupHook);
    s->cleanupHook = nullptr;
  }
  maybeFree(s);
}

static void releaseJs(PacketSock* s) {
  if (s->jsReleased) return;
  s->jsReleased = true;
  if (s->onPacket) napi_delete_reference(s->env, s->onPacket);
  if (s->onError) napi_delete_reference(s->env, s->onError);
  s->onPacket = s->onError = nullptr;
  if (s->async) napi_async_destroy(s->env, s->async);
  s->async = nullptr;
}

void readKernelDrops(PacketSock* s) {
  if (s->fd < 0) return;
  tpacket_stats ks{};
  socklen_t len = sizeof ks;
  // Reading PACKET_STATISTICS resets the kernel's counters: accumulate.
  if (getsockopt(s->fd, SOL_PACKET, PACKET_STATISTICS, &ks, &len) == 0) s->c.rxDrops += ks.tp_drops;
}

void closeSock(PacketSock* s) {
  if (s->closing) return;
  s->closing = true;
  s->link = Link::Gone;
  readKernelDrops(s);
  uv_poll_stop(&s->poll);
  uv_timer_stop(&s->timer);
  close(s->fd);
  s->fd = -1;
  uv_close(reinterpret_cast<uv_handle_t*>(&s->poll), onHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&s->timer), onHandleClosed);
  // Inside a callback into JavaScript the async context is still in use: the
  // dispatch releases it on the way out.
  if (s->dispatching == 0) releaseJs(s);
}

void envCleanup(napi_async_cleanup_hook_handle, void* arg) {
  closeSock(static_cast<PacketSock*>(arg));  // onHandleClosed removes the hook
}

// ---- errors shaped like Node's (code, errno, syscall) plus the device

napi_value errnoError(napi_env env, const char* syscall, const std::string& device, int err, const char* text) {
  const char* name = strerrorname_np(err);
  char msg[384];
  if (text) snprintf(msg, sizeof msg, "%s on %s: %s", syscall, device.c_str(), text);
  else snprintf(msg, sizeof msg, "%s on %s failed: %s (%s)", syscall, device.c_str(), strerror(err), name ? name : "?");
  napi_value m, e;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, nullptr, m, &e);
  napi_set_named_property(env, e, "code", str(env, name ? name : "EUNKNOWN"));
  napi_set_named_property(env, e, "errno", i32(env, -err));
  napi_set_named_property(env, e, "syscall", str(env, syscall));
  napi_set_named_property(env, e, "device", str(env, device.c_str()));
  return e;
}

void throwDeviceErrno(napi_env env, const char* syscall, const std::string& device, int err) {
  napi_throw(env, errnoError(env, syscall, device, err, nullptr));
}

// ---- calls into JavaScript from the event loop

namespace {
struct Dispatch {
  PacketSock* s;
  napi_handle_scope hs = nullptr;
  napi_callback_scope cs = nullptr;
  bool ok = false;  // false while the environment is being torn down: call nothing
  explicit Dispatch(PacketSock* sock) : s(sock) {
    s->dispatching++;
    if (s->jsReleased || napi_open_handle_scope(s->env, &hs) != napi_ok) {
      hs = nullptr;
      return;
    }
    napi_value resource;
    if (napi_create_object(s->env, &resource) != napi_ok) return;
    if (napi_open_callback_scope(s->env, resource, s->async, &cs) != napi_ok) {
      cs = nullptr;
      return;
    }
    ok = true;
  }
  ~Dispatch() {
    if (cs) napi_close_callback_scope(s->env, cs);
    if (hs) napi_close_handle_scope(s->env, hs);
    if (--s->dispatching == 0 && s->closing) releaseJs(s);
  }
};
}  // namespace

// An exception thrown by a callback is the program's uncaught exception, as
// for any other event callback in Node.
static void callJs(PacketSock* s, napi_ref ref, size_t argc, napi_value* argv) {
  if (!ref || s->jsReleased) return;
  napi_env env = s->env;
  napi_value fn = nullptr, global, result;
  if (napi_get_reference_value(env, ref, &fn) != napi_ok || !fn) return;
  if (napi_get_global(env, &global) != napi_ok) return;
  napi_status st = napi_make_callback(env, s->async, global, fn, argc, argv, &result);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (st != napi_ok || pending) {
    napi_value exc;
    if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) {
      napi_valuetype t;
      napi_typeof(env, exc, &t);
      if (t != napi_undefined) napi_fatal_exception(env, exc);
    }
  }
}

static void reportError(PacketSock* s, const char* syscall, int err, const char* text) {
  if (!s->onError || s->jsReleased) return;
  Dispatch d(s);
  if (!d.ok) return;
  napi_value e = errnoError(s->env, syscall, s->device, err, text);
  callJs(s, s->onError, 1, &e);
}

// ---- device state

// af_packet sets the socket's ifindex to -1 when its device is unregistered.
static bool deviceGone(PacketSock* s) {
  sockaddr_ll sa{};
  socklen_t len = sizeof sa;
  if (getsockname(s->fd, reinterpret_cast<sockaddr*>(&sa), &len) < 0) return false;
  return sa.sll_ifindex != s->ifindex;
}

static bool deviceUp(PacketSock* s) {
  ifreq ifr{};
  if (!if_indextoname(static_cast<unsigned>(s->ifindex), ifr.ifr_name)) return false;
  if (ioctl(s->fd, SIOCGIFFLAGS, &ifr) < 0) return false;
  return (ifr.ifr_flags & IFF_UP) != 0;
}

static void goneAndClose(PacketSock* s, const char* syscall) {
  if (s->closing) return;
  s->link = Link::Gone;
  reportError(s, syscall, ENODEV, "the device is gone (deleted or moved to another namespace); the socket is closed");
  closeSock(s);
}

static void onTimer(uv_timer_t* t) {
  PacketSock* s = static_cast<PacketSock*>(t->data);
  if (s->closing) return;
  if (deviceGone(s)) {
    goneAndClose(s, s->link == Link::Gone ? "sendto" : "recvmmsg");
    return;
  }
  if (s->link == Link::Gone || deviceUp(s)) {
    // Up again (af_packet re-hooks the socket itself), or a send error that
    // turned out not to mean the device is gone.
    s->link = Link::Up;
    uv_timer_stop(&s->timer);
  }
}

static void startDownCheck(PacketSock* s, uint64_t firstMs) {
  uv_timer_start(&s->timer, onTimer, firstMs, kDownCheckMs);
}


// A socket error from recvmmsg, or POLLERR (libuv stops the poll on POLLERR and
// calls back with status < 0; SO_ERROR reads and clears the error, so re-arming
// cannot spin).
static void socketError(PacketSock* s, int err, const char* syscall) {
  if (s->closing) return;
  if (err == 0) {
    socklen_t len = sizeof err;
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
  }
  if (deviceGone(s)) {
    goneAndClose(s, syscall);
    return;
  }
  if (err == 0) {
    // POLLERR with no error pending: nothing this socket enables queues errors
    // (no timestamps), so it cannot be read past. Close rather than spin.
    reportError(s, syscall, EIO, "the socket reported an error with none pending; the socket is closed");
    closeSock(s);
    return;
  }
  if (err == ENETDOWN) {
    if (s->link == Link::Up) {
      s->link = Link::Down;
      startDownCheck(s, kDownCheckMs);
      reportError(s, syscall, ENETDOWN, "the device is down; receiving resumes when it is up");
    }
  } else {
    reportError(s, syscall, err, nullptr);
  }
  if (!s->closing) uv_poll_start(&s->poll, UV_READABLE, onReadable);
}

// ---- receive

// False when JavaScript cannot be called any more (the environment is being torn down).
static bool deliver(PacketSock* s, int i) {
  const sockaddr_ll& from = s->rxFrom[i];
  size_t len = s->rx[i].msg_len;
  if (s->rx[i].msg_hdr.msg_flags & MSG_TRUNC) {
    s->c.rxTruncated++;
    return true;
  }
  // PACKET_LOOPBACK never reaches a packet socket; PACKET_USER/KERNEL are netlink's.
  if (from.sll_pkttype > PACKET_OUTGOING) return true;
  s->c.rxPackets++;
  s->c.rxBytes += len;
  napi_env env = s->env;
  size_t halen = std::min<size_t>(from.sll_halen, sizeof from.sll_addr);
  napi_handle_scope hs;
  if (napi_open_handle_scope(env, &hs) != napi_ok) return false;
  // One buffer: the payload, then the sender's link-layer address.
  void* data = nullptr;
  napi_value ab, argv[4];
  if (napi_create_arraybuffer(env, len + halen, &data, &ab) != napi_ok || !data) {
    napi_close_handle_scope(env, hs);
    return false;
  }
  memcpy(data, s->slots + static_cast<size_t>(i) * kSlot, len);
  memcpy(static_cast<uint8_t*>(data) + len, from.sll_addr, halen);
  napi_create_typedarray(env, napi_uint8_array, len, ab, 0, &argv[0]);
  napi_create_typedarray(env, napi_uint8_array, halen, ab, len, &argv[1]);
  argv[2] = u32(env, ntohs(from.sll_protocol));
  argv[3] = u32(env, from.sll_pkttype);
  callJs(s, s->onPacket, 4, argv);
  napi_close_handle_scope(env, hs);
  return true;
}

void onReadable(uv_poll_t* h, int status, int events) {
  PacketSock* s = static_cast<PacketSock*>(h->data);
  if (s->closing) return;
  if (status < 0) {
    socketError(s, 0, "poll");
    return;
  }
  if (!(events & UV_READABLE)) return;
  int err = 0;
  {
    Dispatch d(s);
    if (!d.ok) return;
    for (int b = 0; b < kBatchesPerWake && !s->closing; b++) {
      for (int i = 0; i < kBatch; i++) {
        s->rx[i].msg_hdr.msg_namelen = sizeof(sockaddr_ll);
        s->rx[i].msg_hdr.msg_flags = 0;
        s->rx[i].msg_len = 0;
      }
      int n = recvmmsg(s->fd, s->rx, kBatch, MSG_DONTWAIT, nullptr);
      if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) err = errno;
        break;
      }
      bool live = true;
      for (int i = 0; i < n && !s->closing && live; i++) live = deliver(s, i);
      if (!live || n < kBatch) break;
    }
  }
  if (err && !s->closing) socketError(s, err, "recvmmsg");
}

void finalizeSock(napi_env env, void* data, void*) {
  PacketSock* s = static_cast<PacketSock*>(data);
  s->external = false;
  closeSock(s);
  maybeFree(s);
}

// A send error other than a full buffer: ENXIO means the ifindex no longer
// exists; the timer confirms it and reports the device gone.
void sendFailed(PacketSock* s, int err) {
  if ((err == ENXIO || err == ENODEV) && s->link != Link::Gone) {
    s->link = Link::Gone;
    startDownCheck(s, 0);
  }
}

}  // namespace pktsock
}  // namespace dmvpn
