// ESP (RFC 4303) transport mode for the GRE tunnel: security associations,
// the per-packet transforms and the anti-replay window. OpenSSL is Node's own
// (headers from Node's include directory, symbols resolved against the node
// binary), so nothing extra is linked.
//
// Wire layout of one ESP packet (RFC 4303 section 2):
//   SPI(4) | Sequence(4) | IV(8 GCM, 16 CBC) | ciphertext(payload | pad | padLen | nextHeader) | ICV
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;
typedef struct evp_mac_ctx_st EVP_MAC_CTX;

namespace dmvpn {

enum class EspCipher : uint8_t { AesGcm128 = 0, AesGcm256 = 1, AesCbc128 = 2, AesCbc256 = 3 };
// HMAC truncated to half the hash (RFC 2404; RFC 4868 section 2.1 for SHA-2),
// keyed with as many bytes as the hash puts out (RFC 4868 section 2.1.1).
enum class EspInteg : uint8_t {
  None = 0,
  HmacSha1_96 = 1,
  HmacSha256_128 = 2,
  HmacSha384_192 = 3,
  HmacSha512_256 = 4,
};

struct SaParams {
  uint32_t spi = 0;
  EspCipher cipher = EspCipher::AesGcm128;
  EspInteg integ = EspInteg::None;  // must be None for GCM, set for CBC
  std::vector<uint8_t> key;         // GCM: AES key followed by the 4-byte salt (RFC 4106 section 8.1)
  std::vector<uint8_t> authKey;     // CBC: the HMAC key
  bool esn = false;                 // RFC 4303 section 2.2.1
  uint64_t seq = 0;                 // outbound: last sequence number sent
  // Outbound: UDP encapsulation (RFC 3948) from our port to the peer's,
  // which behind a NAT is the translated port IKE saw.
  bool encap = false;
  uint16_t encapSrcPort = 0, encapDstPort = 0;
};

// Results of espOpen(); each maps to one drop counter.
enum class EspStatus { Ok, TooShort, Replay, AuthFailed, BadPadding, BadNextHeader, Error };

// 1024-packet window over a ring of 64-bit blocks (RFC 6479): advancing
// clears whole blocks instead of shifting the bitmap.
class ReplayWindow {
 public:
  static constexpr uint64_t kWindow = 1024;
  static constexpr unsigned kBlocks = 32;  // 2048 bits: window + at least one spare block
  bool check(uint64_t seq) const;          // true: may be accepted
  void update(uint64_t seq);               // after the ICV checked out
  uint64_t top() const { return top_; }

 private:
  uint64_t top_ = 0;
  uint64_t bits_[kBlocks] = {};
};

class Sa {
 public:
  // Null with *err set when the parameters are inconsistent (key lengths ...).
  static std::unique_ptr<Sa> make(const SaParams& p, bool outbound, std::string* err);
  ~Sa();
  Sa(const Sa&) = delete;
  Sa& operator=(const Sa&) = delete;

  const SaParams& params() const { return p_; }
  size_t ivLength() const;
  size_t icvLength() const;
  // Bytes an ESP packet adds around a payload of `len` bytes (worst case).
  size_t overhead(size_t len) const;
  // Encrypts payload with sequence number seq (64 bits; the low 32 on the
  // wire) and explicit IV iv (ivLength() bytes) into out; returns the ESP
  // packet length, 0 on failure. out must hold len + overhead(len).
  size_t seal(uint64_t seq, const uint8_t* iv, const uint8_t* payload, size_t len, uint8_t nextHeader,
              uint8_t* out);
  // Outbound: next sequence number and IV (GCM: the sequence number, unique
  // per key as RFC 4106 section 3.1 asks; CBC: unpredictable, RFC 3602
  // section 2.3, as the sequence number enciphered under a key of the SA's own,
  // NIST SP 800-38A appendix C).
  // False once a non-ESN counter would wrap (RFC 4303 section 3.3.3).
  bool nextSeq(uint64_t* seq, uint8_t* iv);
  // Inbound: checks replay and ICV, decrypts in place; *payload points into pkt.
  EspStatus open(uint8_t* pkt, size_t len, uint8_t** payload, size_t* payloadLen, uint8_t* nextHeader,
                 bool checkReplay);

  uint64_t packets = 0, bytes = 0, replayDrops = 0, authFailures = 0;
  // Inbound: outer source of the last authentic UDP-encapsulated packet (host
  // order; port 0 = none yet), so the control plane can see a NAT rebinding.
  uint32_t natSrc = 0;
  uint16_t natSrcPort = 0;
  const ReplayWindow& window() const { return win_; }

 private:
  Sa() = default;
  bool gcm() const { return p_.cipher == EspCipher::AesGcm128 || p_.cipher == EspCipher::AesGcm256; }
  uint64_t inferSeq(uint32_t low) const;
  bool icv(const uint8_t* data, size_t len, uint32_t seqHi, uint8_t* out);

  SaParams p_;
  bool outbound_ = false;
  EVP_CIPHER_CTX* ctx_ = nullptr;
  EVP_MAC_CTX* mac_ = nullptr;
  uint8_t salt_[4] = {};
  // Outbound CBC: AES-128-ECB under a random key that never leaves the SA,
  // applied to (random 8-byte prefix | 64-bit sequence number) for each IV.
  EVP_CIPHER_CTX* ivCtx_ = nullptr;
  uint8_t ivPrefix_[8] = {};
  ReplayWindow win_;
};

// Runtime OpenSSL vs the headers compiled against; empty when they agree.
std::string espCheckOpenSsl();
const char* espCipherName(EspCipher c);
const char* espIntegName(EspInteg i);
// HMAC key length (the hash output) and ICV length (half of it) for an integrity algorithm.
size_t espIntegKeyLength(EspInteg i);
size_t espIntegIcvLength(EspInteg i);

// UDP encapsulation of ESP (RFC 3948): a UDP socket bound to local:port (port
// 4500, RFC 3948 section 2), SO_REUSEADDR so a restarted daemon binds at once,
// outer DF clear like the raw sockets. Returns the fd or -errno with the
// failing call in *syscall. local and port in host order; device, sndbuf and
// rcvbuf as for the raw sockets (empty / 0: not set).
int openUdpEncapSocket(uint32_t local, uint16_t port, const std::string& device, int sndbuf, int rcvbuf,
                       const char** syscall);

// Per-peer queue while a protected peer has no outbound SA yet.
struct EspQueue {
  static constexpr size_t kMax = 32;
  static constexpr uint64_t kMaxAgeNs = 2000000000ull;
  std::deque<std::pair<uint64_t, std::vector<uint8_t>>> packets;  // (queued at, GRE packet)
};

struct EspTables {
  std::unordered_map<uint32_t, std::unique_ptr<Sa>> outbound;  // by peer NBMA
  std::unordered_map<uint32_t, std::unique_ptr<Sa>> inbound;   // by SPI
  std::unordered_map<uint32_t, EspQueue> protectedPeers;      // NBMA -> queue
  bool empty() const { return outbound.empty() && protectedPeers.empty(); }
};

}  // namespace dmvpn
