// Benchmark helpers for scripts/bench-dataplane.ts, not used by the daemon:
// a native UDP flood (so the load generator is not the bottleneck), the
// baseline loop (TUN read + raw send, no lookup, no checks) and a lookup timer;
// and for scripts/bench/esp.ts, the ESP transforms of one SA in a tight loop.
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <vector>

#include "addon.h"
#include "napi_util.h"
#include "sys.h"

namespace dmvpn {
namespace {

struct Flood {
  uint32_t dst, src;
  uint16_t port;
  size_t size;
  uint64_t durationNs;
  uint64_t sent = 0;
  int error = 0;
  pthread_t thread{};
  bool joined = false;
};

void* floodMain(void* arg) {
  Flood* f = static_cast<Flood*>(arg);
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    f->error = errno;
    return nullptr;
  }
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  if (f->src) {
    sa.sin_addr.s_addr = htonl(f->src);
    bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  }
  sa.sin_addr.s_addr = htonl(f->dst);
  sa.sin_port = htons(f->port);
  if (connect(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
    f->error = errno;
    close(s);
    return nullptr;
  }
  std::vector<uint8_t> payload(f->size, 0x5a);
  struct mmsghdr msgs[64];
  struct iovec iov[64];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < 64; i++) {
    iov[i].iov_base = payload.data();
    iov[i].iov_len = payload.size();
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  const uint64_t end = monotonicNs() + f->durationNs;
  while (monotonicNs() < end) {
    int r = sendmmsg(s, msgs, 64, 0);
    if (r > 0) f->sent += static_cast<uint64_t>(r);
  }
  close(s);
  return nullptr;
}

void floodFinalize(napi_env env, void* data, void* hint) {
  Flood* f = static_cast<Flood*>(data);
  if (!f->joined) pthread_join(f->thread, nullptr);
  delete f;
}

// benchFloodStart(dst, port, size, durationMs, src) -> handle
napi_value FloodStart(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!args(env, info, 5, argv)) return nullptr;
  uint32_t dst, src = 0;
  uint64_t port, size, ms;
  if (!toU32(env, argv[0], "dst", &dst) || !toUint(env, argv[1], "port", 1, 65535, &port) ||
      !toUint(env, argv[2], "size", 0, 65000, &size) || !toUint(env, argv[3], "durationMs", 1, 60000, &ms)) {
    return nullptr;
  }
  if (!isUndefined(env, argv[4]) && !toU32(env, argv[4], "src", &src)) return nullptr;
  Flood* f = new Flood();
  f->dst = dst;
  f->src = src;
  f->port = static_cast<uint16_t>(port);
  f->size = size;
  f->durationNs = ms * 1000000ull;
  int e = pthread_create(&f->thread, nullptr, floodMain, f);
  if (e != 0) {
    delete f;
    throwErrno(env, "pthread_create", e);
    return nullptr;
  }
  napi_value ext;
  NAPI_TRY(env, napi_create_external(env, f, floodFinalize, nullptr, &ext));
  return ext;
}

napi_value FloodJoin(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!args(env, info, 1, argv)) return nullptr;
  void* p = nullptr;
  napi_valuetype t;
  napi_typeof(env, argv[0], &t);
  if (t != napi_external) {
    throwType(env, "flood", "a flood handle");
    return nullptr;
  }
  napi_get_value_external(env, argv[0], &p);
  Flood* f = static_cast<Flood*>(p);
  if (!f->joined) {
    pthread_join(f->thread, nullptr);
    f->joined = true;
  }
  if (f->error) {
    throwErrno(env, "flood", f->error);
    return nullptr;
  }
  return num(env, static_cast<double>(f->sent));
}

// benchBaseline(tunFd, greFd, nbma, durationMs) -> packets sent: read the TUN
// in batches and send each packet behind a fixed keyed GRE header, nothing else.
napi_value Baseline(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!args(env, info, 4, argv)) return nullptr;
  uint64_t tunFd, greFd, ms;
  uint32_t nbma;
  if (!toUint(env, argv[0], "tunFd", 0, 0x7fffffff, &tunFd) || !toUint(env, argv[1], "greFd", 0, 0x7fffffff, &greFd) ||
      !toU32(env, argv[2], "nbma", &nbma) || !toUint(env, argv[3], "durationMs", 1, 60000, &ms)) {
    return nullptr;
  }
  std::vector<uint8_t> bufs(static_cast<size_t>(RX_BATCH) * PKT_BUF);
  uint8_t hdr[8];
  const size_t hl = buildGreHeader(hdr, true, 1, ETH_P_IPV4);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(nbma);
  struct mmsghdr msgs[RX_BATCH];
  struct iovec iov[RX_BATCH][2];
  memset(msgs, 0, sizeof msgs);
  uint64_t sent = 0;
  const uint64_t end = monotonicNs() + ms * 1000000ull;
  struct pollfd pfd = {static_cast<int>(tunFd), POLLIN, 0};
  while (monotonicNs() < end) {
    if (poll(&pfd, 1, 20) <= 0) continue;
    int n = 0;
    while (n < RX_BATCH) {
      ssize_t r = read(static_cast<int>(tunFd), bufs.data() + static_cast<size_t>(n) * PKT_BUF, PKT_BUF);
      if (r <= 0) break;
      iov[n][0].iov_base = hdr;
      iov[n][0].iov_len = hl;
      iov[n][1].iov_base = bufs.data() + static_cast<size_t>(n) * PKT_BUF;
      iov[n][1].iov_len = static_cast<size_t>(r);
      msgs[n].msg_hdr.msg_name = &sa;
      msgs[n].msg_hdr.msg_namelen = sizeof sa;
      msgs[n].msg_hdr.msg_iov = iov[n];
      msgs[n].msg_hdr.msg_iovlen = 2;
      n++;
    }
    int i = 0;
    while (i < n) {
      int r = sendmmsg(static_cast<int>(greFd), msgs + i, static_cast<unsigned>(n - i), 0);
      if (r <= 0) {
        i++;
        continue;
      }
      sent += static_cast<uint64_t>(r);
      i += r;
    }
  }
  return num(env, static_cast<double>(sent));
}

// benchResolve(handle, dsts: Uint32Array, rounds) -> nanoseconds for all lookups.
napi_value Resolve(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  Dataplane* dp = dataplaneArgs(env, info, argv);
  if (!dp) return nullptr;
  napi_typedarray_type type;
  size_t n = 0;
  void* data = nullptr;
  bool isTa = false;
  napi_is_typedarray(env, argv[1], &isTa);
  if (isTa) napi_get_typedarray_info(env, argv[1], &type, &n, &data, nullptr, nullptr);
  if (!isTa || type != napi_uint32_array) {
    throwType(env, "dsts", "a Uint32Array");
    return nullptr;
  }
  uint64_t rounds;
  if (!toUint(env, argv[2], "rounds", 1, 1000000, &rounds)) return nullptr;
  const uint32_t* dsts = static_cast<const uint32_t*>(data);
  uint64_t sink = 0;
  std::lock_guard<std::mutex> lk(dp->tableLock());
  const uint64_t t0 = monotonicNs();
  for (uint64_t r = 0; r < rounds; r++) {
    for (size_t i = 0; i < n; i++) sink += dp->resolve(dsts[i]).nbma;
  }
  const uint64_t t1 = monotonicNs();
  asm volatile("" : : "r"(sink));
  return num(env, static_cast<double>(t1 - t0));
}

// ---- ESP seal/open rate (scripts/bench/esp.ts) ------------------------------------------

uint64_t threadCpuNs() {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// An SA with fixed keys (their value does not change the cost).
std::unique_ptr<Sa> benchSa(EspCipher cipher, EspInteg integ, bool outbound, std::string* err) {
  SaParams p;
  p.spi = 0x1000;
  p.cipher = cipher;
  p.integ = integ;
  const bool gcm = cipher == EspCipher::AesGcm128 || cipher == EspCipher::AesGcm256;
  const size_t aes = cipher == EspCipher::AesGcm128 || cipher == EspCipher::AesCbc128 ? 16 : 32;
  p.key.resize(gcm ? aes + 4 : aes);
  for (size_t i = 0; i < p.key.size(); i++) p.key[i] = static_cast<uint8_t>(0x11 * i + 1);
  if (!gcm) {
    p.authKey.resize(integ == EspInteg::HmacSha1_96 ? 20 : 32);
    for (size_t i = 0; i < p.authKey.size(); i++) p.authKey[i] = static_cast<uint8_t>(0x37 ^ i);
  }
  return Sa::make(p, outbound, err);
}

// Seals what Dataplane::espSeal seals, as it does: next sequence number and
// IV from the SA, the GRE header and the inner packet copied into place, then
// Sa::seal in place. Only the batching and sendmmsg are left out.
bool sealOne(Sa& sa, const uint8_t* gre, size_t greLen, const uint8_t* inner, size_t len, uint8_t* out,
             size_t* outLen) {
  uint64_t seq;
  uint8_t iv[16];
  if (!sa.nextSeq(&seq, iv)) return false;
  uint8_t* body = out + 8 + sa.ivLength();
  memcpy(body, gre, greLen);
  memcpy(body + greLen, inner, len);
  *outLen = sa.seal(seq, iv, body, greLen + len, 47, out);
  return *outLen != 0;
}

struct EspRun {
  uint64_t packets = 0, wallNs = 0, cpuNs = 0;
  const char* error = nullptr;
};

constexpr size_t kEspRing = 512;  // distinct sealed packets the open loop cycles through

EspRun espSealLoop(EspCipher cipher, EspInteg integ, size_t size, uint64_t durationNs) {
  EspRun r;
  std::string err;
  std::unique_ptr<Sa> sa = benchSa(cipher, integ, true, &err);
  if (!sa) {
    r.error = "could not make the SA";
    return r;
  }
  uint8_t gre[8];
  const size_t greLen = buildGreHeader(gre, false, 0, ETH_P_IPV4);
  std::vector<uint8_t> inner(size - greLen, 0x45), out(size + sa->overhead(size) + 64);
  size_t n = 0;
  const uint64_t w0 = monotonicNs(), c0 = threadCpuNs(), end = w0 + durationNs;
  uint64_t now = w0;
  while (now < end) {
    for (int i = 0; i < 16; i++) {
      if (!sealOne(*sa, gre, greLen, inner.data(), inner.size(), out.data(), &n)) {
        r.error = "seal failed";
        return r;
      }
    }
    r.packets += 16;
    now = monotonicNs();
  }
  r.cpuNs = threadCpuNs() - c0;
  r.wallNs = now - w0;
  return r;
}

// Opens what Dataplane::espDecap opens: each ESP packet copied into the receive
// buffer (as recvmmsg would leave it), then Sa::open in place with the replay
// check. The ring of sealed packets repeats its sequence numbers, so the
// inbound SA is made anew at each lap; that step is not timed.
EspRun espOpenLoop(EspCipher cipher, EspInteg integ, size_t size, uint64_t durationNs) {
  EspRun r;
  std::string err;
  std::unique_ptr<Sa> out = benchSa(cipher, integ, true, &err);
  std::unique_ptr<Sa> in = benchSa(cipher, integ, false, &err);
  if (!out || !in) {
    r.error = "could not make the SA";
    return r;
  }
  uint8_t gre[8];
  const size_t greLen = buildGreHeader(gre, false, 0, ETH_P_IPV4);
  std::vector<uint8_t> inner(size - greLen, 0x45);
  const size_t slot = size + out->overhead(size) + 64;
  std::vector<uint8_t> ring(kEspRing * slot), rx(slot);
  std::vector<size_t> lens(kEspRing);
  for (size_t i = 0; i < kEspRing; i++) {
    if (!sealOne(*out, gre, greLen, inner.data(), inner.size(), ring.data() + i * slot, &lens[i])) {
      r.error = "seal failed";
      return r;
    }
  }
  uint64_t excludedWall = 0, excludedCpu = 0;
  const uint64_t w0 = monotonicNs(), c0 = threadCpuNs(), end = w0 + durationNs;
  uint64_t now = w0;
  size_t at = 0;
  while (now < end) {
    for (int i = 0; i < 16; i++, at++) {
      if (at == kEspRing) {
        const uint64_t a = monotonicNs(), b = threadCpuNs();
        in = benchSa(cipher, integ, false, &err);
        if (!in) {
          r.error = "could not make the SA";
          return r;
        }
        at = 0;
        excludedCpu += threadCpuNs() - b;
        excludedWall += monotonicNs() - a;
      }
      memcpy(rx.data(), ring.data() + at * slot, lens[at]);
      uint8_t* payload = nullptr;
      size_t plen = 0;
      uint8_t nh = 0;
      if (in->open(rx.data(), lens[at], &payload, &plen, &nh, true) != EspStatus::Ok || plen != size) {
        r.error = "open failed";
        return r;
      }
    }
    r.packets += 16;
    now = monotonicNs();
  }
  r.cpuNs = threadCpuNs() - c0 - excludedCpu;
  r.wallNs = now - w0 - excludedWall;
  return r;
}

// benchEsp(cipher, integrity, op, size, durationMs) -> { packets, wallNs, cpuNs }:
// one SA's seal ("seal") or open ("open") of `size`-byte GRE packets on the
// calling thread (it blocks for durationMs).
napi_value BenchEsp(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!args(env, info, 5, argv)) return nullptr;
  std::string c, in, op;
  uint64_t size, ms;
  if (!toString(env, argv[0], "cipher", &c) || !toString(env, argv[2], "op", &op) ||
      !toUint(env, argv[3], "size", 64, 9000, &size) || !toUint(env, argv[4], "durationMs", 1, 60000, &ms)) {
    return nullptr;
  }
  if (!isUndefined(env, argv[1]) && !toString(env, argv[1], "integrity", &in)) return nullptr;
  EspCipher cipher;
  if (c == "aes-gcm-128") cipher = EspCipher::AesGcm128;
  else if (c == "aes-gcm-256") cipher = EspCipher::AesGcm256;
  else if (c == "aes-cbc-128") cipher = EspCipher::AesCbc128;
  else if (c == "aes-cbc-256") cipher = EspCipher::AesCbc256;
  else {
    throwRange(env, "cipher", "aes-gcm-128, aes-gcm-256, aes-cbc-128 or aes-cbc-256");
    return nullptr;
  }
  const bool gcm = cipher == EspCipher::AesGcm128 || cipher == EspCipher::AesGcm256;
  EspInteg integ = EspInteg::None;
  if (in == "hmac-sha1-96") integ = EspInteg::HmacSha1_96;
  else if (in == "hmac-sha256-128") integ = EspInteg::HmacSha256_128;
  else if (!in.empty()) {
    throwRange(env, "integrity", "hmac-sha1-96 or hmac-sha256-128");
    return nullptr;
  }
  if (gcm != (integ == EspInteg::None)) {
    throwRange(env, "integrity", gcm ? "absent with aes-gcm" : "hmac-sha1-96 or hmac-sha256-128 with aes-cbc");
    return nullptr;
  }
  if (op != "seal" && op != "open") {
    throwRange(env, "op", "\"seal\" or \"open\"");
    return nullptr;
  }
  const uint64_t ns = ms * 1000000ull;
  EspRun r = op == "seal" ? espSealLoop(cipher, integ, size, ns) : espOpenLoop(cipher, integ, size, ns);
  if (r.error) {
    napi_throw_error(env, "ERR_DMVPN_BENCH", r.error);
    return nullptr;
  }
  napi_value o;
  napi_create_object(env, &o);
  napi_set_named_property(env, o, "packets", num(env, static_cast<double>(r.packets)));
  napi_set_named_property(env, o, "wallNs", num(env, static_cast<double>(r.wallNs)));
  napi_set_named_property(env, o, "cpuNs", num(env, static_cast<double>(r.cpuNs)));
  return o;
}

}  // namespace

napi_value benchInit(napi_env env, napi_value exports) {
  defineFunctions(env, exports, {
      {"benchFloodStart", FloodStart},
      {"benchFloodJoin", FloodJoin},
      {"benchBaseline", Baseline},
      {"benchResolve", Resolve},
      {"benchEsp", BenchEsp},
  });
  return exports;
}

}  // namespace dmvpn
