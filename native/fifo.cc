// Named pipes (FIFOs).
//
// See: mkfifo(3), fchmodat(2) and fchmodat2 (AT_SYMLINK_NOFOLLOW), open(2)
// (O_PATH, O_NOFOLLOW, O_NONBLOCK), fifo(7), pipe(7) (PIPE_BUF, ENXIO, EPIPE),
// proc(5) (/proc/self/fd).
//
// Every end is opened O_NONBLOCK | O_CLOEXEC, so an open never waits: a reader
// opens at once, and a writer without a reader fails with ENXIO, which the
// JavaScript side retries on a timer (lib/fifo.ts explains why nothing smarter
// works for readers still blocked in open). The descriptors are then watched
// by libuv (net.Socket, or uv_poll through fd_watcher); no thread is parked.
//
// An open never follows a symbolic link in the last component and never opens
// anything that is not a FIFO: the path is first pinned with O_PATH (which has
// no side effects, unlike opening a device or a tape), its type checked, and
// only then is that very inode opened for real through /proc/self/fd. Where
// /proc is not mounted, the path itself is opened (O_NOFOLLOW) and the type of
// what was opened checked again.
#include "fifo.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "common/env_state.h"
#include "common/exports.h"
#include "common/result.h"
#include "common/sys.h"
#include "common/view.h"

namespace posix_ipc {
namespace fifo {
namespace {

// The type bits of something that is not a FIFO, reported to JavaScript so the
// error can say what the path is instead (a regular file, a directory, ...).
// Returns -ELOOP for a symbolic link (what O_NOFOLLOW reports), else -EINVAL.
int NotAFifo(mode_t mode, int32_t* type_out) {
  *type_out = static_cast<int32_t>(mode & S_IFMT);
  return S_ISLNK(mode) ? -ELOOP : -EINVAL;
}

// Without /proc there is no way to reopen the pinned inode: open the path
// itself (still O_NOFOLLOW) and check the type of what was opened.
int OpenDirectly(const char* path, int flags, int32_t* type_out) {
  int fd = RetryOnEintr([&] { return open(path, flags | O_NOFOLLOW); });
  if (fd < 0) return fd;
  struct stat st;
  int r = RetryOnEintr([&] { return fstat(fd, &st); });
  if (r == 0 && !S_ISFIFO(st.st_mode)) r = NotAFifo(st.st_mode, type_out);
  if (r == 0) return fd;
  close(fd);
  return r;
}

// Opens the FIFO at `path` with `accmode` (O_RDONLY, O_WRONLY or O_RDWR) plus
// O_NONBLOCK | O_CLOEXEC; fd or -errno.
int OpenFifo(const char* path, int accmode, int32_t* type_out) {
  int flags = accmode | O_NONBLOCK | O_CLOEXEC;
  int pinned = RetryOnEintr([&] { return open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC); });
  if (pinned < 0) return pinned;
  struct stat st;
  int r = RetryOnEintr([&] { return fstat(pinned, &st); });
  if (r == 0 && !S_ISFIFO(st.st_mode)) r = NotAFifo(st.st_mode, type_out);
  if (r == 0) {
    // Reopening the magic link opens exactly the inode checked above, even
    // if the path was replaced since: the same FIFO, no race.
    char proc[40];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", pinned);
    r = RetryOnEintr([&] { return open(proc, flags); });
    // The pinned descriptor keeps the inode alive, so ENOENT means that
    // /proc is not mounted (a chroot, a minimal container).
    if (r == -ENOENT && access("/proc/self/fd", F_OK) != 0) r = OpenDirectly(path, flags, type_out);
  }
  close(pinned);
  return r;
}

// mkfifo(path, mode) -> 0 | -errno. The umask applies; fifoChmod makes the
// mode exact. A symbolic link at `path`, even a dangling one, is EEXIST: the
// kernel never creates through a final symbolic link.
Napi::Value Mkfifo(const Napi::CallbackInfo& info) {
  std::string path = info[0].As<Napi::String>().Utf8Value();
  mode_t mode = info[1].As<Napi::Number>().Uint32Value();
  return Result(info.Env(), RetryOnEintr([&] { return mkfifoat(AT_FDCWD, path.c_str(), mode); }));
}

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452  // Linux 6.6; the same number on every architecture.
#endif

// fifoChmod(path, mode) -> 0 | -errno: fchmodat with AT_SYMLINK_NOFOLLOW,
// which never follows a symbolic link (EOPNOTSUPP on one). The kernel does it
// itself since Linux 6.6 (fchmodat2); before that, glibc emulates it with an
// O_PATH descriptor and /proc/self/fd, so there it needs /proc.
Napi::Value FifoChmod(const Napi::CallbackInfo& info) {
  std::string path = info[0].As<Napi::String>().Utf8Value();
  mode_t mode = info[1].As<Napi::Number>().Uint32Value();
  long r = RetryOnEintr([&] { return syscall(SYS_fchmodat2, AT_FDCWD, path.c_str(), mode, AT_SYMLINK_NOFOLLOW); });
  // ENOSYS: an older kernel. EPERM: a seccomp filter that does not know the
  // call yet (or a real EPERM, which the fallback reports again).
  if (r == -ENOSYS || r == -EPERM)
    r = RetryOnEintr([&] { return fchmodat(AT_FDCWD, path.c_str(), mode, AT_SYMLINK_NOFOLLOW); });
  return Result(info.Env(), static_cast<double>(r));
}

// fifoOpen(path, access, typeOut: Int32Array(1)) -> fd | -errno. access is
// O_RDONLY, O_WRONLY or O_RDWR. When the path is not a FIFO the result is
// -EINVAL (-ELOOP for a symbolic link) and typeOut[0] holds its S_IFMT bits;
// otherwise typeOut[0] is 0. The descriptor is tracked for teardown.
Napi::Value FifoOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int accmode = info[1].As<Napi::Number>().Int32Value() & O_ACCMODE;
  int32_t* type_out = info[2].As<Napi::Int32Array>().Data();
  *type_out = 0;
  int fd = Tracked(env, OpenFifo(path.c_str(), accmode, type_out));
  return Result(env, fd);
}

// fifoWrite(fd, data: Uint8Array) -> bytes written | -errno. One write(2): on
// a non-blocking FIFO, up to PIPE_BUF bytes go in whole or not at all
// (-EAGAIN), never interleaved with other writers. No reader: -EPIPE (Node
// ignores SIGPIPE, so the signal does not end the process).
Napi::Value FifoWrite(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint8_t* bytes;
  size_t length;
  if (!BytesArg(info.Env(), info[1], &bytes, &length)) return Result(info.Env(), -EINVAL);
  return Result(info.Env(), static_cast<double>(RetryOnEintr([&] { return write(fd, bytes, length); })));
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  const FunctionExport functions[] = {
      {"mkfifo", Mkfifo},
      {"fifoChmod", FifoChmod},
      {"fifoOpen", FifoOpen},
      {"fifoWrite", FifoWrite},
  };
  SetFunctions(env, exports, functions);
  const ConstantExport constants[] = {
      {"PIPE_BUF", PIPE_BUF},
  };
  SetConstants(env, exports, constants);
}

}  // namespace fifo
}  // namespace posix_ipc
