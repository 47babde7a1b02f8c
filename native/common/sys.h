// Syscall conventions shared by every wrapper (libuv's src/unix style).
//
// Wrappers never throw and never touch JavaScript errors: they return a value
// >= 0 on success or -errno on failure. JavaScript turns the negative number
// into an IpcError that names the syscall, so the error is born where the
// caller's stack is.
#ifndef POSIX_IPC_COMMON_SYS_H_
#define POSIX_IPC_COMMON_SYS_H_

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

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

// memfd_create(2) of a memfd of `mode`: Linux makes a memfd's inode 0777,
// which ls -l /proc/<pid>/fd and posix-ipc ls show. Only holders of a
// descriptor (or who may ptrace one) reach a memfd, so its mode guards one
// thing: reopening it through /proc, which Channel.fromFd does (0666 for an
// anonymous Channel, so that another user handed it can attach; 0600, like
// every other object of the library, for the rest). Returns the descriptor or
// -errno; nothing is left on failure.
inline int MemfdOfMode(const char* name, unsigned flags, mode_t mode) {
  int fd = RetryOnEintr([&] { return memfd_create(name, flags); });
  if (fd < 0) return fd;
  if (fchmod(fd, mode) == -1) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

// Where a C library keeps a field it does not document (a mutex's kind, a
// semaphore's futex flags), found by making the same object twice, differing
// only in that field: `found` when exactly one int of the `size` bytes
// differs, at `offset`, where `a` holds `value`. Callers check a shared
// object's field against `value` before handing it to the C library.
struct Field {
  size_t offset;
  int value;
  bool found;
};

inline Field OnlyDifference(const void* a, const void* b, size_t size) {
  Field f{0, 0, false};
  int differ = 0;
  for (size_t at = 0; at + sizeof(int) <= size; at += sizeof(int)) {
    int x, y;
    std::memcpy(&x, static_cast<const char*>(a) + at, sizeof x);
    std::memcpy(&y, static_cast<const char*>(b) + at, sizeof y);
    if (x == y) continue;
    differ++;
    f.offset = at;
    f.value = x;
  }
  f.found = differ == 1;
  return f;
}

// Whether the int at `offset` of `object` (shared memory: read once) is `f`'s value.
inline bool FieldIs(const void* object, const Field& f) {
  return __atomic_load_n(reinterpret_cast<const int*>(static_cast<const char*>(object) + f.offset), __ATOMIC_RELAXED) ==
         f.value;
}

}  // namespace posix_ipc

#endif  // POSIX_IPC_COMMON_SYS_H_
