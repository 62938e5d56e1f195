#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

namespace dmvpn {

static int fail(const char** syscall, const char* name, int fd) {
  int e = errno;
  if (fd >= 0) close(fd);
  *syscall = name;
  return -e;
}

int openTun(const std::string& name, int mtu, std::string* actual, const char** syscall) {
  if (name.size() >= IFNAMSIZ) {
    *syscall = "open";
    return -ENAMETOOLONG;
  }
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return fail(syscall, "open", -1);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  memcpy(ifr.ifr_name, name.data(), name.size());
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) return fail(syscall, "ioctl(TUNSETIFF)", fd);
  actual->assign(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
  if (mtu > 0) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return fail(syscall, "socket", fd);
    ifr.ifr_mtu = mtu;
    if (ioctl(s, SIOCSIFMTU, &ifr) < 0) {
      int e = errno;
      close(s);
      errno = e;
      return fail(syscall, "ioctl(SIOCSIFMTU)", fd);
    }
    close(s);
  }
  return fd;
}

int tunEnableOffload(int fd, const char** syscall) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (ioctl(fd, TUNGETIFF, &ifr) < 0) return 0;  // not a TUN: nothing to do
  const int flags = ifr.ifr_flags;
  if ((flags & (IFF_TUN | IFF_TAP)) != IFF_TUN || (flags & IFF_MULTI_QUEUE)) return 0;
  if (!(flags & IFF_VNET_HDR)) {
    const bool persistent = (flags & IFF_PERSIST) != 0;
    if (!persistent && ioctl(fd, TUNSETPERSIST, 1) < 0) return 0;
    const int fl = fcntl(fd, F_GETFL);
    int nfd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | (fl >= 0 ? (fl & O_NONBLOCK) : O_NONBLOCK));
    // dup3 swaps the files under the same fd number; the old one is released
    // (and detached from the device) before the call returns to user space.
    if (nfd < 0 || dup3(nfd, fd, O_CLOEXEC) < 0) {
      if (nfd >= 0) close(nfd);
      if (!persistent) ioctl(fd, TUNSETPERSIST, 0);
      return 0;
    }
    close(nfd);
    struct ifreq nr;
    memset(&nr, 0, sizeof nr);
    memcpy(nr.ifr_name, ifr.ifr_name, IFNAMSIZ);
    nr.ifr_flags = static_cast<short>((flags & IFF_NO_PI) | IFF_TUN | IFF_VNET_HDR);
    bool vnet = ioctl(fd, TUNSETIFF, &nr) == 0;
    if (!vnet) {
      nr.ifr_flags = static_cast<short>(nr.ifr_flags & ~IFF_VNET_HDR);  // back as it was
      if (ioctl(fd, TUNSETIFF, &nr) < 0) {
        *syscall = "ioctl(TUNSETIFF)";
        return -errno;
      }
    }
    if (!persistent) ioctl(fd, TUNSETPERSIST, 0);
    if (!vnet) return 0;
  }
  int size = 10;  // sizeof(struct virtio_net_hdr)
  if (ioctl(fd, TUNSETVNETHDRSZ, &size) < 0) return fail(syscall, "ioctl(TUNSETVNETHDRSZ)", -1);
  // TSO needs checksum offload; ECN is optional (without it the kernel splits
  // CWR-marked super-packets itself).
  const unsigned offloads[] = {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN, TUN_F_CSUM | TUN_F_TSO4, TUN_F_CSUM, 0};
  for (unsigned o : offloads) {
    if (ioctl(fd, TUNSETOFFLOAD, o) == 0) break;
  }
  return 1;
}

int openGreSocket(const GreSocketOptions& o, const char** syscall) {
  int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, o.protocol);
  if (fd < 0) return fail(syscall, "socket", -1);
  if (!o.device.empty() &&
      setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, o.device.data(), o.device.size()) < 0) {
    return fail(syscall, "setsockopt(SO_BINDTODEVICE)", fd);
  }
  // As root the FORCE variants lift the net.core.[rw]mem_max ceiling.
  if (o.sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &o.sndbuf, sizeof o.sndbuf) < 0 &&
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &o.sndbuf, sizeof o.sndbuf) < 0) {
    return fail(syscall, "setsockopt(SO_SNDBUF)", fd);
  }
  if (o.rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &o.rcvbuf, sizeof o.rcvbuf) < 0 &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &o.rcvbuf, sizeof o.rcvbuf) < 0) {
    return fail(syscall, "setsockopt(SO_RCVBUF)", fd);
  }
  int pmtu = IP_PMTUDISC_DONT;
  if (setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu) < 0) {
    return fail(syscall, "setsockopt(IP_MTU_DISCOVER)", fd);
  }
  // A raw socket bound to an address receives only datagrams addressed to it.
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(o.local);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) < 0) return fail(syscall, "bind", fd);
  return fd;
}

int applySocketConfig(int fd, int ttl, int tos, const char** syscall) {
  if (setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl) < 0) {
    *syscall = "setsockopt(IP_TTL)";
    return -errno;
  }
  int t = tos < 0 ? 0 : tos;
  if (setsockopt(fd, IPPROTO_IP, IP_TOS, &t, sizeof t) < 0) {
    *syscall = "setsockopt(IP_TOS)";
    return -errno;
  }
  return 0;
}

uint64_t monotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace dmvpn
