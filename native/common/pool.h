// Receive pools: where a copying receive puts a small message, so that
// JavaScript makes its Buffer over the pool (lib/internal/buffer-pool.ts)
// instead of allocating one per message.
//
// See: napi_get_arraybuffer_info.
//
// A pool is an ArrayBuffer JavaScript made (never resizable, marked
// untransferable) and keeps while it is the pool; JavaScript checks it is not
// detached before each call, and no JavaScript runs between that check and
// the copy. Making a Buffer over a pool in JavaScript costs a fifth of what
// napi_create_buffer_copy does (an ArrayBuffer and a backing store each).
#ifndef POSIX_IPC_COMMON_POOL_H_
#define POSIX_IPC_COMMON_POOL_H_

#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace posix_ipc {

// The longest message a copying receive puts in a pool (JavaScript makes
// 64 KiB pools): longer ones get a Buffer of their own, whose allocation
// costs little next to copying them. Node's own pool takes up to half of its
// 8 KiB; half as much of a pool eight times larger here, so that one kept
// message pins its pool less often.
constexpr size_t kPooledMax = 4096;

// When `value` is an ArrayBuffer that is not detached: its data and length.
inline bool PoolArg(napi_env env, napi_value value, uint8_t** data, size_t* length) {
  bool is_buffer = false;
  void* at = nullptr;
  size_t n = 0;
  if (value == nullptr || napi_is_arraybuffer(env, value, &is_buffer) != napi_ok || !is_buffer ||
      napi_get_arraybuffer_info(env, value, &at, &n) != napi_ok || at == nullptr) {
    return false;
  }
  *data = static_cast<uint8_t*>(at);
  *length = n;
  return true;
}

// The room of a pool from `offset` on: its bytes there and how many, when
// `pool` is a pool and `offset` (a number JavaScript gave, checked here) lies
// inside it; else false.
inline bool PoolRoomArg(napi_env env, napi_value pool, napi_value offset, uint8_t** data, size_t* length) {
  uint8_t* base;
  size_t size;
  double at;
  if (!PoolArg(env, pool, &base, &size) || offset == nullptr || napi_get_value_double(env, offset, &at) != napi_ok ||
      !(at >= 0) || at > static_cast<double>(size) || at != static_cast<double>(static_cast<size_t>(at))) {
    return false;
  }
  *data = base + static_cast<size_t>(at);
  *length = size - static_cast<size_t>(at);
  return true;
}

// Where the next message goes in a pool of `length` bytes once `n` bytes
// were put at `used`: 8-byte aligned, as Node's pool aligns, and never past
// the end.
inline size_t PoolNext(size_t used, size_t n, size_t length) {
  size_t next = used + ((n + 7) & ~static_cast<size_t>(7));
  return next < length ? next : length;
}

}  // namespace posix_ipc

#endif  // POSIX_IPC_COMMON_POOL_H_
