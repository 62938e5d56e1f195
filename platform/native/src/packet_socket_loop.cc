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

// ---- lifetime (polled_socket.h): the timer is the packet socket's own handle

// Closing, before the fd and the poll handle go: the drops counted so far are read while the fd is open.
static void closeTimer(PolledSocket* base) {
  PacketSock* s = static_cast<PacketSock*>(base);
  s->link = Link::Gone;
  readKernelDrops(s);
  uv_timer_stop(&s->timer);
  closeHandle(reinterpret_cast<uv_handle_t*>(&s->timer));
}

PacketSock::PacketSock() : PolledSocket(kMagic, closeTimer, destroyAs<PacketSock>) {}
PacketSock::~PacketSock() { free(slots); }

void readKernelDrops(PacketSock* s) {
  if (s->fd < 0) return;
  tpacket_stats ks{};
  socklen_t len = sizeof ks;
  // Reading PACKET_STATISTICS resets the kernel's counters: accumulate.
  if (getsockopt(s->fd, SOL_PACKET, PACKET_STATISTICS, &ks, &len) == 0) s->c.rxDrops += ks.tp_drops;
}

// ---- errors shaped like Node's (code, errno, syscall) plus the device

napi_value errnoError(napi_env env, const char* syscall, const std::string& device, int err, const char* text) {
  char msg[384];
  if (text) snprintf(msg, sizeof msg, "%s on %s: %s", syscall, device.c_str(), text);
  else snprintf(msg, sizeof msg, "%s on %s failed: %s (%s)", syscall, device.c_str(), strerror(err), errnoName(err));
  napi_value e = errnoObject(env, syscall, msg, err);
  napi_set_named_property(env, e, "device", str(env, device.c_str()));
  return e;
}

void throwDeviceErrno(napi_env env, const char* syscall, const std::string& device, int err) {
  napi_throw(env, errnoError(env, syscall, device, err, nullptr));
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
  closeSocket(s);
}

static void onTimer(uv_timer_t* t) {
  PacketSock* s = socketOf<PacketSock>(t);
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
    closeSocket(s);
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
  callJs(s, s->onData, 4, argv);
  napi_close_handle_scope(env, hs);
  return true;
}

void onReadable(uv_poll_t* h, int status, int events) {
  PacketSock* s = socketOf<PacketSock>(h);
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
