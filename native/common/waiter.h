// Waits the kernel cannot report through a pollable descriptor (semaphores,
// futexes, robust mutexes, file locks) run on a dedicated thread each, never on
// libuv's pool: four parked pool threads would hang every fs call in the
// process (fs-ext #49/#79). node-pty waits for child exits the same way.
//
// A wait runs in bounded slices, so a cancelled wait (close, AbortSignal,
// environment teardown) ends within one slice without anybody joining it. A
// slice is 20 ms while few waits run; with many, slices grow so that all the
// process's wait threads together wake about as often as 50 of them would
// (1,000 idle waits cost 41% of a core with 20 ms slices).
// Whether a wait's result is used is decided in exactly one place, on the
// JavaScript thread: a result that arrives after JavaScript gave up is handed
// back through Wait::Undo (a token posted again, a wake passed on), so nothing
// is lost.
#ifndef POSIX_IPC_COMMON_WAITER_H_
#define POSIX_IPC_COMMON_WAITER_H_

#include <napi.h>

#include <ctime>
#include <memory>

namespace posix_ipc {
namespace waiter {

// One slice is this long while at most kSliceWaits waits run in the process:
// the bound on how long a cancelled wait's thread lingers (it holds its kernel
// object, never the environment). With more waits running, a slice is
// kSliceMs times (running / kSliceWaits), at most kMaxSliceMs.
constexpr long kSliceMs = 20;
constexpr long kSliceWaits = 50;
constexpr long kMaxSliceMs = 1000;

class Wait {
 public:
  virtual ~Wait() = default;
  // Runs on the wait's thread. Waits until `slice_end` (CLOCK_MONOTONIC,
  // absolute) at most; returns a result >= 0 when the wait is over,
  // -ETIMEDOUT when the slice passed without one (the next slice follows unless
  // the deadline passed), or another -errno to end the wait with that error.
  virtual int Slice(const timespec& slice_end) = 0;
  // Gives back what a Slice that returned `result` >= 0 took, when nobody is
  // left to receive it. Runs on the JavaScript thread, or on the wait's thread
  // once the environment is gone; must not block.
  virtual void Undo(int /*result*/) {}
};

// Starts `wait` on a thread of its own. `timeout_ms` < 0 waits without a
// deadline. `callback(result)` runs on the JavaScript thread once: result >= 0,
// -ETIMEDOUT when the deadline passed, or another -errno. Returns an External
// for waitCancel(), or -errno (as a Number) when no thread could be started.
Napi::Value Start(Napi::Env env, std::unique_ptr<Wait> wait, double timeout_ms, Napi::Function callback);

// Exports waitCancel(handle): the callback will not run; a result that arrives
// anyway is undone. And waitSetRef(handle, ref): whether the wait keeps the
// event loop alive (every wait does when it starts), settable while it runs.
void Init(Napi::Env env, Napi::Object exports);

}  // namespace waiter
}  // namespace posix_ipc

#endif  // POSIX_IPC_COMMON_WAITER_H_
