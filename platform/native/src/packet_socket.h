// An AF_PACKET datagram socket (SOCK_DGRAM: the kernel adds and strips the
// link-layer header) bound to one device and one link-layer protocol. The
// kernel dataplane uses it for NHRP (RFC 2332 section 3: NHRP runs directly over
// the link layer; over GRE that is protocol type 0x2001, as IOS sends it) and for
// the unicast copies of multicast to each NBMA address (`ip nhrp map multicast`,
// IPv4 0x0800) on an ip_gre multipoint device. There the link-layer address is
// the NBMA IPv4 address: sendto() with sll_addr = a peer's NBMA address makes
// the kernel build outer IPv4 + GRE with the device's key (ipgre_header), and a
// received packet's sll_addr is the sender's NBMA address (ipgre_header_parse).
// opennhrp and FRR nhrpd talk NHRP the same way.
//
// Control traffic only, so it is polled on Node's event loop (uv_poll) and
// received in recvmmsg batches; each packet goes to a JavaScript callback.
//
// The bound device can go down or away under the socket. af_packet then sets
// the socket error to ENETDOWN and stops delivering (until the device is up
// again); when the device is unregistered (deleted, or moved to another
// namespace) the socket's ifindex becomes -1 (getsockname shows it) and nothing
// ever arrives again. So: ENETDOWN is reported once per outage; while down a
// timer checks every kDownCheckMs whether the device came back or went away; a
// device that went away is reported as ENODEV once and the socket closes.
#pragma once

#include <linux/if_packet.h>
#include <node_api.h>
#include <sys/socket.h>
#include <uv.h>

#include <cstdint>
#include <string>
#include <vector>

#include "polled_socket.h"

namespace dmvpn {
namespace pktsock {

constexpr uint32_t kMagic = 0x504b5453;  // "PKTS"
constexpr int kBatch = 32;               // datagrams per recvmmsg
constexpr int kBatchesPerWake = 4;       // so a flood cannot starve the loop
constexpr size_t kSlot = 65536;          // a datagram never exceeds 64 KiB (IPv4/GRE)
constexpr unsigned kSendChunk = 1024;    // UIO_MAXIOV: the most sendmmsg takes at once
constexpr uint32_t kMaxTargets = 65536;  // sendMany: as many as config.multicastNbma
constexpr uint64_t kDownCheckMs = 250;

enum class Link { Up, Down, Gone };

struct Counters {
  uint64_t rxPackets = 0, rxBytes = 0, rxDrops = 0, rxTruncated = 0;
  uint64_t txPackets = 0, txBytes = 0, txFull = 0, txErrors = 0;
};

struct PacketSock : PolledSocket {
  uv_timer_t timer;
  int ifindex = 0;
  uint16_t hatype = 0;
  uint8_t halen = 0;
  std::string device;
  Link link = Link::Up;
  Counters c;
  uint8_t* slots = nullptr;  // kBatch * kSlot bytes; pages are touched only as packets need them
  mmsghdr rx[kBatch];
  iovec rxIov[kBatch];
  sockaddr_ll rxFrom[kBatch];
  std::vector<mmsghdr> txMsgs;
  std::vector<sockaddr_ll> txAddrs;
  PacketSock();
  ~PacketSock();
};

// Event-loop side (packet_socket_loop.cc).
void onReadable(uv_poll_t* h, int status, int events);
void readKernelDrops(PacketSock* s);
// A send failed with err: ENXIO/ENODEV start the check that reports the device gone.
void sendFailed(PacketSock* s, int err);
// An Error with code, errno (negative), syscall and device; `text` replaces strerror in the message.
napi_value errnoError(napi_env env, const char* syscall, const std::string& device, int err, const char* text);
void throwDeviceErrno(napi_env env, const char* syscall, const std::string& device, int err);

}  // namespace pktsock
}  // namespace dmvpn
