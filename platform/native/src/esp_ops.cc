// N-API entry points for ESP: the protocol-50 socket, the UDP-encapsulation
// socket (NAT traversal, esp_udp.cc), the SA tables pushed down by the IKE
// side, per-SA counters (`show crypto ipsec sa`), and stateless seal/open
// helpers for known-answer tests.
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "addon.h"
#include "napi_util.h"
#include "sys.h"

namespace dmvpn {
namespace {

bool parseSa(napi_env env, napi_value obj, SaParams* p) {
  napi_valuetype t;
  napi_typeof(env, obj, &t);
  if (t != napi_object) {
    throwType(env, "sa", "an object");
    return false;
  }
  napi_value v;
  bool has;
  if (!prop(env, obj, "spi", &v, &has)) return false;
  if (!has || !toU32(env, v, "sa.spi", &p->spi)) {
    if (!has) throwType(env, "sa.spi", "a 32-bit number");
    return false;
  }
  if (p->spi < 256) {  // RFC 4303 section 2.1: 1..255 reserved by IANA, 0 local use
    throwRange(env, "sa.spi", "256 .. 2^32-1");
    return false;
  }
  std::string s;
  if (!prop(env, obj, "cipher", &v, &has)) return false;
  if (!has || !toString(env, v, "sa.cipher", &s)) {
    if (!has) throwType(env, "sa.cipher", "a cipher name");
    return false;
  }
  if (s == "aes-gcm-128") p->cipher = EspCipher::AesGcm128;
  else if (s == "aes-gcm-256") p->cipher = EspCipher::AesGcm256;
  else if (s == "aes-cbc-128") p->cipher = EspCipher::AesCbc128;
  else if (s == "aes-cbc-256") p->cipher = EspCipher::AesCbc256;
  else {
    throwRange(env, "sa.cipher", "aes-gcm-128, aes-gcm-256, aes-cbc-128 or aes-cbc-256");
    return false;
  }
  if (!prop(env, obj, "integrity", &v, &has)) return false;
  p->integ = EspInteg::None;
  if (has) {
    if (!toString(env, v, "sa.integrity", &s)) return false;
    if (s == "hmac-sha1-96") p->integ = EspInteg::HmacSha1_96;
    else if (s == "hmac-sha256-128") p->integ = EspInteg::HmacSha256_128;
    else if (s == "hmac-sha384-192") p->integ = EspInteg::HmacSha384_192;
    else if (s == "hmac-sha512-256") p->integ = EspInteg::HmacSha512_256;
    else {
      throwRange(env, "sa.integrity", "hmac-sha1-96, hmac-sha256-128, hmac-sha384-192 or hmac-sha512-256");
      return false;
    }
  }
  uint8_t* d;
  size_t n;
  if (!prop(env, obj, "key", &v, &has)) return false;
  if (!has || !toBytes(env, v, "sa.key", &d, &n)) {
    if (!has) throwType(env, "sa.key", "a Uint8Array");
    return false;
  }
  p->key.assign(d, d + n);
  if (!prop(env, obj, "authKey", &v, &has)) return false;
  if (has) {
    if (!toBytes(env, v, "sa.authKey", &d, &n)) return false;
    p->authKey.assign(d, d + n);
  }
  if (!prop(env, obj, "esn", &v, &has)) return false;
  if (has && !toBool(env, v, "sa.esn", &p->esn)) return false;
  if (!prop(env, obj, "seq", &v, &has)) return false;
  if (has) {
    uint64_t q;
    if (!toUint(env, v, "sa.seq", 0, (1ull << 53) - 1, &q)) return false;
    p->seq = q;
  }
  return true;
}

std::unique_ptr<Sa> makeSa(napi_env env, napi_value obj, bool outbound) {
  SaParams p;
  if (!parseSa(env, obj, &p)) return nullptr;
  std::string err;
  std::unique_ptr<Sa> sa = Sa::make(p, outbound, &err);
  if (!sa) throwRange(env, "sa", err.c_str());
  return sa;
}

// SAs and protection mean nothing without an ESP socket (protocol 50 or UDP
// 4500): say so instead of silently sending GRE in the clear.
bool needEsp(napi_env env, Dataplane* dp) {
  if (dp->hasEsp() || dp->hasEspUdp()) return true;
  napi_throw_error(env, "ERR_DMVPN_NO_ESP_SOCKET",
                   "no ESP socket: pass espFd (from openEspSocket) or espUdpFd (from openUdpEncapSocket) to "
                   "Dataplane.open");
  return false;
}

// sa.encap = { srcPort, dstPort } (outbound only): ESP-in-UDP from the UDP
// socket, whose bound port srcPort must be, to the peer's port dstPort.
bool parseEncap(napi_env env, napi_value obj, SaParams* p) {
  napi_value v, x;
  bool has;
  if (!prop(env, obj, "encap", &v, &has)) return false;
  if (!has) return true;
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_object) {
    throwType(env, "sa.encap", "an object { srcPort, dstPort }");
    return false;
  }
  uint64_t port;
  if (!prop(env, v, "srcPort", &x, &has)) return false;
  if (!has || !toUint(env, x, "sa.encap.srcPort", 1, 65535, &port)) {
    if (!has) throwType(env, "sa.encap.srcPort", "a port number");
    return false;
  }
  p->encapSrcPort = static_cast<uint16_t>(port);
  if (!prop(env, v, "dstPort", &x, &has)) return false;
  if (!has || !toUint(env, x, "sa.encap.dstPort", 1, 65535, &port)) {
    if (!has) throwType(env, "sa.encap.dstPort", "a port number");
    return false;
  }
  p->encapDstPort = static_cast<uint16_t>(port);
  p->encap = true;
  return true;
}

napi_value OpenUdpEncapSocket(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!args(env, info, 5, argv)) return nullptr;
  uint32_t local;
  uint64_t port = 4500, x;
  std::string device;
  int sndbuf = 0, rcvbuf = 0;
  if (!toU32(env, argv[0], "local", &local)) return nullptr;
  if (!isUndefined(env, argv[1]) && !toUint(env, argv[1], "port", 1, 65535, &port)) return nullptr;
  if (!isUndefined(env, argv[2]) && !toString(env, argv[2], "device", &device)) return nullptr;
  if (!isUndefined(env, argv[3])) {
    if (!toUint(env, argv[3], "sndbuf", 0, 1u << 30, &x)) return nullptr;
    sndbuf = static_cast<int>(x);
  }
  if (!isUndefined(env, argv[4])) {
    if (!toUint(env, argv[4], "rcvbuf", 0, 1u << 30, &x)) return nullptr;
    rcvbuf = static_cast<int>(x);
  }
  const char* sc = "";
  int fd = openUdpEncapSocket(local, static_cast<uint16_t>(port), device, sndbuf, rcvbuf, &sc);
  if (fd < 0) {
    throwErrno(env, sc, -fd);
    return nullptr;
  }
  return i32(env, fd);
}

// espAttach(h, espFd) / espUdpAttach(h, espUdpFd): the dataplane takes over a socket.
napi_value attachSocket(napi_env env, napi_callback_info info, const char* what,
                        int (Dataplane::*attach)(int, const char**)) {
  napi_value argv[2];
  Dataplane* dp = dataplaneArgs(env, info, argv);
  uint64_t fd;
  if (!dp || !toUint(env, argv[1], what, 0, 0x7fffffff, &fd)) return nullptr;
  const char* sc = "";
  int r;
  {
    std::lock_guard<std::mutex> lk(dp->tableLock());
    r = (dp->*attach)(static_cast<int>(fd), &sc);
  }
  return undefinedOrThrow(env, r, sc);
}

napi_value EspUdpAttach(napi_env env, napi_callback_info info) {
  return attachSocket(env, info, "espUdpFd", &Dataplane::attachEspUdp);
}

bool needUdp(napi_env env, Dataplane* dp) {
  if (dp->hasEspUdp()) return true;
  napi_throw_error(env, "ERR_DMVPN_NO_UDP_SOCKET",
                   "no UDP encapsulation socket: pass espUdpFd (from openUdpEncapSocket) to Dataplane.open");
  return false;
}

// espSendIke(h, dst, port, message) / espSendNatKeepalive(h, dst, port) -> sent (false: would block)
napi_value EspSendIke(napi_env env, napi_callback_info info) {
  AddressedPayload a;
  Dataplane* dp = addressedPayloadArgs(env, info, "dst", "dstPort", 1, 65535, "payload", &a);
  if (!dp || !needUdp(env, dp)) return nullptr;
  return sentOrThrow(env, dp->sendIke(a.addr, static_cast<uint16_t>(a.number), a.data, a.len), "sendmsg");
}

napi_value EspSendNatKeepalive(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  uint32_t dst;
  uint64_t port;
  Dataplane* dp = dataplaneArgs(env, info, argv, "dst", &dst);
  if (!dp || !toUint(env, argv[2], "dstPort", 1, 65535, &port) || !needUdp(env, dp)) return nullptr;
  int r = dp->sendNatKeepalive(dst, static_cast<uint16_t>(port));
  return sentOrThrow(env, r, "sendmsg");
}

napi_value OpenEspSocket(napi_env env, napi_callback_info info) { return openRawProtocolSocket(env, info, 50); }

napi_value EspAttach(napi_env env, napi_callback_info info) {
  return attachSocket(env, info, "espFd", &Dataplane::attachEsp);
}

napi_value EspSetOutbound(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  uint32_t nbma;
  Dataplane* dp = dataplaneArgs(env, info, argv, "nbma", &nbma);
  if (!dp) return nullptr;
  SaParams p;
  if (!parseSa(env, argv[2], &p) || !parseEncap(env, argv[2], &p)) return nullptr;
  // The socket the SA sends on must be there: UDP 4500 with encap, protocol 50 without.
  if (p.encap) {
    if (!needUdp(env, dp)) return nullptr;
    if (p.encapSrcPort != dp->espUdpPort()) {
      const std::string want = "the UDP socket's port " + std::to_string(dp->espUdpPort());
      throwRange(env, "sa.encap.srcPort", want.c_str());
      return nullptr;
    }
  } else if (!dp->hasEsp()) {
    napi_throw_error(env, "ERR_DMVPN_NO_ESP_SOCKET",
                     "no ESP socket for an SA without encap: pass espFd (from openEspSocket) to Dataplane.open");
    return nullptr;
  }
  std::string err;
  std::unique_ptr<Sa> sa = Sa::make(p, true, &err);
  if (!sa) {
    throwRange(env, "sa", err.c_str());
    return nullptr;
  }
  std::lock_guard<std::mutex> lk(dp->tableLock());
  dp->esp().outbound[nbma] = std::move(sa);
  dp->espFlush(nbma, true);  // what waited for IKE goes now
  return undefinedValue(env);
}

napi_value EspDeleteOutbound(napi_env env, napi_callback_info info) {
  return eraseByKey(env, info, "nbma", [](Dataplane* dp, uint32_t nbma) { return dp->esp().outbound.erase(nbma) > 0; });
}

napi_value EspSetInbound(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Dataplane* dp = dataplaneArgs(env, info, argv);
  if (!dp || !needEsp(env, dp)) return nullptr;
  std::unique_ptr<Sa> sa = makeSa(env, argv[1], false);
  if (!sa) return nullptr;
  const uint32_t spi = sa->params().spi;
  std::lock_guard<std::mutex> lk(dp->tableLock());
  dp->esp().inbound[spi] = std::move(sa);
  return undefinedValue(env);
}

napi_value EspDeleteInbound(napi_env env, napi_callback_info info) {
  return eraseByKey(env, info, "spi", [](Dataplane* dp, uint32_t spi) { return dp->esp().inbound.erase(spi) > 0; });
}

napi_value EspSetProtected(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  uint32_t nbma;
  bool on;
  Dataplane* dp = dataplaneArgs(env, info, argv, "nbma", &nbma);
  if (!dp || !toBool(env, argv[2], "on", &on)) return nullptr;
  if (on && !needEsp(env, dp)) return nullptr;
  std::lock_guard<std::mutex> lk(dp->tableLock());
  if (on) {
    dp->esp().protectedPeers[nbma];
  } else {
    dp->espFlush(nbma, false);
    dp->esp().protectedPeers.erase(nbma);
  }
  return undefinedValue(env);
}

napi_value saRow(napi_env env, const Sa& sa) {
  napi_value o;
  napi_create_object(env, &o);
  const SaParams& p = sa.params();
  napi_set_named_property(env, o, "spi", u32(env, p.spi));
  napi_set_named_property(env, o, "cipher", str(env, espCipherName(p.cipher)));
  if (p.integ != EspInteg::None) napi_set_named_property(env, o, "integrity", str(env, espIntegName(p.integ)));
  napi_set_named_property(env, o, "esn", boolean(env, p.esn));
  napi_set_named_property(env, o, "packets", num(env, static_cast<double>(sa.packets)));
  napi_set_named_property(env, o, "bytes", num(env, static_cast<double>(sa.bytes)));
  return o;
}

napi_value EspStats(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Dataplane* dp = dataplaneArgs(env, info, argv);
  if (!dp) return nullptr;
  napi_value out, outbound, inbound, prot;
  napi_create_object(env, &out);
  napi_create_array(env, &outbound);
  napi_create_array(env, &inbound);
  napi_create_array(env, &prot);
  std::lock_guard<std::mutex> lk(dp->tableLock());
  uint32_t i = 0;
  for (const auto& kv : dp->esp().outbound) {
    napi_value o = saRow(env, *kv.second);
    napi_set_named_property(env, o, "nbma", u32(env, kv.first));
    napi_set_named_property(env, o, "seq", num(env, static_cast<double>(kv.second->params().seq)));
    const SaParams& p = kv.second->params();
    if (p.encap) {
      napi_set_named_property(env, o, "encapSrcPort", u32(env, p.encapSrcPort));
      napi_set_named_property(env, o, "encapDstPort", u32(env, p.encapDstPort));
    }
    napi_set_element(env, outbound, i++, o);
  }
  i = 0;
  for (const auto& kv : dp->esp().inbound) {
    napi_value o = saRow(env, *kv.second);
    napi_set_named_property(env, o, "seq", num(env, static_cast<double>(kv.second->window().top())));
    napi_set_named_property(env, o, "replayDrops", num(env, static_cast<double>(kv.second->replayDrops)));
    napi_set_named_property(env, o, "authFailures", num(env, static_cast<double>(kv.second->authFailures)));
    if (kv.second->natSrcPort) {
      napi_set_named_property(env, o, "natSrc", u32(env, kv.second->natSrc));
      napi_set_named_property(env, o, "natSrcPort", u32(env, kv.second->natSrcPort));
    }
    napi_set_element(env, inbound, i++, o);
  }
  i = 0;
  for (const auto& kv : dp->esp().protectedPeers) {
    napi_value o;
    napi_create_object(env, &o);
    napi_set_named_property(env, o, "nbma", u32(env, kv.first));
    napi_set_named_property(env, o, "queued", u32(env, static_cast<uint32_t>(kv.second.packets.size())));
    napi_set_element(env, prot, i++, o);
  }
  napi_set_named_property(env, out, "outbound", outbound);
  napi_set_named_property(env, out, "inbound", inbound);
  napi_set_named_property(env, out, "protected", prot);
  return out;
}

napi_value EspSendRaw(napi_env env, napi_callback_info info) {
  AddressedPayload a;
  Dataplane* dp = addressedPayloadArgs(env, info, "nbma", nullptr, 0, 0, "bytes", &a);
  if (!dp) return nullptr;
  return sentOrThrow(env, dp->sendEspRaw(a.addr, a.data, a.len), "sendto");
}

// espSeal(sa, seq, iv, payload) -> the ESP packet (next header 47), no dataplane.
napi_value EspSeal(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!args(env, info, 4, argv)) return nullptr;
  std::unique_ptr<Sa> sa = makeSa(env, argv[0], true);
  if (!sa) return nullptr;
  uint64_t seq;
  uint8_t *iv, *payload;
  size_t ivLen, len;
  if (!toUint(env, argv[1], "seq", 1, (1ull << 53) - 1, &seq) || !toBytes(env, argv[2], "iv", &iv, &ivLen) ||
      !toBytes(env, argv[3], "payload", &payload, &len)) {
    return nullptr;
  }
  if (ivLen != sa->ivLength()) {
    throwRange(env, "iv", sa->ivLength() == 8 ? "8 bytes for aes-gcm" : "16 bytes for aes-cbc");
    return nullptr;
  }
  if (len > 65535) {
    throwRange(env, "payload", "at most 65535 bytes");
    return nullptr;
  }
  std::vector<uint8_t> out(len + sa->overhead(len));
  size_t n = sa->seal(seq, iv, payload, len, 47, out.data());
  if (n == 0) {
    throwRange(env, "sa", "encryption failed");
    return nullptr;
  }
  return bytesValue(env, out.data(), n);
}

// espIvs(sa, count) -> the explicit IVs of the next `count` packets a fresh
// outbound SA would send, back to back (a test hook: the dataplane's IVs
// never leave it otherwise).
napi_value EspIvs(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!args(env, info, 2, argv)) return nullptr;
  std::unique_ptr<Sa> sa = makeSa(env, argv[0], true);
  uint64_t count;
  if (!sa || !toUint(env, argv[1], "count", 1, 1u << 20, &count)) return nullptr;
  const size_t ivl = sa->ivLength();
  std::vector<uint8_t> out(count * ivl);
  for (uint64_t i = 0; i < count; i++) {
    uint64_t seq;
    if (!sa->nextSeq(&seq, out.data() + i * ivl)) {
      throwRange(env, "sa", "no IV (sequence number exhausted or generator failed)");
      return nullptr;
    }
  }
  return bytesValue(env, out.data(), out.size());
}

// espOpen(sa, packet) -> { status, payload? } (no replay check), no dataplane.
napi_value EspOpen(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!args(env, info, 2, argv)) return nullptr;
  std::unique_ptr<Sa> sa = makeSa(env, argv[0], false);
  uint8_t* pkt;
  size_t len;
  if (!sa || !toBytes(env, argv[1], "packet", &pkt, &len)) return nullptr;
  std::vector<uint8_t> copy(pkt, pkt + len);
  uint8_t* payload = nullptr;
  size_t plen = 0;
  uint8_t nh = 0;
  EspStatus st = sa->open(copy.data(), copy.size(), &payload, &plen, &nh, false);
  static const char* const names[] = {"ok", "tooShort", "replay", "authFailed", "badPadding", "badNextHeader",
                                      "error"};
  napi_value o;
  napi_create_object(env, &o);
  napi_set_named_property(env, o, "status", str(env, names[static_cast<int>(st)]));
  if (st == EspStatus::Ok) napi_set_named_property(env, o, "payload", bytesValue(env, payload, plen));
  return o;
}

}  // namespace

napi_value espInit(napi_env env, napi_value exports) {
  const std::string mismatch = espCheckOpenSsl();
  if (!mismatch.empty()) {
    napi_throw_error(env, "ERR_DMVPN_OPENSSL_MISMATCH", mismatch.c_str());
    return nullptr;
  }
  defineFunctions(env, exports, {
      {"openEspSocket", OpenEspSocket},
      {"espAttach", EspAttach},
      {"espSetOutbound", EspSetOutbound},
      {"espDeleteOutbound", EspDeleteOutbound},
      {"espSetInbound", EspSetInbound},
      {"espDeleteInbound", EspDeleteInbound},
      {"espSetProtected", EspSetProtected},
      {"espStats", EspStats},
      {"espSendRaw", EspSendRaw},
      {"espSeal", EspSeal},
      {"espOpen", EspOpen},
      {"espIvs", EspIvs},
      {"openUdpEncapSocket", OpenUdpEncapSocket},
      {"espUdpAttach", EspUdpAttach},
      {"espSendIke", EspSendIke},
      {"espSendNatKeepalive", EspSendNatKeepalive},
  });
  return exports;
}

}  // namespace dmvpn
