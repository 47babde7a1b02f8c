// Syscall conventions shared by every wrapper (libuv's src/unix style).
//
// Wrappers never throw and never touch JavaScript errors: they return a value
// >= 0 on success or -errno on failure. JavaScript turns the negative number
// into an IpcError that names the syscall, so the error is born where the
// caller's stack is.
#ifndef POSIX_IPC_COMMON_SYS_H_
#define POSIX_IPC_COMMON_SYS_H_

#include <poll.h>
#include <time.h>

#include <cerrno>
#include <cstdint>

namespace posix_ipc {

// Calls f() until it stops failing with EINTR; returns its result, or -errno
// when it returned -1. Not for close(2): Linux frees the descriptor even when
// close reports EINTR, so retrying could close a descriptor another thread
// just received.
template <typename F>
inline auto RetryOnEintr(F f) -> decltype(f()) {
  decltype(f()) r;
  do {
    r = f();
  } while (r == -1 && errno == EINTR);
  return r == -1 ? -errno : r;
}

inline int64_t MonotonicMs() {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

// The CLOCK_MONOTONIC time `timeout_ms` from now, or -1 (no limit) for a
// negative timeout. Computed once per operation, so retries never extend it.
inline int64_t DeadlineAfter(int64_t timeout_ms) { return timeout_ms < 0 ? -1 : MonotonicMs() + timeout_ms; }

// Waits until `fd` is ready for `events` (POLLIN / POLLOUT) or `deadline`
// (from DeadlineAfter) passes. Returns 0 when ready, -ETIMEDOUT, or -errno.
// A signal does not end the wait early: EINTR resumes it. For the blocking
// *Sync variants only.
inline int WaitForFd(int fd, short events, int64_t deadline) {
  for (;;) {
    int64_t left = deadline < 0 ? -1 : deadline - MonotonicMs();
    if (deadline >= 0 && left <= 0) left = 0;
    struct pollfd pfd = {fd, events, 0};
    int r = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : static_cast<int>(left));
    if (r > 0) return 0;
    if (r == 0 && deadline >= 0 && MonotonicMs() >= deadline) return -ETIMEDOUT;
    if (r == -1 && errno != EINTR) return -errno;
  }
}

}  // namespace posix_ipc

#endif  // POSIX_IPC_COMMON_SYS_H_
