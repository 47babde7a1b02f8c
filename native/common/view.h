// The memory of a typed array as the engine holds it: the last guard of every
// native call that reads or writes a caller's bytes.
//
// See: napi_is_typedarray, napi_get_typedarray_info.
//
// JavaScript hands the addon only views it made itself from what the engine
// said (lib/internal/validate.ts); this checks again, natively, so that no
// `length` or `byteLength` JavaScript can redefine and no Proxy's answer ever
// sizes a read or a write.
#ifndef POSIX_IPC_COMMON_VIEW_H_
#define POSIX_IPC_COMMON_VIEW_H_

#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace posix_ipc {

// When `value` is a real typed array of `type`: its data and element count
// (bytes, for a Uint8Array), and true. A Proxy, a DataView or any other value
// is false, which the caller turns into -EINVAL before anything is sent,
// received or written. A detached array is a real one of length 0.
inline bool ViewArg(napi_env env, napi_value value, napi_typedarray_type type, void** data, size_t* length) {
  bool is_typedarray = false;
  if (value == nullptr || napi_is_typedarray(env, value, &is_typedarray) != napi_ok || !is_typedarray) return false;
  napi_typedarray_type actual;
  void* at = nullptr;
  size_t n = 0;
  if (napi_get_typedarray_info(env, value, &actual, &n, &at, nullptr, nullptr) != napi_ok || actual != type)
    return false;
  if (at == nullptr && n > 0) return false;
  *data = at;
  *length = n;
  return true;
}

// ViewArg of a Uint8Array (or Buffer): its bytes.
inline bool BytesArg(napi_env env, napi_value value, uint8_t** data, size_t* length) {
  void* at = nullptr;
  if (!ViewArg(env, value, napi_uint8_array, &at, length)) return false;
  *data = static_cast<uint8_t*>(at);
  return true;
}

}  // namespace posix_ipc

#endif  // POSIX_IPC_COMMON_VIEW_H_
