// The kernel dataplane's UDP 4500 socket for NAT traversal (RFC 3948). With
// setsockopt(SOL_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP) the kernel itself sorts
// what arrives on the port (xfrm4_udp_encap_rcv), by the rules of section 2:
//   a first word that is not zero, datagram longer than an ESP header:
//     ESP in UDP: the UDP header is stripped and the packet goes to xfrm (the
//     inbound state needs encap UDP_ENCAP_ESPINUDP); it never reaches here;
//   the single octet 0xFF: a NAT-keepalive (2.3), consumed by the kernel;
//   anything else, above all the non-ESP marker (four zero octets, 2.2) with
//     IKE behind it: delivered to this socket as a plain datagram.
// So the socket sees IKE only; each message goes to JavaScript with its
// source address and port, the marker removed, as the userspace dataplane's
// 'ike' events do. Outbound ESP in UDP is the xfrm state's (its encap ports);
// this socket sends IKE behind the marker and the keepalives.
//
// Control traffic only: polled on Node's event loop (uv_poll), with the
// lifetime rules of every polled socket (polled_socket.h).
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cstdio>
#include <string>

#include "napi_util.h"
#include "polled_socket.h"

#ifndef UDP_ENCAP
#define UDP_ENCAP 100
#endif
#ifndef UDP_ENCAP_ESPINUDP
#define UDP_ENCAP_ESPINUDP 2
#endif

namespace dmvpn {
namespace udpencap {
namespace {

constexpr uint32_t kMagic = 0x55445045;  // "UDPE"
// RFC 3948 section 2.2: the marker is an SPI of zero, which ESP never uses.
constexpr size_t kMarker = 4;
// An IKE header (RFC 7296 section 3.1): less than this behind the marker is not IKE.
constexpr size_t kIkeHeader = 28;
constexpr uint8_t kKeepalive = 0xff;
constexpr int kPerWake = 64;  // datagrams per wake-up, so a flood cannot starve the loop
constexpr size_t kBuf = 65536;

struct Counters {
  uint64_t ikeRx = 0, ikeTx = 0, keepaliveTx = 0, keepaliveRx = 0, rxShort = 0, rxOther = 0, rxTruncated = 0;
  uint64_t txFull = 0, txErrors = 0;
};

struct EncapSock : PolledSocket {
  uint32_t local = 0;
  uint16_t port = 0;
  Counters c;
  uint8_t buf[kBuf];
  EncapSock() : PolledSocket(kMagic, nullptr, destroyAs<EncapSock>) {}
};

// ---- errors like Node's (code, errno, syscall), naming the endpoint

napi_value errnoError(napi_env env, const char* syscall, const char* where, int err) {
  char msg[320];
  snprintf(msg, sizeof msg, "%s %s failed: %s (%s)", syscall, where, strerror(err), errnoName(err));
  return errnoObject(env, syscall, msg, err);
}

std::string endpoint(const char* prep, uint32_t addr, uint16_t port) {
  char text[INET_ADDRSTRLEN];
  in_addr a;
  a.s_addr = htonl(addr);
  inet_ntop(AF_INET, &a, text, sizeof text);
  char out[64];
  snprintf(out, sizeof out, "%s %s:%u", prep, text, static_cast<unsigned>(port));
  return out;
}

void throwAt(napi_env env, const char* syscall, const std::string& where, int err) {
  napi_throw(env, errnoError(env, syscall, where.c_str(), err));
}

// ---- calls into JavaScript from the event loop

// One datagram the kernel let through. False: JavaScript cannot be called any more.
bool deliver(EncapSock* s, size_t len, int flags, const sockaddr_in& from) {
  if (flags & MSG_TRUNC) {
    s->c.rxTruncated++;
    return true;
  }
  if (len == 1 && s->buf[0] == kKeepalive) {  // only if the kernel did not consume it
    s->c.keepaliveRx++;
    return true;
  }
  bool marked = len >= kMarker && s->buf[0] == 0 && s->buf[1] == 0 && s->buf[2] == 0 && s->buf[3] == 0;
  if (!marked) {
    s->c.rxOther++;  // too short for ESP, not IKE: nothing of RFC 3948
    return true;
  }
  if (len < kMarker + kIkeHeader) {
    s->c.rxShort++;
    return true;
  }
  s->c.ikeRx++;
  napi_env env = s->env;
  napi_handle_scope hs;
  if (napi_open_handle_scope(env, &hs) != napi_ok) return false;
  napi_value argv[3];
  if (!copyBytes(env, s->buf + kMarker, len - kMarker, &argv[0])) {
    napi_close_handle_scope(env, hs);
    return false;
  }
  argv[1] = u32(env, ntohl(from.sin_addr.s_addr));
  argv[2] = u32(env, ntohs(from.sin_port));
  callJs(s, s->onData, 3, argv);
  napi_close_handle_scope(env, hs);
  return true;
}

void reportError(EncapSock* s, const char* syscall, int err) {
  if (!s->onError || s->jsReleased) return;
  Dispatch d(s);
  if (!d.ok) return;
  napi_value e = errnoError(s->env, syscall, endpoint("on", s->local, s->port).c_str(), err);
  callJs(s, s->onError, 1, &e);
}

void onReadable(uv_poll_t* h, int status, int events) {
  EncapSock* s = socketOf<EncapSock>(h);
  if (s->closing) return;
  int err = 0;
  if (status < 0) {
    // POLLERR: an ICMP error queued on the socket (a peer's port unreachable). SO_ERROR
    // reads and clears it, so polling again cannot spin.
    socklen_t len = sizeof err;
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) reportError(s, "recvmsg", err);
    if (!s->closing) uv_poll_start(&s->poll, UV_READABLE, onReadable);
    return;
  }
  if (!(events & UV_READABLE)) return;
  {
    Dispatch d(s);
    if (!d.ok) return;
    for (int i = 0; i < kPerWake && !s->closing; i++) {
      sockaddr_in from{};
      iovec iov{s->buf, kBuf};
      msghdr m{};
      m.msg_name = &from;
      m.msg_namelen = sizeof from;
      m.msg_iov = &iov;
      m.msg_iovlen = 1;
      ssize_t n = recvmsg(s->fd, &m, MSG_DONTWAIT);
      if (n < 0) {
        // A queued ICMP error fails one recvmsg with it (ECONNREFUSED ...): counted in the
        // callback's report, and the next datagram is read.
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        err = errno;
        break;
      }
      if (!deliver(s, static_cast<size_t>(n), m.msg_flags, from)) break;
    }
  }
  if (err && !s->closing) reportError(s, "recvmsg", err);
}

// ---- N-API functions

constexpr const char* kHandle = "a UDP encapsulation socket handle";

// Fetches the N arguments of a call on a handle and the socket behind argv[0].
template <size_t N>
EncapSock* sockArgs(napi_env env, napi_callback_info info, napi_value (&argv)[N]) {
  return static_cast<EncapSock*>(socketArgs(env, info, argv, kMagic, kHandle));
}

// udpEncapOpen(local, port, device?, onIke, onError?) -> { handle, port }
// port 0 binds an ephemeral port (tests); the kernel dataplane binds 4500.
napi_value UdpEncapOpen(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!args(env, info, 5, argv)) return nullptr;
  uint32_t local;
  uint64_t port;
  std::string dev;
  if (!toU32(env, argv[0], "local", &local)) return nullptr;
  if (!toUint(env, argv[1], "port", 0, 65535, &port)) return nullptr;
  if (!isUndefined(env, argv[2]) && !toString(env, argv[2], "device", &dev)) return nullptr;
  if (!checkCallbacks(env, argv[3], "onIke", argv[4])) return nullptr;
  const std::string where = endpoint("on", local, static_cast<uint16_t>(port));
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) {
    throwAt(env, "socket", where, errno);
    return nullptr;
  }
  auto fail = [&](const char* sc) -> napi_value {
    int e = errno;
    close(fd);
    throwAt(env, sc, where, e);
    return nullptr;
  };
  // No SO_REUSEADDR: another IKE daemon holding the port must show as EADDRINUSE, not share
  // it silently (UDP has no TIME_WAIT to wait out on a restart).
  if (!dev.empty() && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev.data(), static_cast<socklen_t>(dev.size())) < 0) {
    return fail("setsockopt(SO_BINDTODEVICE)");
  }
  // IKE messages larger than the path are fragmented rather than refused (as IOS sends them
  // without IKEv2 fragmentation).
  int pmtu = IP_PMTUDISC_DONT;
  if (setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu) < 0) return fail("setsockopt(IP_MTU_DISCOVER)");
  // 4 MiB like the IKE sockets on 500: a hub that restarts gets every spoke's IKE at once.
  int rcvbuf = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);  // best effort without CAP_NET_ADMIN
  }
  int encap = UDP_ENCAP_ESPINUDP;
  if (setsockopt(fd, IPPROTO_UDP, UDP_ENCAP, &encap, sizeof encap) < 0) return fail("setsockopt(UDP_ENCAP)");
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(local);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) return fail("bind");
  socklen_t slen = sizeof sa;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &slen) < 0) return fail("getsockname");

  EncapSock* s = new EncapSock();
  s->local = local;
  s->port = ntohs(sa.sin_port);
  startPolling(s, env, fd, argv[3], argv[4], "dmvpn:udpencap", onReadable);

  napi_value handle = socketHandle(env, s), out;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "handle", handle);
  napi_set_named_property(env, out, "port", u32(env, s->port));
  return out;
}

// Where a send goes: the socket, the peer's address and port.
struct Dest {
  EncapSock* s = nullptr;
  uint32_t dst = 0;
  uint16_t port = 0;
};

// 1 sent, 0 the buffer is full (counted), -errno otherwise (counted).
int sendTo(const Dest& d, const iovec* iov, int iovcnt) {
  EncapSock* s = d.s;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(d.port);
  to.sin_addr.s_addr = htonl(d.dst);
  msghdr m{};
  m.msg_name = &to;
  m.msg_namelen = sizeof to;
  m.msg_iov = const_cast<iovec*>(iov);
  m.msg_iovlen = static_cast<size_t>(iovcnt);
  while (sendmsg(s->fd, &m, MSG_DONTWAIT) < 0) {
    if (errno == EINTR) continue;
    int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
      s->c.txFull++;
      return 0;
    }
    s->c.txErrors++;
    return -e;
  }
  return 1;
}

// Common arguments (handle, dst, dstPort); throws EBADF once closed.
template <size_t N>
bool sendArgs(napi_env env, napi_callback_info info, napi_value (&argv)[N], Dest* d) {
  d->s = sockArgs(env, info, argv);
  if (!d->s) return false;
  uint64_t p;
  if (!toU32(env, argv[1], "dst", &d->dst)) return false;
  if (!toUint(env, argv[2], "dstPort", 1, 65535, &p)) return false;
  d->port = static_cast<uint16_t>(p);
  if (d->s->closing) {
    throwAt(env, "sendmsg", endpoint("to", d->dst, d->port), EBADF);
    return false;
  }
  return true;
}

// Sends, counting a datagram sent in *sent: -> boolean (false: the buffer is full), or throws.
napi_value sendCounted(napi_env env, const Dest& d, const iovec* iov, int iovcnt, uint64_t* sent) {
  int r = sendTo(d, iov, iovcnt);
  if (r > 0) (*sent)++;
  if (r < 0) {
    throwAt(env, "sendmsg", endpoint("to", d.dst, d.port), -r);
    return nullptr;
  }
  return boolean(env, r > 0);
}

// udpEncapSendIke(handle, dst, dstPort, message) -> boolean: the IKE message behind the marker.
napi_value UdpEncapSendIke(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  Dest d;
  uint8_t* data;
  size_t len;
  if (!sendArgs(env, info, argv, &d)) return nullptr;
  if (!toBytes(env, argv[3], "message", &data, &len)) return nullptr;
  if (len < kIkeHeader || len > 65507 - kMarker) {
    throwRange(env, "message", "an IKE message: 28 to 65503 bytes");
    return nullptr;
  }
  static const uint8_t marker[kMarker] = {0, 0, 0, 0};
  iovec iov[2] = {{const_cast<uint8_t*>(marker), kMarker}, {data, len}};
  return sendCounted(env, d, iov, 2, &d.s->c.ikeTx);
}

// udpEncapSendKeepalive(handle, dst, dstPort) -> boolean: one octet 0xFF (RFC 3948 section 2.3).
napi_value UdpEncapSendKeepalive(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  Dest d;
  if (!sendArgs(env, info, argv, &d)) return nullptr;
  uint8_t one = kKeepalive;
  iovec iov{&one, 1};
  return sendCounted(env, d, &iov, 1, &d.s->c.keepaliveTx);
}

napi_value UdpEncapStats(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  EncapSock* s = sockArgs(env, info, argv);
  if (!s) return nullptr;
  napi_value o;
  napi_create_object(env, &o);
  const Counters& c = s->c;
  auto set = [&](const char* k, uint64_t v) { napi_set_named_property(env, o, k, num(env, static_cast<double>(v))); };
  set("ikeRx", c.ikeRx);
  set("ikeTx", c.ikeTx);
  set("keepaliveRx", c.keepaliveRx);
  set("keepaliveTx", c.keepaliveTx);
  set("rxShort", c.rxShort);
  set("rxOther", c.rxOther);
  set("rxTruncated", c.rxTruncated);
  set("txFull", c.txFull);
  set("txErrors", c.txErrors);
  return o;
}

napi_value UdpEncapClose(napi_env env, napi_callback_info info) { return closeCall(env, info, kMagic, kHandle); }

}  // namespace
}  // namespace udpencap

napi_value udpEncapInit(napi_env env, napi_value exports) {
  using namespace udpencap;
  defineFunctions(env, exports, {
      {"udpEncapOpen", UdpEncapOpen},
      {"udpEncapSendIke", UdpEncapSendIke},
      {"udpEncapSendKeepalive", UdpEncapSendKeepalive},
      {"udpEncapStats", UdpEncapStats},
      {"udpEncapClose", UdpEncapClose},
  });
  return exports;
}

}  // namespace dmvpn
