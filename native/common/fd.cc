// Operations on descriptors that every kernel object shares: closing, sizing,
// permissions, and adopting a descriptor inherited from a parent process.
//
// See: close(2), close_range(2), fstat(2), fchmod(2), ftruncate(2), fcntl(2), poll(2).
#include "fd.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "env_state.h"
#include "exports.h"
#include "sys.h"

namespace posix_ipc {
namespace fd {
namespace {

int FdArg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int32Value(); }

// close(fd) -> 0 | -errno. EINTR counts as closed (see sys.h).
Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  EnvState::Get(info.Env())->UntrackFd(fd);
  int r = close(fd);
  return Napi::Number::New(info.Env(), r == -1 && errno != EINTR ? -errno : 0);
}

// fstatSize(fd) -> st_size | -errno.
Napi::Value FstatSize(const Napi::CallbackInfo& info) {
  struct stat st;
  int fd = FdArg(info, 0);
  int r = RetryOnEintr([&] { return fstat(fd, &st); });
  return Napi::Number::New(info.Env(), r < 0 ? r : static_cast<double>(st.st_size));
}

// fchmod(fd, mode) -> 0 | -errno. Sets the exact mode, whatever the umask was.
Napi::Value Fchmod(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  mode_t mode = info[1].As<Napi::Number>().Uint32Value();
  return Napi::Number::New(info.Env(), RetryOnEintr([&] { return fchmod(fd, mode); }));
}

// ftruncate(fd, length) -> 0 | -errno.
Napi::Value Ftruncate(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  off_t length = info[1].As<Napi::Number>().Int64Value();
  return Napi::Number::New(info.Env(), RetryOnEintr([&] { return ftruncate(fd, length); }));
}

// accessMode(fd) -> O_RDONLY | O_WRONLY | O_RDWR | -errno.
Napi::Value AccessMode(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  int r = RetryOnEintr([&] { return fcntl(fd, F_GETFL); });
  return Napi::Number::New(info.Env(), r < 0 ? r : (r & O_ACCMODE));
}

// dupFd(fd) -> fd | -errno: F_DUPFD_CLOEXEC, a second number for the same
// open file description (so the same file locks, the same socket), tracked
// for environment teardown. Sockets use it so that uv_poll can watch a
// descriptor while a net.Socket's libuv handle watches the original (libuv
// allows one watcher per number); file locks, to hold a caller's description
// under a number the caller cannot close.
Napi::Value DupFd(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int dup = Tracked(info.Env(), RetryOnEintr([&] { return fcntl(fd, F_DUPFD_CLOEXEC, 0); }));
  return Napi::Number::New(info.Env(), dup);
}

// adoptFd(fd) -> 0 | -errno. Takes ownership of a descriptor this process
// inherited: it becomes close-on-exec, so it goes no further than on purpose,
// and environment teardown closes it. -EBUSY when a handle of any environment
// (this thread's, or another Worker's) already owns it: two owners would close
// it twice, the second time maybe someone else's.
Napi::Value AdoptFd(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  EnvState* state = EnvState::Get(info.Env());
  if (!state->ClaimFd(fd)) return Napi::Number::New(info.Env(), -EBUSY);
  int r = RetryOnEintr([&] { return fcntl(fd, F_SETFD, FD_CLOEXEC); });
  if (r != 0) state->UntrackFd(fd);
  return Napi::Number::New(info.Env(), r);
}

// ownsFd(fd) -> boolean: whether a handle of any environment of this process
// owns the descriptor (adoptFd would say -EBUSY). No syscall: adopting callers
// ask it before they look at the descriptor at all.
Napi::Value OwnsFd(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), EnvState::OwnedAnywhere(FdArg(info, 0)));
}

// releaseFd(fd) -> 0. This environment no longer owns the descriptor (it was
// handed to a net.Socket, which closes it): teardown must not close it.
Napi::Value ReleaseFd(const Napi::CallbackInfo& info) {
  EnvState::Get(info.Env())->UntrackFd(FdArg(info, 0));
  return Napi::Number::New(info.Env(), 0);
}

// closeOnExecAll() -> 0 | -errno. Marks every descriptor from 3 up
// close-on-exec, so a child gets only what is placed in it on purpose:
// including descriptors this process itself inherited without the flag, which
// Node would otherwise pass on to every child. libuv clears the flag on the
// descriptors it places in a child deliberately.
Napi::Value CloseOnExecAll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return Napi::Number::New(env, 0);
  if (errno != ENOSYS && errno != EINVAL) return Napi::Number::New(env, -errno);
  // Kernels before 5.11: one descriptor at a time.
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return Napi::Number::New(env, -errno);
  while (struct dirent* entry = readdir(dir)) {
    int fd = atoi(entry->d_name);
    if (fd < 3 || fd == dirfd(dir)) continue;
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && !(flags & FD_CLOEXEC)) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
  closedir(dir);
  return Napi::Number::New(env, 0);
}

// pollNow(fd, events) -> revents | -errno: poll(2) without waiting, for a
// state that has no event of its own to wait for (a FIFO write end that lost
// its reader reports POLLERR; a datagram socket whose receiver is full is not
// POLLOUT).
Napi::Value PollNow(const Napi::CallbackInfo& info) {
  struct pollfd p = {FdArg(info, 0), static_cast<short>(info[1].As<Napi::Number>().Int32Value()), 0};
  int r = RetryOnEintr([&] { return poll(&p, 1, 0); });
  return Napi::Number::New(info.Env(), r < 0 ? r : p.revents);
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  const FunctionExport functions[] = {
      {"close", Close},         {"dupFd", DupFd},
      {"fstatSize", FstatSize}, {"fchmod", Fchmod},
      {"ftruncate", Ftruncate}, {"accessMode", AccessMode},
      {"adoptFd", AdoptFd},     {"ownsFd", OwnsFd},
      {"releaseFd", ReleaseFd}, {"closeOnExecAll", CloseOnExecAll},
      {"pollNow", PollNow},
  };
  SetFunctions(env, exports, functions);
  const ConstantExport constants[] = {
      {"POLLIN", POLLIN},
      {"POLLOUT", POLLOUT},
      {"POLLERR", POLLERR},
  };
  SetConstants(env, exports, constants);
}

}  // namespace fd
}  // namespace posix_ipc
