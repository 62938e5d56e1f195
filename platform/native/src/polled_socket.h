// What the control-traffic sockets polled on Node's event loop share: the
// packet socket (packet_socket.h), the raw IP socket (rawsock.cc) and the
// UDP_ENCAP socket (udp_encap.cc).
//
// Lifetime: the state is freed once both its uv handles are closed and the
// JavaScript handle is collected, so a call after close still finds it (and
// fails with EBADF) instead of touching freed memory. Environment teardown (a
// worker ending) closes it through an async cleanup hook and waits until the
// handles are closed: their close callbacks live in this library, which is
// unloaded with the environment.
#pragma once

#include <node_api.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>

#include "napi_util.h"

namespace dmvpn {

struct PolledSocket {
  // Which kind of socket a handle holds; first, so a foreign external is read no further.
  uint32_t magic;
  napi_env env = nullptr;
  uv_poll_t poll;
  int fd = -1;
  napi_ref onData = nullptr;   // the per-datagram callback
  napi_ref onError = nullptr;  // optional
  napi_async_context async = nullptr;
  napi_async_cleanup_hook_handle cleanupHook = nullptr;
  bool closing = false;
  bool external = true;        // the JavaScript handle still exists
  bool jsReleased = false;
  int dispatching = 0;         // nesting of calls into JavaScript
  int openHandles = 0;         // uv handles not yet closed
  // The kind's own part of closing (before the fd and the poll handle close), or nullptr.
  void (*const onClose)(PolledSocket*);
  // Deletes the whole object (as its own type).
  void (*const destroy)(PolledSocket*);

  PolledSocket(uint32_t m, void (*closeHook)(PolledSocket*), void (*destroyFn)(PolledSocket*))
      : magic(m), onClose(closeHook), destroy(destroyFn) {}
};

template <class T>
void destroyAs(PolledSocket* s) {
  delete static_cast<T*>(s);
}

// The socket a uv handle's data points to (set by startPolling / watchHandle).
template <class T>
T* socketOf(const uv_handle_t* h) {
  return static_cast<T*>(static_cast<PolledSocket*>(h->data));
}
template <class T, class Handle>
T* socketOf(const Handle* h) {
  return socketOf<T>(reinterpret_cast<const uv_handle_t*>(h));
}

// argv[i] is a function; onError (nullptr: the kind takes none) is undefined or a function.
bool checkCallbacks(napi_env env, napi_value onData, const char* onDataName, napi_value onError);

// Takes over fd: the references to the callbacks, the async context named
// resourceName, the poll handle (started with cb) and the cleanup hook.
// onError may be nullptr or undefined.
void startPolling(PolledSocket* s, napi_env env, int fd, napi_value onData, napi_value onError,
                  const char* resourceName, uv_poll_cb cb);
// Another uv handle of the socket, already initialised: counted, closed by closeHandle.
void watchHandle(PolledSocket* s, uv_handle_t* h);
// uv_close, and the count that frees the state once all are closed.
void closeHandle(uv_handle_t* h);

// Closes the fd and the handles once; the JavaScript references go now, or
// when the call into JavaScript in progress returns.
void closeSocket(PolledSocket* s);
void releaseJs(PolledSocket* s);

// The JavaScript handle: an external the collector finalizes.
napi_value socketHandle(napi_env env, PolledSocket* s);
// The socket behind a handle of the given kind, or nullptr with a TypeError ("handle must be <expected>").
PolledSocket* unwrapSocket(napi_env env, napi_value v, uint32_t magic, const char* expected);
// Fetches the N arguments of a call on a socket and the socket behind argv[0], as unwrapSocket.
template <size_t N>
PolledSocket* socketArgs(napi_env env, napi_callback_info info, napi_value (&argv)[N], uint32_t magic,
                         const char* expected) {
  return args(env, info, N, argv) ? unwrapSocket(env, argv[0], magic, expected) : nullptr;
}
// The close(handle) call of every kind: closes once, later calls do nothing.
napi_value closeCall(napi_env env, napi_callback_info info, uint32_t magic, const char* expected);

// A handle and callback scope around calls into JavaScript from the event
// loop; releases the references on the way out if the socket closed meanwhile.
struct Dispatch {
  PolledSocket* s;
  napi_handle_scope hs = nullptr;
  napi_callback_scope cs = nullptr;
  bool ok = false;  // false while the environment is torn down: call nothing
  explicit Dispatch(PolledSocket* sock);
  ~Dispatch();
  Dispatch(const Dispatch&) = delete;
  Dispatch& operator=(const Dispatch&) = delete;
};

// An exception thrown by a callback is the program's uncaught exception, as
// for any other event callback in Node.
void callJs(PolledSocket* s, napi_ref ref, size_t argc, napi_value* argv);

}  // namespace dmvpn
