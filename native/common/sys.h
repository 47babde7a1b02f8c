// Syscall conventions shared by every wrapper (libuv's src/unix style).
//
// Wrappers never throw and never touch JavaScript errors: they return a value
// >= 0 on success or -errno on failure. JavaScript turns the negative number
// into an IpcError that names the syscall, so the error is born where the
// caller's stack is.
#ifndef POSIX_IPC_COMMON_SYS_H_
#define POSIX_IPC_COMMON_SYS_H_

#include <cerrno>

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

}  // namespace posix_ipc

#endif  // POSIX_IPC_COMMON_SYS_H_
