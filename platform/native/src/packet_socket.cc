// N-API entry points of the packet socket (packet_socket.h has the why):
// packetOpen, packetSend, packetSendMany, packetStats, packetState, packetClose.
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "napi_util.h"
#include "packet_socket.h"

namespace dmvpn {
namespace pktsock {
namespace {

// ---- N-API functions

constexpr const char* kHandle = "a packet socket handle";

// Fetches the N arguments of a call on a handle and the socket behind argv[0].
template <size_t N>
PacketSock* sockArgs(napi_env env, napi_callback_info info, napi_value (&argv)[N]) {
  return static_cast<PacketSock*>(socketArgs(env, info, argv, kMagic, kHandle));
}

// packetOpen(device, protocol, rcvbuf?, onPacket, onError?) -> { handle, ifindex, hardwareType, address }
napi_value PacketOpen(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!args(env, info, 5, argv)) return nullptr;
  std::string dev;
  uint64_t proto, rcvbuf = 0;
  if (!toString(env, argv[0], "device", &dev)) return nullptr;
  if (!toUint(env, argv[1], "protocol", 1, 0xffff, &proto)) return nullptr;
  if (!isUndefined(env, argv[2]) && !toUint(env, argv[2], "rcvbuf", 0, 1u << 30, &rcvbuf)) return nullptr;
  if (!checkCallbacks(env, argv[3], "onPacket", argv[4])) return nullptr;
  if (dev.empty() || dev.size() >= IFNAMSIZ || dev.find('\0') != std::string::npos) {
    throwDeviceErrno(env, "if_nametoindex", dev, ENODEV);
    return nullptr;
  }
  unsigned ifindex = if_nametoindex(dev.c_str());
  if (ifindex == 0) {
    throwDeviceErrno(env, "if_nametoindex", dev, errno ? errno : ENODEV);
    return nullptr;
  }
  // Protocol 0 until bind: a socket made with the protocol would take that
  // protocol from every device in the meantime.
  int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throwDeviceErrno(env, "socket", dev, errno);
    return nullptr;
  }
  auto fail = [&](const char* sc) -> napi_value {
    int e = errno;
    close(fd);
    throwDeviceErrno(env, sc, dev, e);
    return nullptr;
  };
  int rb = static_cast<int>(rcvbuf);
  // As root the FORCE variant lifts the net.core.rmem_max ceiling.
  if (rb > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rb, sizeof rb) < 0 &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof rb) < 0) {
    return fail("setsockopt(SO_RCVBUF)");
  }
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(static_cast<uint16_t>(proto));
  sll.sll_ifindex = static_cast<int>(ifindex);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) < 0) return fail("bind");
  // The device's type, address length and own address, as af_packet reports them.
  sockaddr_ll self{};
  socklen_t slen = sizeof self;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&self), &slen) < 0) return fail("getsockname");
  if (self.sll_ifindex != static_cast<int>(ifindex)) {
    errno = ENODEV;  // deleted between if_nametoindex and bind
    return fail("bind");
  }
  uint8_t* slots = static_cast<uint8_t*>(malloc(kBatch * kSlot));
  if (!slots) {
    errno = ENOMEM;
    return fail("malloc");
  }

  PacketSock* s = new PacketSock();
  s->ifindex = static_cast<int>(ifindex);
  s->hatype = self.sll_hatype;
  s->halen = std::min<uint8_t>(self.sll_halen, sizeof self.sll_addr);
  s->device = dev;
  s->slots = slots;
  for (int i = 0; i < kBatch; i++) {
    s->rxIov[i].iov_base = slots + static_cast<size_t>(i) * kSlot;
    s->rxIov[i].iov_len = kSlot;
    s->rx[i].msg_hdr = msghdr{};
    s->rx[i].msg_hdr.msg_name = &s->rxFrom[i];
    s->rx[i].msg_hdr.msg_iov = &s->rxIov[i];
    s->rx[i].msg_hdr.msg_iovlen = 1;
  }
  startPolling(s, env, fd, argv[3], argv[4], "dmvpn:packetsocket", onReadable);
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  uv_timer_init(loop, &s->timer);
  watchHandle(s, reinterpret_cast<uv_handle_t*>(&s->timer));
  uv_unref(reinterpret_cast<uv_handle_t*>(&s->timer));  // the poll alone keeps the process alive

  napi_value handle = socketHandle(env, s), out, addr;
  copyBytes(env, self.sll_addr, s->halen, &addr);
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "handle", handle);
  napi_set_named_property(env, out, "ifindex", u32(env, ifindex));
  napi_set_named_property(env, out, "hardwareType", u32(env, s->hatype));
  napi_set_named_property(env, out, "address", addr);
  return out;
}

// Checks a destination and fills its sockaddr_ll; throws on a wrong length.
bool fillAddress(napi_env env, PacketSock* s, napi_value v, const char* what, uint16_t proto, sockaddr_ll* sa) {
  uint8_t* to;
  size_t tolen;
  if (!toBytes(env, v, what, &to, &tolen)) return false;
  if (tolen != s->halen) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be a %u-byte link-layer address for %s (got %zu bytes)", what,
             static_cast<unsigned>(s->halen), s->device.c_str(), tolen);
    napi_throw_range_error(env, "ERR_INVALID_ADDRESS", msg);
    return false;
  }
  *sa = sockaddr_ll{};
  sa->sll_family = AF_PACKET;
  sa->sll_protocol = htons(proto);
  sa->sll_ifindex = s->ifindex;
  sa->sll_halen = s->halen;
  memcpy(sa->sll_addr, to, tolen);
  return true;
}

struct SendArgs {
  PacketSock* s = nullptr;
  uint8_t* data = nullptr;
  size_t len = 0;
  uint16_t proto = 0;
};

// Common arguments of send and sendMany: (handle, to, payload, protocol); `to` is each one's own.
bool sendArgs(napi_env env, napi_callback_info info, napi_value (&argv)[4], SendArgs* a) {
  a->s = sockArgs(env, info, argv);
  if (!a->s) return false;
  uint64_t p;
  if (!toBytes(env, argv[2], "payload", &a->data, &a->len)) return false;
  if (a->len > 65535) {
    throwRange(env, "payload", "at most 65535 bytes");
    return false;
  }
  if (!toUint(env, argv[3], "protocol", 1, 0xffff, &p)) return false;
  a->proto = static_cast<uint16_t>(p);
  if (a->s->closing) {
    throwDeviceErrno(env, "sendto", a->s->device, EBADF);
    return false;
  }
  return true;
}

// packetSend(handle, to, payload, protocol) -> boolean (false: buffer full, counted)
napi_value PacketSend(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  SendArgs a;
  if (!sendArgs(env, info, argv, &a)) return nullptr;
  PacketSock* s = a.s;
  sockaddr_ll sa;
  if (!fillAddress(env, s, argv[1], "to", a.proto, &sa)) return nullptr;
  ssize_t r;
  do {
    r = sendto(s->fd, a.data, a.len, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
      s->c.txFull++;
      return boolean(env, false);
    }
    s->c.txErrors++;
    sendFailed(s, e);
    throwDeviceErrno(env, "sendto", s->device, e);
    return nullptr;
  }
  s->c.txPackets++;
  s->c.txBytes += a.len;
  return boolean(env, true);
}

// packetSendMany(handle, to[], payload, protocol) -> number sent. One sendmmsg
// batch: the same payload to each address (multicast replicated as unicast).
// Sending stops at a full buffer (the rest are counted in txFull); another
// error throws when nothing was sent, else the rest count as txErrors.
napi_value PacketSendMany(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  SendArgs a;
  if (!sendArgs(env, info, argv, &a)) return nullptr;
  PacketSock* s = a.s;
  bool isArr = false;
  napi_is_array(env, argv[1], &isArr);
  if (!isArr) {
    throwType(env, "to", "an array of link-layer addresses");
    return nullptr;
  }
  uint32_t n = 0;
  napi_get_array_length(env, argv[1], &n);
  if (n > kMaxTargets) {
    throwRange(env, "to", "at most 65536 addresses");
    return nullptr;
  }
  // Every address is checked before anything is sent.
  s->txAddrs.resize(n);
  s->txMsgs.resize(n);
  iovec iov{a.data, a.len};
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    napi_get_element(env, argv[1], i, &e);
    if (!fillAddress(env, s, e, "to[]", a.proto, &s->txAddrs[i])) return nullptr;
    mmsghdr& m = s->txMsgs[i];
    m = mmsghdr{};
    m.msg_hdr.msg_name = &s->txAddrs[i];
    m.msg_hdr.msg_namelen = sizeof(sockaddr_ll);
    m.msg_hdr.msg_iov = &iov;
    m.msg_hdr.msg_iovlen = 1;
  }
  uint32_t sent = 0;
  int interrupted = 0;
  while (sent < n) {
    unsigned chunk = std::min<unsigned>(n - sent, kSendChunk);
    int r = sendmmsg(s->fd, &s->txMsgs[sent], chunk, MSG_DONTWAIT);
    if (r > 0) {
      sent += static_cast<uint32_t>(r);
      continue;
    }
    int e = r == 0 ? EAGAIN : errno;
    if (e == EINTR && ++interrupted < 8) continue;
    if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS || e == EINTR) {
      s->c.txFull += n - sent;
      break;
    }
    s->c.txErrors += n - sent;
    sendFailed(s, e);
    if (sent == 0) {
      throwDeviceErrno(env, "sendmmsg", s->device, e);
      return nullptr;
    }
    break;
  }
  s->c.txPackets += sent;
  s->c.txBytes += static_cast<uint64_t>(sent) * a.len;
  return u32(env, sent);
}

napi_value PacketStats(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  PacketSock* s = sockArgs(env, info, argv);
  if (!s) return nullptr;
  readKernelDrops(s);
  napi_value o;
  napi_create_object(env, &o);
  const Counters& c = s->c;
  napi_set_named_property(env, o, "rxPackets", num(env, static_cast<double>(c.rxPackets)));
  napi_set_named_property(env, o, "rxBytes", num(env, static_cast<double>(c.rxBytes)));
  napi_set_named_property(env, o, "rxDrops", num(env, static_cast<double>(c.rxDrops)));
  napi_set_named_property(env, o, "rxTruncated", num(env, static_cast<double>(c.rxTruncated)));
  napi_set_named_property(env, o, "txPackets", num(env, static_cast<double>(c.txPackets)));
  napi_set_named_property(env, o, "txBytes", num(env, static_cast<double>(c.txBytes)));
  napi_set_named_property(env, o, "txFull", num(env, static_cast<double>(c.txFull)));
  napi_set_named_property(env, o, "txErrors", num(env, static_cast<double>(c.txErrors)));
  return o;
}

// packetState(handle) -> 'up' | 'down' | 'closed'
napi_value PacketState(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  PacketSock* s = sockArgs(env, info, argv);
  if (!s) return nullptr;
  if (s->closing) return str(env, "closed");
  return str(env, s->link == Link::Down ? "down" : "up");
}

napi_value PacketClose(napi_env env, napi_callback_info info) { return closeCall(env, info, kMagic, kHandle); }

}  // namespace
}  // namespace pktsock

napi_value packetInit(napi_env env, napi_value exports) {
  using namespace pktsock;
  defineFunctions(env, exports, {
      {"packetOpen", PacketOpen},
      {"packetSend", PacketSend},
      {"packetSendMany", PacketSendMany},
      {"packetStats", PacketStats},
      {"packetState", PacketState},
      {"packetClose", PacketClose},
  });
  return exports;
}

}  // namespace dmvpn
