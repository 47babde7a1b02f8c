// Robust, process-shared mutexes: a pthread_mutex_t (PTHREAD_PROCESS_SHARED,
// PTHREAD_MUTEX_ROBUST, PTHREAD_MUTEX_ERRORCHECK) in shared memory, with the
// pid of its holder next to it.
//
// See: pthread_mutexattr_setrobust(3), pthread_mutex_consistent(3),
// pthread_mutex_lock(3p), pthread_mutex_clocklock(3), futex(2), futex(7),
// set_robust_list(2), open(2) (O_TMPFILE), linkat(2), mmap(2).
//
// Ownership. The kernel keeps a robust-futex list per *thread*: when a thread
// exits (SIGKILL included) it marks each robust mutex on that list
// FUTEX_OWNER_DIED and wakes one waiter. The thread that locks is the owner the
// kernel watches, and only it may unlock, so every lock and unlock here runs
// on the JavaScript thread. An asynchronous lock() does not lock on its wait
// thread: that thread only sleeps on the lock word until it may have changed
// (MutexWait::Slice), and JavaScript then tries again with trylock.
//
// The lock word. glibc's robust mutex word is the first int of
// pthread_mutex_t, in the kernel's robust-futex format:
//   owner TID | FUTEX_WAITERS (0x80000000) | FUTEX_OWNER_DIED (0x40000000).
// A sleeper sets FUTEX_WAITERS first, so that the unlocker (glibc) or the
// kernel (at the owner's death) wakes it; whoever takes the lock after having
// slept keeps FUTEX_WAITERS set, because other sleepers may share the flag
// (glibc's own pthread_mutex_lock does the same). The layout is checked once
// per process, on a private mutex; if it ever differs, every call fails with
// ENOTSUP rather than guess.
//
// Memory. A mapping is shared by the JavaScript handle and each pending wait
// (std::shared_ptr), so closing a handle never unmaps memory a wait thread
// reads. A mapping whose mutex this thread holds is never unmapped at all:
// glibc links held robust mutexes into the thread's list through the mutexes
// themselves, and the kernel walks that list when the thread exits.
#include "mutex.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "common/env_state.h"
#include "common/sys.h"
#include "common/waiter.h"

namespace posix_ipc {
namespace mutex {
namespace {

// What a mutex takes in shared memory: the pthread mutex, the pid of its
// holder, and a magic number written last by the initialiser.
struct Record {
  pthread_mutex_t mutex;
  int32_t owner_pid;  // 0: nobody recorded.
  uint32_t magic;
};

constexpr uint32_t kMagic = 0x31584d50;  // "PMX1"
constexpr size_t kRecordSize = 64;
static_assert(sizeof(Record) <= kRecordSize, "a mutex record must fit in kRecordSize bytes");

// Outcomes of a successful lock.
constexpr int kLocked = 0;
constexpr int kOwnerDied = 1;

// Outcomes of a wait slice.
constexpr int kWoken = 0;
constexpr int kChanged = 1;

pid_t Tid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// This process's pid, recorded by every lock: getpid(2) is a syscall, about
// as dear as the uncontended lock itself. A child forked without exec gets it
// refreshed before it runs any code of ours.
std::atomic<int32_t> cached_pid{0};

void RefreshPid() { cached_pid.store(static_cast<int32_t>(getpid()), std::memory_order_relaxed); }

int32_t Pid() {
  static const bool registered = [] {
    RefreshPid();
    return pthread_atfork(nullptr, nullptr, RefreshPid) == 0;
  }();
  (void)registered;
  return cached_pid.load(std::memory_order_relaxed);
}

// Initialises `m` as ours (process-shared, robust) of `type`.
int InitMutex(pthread_mutex_t* m, int type) {
  pthread_mutexattr_t attr;
  int e = pthread_mutexattr_init(&attr);
  if (e != 0) return -e;
  e = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (e == 0) e = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  if (e == 0) e = pthread_mutexattr_settype(&attr, type);
  if (e == 0) e = pthread_mutex_init(m, &attr);
  pthread_mutexattr_destroy(&attr);
  return -e;
}

// Where glibc keeps a mutex's kind (its type, robust and shared bits), and
// the kind of ours: two private mutexes made like ours but of two types
// differ there (OnlyDifference). A mutex whose kind is not ours (its bytes
// overwritten behind an intact magic) is never handed to glibc, which asserts,
// hangs or silently changes behaviour on a kind it did not make: a
// priority-protect kind aborts the process.
const Field& OurKind() {
  static const Field kind = [] {
    pthread_mutex_t a, b;
    std::memset(&a, 0, sizeof a);
    std::memset(&b, 0, sizeof b);
    if (InitMutex(&a, PTHREAD_MUTEX_ERRORCHECK) != 0 || InitMutex(&b, PTHREAD_MUTEX_NORMAL) != 0) return Field{0, 0, false};
    return OnlyDifference(&a, &b, sizeof a);
  }();
  return kind;
}

// Locks a private robust mutex on this thread and checks that its first int
// holds our TID, and 0 after unlocking: the word format the waits rely on;
// and that the mutex's kind can be found (OurKind).
bool LayoutOk() {
  static const bool ok = [] {
    if (!OurKind().found) return false;
    pthread_mutex_t probe;
    if (InitMutex(&probe, PTHREAD_MUTEX_ERRORCHECK) != 0 || pthread_mutex_lock(&probe) != 0) return false;
    bool good;
    uint32_t word;
    std::memcpy(&word, &probe, sizeof word);
    good = (word & FUTEX_TID_MASK) == static_cast<uint32_t>(Tid());
    pthread_mutex_unlock(&probe);
    std::memcpy(&word, &probe, sizeof word);
    pthread_mutex_destroy(&probe);
    return good && word == 0;
  }();
  return ok;
}

class Mapping {
 public:
  Mapping(void* base, size_t length, Record* record) : record(record), base_(base), length_(length) {}
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  // A mutex this thread holds stays mapped: it is linked into the thread's
  // robust list, which glibc and the kernel walk.
  ~Mapping() {
    if (!held.load(std::memory_order_acquire)) munmap(base_, length_);
  }

  uint32_t* word() { return reinterpret_cast<uint32_t*>(&record->mutex); }

  Record* const record;
  // Whether this mapping's mutex is locked through this handle (JavaScript
  // thread only, read by whichever thread frees the Mapping).
  std::atomic<bool> held{false};

 private:
  void* base_;
  size_t length_;
};

// Whether the mutex at `m` still has the kind ours are made with.
bool KindOk(Mapping* m) { return FieldIs(&m->record->mutex, OurKind()); }

// What the JavaScript handle (an External) holds; emptied by mutexClose.
struct Handle {
  std::shared_ptr<Mapping> mapping;
};

void OnHandleFinalized(napi_env, Handle* handle) { delete handle; }

Mapping* Get(const Napi::Value& value) { return value.As<Napi::External<Handle>>().Data()->mapping.get(); }

Napi::Number Result(Napi::Env env, double r) { return Napi::Number::New(env, r); }

long Futex(uint32_t* addr, int op, uint32_t val, const timespec* deadline) {
  return syscall(SYS_futex, addr, op, val, deadline, nullptr, FUTEX_BITSET_MATCH_ANY);
}

// Maps the kRecordSize bytes at `offset` of `fd` (its own mapping, from the
// page that holds them). -EINVAL when the object is too small to hold them.
int MapRecord(int fd, off_t offset, std::shared_ptr<Mapping>* out) {
  struct stat st;
  if (fstat(fd, &st) < 0) return -errno;
  if (st.st_size < offset + static_cast<off_t>(kRecordSize)) return -EINVAL;
  off_t start = offset & ~static_cast<off_t>(sysconf(_SC_PAGESIZE) - 1);
  size_t length = static_cast<size_t>(offset - start) + kRecordSize;
  void* base = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, start);
  if (base == MAP_FAILED) return -errno;
  auto* record = reinterpret_cast<Record*>(static_cast<char*>(base) + (offset - start));
  *out = std::make_shared<Mapping>(base, length, record);
  return 0;
}

int InitRecord(Record* r) {
  int e = InitMutex(&r->mutex, PTHREAD_MUTEX_ERRORCHECK);
  if (e != 0) return e;
  __atomic_store_n(&r->owner_pid, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&r->magic, kMagic, __ATOMIC_RELEASE);
  return 0;
}

// The result of a pthread lock call `e` on `m`: kLocked or kOwnerDied with the
// lock taken and our pid recorded, or -errno.
int Acquired(Mapping* m, int e, bool after_wait) {
  if (e != 0 && e != EOWNERDEAD) return -e;
  // Having slept, we may share FUTEX_WAITERS with other sleepers: keep it, so
  // our unlock wakes one of them (trylock takes a free lock without it).
  if (after_wait) __atomic_fetch_or(m->word(), FUTEX_WAITERS, __ATOMIC_RELAXED);
  __atomic_store_n(&m->record->owner_pid, Pid(), __ATOMIC_RELAXED);
  m->held.store(true, std::memory_order_release);
  return e == EOWNERDEAD ? kOwnerDied : kLocked;
}

// glibc's pthread_mutex_trylock takes a free, not-recoverable mutex and then
// reports ENOTRECOVERABLE without releasing it (it compares the word's old
// value, 0, with our TID), so every later locker would find it held by this
// thread. Release the word as its lll_unlock would have: nobody can hold a
// not-recoverable mutex legitimately, and it was never put on our robust list.
void ReleaseIfOurs(Mapping* m) {
  uint32_t* word = m->word();
  if ((__atomic_load_n(word, __ATOMIC_RELAXED) & FUTEX_TID_MASK) != static_cast<uint32_t>(Tid())) return;
  if ((__atomic_exchange_n(word, 0, __ATOMIC_RELEASE) & FUTEX_WAITERS) != 0) Futex(word, FUTEX_WAKE, 1, nullptr);
}

// Sleeps on the lock word until it may be takeable: free (0), or its owner
// died. It never takes the lock itself (the JavaScript thread must own it).
// A word with no owner but other bits set is no state glibc leaves (its
// unlock stores 0) and trylock refuses it: slept on like a held one, never
// reported as a change, which would make lock() try again at once, forever.
class MutexWait : public waiter::Wait {
 public:
  explicit MutexWait(std::shared_ptr<Mapping> mapping) : mapping_(std::move(mapping)) {}

  int Slice(const timespec& slice_end) override {
    uint32_t* word = mapping_->word();
    for (;;) {
      uint32_t v = __atomic_load_n(word, __ATOMIC_ACQUIRE);
      if (v == 0 || (v & FUTEX_OWNER_DIED) != 0) return kChanged;
      if ((v & FUTEX_WAITERS) == 0) {
        if (!__atomic_compare_exchange_n(word, &v, v | FUTEX_WAITERS, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) continue;
        v |= FUTEX_WAITERS;
      }
      // Shared (no FUTEX_PRIVATE_FLAG), as glibc's process-shared mutexes and
      // the kernel's owner-death wake-up are.
      if (Futex(word, FUTEX_WAIT_BITSET, v, &slice_end) == 0) return kWoken;
      if (errno == ETIMEDOUT) return -ETIMEDOUT;
      if (errno != EAGAIN && errno != EINTR) return -errno;
    }
  }

  // A wake-up nobody will act on goes to the next sleeper.
  void Undo(int result) override {
    if (result == kWoken) Futex(mapping_->word(), FUTEX_WAKE, 1, nullptr);
  }

 private:
  std::shared_ptr<Mapping> mapping_;
};

// mutexTmpfile(mode) -> fd | -errno: an unnamed, close-on-exec file in
// /dev/shm (where glibc's shm_open keeps named objects), to be initialised
// before mutexPublish gives it its name. Nobody can open a half-made mutex.
Napi::Value Tmpfile(const Napi::CallbackInfo& info) {
  mode_t mode = info[0].As<Napi::Number>().Uint32Value();
  int fd = RetryOnEintr([&] { return open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, mode); });
  if (fd >= 0) EnvState::Get(info.Env())->TrackFd(fd);
  return Result(info.Env(), fd);
}

// mutexPublish(fd, name) -> 0 | -errno (-EEXIST when the name is taken): links
// the file as /dev/shm/<name>, atomically. linkat through /proc/self/fd is how
// open(2) documents giving an O_TMPFILE file a name without privileges.
Napi::Value Publish(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  std::string path = "/dev/shm" + info[1].As<Napi::String>().Utf8Value();
  char proc[64];
  std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  return Result(info.Env(), RetryOnEintr([&] { return linkat(AT_FDCWD, proc, AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW); }));
}

// mutexMap(fd, offset, init) -> handle | -errno. Maps the record at `offset`;
// with `init` initialises it (-EEXIST if it already holds a mutex), without
// attaches to it (-EINVAL if it holds none, -EBADMSG if its kind was
// overwritten: KindOk). -ENOTSUP if this libc's mutex word
// is not the kernel's robust-futex word.
Napi::Value Map(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!LayoutOk()) return Result(env, -ENOTSUP);
  int fd = info[0].As<Napi::Number>().Int32Value();
  off_t offset = info[1].As<Napi::Number>().Int64Value();
  bool init = info[2].As<Napi::Boolean>().Value();
  std::shared_ptr<Mapping> m;
  int r = MapRecord(fd, offset, &m);
  if (r < 0) return Result(env, r);
  bool initialised = __atomic_load_n(&m->record->magic, __ATOMIC_ACQUIRE) == kMagic;
  if (init) {
    r = initialised ? -EEXIST : InitRecord(m->record);
  } else if (!initialised) {
    r = -EINVAL;
  } else if (!KindOk(m.get())) {
    r = -EBADMSG;
  }
  if (r < 0) return Result(env, r);
  return Napi::External<Handle>::New(env, new Handle{std::move(m)}, OnHandleFinalized);
}

// mutexClose(handle) -> 0. The mapping goes once no wait uses it (and never
// while this thread holds the mutex).
Napi::Value Close(const Napi::CallbackInfo& info) {
  info[0].As<Napi::External<Handle>>().Data()->mapping.reset();
  return Result(info.Env(), 0);
}

// mutexTryLock(handle, afterWait) -> 0 locked | 1 locked, owner died | -errno
// (-EBUSY, -EDEADLK when this thread holds it, -ENOTRECOVERABLE, -EBADMSG
// when its kind was overwritten: every call below checks it first).
Napi::Value TryLock(const Napi::CallbackInfo& info) {
  Mapping* m = Get(info[0]);
  if (m == nullptr) return Result(info.Env(), -EBADF);
  if (!KindOk(m)) return Result(info.Env(), -EBADMSG);
  bool after_wait = info[1].As<Napi::Boolean>().Value();
  int e = pthread_mutex_trylock(&m->record->mutex);
  if (e == ENOTRECOVERABLE) ReleaseIfOurs(m);
  return Result(info.Env(), Acquired(m, e, after_wait));
}

// mutexLockSync(handle, timeoutMs) -> as mutexTryLock, or -ETIMEDOUT. Blocks
// this thread (timeoutMs < 0: without a deadline); glibc's wait goes on to the
// same CLOCK_MONOTONIC deadline when a signal interrupts it.
Napi::Value LockSync(const Napi::CallbackInfo& info) {
  Mapping* m = Get(info[0]);
  if (m == nullptr) return Result(info.Env(), -EBADF);
  if (!KindOk(m)) return Result(info.Env(), -EBADMSG);
  double timeout_ms = info[1].As<Napi::Number>().DoubleValue();
  int e;
  if (timeout_ms < 0) {
    e = pthread_mutex_lock(&m->record->mutex);
  } else {
    timespec deadline = waiter::MonotonicAfter(timeout_ms);
    e = pthread_mutex_clocklock(&m->record->mutex, CLOCK_MONOTONIC, &deadline);
  }
  return Result(info.Env(), Acquired(m, e, false));
}

// mutexUnlock(handle) -> 0 | -errno (-EPERM when this handle does not hold it).
Napi::Value Unlock(const Napi::CallbackInfo& info) {
  Mapping* m = Get(info[0]);
  if (m == nullptr) return Result(info.Env(), -EBADF);
  if (!m->held.load(std::memory_order_relaxed)) return Result(info.Env(), -EPERM);
  if (!KindOk(m)) return Result(info.Env(), -EBADMSG);
  // Cleared first: once the word is free, the pid field is the next holder's.
  __atomic_store_n(&m->record->owner_pid, 0, __ATOMIC_RELAXED);
  int e = pthread_mutex_unlock(&m->record->mutex);
  if (e == 0 || e == EPERM) m->held.store(false, std::memory_order_release);
  return Result(info.Env(), -e);
}

// mutexConsistent(handle) -> 0 | -errno (-EINVAL when the mutex is consistent).
Napi::Value Consistent(const Napi::CallbackInfo& info) {
  Mapping* m = Get(info[0]);
  if (m == nullptr) return Result(info.Env(), -EBADF);
  if (!KindOk(m)) return Result(info.Env(), -EBADMSG);
  return Result(info.Env(), -pthread_mutex_consistent(&m->record->mutex));
}

// mutexOwnerPid(handle) -> the holder's pid, 0 when nobody holds it (or its
// holder died, or has not recorded itself yet), or -errno.
Napi::Value OwnerPid(const Napi::CallbackInfo& info) {
  Mapping* m = Get(info[0]);
  if (m == nullptr) return Result(info.Env(), -EBADF);
  uint32_t word = __atomic_load_n(m->word(), __ATOMIC_ACQUIRE);
  if ((word & FUTEX_TID_MASK) == 0) return Result(info.Env(), 0);
  return Result(info.Env(), __atomic_load_n(&m->record->owner_pid, __ATOMIC_RELAXED));
}

// mutexWait(handle, timeoutMs, done) -> wait handle | -errno; done(0 woken |
// 1 changed | -ETIMEDOUT | -errno) once the mutex may be takeable.
Napi::Value Wait(const Napi::CallbackInfo& info) {
  const std::shared_ptr<Mapping>& m = info[0].As<Napi::External<Handle>>().Data()->mapping;
  if (!m) return Result(info.Env(), -EBADF);
  return waiter::Start(info.Env(), std::make_unique<MutexWait>(m), info[1].As<Napi::Number>().DoubleValue(),
                       info[2].As<Napi::Function>());
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  LayoutOk();  // Probed once per process, here on a JavaScript thread.
  exports.Set("mutexTmpfile", Napi::Function::New(env, Tmpfile, "mutexTmpfile"));
  exports.Set("mutexPublish", Napi::Function::New(env, Publish, "mutexPublish"));
  exports.Set("mutexMap", Napi::Function::New(env, Map, "mutexMap"));
  exports.Set("mutexClose", Napi::Function::New(env, Close, "mutexClose"));
  exports.Set("mutexTryLock", Napi::Function::New(env, TryLock, "mutexTryLock"));
  exports.Set("mutexLockSync", Napi::Function::New(env, LockSync, "mutexLockSync"));
  exports.Set("mutexUnlock", Napi::Function::New(env, Unlock, "mutexUnlock"));
  exports.Set("mutexConsistent", Napi::Function::New(env, Consistent, "mutexConsistent"));
  exports.Set("mutexOwnerPid", Napi::Function::New(env, OwnerPid, "mutexOwnerPid"));
  exports.Set("mutexWait", Napi::Function::New(env, Wait, "mutexWait"));
  exports.Set("MUTEX_SIZE", Napi::Number::New(env, kRecordSize));
}

}  // namespace mutex
}  // namespace posix_ipc
