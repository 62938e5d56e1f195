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
#include "polled_socket.h"

namespace dmvpn {
namespace {

constexpr uint32_t kMagic = 0x52415753;  // "RAWS"

// Lifetime as every polled socket's (polled_socket.h): a send after close
// finds the state and fails with EBADF instead of touching freed memory.
struct RawSock : PolledSocket {
  uint8_t buf[65536];
  RawSock() : PolledSocket(kMagic, nullptr, destroyAs<RawSock>) {}
};

void onReadable(uv_poll_t* h, int status, int events) {
  RawSock* s = socketOf<RawSock>(h);
  if (s->closing || s->jsReleased || status < 0 || !(events & UV_READABLE)) return;
  napi_env env = s->env;
  Dispatch d(s);
  // Bounded: at most 64 datagrams per wake-up, so a flood cannot starve the loop.
  for (int i = 0; d.ok && i < 64 && !s->closing; i++) {
    sockaddr_in from{};
    socklen_t flen = sizeof from;
    ssize_t n = recvfrom(s->fd, s->buf, sizeof s->buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &flen);
    if (n < 0) break;
    napi_value cb, argv[2], global, result;
    if (!copyBytes(env, s->buf, static_cast<size_t>(n), &argv[0])) break;
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &from.sin_addr, text, sizeof text);
    argv[1] = str(env, text);
    if (napi_get_reference_value(env, s->onData, &cb) != napi_ok || !cb) break;
    napi_get_global(env, &global);
    napi_make_callback(env, s->async, global, cb, 2, argv, &result);
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) break;  // surfaces as an uncaught exception once the scope closes
  }
}

constexpr const char* kHandle = "a raw socket handle";

// Fetches the N arguments of a call on a handle and the socket behind argv[0].
template <size_t N>
RawSock* sockArgs(napi_env env, napi_callback_info info, napi_value (&argv)[N]) {
  return static_cast<RawSock*>(socketArgs(env, info, argv, kMagic, kHandle));
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
  if (!checkCallbacks(env, argv[4], "onPacket", nullptr)) return nullptr;
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
  startPolling(s, env, fd, argv[4], nullptr, "dmvpn:rawsocket", onReadable);
  return socketHandle(env, s);
}

// rawSend(handle, dst, payload) -> boolean (false: would block, counted by the caller)
napi_value RawSend(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  RawSock* s = sockArgs(env, info, argv);
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

napi_value RawClose(napi_env env, napi_callback_info info) { return closeCall(env, info, kMagic, kHandle); }

}  // namespace

napi_value rawInit(napi_env env, napi_value exports) {
  defineFunctions(env, exports, {
      {"rawOpen", RawOpen},
      {"rawSend", RawSend},
      {"rawClose", RawClose},
  });
  return exports;
}

}  // namespace dmvpn
