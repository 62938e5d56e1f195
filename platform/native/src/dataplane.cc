// Life cycle of the dataplane: thread, epoll, shutdown, the hand-up to
// JavaScript, and the calls JavaScript makes directly (sendGre, writeTun).
// The per-packet work is in encap.cc and decap.cc.
#include "dataplane.h"

#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sys.h"

namespace dmvpn {

const char* const kCounterNames[C_COUNT] = {
#define DP_NAME(name) #name,
    DP_COUNTERS(DP_NAME)
#undef DP_NAME
};

Dataplane::Dataplane(int tunFd, int greFd, std::shared_ptr<const Config> cfg)
    : tunFd_(tunFd), greFd_(greFd), cfg_(std::move(cfg)), tx_(new TxBatch()), jsTx_(new TxBatch()) {
  memset(rxMsgs_, 0, sizeof rxMsgs_);
  // The dataplane thread may block on a full socket buffer (back-pressure);
  // the event loop must not.
  jsTx_->sendFlags = MSG_DONTWAIT;
  tx_->owner = this;
  jsTx_->owner = this;
}

Dataplane::~Dataplane() {
  free(tunBuf_);
  free(greBuf_);
  free(segBuf_);
}

int Dataplane::init(napi_threadsafe_function tsfn, const char** syscall) {
  tsfn_ = tsfn;
  tunBuf_ = static_cast<uint8_t*>(malloc(RX_BATCH * TUN_SLOT));
  greBuf_ = static_cast<uint8_t*>(malloc(RX_BATCH * PKT_BUF));
  segBuf_ = static_cast<uint8_t*>(malloc(SEG_BUF));
  gro_.reset(new TcpGro());
  if (!tunBuf_ || !greBuf_ || !segBuf_) {
    *syscall = "malloc";
    return -ENOMEM;
  }
  // Segmentation and checksum offload at the TUN (tun_io.cc), unless turned
  // off for a comparison (DMVPN_TUN_OFFLOAD=0) or the kernel refuses.
  const char* off = getenv("DMVPN_TUN_OFFLOAD");
  if (!(off && strcmp(off, "0") == 0)) {
    int r = tunEnableOffload(tunFd_, syscall);
    if (r < 0) return r;
    vnet_ = r > 0;
  }
  for (int i = 0; i < RX_BATCH; i++) {
    rxIov_[i].iov_base = greBuf_ + static_cast<size_t>(i) * PKT_BUF;
    rxIov_[i].iov_len = PKT_BUF;
    rxMsgs_[i].msg_hdr.msg_iov = &rxIov_[i];
    rxMsgs_[i].msg_hdr.msg_iovlen = 1;
  }
  epollFd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epollFd_ < 0) {
    *syscall = "epoll_create1";
    return -errno;
  }
  wakeFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wakeFd_ < 0) {
    *syscall = "eventfd";
    return -errno;
  }
  const int fds[3] = {wakeFd_, tunFd_, greFd_};
  for (int fd : fds) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd, &ev) < 0) {
      *syscall = "epoll_ctl";
      return -errno;
    }
  }
  const Config& c = *cfg_;
  return applySocketConfig(greFd_, c.ttl, c.tos, syscall);
}

int Dataplane::start(const char** syscall) {
  if (running_ || closed_) {
    *syscall = "pthread_create";
    return -EALREADY;
  }
  stop_.store(false);
  int e = pthread_create(&thread_, nullptr, &Dataplane::threadMain, this);
  if (e != 0) {
    *syscall = "pthread_create";
    return -e;
  }
  running_ = true;
  return 0;
}

void* Dataplane::threadMain(void* self) {
  // Signals are Node's business: leave them to the main thread.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  pthread_setname_np(pthread_self(), "dmvpn-dataplane");
  static_cast<Dataplane*>(self)->run();
  return nullptr;
}

void Dataplane::run() {
  struct epoll_event evs[8];
  while (!stop_.load(std::memory_order_acquire)) {
    int n = epoll_wait(epollFd_, evs, 8, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    bool tunReady = false, greReady = false, espReady = false, udpReady = false;
    for (int i = 0; i < n; i++) {
      if (evs[i].data.fd == tunFd_) tunReady = true;
      if (evs[i].data.fd == greFd_) greReady = true;
      if (espFd_ >= 0 && evs[i].data.fd == espFd_) espReady = true;
      if (udpFd_ >= 0 && evs[i].data.fd == udpFd_) udpReady = true;
    }
    if (stop_.load(std::memory_order_acquire)) break;
    // One batch from each side per round, level-triggered: a busy side cannot
    // starve the other, and what is left is reported again at once.
    std::shared_ptr<const Config> cfg = config();
    if (tunReady) tunBatch(*cfg);
    if (greReady) greBatch(*cfg);
    if (espReady) espBatch(*cfg);
    if (udpReady) udpBatch(*cfg);
    deliverEvents();
  }
}

void Dataplane::shutdown() {
  if (closed_) return;
  closed_ = true;
  if (running_) {
    stop_.store(true, std::memory_order_release);
    uint64_t one = 1;
    ssize_t w = write(wakeFd_, &one, sizeof one);
    (void)w;
    pthread_join(thread_, nullptr);
    running_ = false;
  }
  // Abort: nothing more is delivered; the tsfn drops its queue and finalizes.
  if (tsfn_) napi_release_threadsafe_function(tsfn_, napi_tsfn_abort);
  for (int* fd : {&epollFd_, &wakeFd_, &tunFd_, &greFd_, &espFd_, &udpFd_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

std::shared_ptr<const Config> Dataplane::config() {
  std::lock_guard<std::mutex> lk(mu_);
  return cfg_;
}

int Dataplane::setConfig(std::shared_ptr<const Config> cfg, const char** syscall) {
  int r = applySocketConfig(greFd_, cfg->ttl, cfg->tos, syscall);
  if (r < 0) return r;
  if (espFd_ >= 0 && (r = applySocketConfig(espFd_, cfg->ttl, cfg->tos, syscall)) < 0) return r;
  if (udpFd_ >= 0 && (r = applySocketConfig(udpFd_, cfg->ttl, cfg->tos, syscall)) < 0) return r;
  std::lock_guard<std::mutex> lk(mu_);
  cfg_ = std::move(cfg);
  return 0;
}

Resolution Dataplane::resolve(uint32_t dst) {
  if (isMulticastOrBroadcast(dst)) return Resolution{Resolution::Multicast, 0, dst, nullptr};
  // The peer table holds host entries: the most specific match there is.
  if (PeerEntry* e = peers_.find(dst)) return Resolution{Resolution::Peer, e->nbma, dst, e};
  uint32_t nh = 0;
  int len = 0;
  // No route: the kernel sent it into the tunnel, so treat it as on-link.
  if (!routes_.lookup(dst, &nh, &len) || nh == 0 || nh == dst) {
    return Resolution{Resolution::Miss, 0, dst, nullptr};
  }
  if (PeerEntry* e = peers_.find(nh)) return Resolution{Resolution::Peer, e->nbma, nh, e};
  return Resolution{Resolution::Miss, 0, nh, nullptr};
}

void Dataplane::deliverEvents() {
  if (pending_.empty()) return;
  const size_t n = pending_.size();
  const size_t dropped = queue_.pushAll(pending_, EVENT_QUEUE_MAX, EVENT_BYTES_MAX);
  counters.add(C_eventsQueued, n - dropped);
  if (dropped) counters.add(C_dropEventOverflow, dropped);
  if (!callPending_.exchange(true)) {
    if (napi_call_threadsafe_function(tsfn_, nullptr, napi_tsfn_nonblocking) != napi_ok) {
      callPending_.store(false);
    }
  }
}

void Dataplane::callJs(napi_env env, napi_value jsCallback, void* context, void* data) {
  if (env == nullptr || jsCallback == nullptr) return;  // tsfn being torn down
  Dataplane* dp = static_cast<Dataplane*>(context);
  // Cleared before taking the queue: an event queued after this point
  // schedules another call, so none is left behind.
  dp->callPending_.store(false);
  std::vector<Event> events;
  dp->queue_.take(&events);
  if (events.empty() || dp->closed_) return;
  dp->counters.add(C_eventsDelivered, events.size());
  napi_value arr = eventsToJs(env, events);
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  napi_call_function(env, undefined, jsCallback, 1, &arr, nullptr);
}

void Dataplane::tsfnFinalize(napi_env env, void* finalizeData, void* finalizeHint) {
  Dataplane* dp = static_cast<Dataplane*>(finalizeData);
  dp->tsfnGone_ = true;
  dp->tsfn_ = nullptr;
  dp->maybeFree();
}

void Dataplane::releaseExternal() {
  shutdown();
  externalGone_ = true;
  maybeFree();
}

void Dataplane::maybeFree() {
  if (externalGone_ && (tsfnGone_ || tsfn_ == nullptr)) delete this;
}

int Dataplane::sendGre(uint32_t nbma, uint16_t protocolType, const uint8_t* payload, size_t len,
                       bool raw) {
  if (closed_) return -EBADF;
  std::shared_ptr<const Config> cfg = config();
  uint8_t hdr[8];
  struct iovec iov[2];
  int iovcnt = 0;
  size_t hl = 0;
  if (!raw) {
    hl = buildGreHeader(hdr, cfg->keyPresent, cfg->key, protocolType);
    iov[iovcnt].iov_base = hdr;
    iov[iovcnt++].iov_len = hl;
  }
  iov[iovcnt].iov_base = const_cast<uint8_t*>(payload);
  iov[iovcnt++].iov_len = len;
  {
    // NHRP rides the protected tunnel too (IOS `tunnel protection` covers all of GRE).
    std::lock_guard<std::mutex> lk(mu_);
    if (espOut(nbma, hdr, hl, payload, len, -1, *jsTx_)) {
      espSend(*jsTx_);
      counters.add(C_jsGreTxPackets);
      return 1;
    }
  }
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(nbma);
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_name = &sa;
  msg.msg_namelen = sizeof sa;
  msg.msg_iov = iov;
  msg.msg_iovlen = iovcnt;
  // Never block the event loop: a full socket buffer is a counted drop.
  if (sendmsg(greFd_, &msg, MSG_DONTWAIT) < 0) {
    int e = errno;
    counters.add(C_dropSendFail);
    if (e == EAGAIN || e == ENOBUFS) return 0;
    return -e;
  }
  counters.add(C_jsGreTxPackets);
  counters.add(C_greTxPackets);
  counters.add(C_greTxBytes, hl + len);
  return 1;
}

int Dataplane::writeTun(const uint8_t* pkt, size_t len) {
  if (closed_) return -EBADF;
  // With the virtio header: an all-zero one (no GSO, checksum as it is).
  uint8_t vnet[VNET_HDR_LEN] = {};
  struct iovec iov[2] = {{vnet, sizeof vnet}, {const_cast<uint8_t*>(pkt), len}};
  if ((vnet_ ? writev(tunFd_, iov, 2) : write(tunFd_, pkt, len)) < 0) {
    int e = errno;
    counters.add(C_dropTunWriteFail);
    if (e == EAGAIN || e == ENOBUFS) return 0;
    return -e;
  }
  counters.add(C_jsTunTxPackets);
  counters.add(C_tunTxPackets);
  counters.add(C_tunTxBytes, len);
  return 1;
}

}  // namespace dmvpn
