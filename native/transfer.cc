// The native steps of a ProcessLink's out-of-band views
// (lib/internal/link-transfer.ts): the sender seals the memfd it wrote, the
// receiver opens that memfd (or a SharedMemory's memfd, shared by reference)
// through the sender's /proc entry and reads its seals; before a received
// view goes on, its pages are read in pagemap to tell whether it still is the
// memfd's bytes. The mapping itself is shared-memory.cc's mmap() (MAP_PRIVATE
// for a copy or a read-only reference, MAP_SHARED for a writable reference):
// one external ArrayBuffer per mapping, unmapped by its finalizer.
//
// See: memfd_create(2), fcntl(2) (F_ADD_SEALS, F_GET_SEALS), proc(5)
// (/proc/<pid>/fd, /proc/<pid>/pagemap), open(2) (O_PATH), fstat(2),
// Documentation/admin-guide/mm/pagemap.rst.
#include "transfer.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>

#include "common/env_state.h"
#include "common/exports.h"
#include "common/result.h"
#include "common/sys.h"
#include "common/view.h"

namespace posix_ipc {
namespace transfer {
namespace {

// The seals a receiver requires: with these the size and the bytes can never
// change again, so a mapping of the whole memfd can neither SIGBUS nor see a
// byte move under it.
constexpr int kImmutable = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
// The seals a receiver requires of a SharedMemory memfd shared by reference:
// its bytes may change (that is the point), its size never, so no peer can
// truncate it under our mapping and kill us with SIGBUS.
constexpr int kSizeSealed = F_SEAL_SHRINK | F_SEAL_GROW;

// sealImmutable(fd) -> 0 | -errno. Adds kImmutable and F_SEAL_SEAL. F_SEAL_WRITE
// fails with EBUSY while a shared writable mapping of the memfd exists, so the
// sender writes with pwrite(2) or unmaps first.
Napi::Value SealImmutable(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  return Result(info.Env(), RetryOnEintr([&] { return fcntl(fd, F_ADD_SEALS, kImmutable | F_SEAL_SEAL); }));
}

// 1 when the file `info[0]` carries every seal of `wanted`, 0 when not,
// -errno. F_GET_SEALS fails with EINVAL on any file that is not a memfd (or a
// sealable shmem file), which is how a receiver tells a peer's memfd from an
// ordinary file it named.
Napi::Value HasSeals(const Napi::CallbackInfo& info, int wanted) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int seals = RetryOnEintr([&] { return fcntl(fd, F_GET_SEALS); });
  return Result(info.Env(), seals < 0 ? seals : (seals & wanted) == wanted ? 1 : 0);
}

// isImmutable(fd) -> 1 | 0 | -errno: size and bytes sealed (kImmutable).
Napi::Value IsImmutable(const Napi::CallbackInfo& info) { return HasSeals(info, kImmutable); }

// isSizeSealed(fd) -> 1 | 0 | -errno: size sealed (kSizeSealed), bytes free.
Napi::Value IsSizeSealed(const Napi::CallbackInfo& info) { return HasSeals(info, kSizeSealed); }

// openPeerFd(pid, fd, writable) -> a close-on-exec descriptor | -errno,
// read-only, or read-write when `writable` (for a MAP_SHARED writable mapping
// of a SharedMemory shared by reference).
//
// The peer's descriptor is first opened with O_PATH, which never runs a
// driver's open: a hostile peer could name a terminal (which would become our
// controlling terminal), a FIFO (which would wait for a writer) or a device
// whose open has side effects. Only a regular file of tmpfs or hugetlbfs (where
// every memfd lives) is then opened, through our own /proc entry for the O_PATH
// descriptor: a peer naming a file of a real filesystem that it may only read
// never gets it opened writable by us (which would, say, make its exec fail
// with ETXTBSY while open): -EMEDIUMTYPE for a regular file elsewhere, -EINVAL
// for anything that is no regular file. A wrong pid or fd is ENOENT; a
// process we may not inspect (another user, not dumpable) is EACCES.
Napi::Value OpenPeerFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = info[0].As<Napi::Number>().Int32Value();
  int peer_fd = info[1].As<Napi::Number>().Int32Value();
  int access = info[2].ToBoolean().Value() ? O_RDWR : O_RDONLY;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, peer_fd);
  int at = RetryOnEintr([&] { return open(path, O_PATH | O_CLOEXEC); });
  if (at < 0) return Result(env, at);
  struct stat st;
  struct statfs fs;
  int r = RetryOnEintr([&] { return fstat(at, &st); });
  if (r == 0 && !S_ISREG(st.st_mode)) r = -EINVAL;
  if (r == 0) r = RetryOnEintr([&] { return fstatfs(at, &fs); });
  if (r == 0 && fs.f_type != TMPFS_MAGIC && fs.f_type != HUGETLBFS_MAGIC) r = -EMEDIUMTYPE;
  if (r == 0) {
    std::snprintf(path, sizeof path, "/proc/self/fd/%d", at);
    r = Tracked(env, RetryOnEintr([&] { return open(path, access | O_CLOEXEC | O_NONBLOCK | O_NOCTTY); }));
  }
  close(at);
  return Result(env, r);
}

// The pagemap bits that say what backs a page (pagemap.rst): present in
// memory, in swap, and "file page or shared anonymous".
constexpr uint64_t kPresent = uint64_t{1} << 63;
constexpr uint64_t kSwapped = uint64_t{1} << 62;
constexpr uint64_t kFilePage = uint64_t{1} << 61;
// Pagemap entries read at once: 16 KiB of stack, 8 MiB of view.
constexpr size_t kEntries = 2048;

// Whether a page of a private file mapping may differ from its file. A page
// this process wrote was copied (copy on write) into an anonymous page: in
// memory, it is present without the file bit; swapped out, only anonymous
// pages go to swap from a private mapping. A page never touched (not
// present) or only read (present, the file's own page) is the file's.
bool Written(uint64_t entry) {
  return (entry & kSwapped) != 0 || ((entry & kPresent) != 0 && (entry & kFilePage) == 0);
}

// unwrittenIn(view, mapping) -> 1 | 0 | -errno: 1 when every page of the
// Uint8Array `view` lies inside the ArrayBuffer `mapping` (a MAP_PRIVATE
// mapping of a sealed memfd) and was never written by this process since it
// was mapped, so the view's bytes are the memfd's; 0 when one was. -EINVAL
// for a view outside the mapping. Both ranges come from the engine, never
// from a JavaScript property. One pread(2) of 8 bytes per page (at most
// kEntries at a time) on /proc/self/pagemap, which any process may read of
// itself (page frame numbers read as 0 without CAP_SYS_ADMIN; the flags do not).
Napi::Value UnwrittenIn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* data = nullptr;
  size_t length = 0;
  void* base = nullptr;
  size_t mapped = 0;
  if (!BytesArg(env, info[0], &data, &length) || !info[1].IsArrayBuffer() ||
      napi_get_arraybuffer_info(env, info[1], &base, &mapped) != napi_ok) {
    return Result(env, -EINVAL);
  }
  auto at = reinterpret_cast<uintptr_t>(data);
  auto start = reinterpret_cast<uintptr_t>(base);
  if (length == 0 || at < start || at - start > mapped || length > mapped - (at - start)) return Result(env, -EINVAL);
  auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t first = at / page;
  uintptr_t count = (at + length - 1) / page - first + 1;
  int fd = RetryOnEintr([] { return open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC); });
  if (fd < 0) return Result(env, fd);
  uint64_t entries[kEntries];
  int r = 1;
  for (uintptr_t done = 0; done < count && r == 1;) {
    size_t want = (count - done < kEntries ? count - done : kEntries) * sizeof entries[0];
    ssize_t got = RetryOnEintr([&] { return pread(fd, entries, want, (first + done) * sizeof entries[0]); });
    if (got <= 0 || got % sizeof entries[0] != 0) {
      r = got < 0 ? static_cast<int>(got) : -EIO;
      break;
    }
    size_t n = static_cast<size_t>(got) / sizeof entries[0];
    for (size_t i = 0; i < n; i++) {
      if (Written(entries[i])) r = 0;
    }
    done += n;
  }
  close(fd);
  return Result(env, r);
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  const FunctionExport functions[] = {
      {"sealImmutable", SealImmutable}, {"isImmutable", IsImmutable}, {"isSizeSealed", IsSizeSealed},
      {"openPeerFd", OpenPeerFd},       {"unwrittenIn", UnwrittenIn},
  };
  SetFunctions(env, exports, functions);
  // Node's os.constants.errno has no EMEDIUMTYPE: openPeerFd's "not where memfds live" is exported from here.
  const ConstantExport constants[] = {
      {"EMEDIUMTYPE", EMEDIUMTYPE},
  };
  SetConstants(env, exports, constants);
}

}  // namespace transfer
}  // namespace posix_ipc
