// Small helpers over the plain N-API C interface: argument conversion that
// throws a TypeError/RangeError naming the argument, and errno errors shaped
// like Node's own (code, errno, syscall).
#pragma once

#include <node_api.h>

#include <cstdint>
#include <string>

namespace dmvpn {

#define NAPI_TRY(env, call)                   \
  do {                                        \
    if ((call) != napi_ok) {                  \
      ::dmvpn::throwLastError(env);           \
      return nullptr;                         \
    }                                         \
  } while (0)

void throwLastError(napi_env env);
// err is a positive errno value.
void throwErrno(napi_env env, const char* syscall, int err);
void throwType(napi_env env, const char* what, const char* expected);
void throwRange(napi_env env, const char* what, const char* range);

// Fetches exactly `n` arguments (missing ones are undefined).
bool args(napi_env env, napi_callback_info info, size_t n, napi_value* argv);
bool isUndefined(napi_env env, napi_value v);
bool toUint(napi_env env, napi_value v, const char* what, uint64_t min, uint64_t max, uint64_t* out);
bool toInt(napi_env env, napi_value v, const char* what, int64_t min, int64_t max, int64_t* out);
bool toU32(napi_env env, napi_value v, const char* what, uint32_t* out);
bool toBool(napi_env env, napi_value v, const char* what, bool* out);
bool toString(napi_env env, napi_value v, const char* what, std::string* out);
// A Uint8Array (Buffer included); the bytes stay owned by JavaScript.
bool toBytes(napi_env env, napi_value v, const char* what, uint8_t** data, size_t* len);
// *present is false when the property is absent or undefined.
bool prop(napi_env env, napi_value obj, const char* name, napi_value* out, bool* present);

napi_value u32(napi_env env, uint32_t v);
napi_value i32(napi_env env, int32_t v);
napi_value num(napi_env env, double v);
napi_value boolean(napi_env env, bool v);
napi_value str(napi_env env, const char* s);
napi_value undefinedValue(napi_env env);

}  // namespace dmvpn
