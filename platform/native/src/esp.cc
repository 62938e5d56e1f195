// ESP transforms over Node's OpenSSL (EVP): AES-GCM (RFC 4106) and AES-CBC
// (RFC 3602) with HMAC-SHA1-96 (RFC 2404) or HMAC-SHA-256-128, -384-192,
// -512-256 (RFC 4868), and the anti-replay window (RFC 4303 section 3.4.3,
// RFC 6479).
#include "esp.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/opensslv.h>

#include <cstring>

#include "packet.h"

namespace dmvpn {

std::string espCheckOpenSsl() {
  const unsigned long runtime = OpenSSL_version_num();
  const unsigned long major = runtime >> 28;
  if (major != OPENSSL_VERSION_MAJOR) {
    return "dmvpn_native: built against OpenSSL " + std::to_string(OPENSSL_VERSION_MAJOR) +
           ".x headers but Node runs OpenSSL " + std::to_string(major) + ".x (" +
           OpenSSL_version(OPENSSL_VERSION) + "); rebuild the addon for this Node";
  }
  return std::string();
}

const char* espCipherName(EspCipher c) {
  switch (c) {
    case EspCipher::AesGcm128: return "aes-gcm-128";
    case EspCipher::AesGcm256: return "aes-gcm-256";
    case EspCipher::AesCbc128: return "aes-cbc-128";
    case EspCipher::AesCbc256: return "aes-cbc-256";
  }
  return "?";
}

const char* espIntegName(EspInteg i) {
  switch (i) {
    case EspInteg::None: return "none";
    case EspInteg::HmacSha1_96: return "hmac-sha1-96";
    case EspInteg::HmacSha256_128: return "hmac-sha256-128";
    case EspInteg::HmacSha384_192: return "hmac-sha384-192";
    case EspInteg::HmacSha512_256: return "hmac-sha512-256";
  }
  return "?";
}

size_t espIntegKeyLength(EspInteg i) {
  switch (i) {
    case EspInteg::None: return 0;
    case EspInteg::HmacSha1_96: return 20;
    case EspInteg::HmacSha256_128: return 32;
    case EspInteg::HmacSha384_192: return 48;
    case EspInteg::HmacSha512_256: return 64;
  }
  return 0;
}

size_t espIntegIcvLength(EspInteg i) {
  // SHA-1 is the odd one: 96 of 160 bits (RFC 2404 section 2); SHA-2 keeps half.
  return i == EspInteg::HmacSha1_96 ? 12 : espIntegKeyLength(i) / 2;
}

static const char* integDigest(EspInteg i) {
  switch (i) {
    case EspInteg::HmacSha1_96: return "SHA1";
    case EspInteg::HmacSha256_128: return "SHA256";
    case EspInteg::HmacSha384_192: return "SHA384";
    case EspInteg::HmacSha512_256: return "SHA512";
    case EspInteg::None: break;
  }
  return nullptr;
}

// --- replay window ---

bool ReplayWindow::check(uint64_t seq) const {
  if (seq > top_) return true;
  if (top_ - seq >= kWindow) return false;  // left of the window
  const uint64_t bit = seq % (kBlocks * 64);
  return !(bits_[bit / 64] & (1ull << (bit % 64)));
}

void ReplayWindow::update(uint64_t seq) {
  if (seq > top_) {
    // Clear the blocks the window moves into (at most all of them).
    uint64_t from = top_ / 64 + 1, to = seq / 64;
    if (to - from + 1 > kBlocks || to < from) {
      if (to >= from) memset(bits_, 0, sizeof bits_);
    } else {
      for (uint64_t b = from; b <= to; b++) bits_[b % kBlocks] = 0;
    }
    top_ = seq;
  }
  const uint64_t bit = seq % (kBlocks * 64);
  bits_[bit / 64] |= 1ull << (bit % 64);
}

// --- SA ---

static const EVP_CIPHER* evpCipher(EspCipher c) {
  switch (c) {
    case EspCipher::AesGcm128: return EVP_aes_128_gcm();
    case EspCipher::AesGcm256: return EVP_aes_256_gcm();
    case EspCipher::AesCbc128: return EVP_aes_128_cbc();
    case EspCipher::AesCbc256: return EVP_aes_256_cbc();
  }
  return nullptr;
}

std::unique_ptr<Sa> Sa::make(const SaParams& p, bool outbound, std::string* err) {
  std::unique_ptr<Sa> sa(new Sa());
  sa->p_ = p;
  sa->outbound_ = outbound;
  const bool gcm = sa->gcm();
  const size_t aesLen = (p.cipher == EspCipher::AesGcm128 || p.cipher == EspCipher::AesCbc128) ? 16 : 32;
  const size_t keyLen = gcm ? aesLen + 4 : aesLen;
  if (p.key.size() != keyLen) {
    *err = std::string(espCipherName(p.cipher)) + " needs a " + std::to_string(keyLen) + "-byte key" +
           (gcm ? " (AES key then 4-byte salt)" : "");
    return nullptr;
  }
  if (gcm != (p.integ == EspInteg::None)) {
    *err = gcm ? "aes-gcm takes no separate integrity algorithm" : "aes-cbc needs an integrity algorithm";
    return nullptr;
  }
  if (!gcm) {
    const size_t want = espIntegKeyLength(p.integ);
    if (p.authKey.size() != want) {
      *err = std::string(espIntegName(p.integ)) + " needs a " + std::to_string(want) + "-byte authKey";
      return nullptr;
    }
  }
  if (gcm) memcpy(sa->salt_, p.key.data() + aesLen, 4);
  sa->ctx_ = EVP_CIPHER_CTX_new();
  if (!sa->ctx_ || EVP_CipherInit_ex(sa->ctx_, evpCipher(p.cipher), nullptr, p.key.data(), nullptr,
                                     outbound ? 1 : 0) != 1) {
    *err = "EVP_CipherInit_ex failed";
    return nullptr;
  }
  if (gcm) {
    EVP_CIPHER_CTX_ctrl(sa->ctx_, EVP_CTRL_GCM_SET_IVLEN, 12, nullptr);
  } else {
    if (outbound) {
      // RFC 3602 section 2.3 wants an IV the attacker cannot predict. NIST SP
      // 800-38A appendix C gives two ways: an approved random generator (one
      // RAND_bytes per packet, a fifth of the seal in a profile) or the
      // forward cipher applied to a nonce unique per encryption. The second,
      // as DPDK's ipsec-secgw does for its CBC SAs, with a key of its own
      // (random, never sent, so no IV relates to the data key's ciphertexts)
      // and the never-repeating sequence number as the nonce.
      uint8_t ivKey[16];
      sa->ivCtx_ = EVP_CIPHER_CTX_new();
      if (RAND_bytes(ivKey, sizeof ivKey) != 1 || RAND_bytes(sa->ivPrefix_, sizeof sa->ivPrefix_) != 1 ||
          !sa->ivCtx_ || EVP_EncryptInit_ex(sa->ivCtx_, EVP_aes_128_ecb(), nullptr, ivKey, nullptr) != 1) {
        OPENSSL_cleanse(ivKey, sizeof ivKey);
        *err = "CBC IV generator: RAND_bytes or EVP_EncryptInit_ex failed";
        return nullptr;
      }
      OPENSSL_cleanse(ivKey, sizeof ivKey);
      EVP_CIPHER_CTX_set_padding(sa->ivCtx_, 0);
    }
    EVP_CIPHER_CTX_set_padding(sa->ctx_, 0);  // ESP pads itself
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (!mac) {
      *err = "EVP_MAC_fetch(HMAC) failed";
      return nullptr;
    }
    sa->mac_ = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);
    char digest[16];
    strcpy(digest, integDigest(p.integ));
    OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                            OSSL_PARAM_construct_end()};
    if (!sa->mac_ || EVP_MAC_init(sa->mac_, p.authKey.data(), p.authKey.size(), params) != 1) {
      *err = "EVP_MAC_init failed";
      return nullptr;
    }
  }
  return sa;
}

Sa::~Sa() {
  if (ctx_) EVP_CIPHER_CTX_free(ctx_);
  if (mac_) EVP_MAC_CTX_free(mac_);
  if (ivCtx_) EVP_CIPHER_CTX_free(ivCtx_);
}

size_t Sa::ivLength() const { return gcm() ? 8 : 16; }
size_t Sa::icvLength() const { return gcm() ? 16 : espIntegIcvLength(p_.integ); }
size_t Sa::overhead(size_t) const { return 8 + ivLength() + 16 + 2 + icvLength(); }

bool Sa::nextSeq(uint64_t* seq, uint8_t* iv) {
  if (!p_.esn && p_.seq >= 0xffffffffull) return false;
  if (p_.esn && p_.seq == ~0ull) return false;
  *seq = ++p_.seq;
  if (gcm()) {
    wr32(iv, static_cast<uint32_t>(*seq >> 32));
    wr32(iv + 4, static_cast<uint32_t>(*seq));
    return true;
  }
  // One AES block: prefix | sequence number, unique for the SA's life.
  uint8_t block[16];
  memcpy(block, ivPrefix_, 8);
  wr32(block + 8, static_cast<uint32_t>(*seq >> 32));
  wr32(block + 12, static_cast<uint32_t>(*seq));
  int n = 0;
  return ivCtx_ && EVP_EncryptUpdate(ivCtx_, iv, &n, block, 16) == 1 && n == 16;
}

// HMAC over SPI..ciphertext, with the high sequence bits appended (not sent)
// when ESN is on (RFC 4303 section 2.2.1).
bool Sa::icv(const uint8_t* data, size_t len, uint32_t seqHi, uint8_t* out) {
  uint8_t full[EVP_MAX_MD_SIZE];  // the whole HMAC, truncated below
  size_t outLen = 0;
  if (EVP_MAC_init(mac_, nullptr, 0, nullptr) != 1 || EVP_MAC_update(mac_, data, len) != 1) return false;
  if (p_.esn) {
    uint8_t hi[4];
    wr32(hi, seqHi);
    if (EVP_MAC_update(mac_, hi, 4) != 1) return false;
  }
  if (EVP_MAC_final(mac_, full, &outLen, sizeof full) != 1) return false;
  memcpy(out, full, icvLength());
  return true;
}

size_t Sa::seal(uint64_t seq, const uint8_t* iv, const uint8_t* payload, size_t len, uint8_t nextHeader,
                uint8_t* out) {
  const size_t ivl = ivLength(), block = gcm() ? 4 : 16;
  const size_t padLen = (block - (len + 2) % block) % block;
  const size_t ctLen = len + padLen + 2;
  wr32(out, p_.spi);
  wr32(out + 4, static_cast<uint32_t>(seq));
  memcpy(out + 8, iv, ivl);
  uint8_t* ct = out + 8 + ivl;
  memmove(ct, payload, len);
  for (size_t i = 0; i < padLen; i++) ct[len + i] = static_cast<uint8_t>(i + 1);  // RFC 4303 2.4
  ct[len + padLen] = static_cast<uint8_t>(padLen);
  ct[len + padLen + 1] = nextHeader;
  int n = 0;
  if (gcm()) {
    uint8_t nonce[12];
    memcpy(nonce, salt_, 4);
    memcpy(nonce + 4, iv, 8);
    uint8_t aad[12];
    size_t aadLen = 8;
    wr32(aad, p_.spi);
    if (p_.esn) {  // RFC 4106 section 5: SPI, seq high, seq low
      wr32(aad + 4, static_cast<uint32_t>(seq >> 32));
      wr32(aad + 8, static_cast<uint32_t>(seq));
      aadLen = 12;
    } else {
      wr32(aad + 4, static_cast<uint32_t>(seq));
    }
    if (EVP_CipherInit_ex(ctx_, nullptr, nullptr, nullptr, nonce, 1) != 1) return 0;
    if (EVP_CipherUpdate(ctx_, nullptr, &n, aad, static_cast<int>(aadLen)) != 1) return 0;
    if (EVP_CipherUpdate(ctx_, ct, &n, ct, static_cast<int>(ctLen)) != 1) return 0;
    if (EVP_CipherFinal_ex(ctx_, ct + n, &n) != 1) return 0;
    if (EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_GET_TAG, 16, ct + ctLen) != 1) return 0;
    return 8 + ivl + ctLen + 16;
  }
  if (EVP_CipherInit_ex(ctx_, nullptr, nullptr, nullptr, iv, 1) != 1) return 0;
  if (EVP_CipherUpdate(ctx_, ct, &n, ct, static_cast<int>(ctLen)) != 1) return 0;
  if (EVP_CipherFinal_ex(ctx_, ct + n, &n) != 1) return 0;
  if (!icv(out, 8 + ivl + ctLen, static_cast<uint32_t>(seq >> 32), ct + ctLen)) return 0;
  return 8 + ivl + ctLen + icvLength();
}

// RFC 4303 Appendix A.2: the high half of an ESN from the low half on the
// wire and the top of the window.
uint64_t Sa::inferSeq(uint32_t low) const {
  if (!p_.esn) return low;
  const uint64_t top = win_.top();
  const uint32_t tl = static_cast<uint32_t>(top), th = static_cast<uint32_t>(top >> 32);
  const uint32_t w = static_cast<uint32_t>(ReplayWindow::kWindow);
  uint32_t hi;
  if (tl >= w - 1) hi = low >= tl - w + 1 ? th : th + 1;
  // tl - w + 1 wraps: the window reaches into the subspace below, which does
  // not exist while th is 0 (a fresh SA whose counter starts high).
  else hi = low >= tl - w + 1 && th > 0 ? th - 1 : th;
  return (static_cast<uint64_t>(hi) << 32) | low;
}

EspStatus Sa::open(uint8_t* pkt, size_t len, uint8_t** payload, size_t* payloadLen, uint8_t* nextHeader,
                   bool checkReplay) {
  const size_t ivl = ivLength(), icvl = icvLength(), block = gcm() ? 4 : 16;
  if (len < 8 + ivl + block + icvl) return EspStatus::TooShort;
  const size_t ctLen = len - 8 - ivl - icvl;
  if (ctLen % block) return EspStatus::BadPadding;
  const uint64_t seq = inferSeq(rd32(pkt + 4));
  if (checkReplay && (seq == 0 || !win_.check(seq))) {
    replayDrops++;
    return EspStatus::Replay;
  }
  uint8_t* ct = pkt + 8 + ivl;
  int n = 0;
  if (gcm()) {
    uint8_t nonce[12], aad[12];
    memcpy(nonce, salt_, 4);
    memcpy(nonce + 4, pkt + 8, 8);
    size_t aadLen = 8;
    wr32(aad, p_.spi);
    if (p_.esn) {
      wr32(aad + 4, static_cast<uint32_t>(seq >> 32));
      wr32(aad + 8, static_cast<uint32_t>(seq));
      aadLen = 12;
    } else {
      wr32(aad + 4, static_cast<uint32_t>(seq));
    }
    // Decrypting in place before the tag is known is harmless: on a bad tag
    // the buffer is dropped.
    if (EVP_CipherInit_ex(ctx_, nullptr, nullptr, nullptr, nonce, 0) != 1 ||
        EVP_CipherUpdate(ctx_, nullptr, &n, aad, static_cast<int>(aadLen)) != 1 ||
        EVP_CipherUpdate(ctx_, ct, &n, ct, static_cast<int>(ctLen)) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_SET_TAG, 16, ct + ctLen) != 1 ||
        EVP_CipherFinal_ex(ctx_, ct + n, &n) != 1) {
      authFailures++;
      return EspStatus::AuthFailed;
    }
  } else {
    // Encrypt-then-MAC: the ICV is checked before anything is decrypted.
    uint8_t want[32];  // the longest ICV: HMAC-SHA-512-256
    if (!icv(pkt, 8 + ivl + ctLen, static_cast<uint32_t>(seq >> 32), want) ||
        CRYPTO_memcmp(want, ct + ctLen, icvl) != 0) {
      authFailures++;
      return EspStatus::AuthFailed;
    }
    if (EVP_CipherInit_ex(ctx_, nullptr, nullptr, nullptr, pkt + 8, 0) != 1 ||
        EVP_CipherUpdate(ctx_, ct, &n, ct, static_cast<int>(ctLen)) != 1 ||
        EVP_CipherFinal_ex(ctx_, ct + n, &n) != 1) {
      return EspStatus::Error;
    }
  }
  // Authentic from here: the window moves even if the content is bad
  // (RFC 4303 section 3.4.3 updates after the integrity check).
  if (checkReplay) win_.update(seq);
  const uint8_t padLen = ct[ctLen - 2];
  *nextHeader = ct[ctLen - 1];
  if (static_cast<size_t>(padLen) + 2 > ctLen) return EspStatus::BadPadding;
  const size_t plen = ctLen - 2 - padLen;
  for (size_t i = 0; i < padLen; i++) {
    if (ct[plen + i] != static_cast<uint8_t>(i + 1)) return EspStatus::BadPadding;
  }
  if (*nextHeader != 47) return EspStatus::BadNextHeader;
  *payload = ct;
  *payloadLen = plen;
  packets++;
  bytes += plen;
  return EspStatus::Ok;
}

}  // namespace dmvpn
