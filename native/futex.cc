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
#include <cstdint>
#include <ctime>
#include <memory>

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

int32_t* Address(const Napi::CallbackInfo& info) {
  auto array = info[0].As<Napi::Int32Array>();
  return array.Data() + info[1].As<Napi::Number>().Uint32Value();
}

// futexWait(int32Array, index, expected, timeoutMs, callback(result)) -> handle | -errno.
// The caller keeps the array's buffer alive until the callback runs.
Napi::Value FutexWaitAsync(const Napi::CallbackInfo& info) {
  auto wait = std::make_unique<FutexWait>(Address(info), info[2].As<Napi::Number>().Int32Value());
  return waiter::Start(info.Env(), std::move(wait), info[3].As<Napi::Number>().DoubleValue(), info[4].As<Napi::Function>());
}

// futexWaitSync(int32Array, index, expected, timeoutMs) -> kWoken | kNotEqual | -errno.
// Blocks this thread; timeoutMs < 0 waits without a deadline.
Napi::Value FutexWaitSync(const Napi::CallbackInfo& info) {
  double timeout_ms = info[3].As<Napi::Number>().DoubleValue();
  timespec deadline = waiter::MonotonicAfter(timeout_ms < 0 ? 0 : timeout_ms);
  int r = WaitUntil(Address(info), info[2].As<Napi::Number>().Int32Value(), timeout_ms < 0 ? nullptr : &deadline);
  return Napi::Number::New(info.Env(), r);
}

// futexWake(int32Array, index, count) -> woken | -errno.
Napi::Value FutexWake(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), Wake(Address(info), info[2].As<Napi::Number>().Int32Value()));
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("futexWait", Napi::Function::New(env, FutexWaitAsync, "futexWait"));
  exports.Set("futexWaitSync", Napi::Function::New(env, FutexWaitSync, "futexWaitSync"));
  exports.Set("futexWake", Napi::Function::New(env, FutexWake, "futexWake"));
}

}  // namespace futex
}  // namespace posix_ipc
