// Shared (not private) futexes on memory several processes map.
//
// See: futex(2), futex(7).
//
// FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, so a wait
// interrupted and resumed keeps its deadline exactly. No FUTEX_PRIVATE_FLAG:
// the kernel keys the futex by the page it lives in, so processes that map the
// same shared memory meet on it (V8's Atomics.wait/notify are process-private
// and only accept a SharedArrayBuffer).
#include "futex.h"

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <ctime>
#include <memory>

#include "common/deadline.h"
#include "common/exports.h"
#include "common/waiter.h"

namespace posix_ipc {
namespace futex {
namespace {

// What a wait ends with (the JavaScript side names them).
constexpr int kWoken = 0;
constexpr int kNotEqual = 1;

long Futex(int32_t* addr, int op, int32_t val, const timespec* deadline) {
  return syscall(SYS_futex, addr, op, val, deadline, nullptr, FUTEX_BITSET_MATCH_ANY);
}

// Waits until woken, the value differs from `expected`, or `deadline`
// (nullptr: none); kWoken, kNotEqual or -errno (-ETIMEDOUT). A signal
// handler's interruption is not a wake: the wait goes on to the same deadline.
int WaitUntil(int32_t* addr, int32_t expected, const timespec* deadline) {
  for (;;) {
    if (Futex(addr, FUTEX_WAIT_BITSET, expected, deadline) == 0) return kWoken;
    if (errno == EAGAIN) return kNotEqual;
    if (errno != EINTR) return -errno;
  }
}

int Wake(int32_t* addr, int count) {
  long r = Futex(addr, FUTEX_WAKE, count, nullptr);
  return r < 0 ? -errno : static_cast<int>(r);
}

// An asynchronous wait outlives the JavaScript call that starts it, and the
// memory it waits on may be unmapped meanwhile (SharedMemory close() or
// resize(), a Worker's end): its thread would then wait on, and Undo wake,
// whatever gets mapped at that address next. So the thread uses a mapping of
// its own: a second mapping of the word's page (mremap with old_size 0, which
// shared mappings allow), the same futex to the kernel (shared futexes are
// keyed by the page, not the address), unmapped when the wait is destroyed.
// Memory that is not a shared mapping (a SharedArrayBuffer, a read-only
// handle's private mapping) is waited on in place: the array the caller keeps
// alive holds it.
class FutexWait : public waiter::Wait {
 public:
  FutexWait(int32_t* addr, int32_t expected) : addr_(addr), expected_(expected) {
    uintptr_t page_size = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    uintptr_t at = reinterpret_cast<uintptr_t>(addr);
    void* page = reinterpret_cast<void*>(at & ~(page_size - 1));
    void* alias = mremap(page, 0, page_size, MREMAP_MAYMOVE);
    if (alias == MAP_FAILED) return;
    alias_ = alias;
    alias_size_ = page_size;
    addr_ = reinterpret_cast<int32_t*>(static_cast<char*>(alias) + (at & (page_size - 1)));
  }

  ~FutexWait() override {
    if (alias_ != nullptr) munmap(alias_, alias_size_);
  }

  int Slice(const timespec& slice_end) override { return WaitUntil(addr_, expected_, &slice_end); }

  // A wake that reached a wait nobody listens to any more goes to the next
  // waiter, as if this one had never been there.
  void Undo(int result) override {
    if (result == kWoken) Wake(addr_, 1);
  }

 private:
  int32_t* addr_;
  int32_t expected_;
  void* alias_ = nullptr;
  size_t alias_size_ = 0;
};

// The address of word `info[1]` of the Int32Array `info[0]`, or -errno: what
// the engine says of the array (its type, element count and data), never a
// `length` property JavaScript can redefine, nor a Proxy's answer. JavaScript
// checks all of this first; this is the last guard against an address past
// the array. -EINVAL: not a real Int32Array, or an index that is not a whole
// number; -ERANGE: an index at or past its end (a detached array has none).
int Address(const Napi::CallbackInfo& info, int32_t** out) {
  napi_env env = info.Env();
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  bool is_typedarray = false;
  if (napi_is_typedarray(env, info[0], &is_typedarray) != napi_ok || !is_typedarray) return -EINVAL;
  if (napi_get_typedarray_info(env, info[0], &type, &length, &data, nullptr, nullptr) != napi_ok) return -EINVAL;
  if (type != napi_int32_array) return -EINVAL;
  double index;
  if (napi_get_value_double(env, info[1], &index) != napi_ok || !(index >= 0) ||
      index != static_cast<double>(static_cast<int64_t>(index)))
    return -EINVAL;
  if (data == nullptr || index >= static_cast<double>(length)) return -ERANGE;
  *out = static_cast<int32_t*>(data) + static_cast<size_t>(index);
  return 0;
}

// An int32 argument: a number that is exactly one (JavaScript checked it).
bool Int32Arg(const Napi::CallbackInfo& info, size_t i, int32_t* out) {
  double v;
  if (napi_get_value_double(info.Env(), info[i], &v) != napi_ok) return false;
  if (!(v >= INT32_MIN && v <= INT32_MAX) || v != static_cast<double>(static_cast<int32_t>(v))) return false;
  *out = static_cast<int32_t>(v);
  return true;
}

// A timeout in milliseconds: a number (< 0: none); anything else is not one.
bool TimeoutArg(const Napi::CallbackInfo& info, size_t i, double* out) {
  return napi_get_value_double(info.Env(), info[i], out) == napi_ok && *out == *out;
}

// futexWait(int32Array, index, expected, timeoutMs, callback(result)) -> handle | -errno.
// The caller keeps the array alive until the callback runs. That array's
// buffer may still be detached or transferred meanwhile (SharedMemory close(),
// postMessage, ArrayBuffer.prototype.transfer): the thread never reads or
// writes the word itself, it only hands its address to futex(2), whose kernel
// side reads it with a fault-safe copy (EFAULT for memory no longer mapped).
// Memory of a SharedMemory is waited on through the alias mapping FutexWait
// makes, which the thread owns, so it stays mapped whatever JavaScript does;
// any other memory is waited on in place, where the worst a transfer can do
// is end the wait early (EFAULT) or let a wake meant for the new owner's word
// at that address reach it: a spurious wake, which callers already expect.
Napi::Value FutexWaitAsync(const Napi::CallbackInfo& info) {
  int32_t* addr = nullptr;
  int32_t expected = 0;
  double timeout_ms = 0;
  int r = Address(info, &addr);
  if (r == 0 && (!Int32Arg(info, 2, &expected) || !TimeoutArg(info, 3, &timeout_ms) || !info[4].IsFunction()))
    r = -EINVAL;
  if (r < 0) return Napi::Number::New(info.Env(), r);
  auto wait = std::make_unique<FutexWait>(addr, expected);
  return waiter::Start(info.Env(), std::move(wait), timeout_ms, info[4].As<Napi::Function>());
}

// futexWaitSync(int32Array, index, expected, timeoutMs) -> kWoken | kNotEqual | -errno.
// Blocks this thread; timeoutMs < 0 waits without a deadline.
Napi::Value FutexWaitSync(const Napi::CallbackInfo& info) {
  int32_t* addr = nullptr;
  int32_t expected = 0;
  double timeout_ms = 0;
  int r = Address(info, &addr);
  if (r == 0 && (!Int32Arg(info, 2, &expected) || !TimeoutArg(info, 3, &timeout_ms))) r = -EINVAL;
  if (r < 0) return Napi::Number::New(info.Env(), r);
  Deadline deadline = DeadlineIn(timeout_ms);
  return Napi::Number::New(info.Env(), WaitUntil(addr, expected, deadline.get()));
}

// futexWake(int32Array, index, count) -> woken | -errno.
Napi::Value FutexWake(const Napi::CallbackInfo& info) {
  int32_t* addr = nullptr;
  int32_t count = 0;
  int r = Address(info, &addr);
  if (r == 0 && (!Int32Arg(info, 2, &count) || count < 1)) r = -EINVAL;
  return Napi::Number::New(info.Env(), r < 0 ? r : Wake(addr, count));
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  const FunctionExport functions[] = {
      {"futexWait", FutexWaitAsync},
      {"futexWaitSync", FutexWaitSync},
      {"futexWake", FutexWake},
  };
  SetFunctions(env, exports, functions);
}

}  // namespace futex
}  // namespace posix_ipc
