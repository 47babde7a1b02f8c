// The two native steps of a ProcessLink's out-of-band views
// (lib/internal/link-transfer.ts): the sender seals the memfd it wrote, the
// receiver opens that memfd through the sender's /proc entry and reads its
// seals. The mapping itself is shared-memory.cc's mmap(): one external
// ArrayBuffer per mapping, unmapped by its finalizer.
//
// See: memfd_create(2), fcntl(2) (F_ADD_SEALS, F_GET_SEALS), proc(5)
// (/proc/<pid>/fd), open(2) (O_PATH), fstat(2).
#include "transfer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "common/env_state.h"
#include "common/exports.h"
#include "common/result.h"
#include "common/sys.h"

namespace posix_ipc {
namespace transfer {
namespace {

// The seals a receiver requires: with these the size and the bytes can never
// change again, so a mapping of the whole memfd can neither SIGBUS nor see a
// byte move under it.
constexpr int kImmutable = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

// transferMemfd() -> fd | -errno: a memfd that can be sealed, named apart
// from the library's other memfds in /proc/<pid>/fd links (and so in leak
// checks): "/memfd:posix-ipc-transfer".
Napi::Value TransferMemfd(const Napi::CallbackInfo& info) {
  unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
  return Result(info.Env(),
                Tracked(info.Env(), RetryOnEintr([&] { return memfd_create("posix-ipc-transfer", flags); })));
}

// sealImmutable(fd) -> 0 | -errno. Adds kImmutable and F_SEAL_SEAL. F_SEAL_WRITE
// fails with EBUSY while a shared writable mapping of the memfd exists, so the
// sender writes with pwrite(2) or unmaps first.
Napi::Value SealImmutable(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  return Result(info.Env(), RetryOnEintr([&] { return fcntl(fd, F_ADD_SEALS, kImmutable | F_SEAL_SEAL); }));
}

// isImmutable(fd) -> 1 | 0 | -errno. F_GET_SEALS fails with EINVAL on any
// file that is not a memfd (or a sealable shmem file), which is how a
// receiver tells a peer's memfd from an ordinary file it named.
Napi::Value IsImmutable(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int seals = RetryOnEintr([&] { return fcntl(fd, F_GET_SEALS); });
  return Result(info.Env(), seals < 0 ? seals : (seals & kImmutable) == kImmutable ? 1 : 0);
}

// openPeerFd(pid, fd) -> a close-on-exec, read-only descriptor | -errno.
//
// The peer's descriptor is first opened with O_PATH, which never runs a
// driver's open: a hostile peer could name a terminal (which would become our
// controlling terminal), a FIFO (which would wait for a writer) or a device
// whose open has side effects. Only a regular file is then opened for reading,
// through our own /proc entry for the O_PATH descriptor. A wrong pid or fd is
// ENOENT; a process we may not inspect (another user, not dumpable) is EACCES.
Napi::Value OpenPeerFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = info[0].As<Napi::Number>().Int32Value();
  int peer_fd = info[1].As<Napi::Number>().Int32Value();
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, peer_fd);
  int at = RetryOnEintr([&] { return open(path, O_PATH | O_CLOEXEC); });
  if (at < 0) return Result(env, at);
  struct stat st;
  int r = RetryOnEintr([&] { return fstat(at, &st); });
  if (r == 0 && !S_ISREG(st.st_mode)) r = -EINVAL;
  if (r == 0) {
    std::snprintf(path, sizeof path, "/proc/self/fd/%d", at);
    r = Tracked(env, RetryOnEintr([&] { return open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY); }));
  }
  close(at);
  return Result(env, r);
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  const FunctionExport functions[] = {
      {"transferMemfd", TransferMemfd},
      {"sealImmutable", SealImmutable},
      {"isImmutable", IsImmutable},
      {"openPeerFd", OpenPeerFd},
  };
  SetFunctions(env, exports, functions);
}

}  // namespace transfer
}  // namespace posix_ipc
