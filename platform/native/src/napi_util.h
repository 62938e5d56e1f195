// Small helpers over the plain N-API C interface: argument conversion that
// throws a TypeError/RangeError naming the argument, and errno errors shaped
// like Node's own (code, errno, syscall).
#pragma once

#include <node_api.h>

#include <cstdint>
#include <initializer_list>
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
// strerrorname_np's name of err, "?" if it has none.
const char* errnoName(int err);
// An Error shaped like Node's own: the message, code (EUNKNOWN without a name), errno (negative), syscall.
napi_value errnoObject(napi_env env, const char* syscall, const char* message, int err);
// The result of a call that returns -errno on failure: throws it from syscall,
// else undefined (undefinedOrThrow) or r > 0 (sentOrThrow: false = would block).
napi_value undefinedOrThrow(napi_env env, int r, const char* syscall);
napi_value sentOrThrow(napi_env env, int r, const char* syscall);
void throwType(napi_env env, const char* what, const char* expected);
void throwRange(napi_env env, const char* what, const char* range);

// Fetches exactly `n` arguments (missing ones are undefined).
bool args(napi_env env, napi_callback_info info, size_t n, napi_value* argv);

// One exported function: its JavaScript name and the callback.
struct Export {
  const char* name;
  napi_callback fn;
};
// Sets each function as the property of its name on exports.
void defineFunctions(napi_env env, napi_value exports, std::initializer_list<Export> fns);
// One at a time (addon.cc).
void defineFunction(napi_env env, napi_value exports, const char* name, napi_callback cb);
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
// A Uint8Array holding a copy of n bytes; false if it cannot be made.
bool copyBytes(napi_env env, const void* p, size_t n, napi_value* out);
// The same as a value (nullptr if it cannot be made).
napi_value bytesValue(napi_env env, const void* p, size_t n);

// An array of one object per row, each filled by fill(object, row).
template <class Rows, class Fill>
napi_value objectArray(napi_env env, const Rows& rows, Fill fill) {
  napi_value arr;
  napi_create_array_with_length(env, rows.size(), &arr);
  uint32_t i = 0;
  for (const auto& row : rows) {
    napi_value o;
    napi_create_object(env, &o);
    fill(o, row);
    napi_set_element(env, arr, i++, o);
  }
  return arr;
}

}  // namespace dmvpn
