// Shared by the N-API source files: function registration and handle unwrap.
#pragma once

#include <node_api.h>

#include "dataplane.h"
#include "napi_util.h"

namespace dmvpn {

void defineFunction(napi_env env, napi_value exports, const char* name, napi_callback cb);
// The dataplane behind a handle made by create(), or nullptr with a TypeError thrown.
Dataplane* unwrapDataplane(napi_env env, napi_value v);
// Fetches the N arguments of a call on a dataplane and the dataplane behind
// argv[0]; nullptr with the error thrown.
template <size_t N>
Dataplane* dataplaneArgs(napi_env env, napi_callback_info info, napi_value (&argv)[N]) {
  return args(env, info, N, argv) ? unwrapDataplane(env, argv[0]) : nullptr;
}
// The same for a call whose argv[1] is a 32-bit number (an address, an SPI) named addrName.
template <size_t N>
Dataplane* dataplaneArgs(napi_env env, napi_callback_info info, napi_value (&argv)[N], const char* addrName,
                         uint32_t* addr) {
  Dataplane* dp = dataplaneArgs(env, info, argv);
  return dp && toU32(env, argv[1], addrName, addr) ? dp : nullptr;
}

// (h, addr, number in min..max, payload) or, without numberName, (h, addr, payload):
// the arguments of the sends on a dataplane (sendGre, sendRaw, espSendIke, espSendRaw).
struct AddressedPayload {
  uint32_t addr = 0;
  uint64_t number = 0;
  uint8_t* data = nullptr;
  size_t len = 0;
};
Dataplane* addressedPayloadArgs(napi_env env, napi_callback_info info, const char* addrName, const char* numberName,
                                uint64_t min, uint64_t max, const char* payloadName, AddressedPayload* a);

// peerDelete(h, overlay), espDeleteOutbound(h, nbma) ...: erase(dp, key) under the table lock -> whether it was there.
template <class Erase>
napi_value eraseByKey(napi_env env, napi_callback_info info, const char* keyName, Erase erase) {
  napi_value argv[2];
  uint32_t key;
  Dataplane* dp = dataplaneArgs(env, info, argv, keyName, &key);
  if (!dp) return nullptr;
  std::lock_guard<std::mutex> lk(dp->tableLock());
  return boolean(env, erase(dp, key));
}
// openGreSocket/openEspSocket: a raw IPv4 socket for one protocol, arguments (local, device?, sndbuf?, rcvbuf?).
napi_value openRawProtocolSocket(napi_env env, napi_callback_info info, int protocol);

}  // namespace dmvpn
