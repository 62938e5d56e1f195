#include "napi_util.h"

#include <cmath>
#include <cstdio>
#include <cstring>

namespace dmvpn {

void throwLastError(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  const napi_extended_error_info* info = nullptr;
  napi_get_last_error_info(env, &info);
  napi_throw_error(env, "ERR_NAPI", info && info->error_message ? info->error_message : "N-API call failed");
}

const char* errnoName(int err) {
  const char* name = strerrorname_np(err);
  return name ? name : "?";
}

napi_value errnoObject(napi_env env, const char* syscall, const char* message, int err) {
  const char* name = strerrorname_np(err);
  napi_value m, e;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, nullptr, m, &e);
  napi_set_named_property(env, e, "code", str(env, name ? name : "EUNKNOWN"));
  napi_set_named_property(env, e, "errno", i32(env, -err));
  napi_set_named_property(env, e, "syscall", str(env, syscall));
  return e;
}

void throwErrno(napi_env env, const char* syscall, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s failed: %s (%s)", syscall, strerror(err), errnoName(err));
  napi_throw(env, errnoObject(env, syscall, msg, err));
}

napi_value undefinedOrThrow(napi_env env, int r, const char* syscall) {
  if (r < 0) {
    throwErrno(env, syscall, -r);
    return nullptr;
  }
  return undefinedValue(env);
}

napi_value sentOrThrow(napi_env env, int r, const char* syscall) {
  if (r < 0) {
    throwErrno(env, syscall, -r);
    return nullptr;
  }
  return boolean(env, r > 0);
}

void throwType(napi_env env, const char* what, const char* expected) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s must be %s", what, expected);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
}

void throwRange(napi_env env, const char* what, const char* range) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s is out of range (%s)", what, range);
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
}

bool args(napi_env env, napi_callback_info info, size_t n, napi_value* argv) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) {
    throwLastError(env);
    return false;
  }
  for (size_t i = argc; i < n; i++) napi_get_undefined(env, &argv[i]);
  return true;
}

void defineFunctions(napi_env env, napi_value exports, std::initializer_list<Export> fns) {
  for (const Export& f : fns) {
    napi_value fn;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, nullptr, &fn);
    napi_set_named_property(env, exports, f.name, fn);
  }
}

bool isUndefined(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  return t == napi_undefined || t == napi_null;
}

static bool toNumber(napi_env env, napi_value v, const char* what, double* out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_number) {
    throwType(env, what, "a number");
    return false;
  }
  napi_get_value_double(env, v, out);
  if (!std::isfinite(*out) || std::floor(*out) != *out) {
    throwType(env, what, "an integer");
    return false;
  }
  return true;
}

bool toUint(napi_env env, napi_value v, const char* what, uint64_t min, uint64_t max, uint64_t* out) {
  double d;
  if (!toNumber(env, v, what, &d)) return false;
  if (d < static_cast<double>(min) || d > static_cast<double>(max)) {
    char range[64];
    snprintf(range, sizeof range, "%llu..%llu", static_cast<unsigned long long>(min),
             static_cast<unsigned long long>(max));
    throwRange(env, what, range);
    return false;
  }
  *out = static_cast<uint64_t>(d);
  return true;
}

bool toInt(napi_env env, napi_value v, const char* what, int64_t min, int64_t max, int64_t* out) {
  double d;
  if (!toNumber(env, v, what, &d)) return false;
  if (d < static_cast<double>(min) || d > static_cast<double>(max)) {
    char range[64];
    snprintf(range, sizeof range, "%lld..%lld", static_cast<long long>(min), static_cast<long long>(max));
    throwRange(env, what, range);
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

bool toU32(napi_env env, napi_value v, const char* what, uint32_t* out) {
  uint64_t x;
  if (!toUint(env, v, what, 0, 0xffffffffull, &x)) return false;
  *out = static_cast<uint32_t>(x);
  return true;
}

bool toBool(napi_env env, napi_value v, const char* what, bool* out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_boolean) {
    throwType(env, what, "a boolean");
    return false;
  }
  napi_get_value_bool(env, v, out);
  return true;
}

bool toString(napi_env env, napi_value v, const char* what, std::string* out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_string) {
    throwType(env, what, "a string");
    return false;
  }
  size_t len = 0;
  napi_get_value_string_utf8(env, v, nullptr, 0, &len);
  out->resize(len + 1);
  napi_get_value_string_utf8(env, v, &(*out)[0], len + 1, &len);
  out->resize(len);
  return true;
}

bool toBytes(napi_env env, napi_value v, const char* what, uint8_t** data, size_t* len) {
  bool isTa = false;
  napi_is_typedarray(env, v, &isTa);
  if (!isTa) {
    throwType(env, what, "a Uint8Array");
    return false;
  }
  napi_typedarray_type type;
  void* p = nullptr;
  size_t n = 0;
  napi_get_typedarray_info(env, v, &type, &n, &p, nullptr, nullptr);
  if (type != napi_uint8_array) {
    throwType(env, what, "a Uint8Array");
    return false;
  }
  *data = static_cast<uint8_t*>(p);
  *len = n;
  return true;
}

bool prop(napi_env env, napi_value obj, const char* name, napi_value* out, bool* present) {
  if (napi_get_named_property(env, obj, name, out) != napi_ok) {
    throwLastError(env);
    return false;
  }
  napi_valuetype t;
  napi_typeof(env, *out, &t);
  *present = t != napi_undefined;
  return true;
}

// One N-API value made from a C value by create (napi_create_uint32 ...).
template <class T>
static napi_value made(napi_env env, napi_status (*create)(napi_env, T, napi_value*), T v) {
  napi_value x = nullptr;
  create(env, v, &x);
  return x;
}

napi_value u32(napi_env env, uint32_t v) { return made(env, napi_create_uint32, v); }
napi_value i32(napi_env env, int32_t v) { return made(env, napi_create_int32, v); }
napi_value num(napi_env env, double v) { return made(env, napi_create_double, v); }
napi_value boolean(napi_env env, bool v) { return made(env, napi_get_boolean, v); }
napi_value str(napi_env env, const char* s) {
  napi_value x;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &x);
  return x;
}
bool copyBytes(napi_env env, const void* p, size_t n, napi_value* out) {
  void* data = nullptr;
  napi_value ab;
  if (napi_create_arraybuffer(env, n, &data, &ab) != napi_ok || (n && !data)) return false;
  if (n) memcpy(data, p, n);
  return napi_create_typedarray(env, napi_uint8_array, n, ab, 0, out) == napi_ok;
}

napi_value bytesValue(napi_env env, const void* p, size_t n) {
  napi_value v = nullptr;
  copyBytes(env, p, n, &v);
  return v;
}

napi_value undefinedValue(napi_env env) {
  napi_value x;
  napi_get_undefined(env, &x);
  return x;
}

}  // namespace dmvpn
