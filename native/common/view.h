// The memory of a typed array as the engine holds it: the last guard of every
// native call that reads or writes a caller's bytes.
//
// See: napi_is_typedarray, napi_get_typedarray_info, napi_is_detached_arraybuffer.
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

// Whether `buffer`, the ArrayBuffer under a typed array, is detached (or
// cannot be asked). Caller code that runs between JavaScript's checks and the
// native call (a getter on an options object) can detach it: its view then
// reads length 0, and a send of it would quietly send nothing, a receive into
// it would look like the end of a stream.
inline bool DetachedBuffer(napi_env env, napi_value buffer) {
  bool detached = false;
  return buffer == nullptr || napi_is_detached_arraybuffer(env, buffer, &detached) != napi_ok || detached;
}

// When `value` is a real typed array of `type` over a buffer that is not
// detached: its data and element count (bytes, for a Uint8Array), and true.
// A Proxy, a DataView, a detached array or any other value is false, which
// the caller turns into -EINVAL before anything is sent, received or written.
inline bool ViewArg(napi_env env, napi_value value, napi_typedarray_type type, void** data, size_t* length) {
  bool is_typedarray = false;
  if (value == nullptr || napi_is_typedarray(env, value, &is_typedarray) != napi_ok || !is_typedarray) return false;
  napi_typedarray_type actual;
  void* at = nullptr;
  size_t n = 0;
  napi_value buffer = nullptr;
  if (napi_get_typedarray_info(env, value, &actual, &n, &at, &buffer, nullptr) != napi_ok || actual != type)
    return false;
  if (DetachedBuffer(env, buffer)) return false;
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
