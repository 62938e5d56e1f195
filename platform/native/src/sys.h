// System calls that set the dataplane up: the TUN device and the raw GRE socket.
// Every function returns 0 (or an fd) on success and -errno on failure, with
// the failing system call's name in *syscall.
#pragma once

#include <cstdint>
#include <string>

namespace dmvpn {

// Opens /dev/net/tun as IFF_TUN | IFF_NO_PI (bare IPv4/IPv6 packets, no
// 4-byte packet-information header), non-blocking and close-on-exec.
// `name` may be empty or a pattern like "dmvpn%d"; the kernel's choice is
// returned in *actual. mtu > 0 sets the interface MTU (SIOCSIFMTU).
int openTun(const std::string& name, int mtu, std::string* actual, const char** syscall);

struct GreSocketOptions {
  uint32_t local = 0;   // bind address (host order); 0 = any
  std::string device;   // SO_BINDTODEVICE when not empty
  int sndbuf = 0;       // bytes, 0 = kernel default
  int rcvbuf = 0;
  int protocol = 47;    // IPPROTO_GRE; 50 (IPPROTO_ESP) for the ESP socket
};

// A raw IPv4 socket for IP protocol 47. The kernel builds the outer IPv4 header
// (no IP_HDRINCL): source from the bind address, route, ID, header checksum and
// fragmentation are the kernel's; outer DF is left clear (IP_PMTUDISC_DONT),
// like an IOS tunnel without `tunnel path-mtu-discovery`.
int openGreSocket(const GreSocketOptions& opts, const char** syscall);

// Moves an open TUN (IFF_TUN, single queue) to IFF_VNET_HDR with checksum
// and TCP segmentation offload (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN, or
// the most of it the kernel takes), keeping the device, its ifindex,
// addresses, routes and MTU, and the fd number. The header flag is chosen at
// TUNSETIFF only, so the device is made persistent for a moment, the fd is
// re-opened onto it with the flag, and persistence is put back as it was.
// Returns 1 with the header on, 0 when the fd is left as it was (not a TUN,
// multi-queue, or the kernel said no), -errno when the device was lost.
int tunEnableOffload(int fd, const char** syscall);

// Outer TTL and ToS as socket options (tos < 0: per packet, see encap.cc).
int applySocketConfig(int fd, int ttl, int tos, const char** syscall);

uint64_t monotonicNs();

}  // namespace dmvpn
