// Shared memory: named POSIX objects, anonymous memfds, and their mappings as
// external ArrayBuffers.
//
// See: shm_open(3), shm_unlink(3), memfd_create(2), fcntl(2) (F_ADD_SEALS),
// posix_fallocate(3), mmap(2), munmap(2).
//
// Lifetime: each mapping belongs to exactly one external ArrayBuffer, whose
// finalizer unmaps it. An explicit unmap detaches the ArrayBuffer in the same
// native call, so every view over it reads byteLength 0 afterwards and no
// JavaScript access can reach unmapped memory.
#include "shared-memory.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "common/env_state.h"
#include "common/exports.h"
#include "common/result.h"
#include "common/sys.h"

namespace posix_ipc {
namespace shared_memory {
namespace {

// shmOpen(name, oflag, mode) -> fd | -errno. glibc opens with O_CLOEXEC and
// O_NOFOLLOW, so the descriptor never leaks into exec'd children. O_NONBLOCK
// too: what sits at /dev/shm/<name> need not be shared memory, and opening a
// FIFO planted there read-only would wait for a writer (it then fails at
// mmap). It changes nothing for the memory.
Napi::Value ShmOpen(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>().Utf8Value();
  int oflag = info[1].As<Napi::Number>().Int32Value() | O_NONBLOCK;
  mode_t mode = info[2].As<Napi::Number>().Uint32Value();
  int fd = Tracked(info.Env(), RetryOnEintr([&] { return shm_open(name.c_str(), oflag, mode); }));
  return Result(info.Env(), fd);
}

// shmUnlink(name) -> 0 | -errno.
Napi::Value ShmUnlink(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>().Utf8Value();
  return Result(info.Env(), RetryOnEintr([&] { return shm_unlink(name.c_str()); }));
}

// memfdCreate(allowSealing[, name[, mode]]) -> fd | -errno. The name (default
// "posix-ipc") only shows up in /proc/<pid>/fd links, for people and tools;
// the memory has no name in any namespace. The mode defaults to 0600.
Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  unsigned flags = MFD_CLOEXEC;
  if (info[0].As<Napi::Boolean>().Value()) flags |= MFD_ALLOW_SEALING;
  std::string name = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "posix-ipc";
  mode_t mode = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Uint32Value() & 0777 : 0600;
  int fd = Tracked(info.Env(), MemfdOfMode(name.c_str(), flags, mode));
  return Result(info.Env(), fd);
}

// sealSize(fd) -> 0 | -errno. After this nobody holding the memfd can shrink
// it (which would SIGBUS our mappings), grow it, or change the seals.
Napi::Value SealSize(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
  return Result(info.Env(), RetryOnEintr([&] { return fcntl(fd, F_ADD_SEALS, seals); }));
}

// posixFallocate(fd, length) -> 0 | -errno. Reserves the pages now, so a full
// tmpfs fails here with ENOSPC instead of with SIGBUS on first touch. Extends
// the file size to at least `length`.
Napi::Value PosixFallocate(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  off_t length = info[1].As<Napi::Number>().Int64Value();
  int r;
  // posix_fallocate returns the error number instead of setting errno.
  do {
    r = posix_fallocate(fd, 0, length);
  } while (r == EINTR);
  return Result(info.Env(), -r);
}

void FinalizeMapping(napi_env, void*, void* hint) {
  auto* m = static_cast<Mapping*>(hint);
  // Node also calls this from inside a napi_create_external_arraybuffer that
  // fails (e.g. a length over its limit); Mmap() cleans up that case itself.
  if (!m->adopted) return;
  EnvState::Unmap(m);
  delete m;
}

// mmap(fd, length, readOnly) -> ArrayBuffer | -errno.
//
// A read-only handle is mapped MAP_PRIVATE with PROT_WRITE: JavaScript cannot
// make an ArrayBuffer read-only, and a store into a PROT_READ page would kill
// the whole process with SIGSEGV. A private mapping shows the shared pages
// until this process writes one; the write then lands in a private copy of
// that page, and the object itself never changes. The descriptor may be
// O_RDONLY: private mappings do not need write access to the file.
Napi::Value Mmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  size_t length = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  bool read_only = info[2].As<Napi::Boolean>().Value();
  int flags = read_only ? MAP_PRIVATE : MAP_SHARED;
  void* addr = mmap(nullptr, length, PROT_READ | PROT_WRITE, flags, fd, 0);
  if (addr == MAP_FAILED) return Result(env, -errno);

  auto* m = new Mapping{addr, length, nullptr, false};
  napi_value ab;
  if (napi_create_external_arraybuffer(env, addr, length, FinalizeMapping, m, &ab) != napi_ok) {
    munmap(addr, length);
    delete m;
    return Result(env, -ENOMEM);
  }
  m->adopted = true;
  m->owner = EnvState::Get(env);
  m->owner->TrackMapping(m);
  return Napi::Value(env, ab);
}

// munmap(arrayBuffer) -> 0 | -errno. Unmaps a region made by mmap() above and
// detaches the ArrayBuffer, all before any JavaScript can run again.
Napi::Value Munmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto ab = info[0].As<Napi::ArrayBuffer>();
  Mapping* m = EnvState::Get(env)->FindMapping(ab.Data());
  if (m == nullptr) return Result(env, -EINVAL);
  EnvState::Unmap(m);
  ab.Detach();
  return Result(env, 0);
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  const FunctionExport functions[] = {
      {"shmOpen", ShmOpen},   {"shmUnlink", ShmUnlink},           {"memfdCreate", MemfdCreate},
      {"sealSize", SealSize}, {"posixFallocate", PosixFallocate}, {"mmap", Mmap},
      {"munmap", Munmap},
  };
  SetFunctions(env, exports, functions);
}

}  // namespace shared_memory
}  // namespace posix_ipc
