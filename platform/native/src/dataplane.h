// The userspace mGRE dataplane (DESIGN.md "userspace"): one native thread
// polls the TUN and the raw GRE socket with epoll and moves packets both ways
// in batches; JavaScript pushes the tables down and gets control traffic,
// misses, multicast copies and redirects handed up through one
// napi_threadsafe_function.
//
//   TUN --read x64--> classify (peer table, prefix table) --sendmmsg--> raw socket
//   raw socket --recvmmsg x64--> check IP/GRE/key --0x0800--> write --> TUN
//                                                 \--other (NHRP)--> JavaScript
#pragma once

#include <node_api.h>
#include <pthread.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "common.h"
#include "esp.h"
#include "events.h"
#include "offload.h"
#include "packet.h"
#include "table.h"

namespace dmvpn {

// GRE packets waiting for one sendmmsg. Every message is a two-part gather:
// the shared GRE header and the inner packet where it was read, so nothing is
// copied. With ToS inheritance each message carries an IP_TOS control message.
class Dataplane;
class Sa;

// Room for one IP_TOS control message.
union TosControl {
  struct cmsghdr align;
  uint8_t buf[CMSG_SPACE(sizeof(int))];
};

// ESP packets sealed and waiting for one sendmmsg (esp_dp.cc), like the GRE
// batch: a profile showed one sendmsg per ESP packet costing a third of the
// sending thread. Each packet is sealed into its own stretch of the arena.
// The Sa pointers are only valid under the table lock, so the batch is sent
// before the lock is let go (Dataplane::espSend).
struct EspTxBatch {
  static constexpr size_t kArena = 512 * 1024;  // > one PKT_BUF packet sealed
  uint8_t* arena = nullptr;                     // allocated at the first ESP packet
  size_t used = 0;
  int n = 0;
  struct mmsghdr msgs[TX_BATCH];
  struct iovec iov[TX_BATCH];
  struct sockaddr_in addr[TX_BATCH];
  TosControl control[TX_BATCH];
  int fd[TX_BATCH];
  Sa* sa[TX_BATCH];
  uint32_t plain[TX_BATCH];  // GRE bytes protected, for the SA's byte counter
  bool udp[TX_BATCH];
  ~EspTxBatch();
};

struct TxBatch {
  int fd = -1;
  Dataplane* owner = nullptr;  // ESP: packets to a peer with an SA (or protected) go there
  int sendFlags = 0;  // MSG_DONTWAIT on the JavaScript thread
  uint8_t header[8];
  size_t headerLength = 0;
  int n = 0;
  struct mmsghdr msgs[TX_BATCH];
  struct iovec iov[TX_BATCH][2];
  struct sockaddr_in addr[TX_BATCH];
  TosControl control[TX_BATCH];
  EspTxBatch esp;  // the ESP-protected share of what is added (esp_dp.cc)

  void begin(int socketFd, const Config& cfg);
  // Queues one packet; flushes first when full. tos < 0: no control message.
  void add(uint32_t nbma, const uint8_t* pkt, size_t len, int tos, Counters& ctr);
  void flush(Counters& ctr);
};

struct Resolution {
  enum Kind { Peer, Miss, Multicast } kind;
  uint32_t nbma;      // Peer
  uint32_t nextHop;   // the overlay address that was looked up in the peers
  PeerEntry* entry;   // Peer
};

// A TUN read: the largest IPv4 packet behind the virtio header.
constexpr size_t TUN_SLOT = PKT_BUF + 64;
// Segments of split super-packets wait here for the GRE batch (which points
// into it); when full, the batch is sent and it starts over.
constexpr size_t SEG_BUF = 512 * 1024;

class Dataplane {
 public:
  Dataplane(int tunFd, int greFd, std::shared_ptr<const Config> cfg);
  ~Dataplane();

  // --- JavaScript thread ---
  // Sets up epoll and the wake-up eventfd; the tsfn is owned from here on.
  int init(napi_threadsafe_function tsfn, const char** syscall);
  int start(const char** syscall);
  // Stops and joins the thread, releases the tsfn, closes every fd. Idempotent.
  void shutdown();
  bool closed() const { return closed_; }
  bool tunOffload() const { return vnet_; }
  bool running() const { return running_; }

  std::shared_ptr<const Config> config();
  int setConfig(std::shared_ptr<const Config> cfg, const char** syscall);

  std::mutex& tableLock() { return mu_; }
  PeerTable& peers() { return peers_; }    // only with tableLock() held
  RouteTable& routes() { return routes_; } // only with tableLock() held
  Resolution resolve(uint32_t dst);        // only with tableLock() held

  // Single packets from JavaScript: 1 sent, 0 would block (counted), -errno on failure.
  int sendGre(uint32_t nbma, uint16_t protocolType, const uint8_t* payload, size_t len, bool raw);
  int writeTun(const uint8_t* pkt, size_t len);
  // Runs a packet through the encapsulation path; returns GRE copies sent.
  int sendInner(uint8_t* pkt, size_t len);

  Counters counters;

  // --- ESP (esp_dp.cc); everything below needs tableLock() held ---
  // Takes the raw protocol-50 socket (owned from here on) and polls it.
  int attachEsp(int fd, const char** syscall);
  bool hasEsp() const { return espFd_ >= 0; }
  EspTables& esp() { return esp_; }
  // Called by TxBatch::add for every GRE packet: true when ESP took it (sealed
  // into tx.esp, queued or dropped), false when it goes out in the clear.
  bool espOut(uint32_t nbma, const uint8_t* hdr, size_t hl, const uint8_t* pkt, size_t len, int tos, TxBatch& tx);
  // Sends what tx.esp holds (one sendmmsg per run of packets on the same
  // socket) and counts it; before the table lock is let go.
  void espSend(TxBatch& tx);
  // Sends what waits for nbma (after its SA arrived) or drops it (protection off).
  void espFlush(uint32_t nbma, bool send);
  // Test and tooling hook: `bytes` as the whole protocol-50 payload, unchecked.
  int sendEspRaw(uint32_t nbma, const uint8_t* bytes, size_t len);

  // --- UDP encapsulation, RFC 3948 (esp_udp.cc) ---
  // Takes the UDP socket bound to port 4500 (owned from here on) and polls it:
  // keepalives are counted, IKE behind the non-ESP marker goes up as an Ike
  // event, the rest is ESP looked up by SPI in the same inbound table.
  int attachEspUdp(int fd, const char** syscall);
  bool hasEspUdp() const { return udpFd_ >= 0; }
  uint16_t espUdpPort() const { return udpPort_; }
  // JavaScript thread, never blocking: 1 sent, 0 would block (counted), -errno.
  // IKE goes out behind the non-ESP marker; a keepalive is the octet 0xFF.
  int sendIke(uint32_t dst, uint16_t port, const uint8_t* msg, size_t len);
  int sendNatKeepalive(uint32_t dst, uint16_t port);

  // Called on the JavaScript thread by the tsfn.
  static void callJs(napi_env env, napi_value jsCallback, void* context, void* data);
  static void tsfnFinalize(napi_env env, void* finalizeData, void* finalizeHint);
  // Either owner (the JS external, the tsfn) lets go; the last one frees.
  void releaseExternal();
  napi_threadsafe_function tsfn() const { return tsfn_; }

 private:
  static void* threadMain(void* self);
  void run();
  void tunBatch(const Config& cfg);
  // One read from a TUN with the virtio header (tun_io.cc): the checksum
  // completed or the super-packet split, each packet classified. Needs
  // tableLock() held.
  void tunOffered(const Config& cfg, uint8_t* p, size_t len, uint64_t now);
  // A decapsulated packet for the TUN: written at once on a plain TUN, held
  // for tunFlush() (and merged per TCP flow) on one with the virtio header.
  void tunQueue(uint8_t* pkt, size_t len);
  void tunFlush();
  void greBatch(const Config& cfg);
  // The encapsulation decision for one inner packet read from the TUN (or
  // given by JavaScript when report is false). Needs tableLock() held.
  void classify(const Config& cfg, uint8_t* pkt, size_t len, TxBatch& tx, bool report, uint64_t now);
  void decapsulate(const Config& cfg, uint8_t* pkt, size_t len, int msgFlags,
                   std::unique_lock<std::mutex>& lk, uint64_t now);
  // The GRE part of decapsulate, shared by the clear and the ESP path.
  // encapPort: the outer UDP source port when the GRE came in ESP-in-UDP.
  void decapGre(const Config& cfg, uint32_t srcNbma, uint32_t dstNbma, uint8_t* gre, size_t greLen,
                std::unique_lock<std::mutex>& lk, uint64_t now, uint16_t encapPort = 0);
  void espBatch(const Config& cfg);
  void espDecap(const Config& cfg, uint8_t* p, size_t len, int msgFlags, std::unique_lock<std::mutex>& lk,
                uint64_t now);
  // One ESP packet (from either socket) from SPI onwards: SA lookup, open, GRE.
  void espInbound(const Config& cfg, uint8_t* esp, size_t espLen, uint32_t src, uint32_t dst, uint16_t srcPort,
                  std::unique_lock<std::mutex>& lk, uint64_t now);
  void udpBatch(const Config& cfg);
  void udpDatagram(const Config& cfg, uint8_t* p, size_t len, int msgFlags, const struct sockaddr_in& from,
                   std::unique_lock<std::mutex>& lk, uint64_t now);
  int sendUdp(uint32_t dst, uint16_t port, const struct iovec* iov, int iovcnt);
  // Seals one GRE packet (gre header + pkt) into tx.esp; sends the batch first when it is full.
  bool espSeal(Sa& sa, uint32_t nbma, const uint8_t* gre, size_t greLen, const uint8_t* pkt, size_t len,
               int tos, TxBatch& tx);
  void deliverEvents();
  void maybeFree();

  int tunFd_;
  int greFd_;
  int espFd_ = -1;
  int udpFd_ = -1;                   // UDP encapsulation (port 4500)
  uint32_t udpLocal_ = 0;            // its bound address and port (host order)
  uint16_t udpPort_ = 0;
  EspTables esp_;                    // guarded by mu_
  int epollFd_ = -1;
  int wakeFd_ = -1;
  pthread_t thread_{};
  bool running_ = false;
  bool closed_ = false;
  std::atomic<bool> stop_{false};

  std::mutex mu_;  // guards peers_, routes_, cfg_ and jsTx_
  PeerTable peers_;
  RouteTable routes_;
  std::shared_ptr<const Config> cfg_;

  napi_threadsafe_function tsfn_ = nullptr;
  bool tsfnGone_ = false;
  bool externalGone_ = false;
  EventQueue queue_;
  std::atomic<bool> callPending_{false};
  std::vector<Event> pending_;  // dataplane thread only
  RateLimiter missLimiter_;
  RateLimiter redirectLimiter_;

  // The TUN carries struct virtio_net_hdr (tunEnableOffload succeeded).
  bool vnet_ = false;
  // Dataplane-thread buffers.
  uint8_t* tunBuf_ = nullptr;  // RX_BATCH slots of TUN_SLOT
  uint8_t* segBuf_ = nullptr;  // SEG_BUF bytes: segments of split super-packets
  size_t segUsed_ = 0;
  std::unique_ptr<TcpGro> gro_;  // TUN writes of one receive batch
  uint8_t* greBuf_ = nullptr;
  struct mmsghdr rxMsgs_[RX_BATCH];
  struct iovec rxIov_[RX_BATCH];
  struct sockaddr_in rxAddr_[RX_BATCH];  // sources of a UDP batch
  std::unique_ptr<TxBatch> tx_;
  std::unique_ptr<TxBatch> jsTx_;  // sendInner on the JavaScript thread
};

}  // namespace dmvpn
