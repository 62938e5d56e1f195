// The shared scaffolding of the sockets polled on Node's event loop (polled_socket.h has the why).
#include "polled_socket.h"

#include <unistd.h>

#include "napi_util.h"

namespace dmvpn {
namespace {

bool isFunction(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  return t == napi_function;
}

void maybeFree(PolledSocket* s) {
  if (s->openHandles > 0 || s->external) return;
  s->magic = 0;
  s->destroy(s);
}

void onHandleClosed(uv_handle_t* h) {
  PolledSocket* s = static_cast<PolledSocket*>(h->data);
  if (--s->openHandles == 0 && s->cleanupHook) {
    napi_remove_async_cleanup_hook(s->cleanupHook);
    s->cleanupHook = nullptr;
  }
  maybeFree(s);
}

void envCleanup(napi_async_cleanup_hook_handle, void* arg) {
  closeSocket(static_cast<PolledSocket*>(arg));  // onHandleClosed removes the hook
}

void finalizeSocket(napi_env, void* data, void*) {
  PolledSocket* s = static_cast<PolledSocket*>(data);
  s->external = false;
  closeSocket(s);
  maybeFree(s);
}

}  // namespace

bool checkCallbacks(napi_env env, napi_value onData, const char* onDataName, napi_value onError) {
  if (!isFunction(env, onData)) {
    throwType(env, onDataName, "a function");
    return false;
  }
  if (onError && !isUndefined(env, onError) && !isFunction(env, onError)) {
    throwType(env, "onError", "a function");
    return false;
  }
  return true;
}

void startPolling(PolledSocket* s, napi_env env, int fd, napi_value onData, napi_value onError,
                  const char* resourceName, uv_poll_cb cb) {
  s->env = env;
  s->fd = fd;
  napi_create_reference(env, onData, 1, &s->onData);
  if (onError && !isUndefined(env, onError)) napi_create_reference(env, onError, 1, &s->onError);
  napi_async_init(env, nullptr, str(env, resourceName), &s->async);
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &s->poll, fd);
  watchHandle(s, reinterpret_cast<uv_handle_t*>(&s->poll));
  uv_poll_start(&s->poll, UV_READABLE, cb);
  napi_add_async_cleanup_hook(env, envCleanup, s, &s->cleanupHook);
}

void watchHandle(PolledSocket* s, uv_handle_t* h) {
  h->data = s;
  s->openHandles++;
}

void closeHandle(uv_handle_t* h) { uv_close(h, onHandleClosed); }

void releaseJs(PolledSocket* s) {
  if (s->jsReleased) return;
  s->jsReleased = true;
  if (s->onData) napi_delete_reference(s->env, s->onData);
  if (s->onError) napi_delete_reference(s->env, s->onError);
  s->onData = s->onError = nullptr;
  if (s->async) napi_async_destroy(s->env, s->async);
  s->async = nullptr;
}

void closeSocket(PolledSocket* s) {
  if (s->closing) return;
  s->closing = true;
  if (s->onClose) s->onClose(s);
  uv_poll_stop(&s->poll);
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
  closeHandle(reinterpret_cast<uv_handle_t*>(&s->poll));
  // Inside a call into JavaScript the async context is still in use: the
  // dispatch releases it on the way out.
  if (s->dispatching == 0) releaseJs(s);
}

napi_value socketHandle(napi_env env, PolledSocket* s) {
  napi_value handle;
  napi_create_external(env, s, finalizeSocket, nullptr, &handle);
  return handle;
}

PolledSocket* unwrapSocket(napi_env env, napi_value v, uint32_t magic, const char* expected) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  void* p = nullptr;
  if (t == napi_external) napi_get_value_external(env, v, &p);
  PolledSocket* s = static_cast<PolledSocket*>(p);
  if (!s || s->magic != magic) {
    throwType(env, "handle", expected);
    return nullptr;
  }
  return s;
}

napi_value closeCall(napi_env env, napi_callback_info info, uint32_t magic, const char* expected) {
  napi_value argv[1];
  PolledSocket* s = socketArgs(env, info, argv, magic, expected);
  if (!s) return nullptr;
  closeSocket(s);
  return undefinedValue(env);
}

Dispatch::Dispatch(PolledSocket* sock) : s(sock) {
  s->dispatching++;
  if (s->jsReleased || napi_open_handle_scope(s->env, &hs) != napi_ok) {
    hs = nullptr;
    return;
  }
  napi_value resource;
  if (napi_create_object(s->env, &resource) != napi_ok) return;
  if (napi_open_callback_scope(s->env, resource, s->async, &cs) != napi_ok) {
    cs = nullptr;
    return;
  }
  ok = true;
}

Dispatch::~Dispatch() {
  if (cs) napi_close_callback_scope(s->env, cs);
  if (hs) napi_close_handle_scope(s->env, hs);
  if (--s->dispatching == 0 && s->closing) releaseJs(s);
}

void callJs(PolledSocket* s, napi_ref ref, size_t argc, napi_value* argv) {
  if (!ref || s->jsReleased) return;
  napi_env env = s->env;
  napi_value fn = nullptr, global, result;
  if (napi_get_reference_value(env, ref, &fn) != napi_ok || !fn) return;
  if (napi_get_global(env, &global) != napi_ok) return;
  napi_status st = napi_make_callback(env, s->async, global, fn, argc, argv, &result);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (st != napi_ok || pending) {
    napi_value exc;
    if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) {
      napi_valuetype t;
      napi_typeof(env, exc, &t);
      if (t != napi_undefined) napi_fatal_exception(env, exc);
    }
  }
}

}  // namespace dmvpn
