// Shared by the N-API source files: function registration and handle unwrap.
#pragma once

#include <node_api.h>

#include "dataplane.h"

namespace dmvpn {

void defineFunction(napi_env env, napi_value exports, const char* name, napi_callback cb);
// The dataplane behind a handle made by create(), or nullptr with a TypeError thrown.
Dataplane* unwrapDataplane(napi_env env, napi_value v);
// openGreSocket/openEspSocket: a raw IPv4 socket for one protocol, arguments (local, device?, sndbuf?, rcvbuf?).
napi_value openRawProtocolSocket(napi_env env, napi_callback_info info, int protocol);

}  // namespace dmvpn
