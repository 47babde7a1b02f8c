// POSIX semaphores: named ones (what sem_open(3) makes), and unnamed ones
// living inside shared memory (sem_init with pshared = 1).
//
// See: sem_overview(7), sem_open(3), sem_unlink(3), sem_init(3),
// sem_clockwait(3), sem_trywait(3), sem_post(3), sem_getvalue(3), futex(2),
// futex(7), mmap(2), mkostemp(3), link(2).
//
// A named semaphore is a file /dev/shm/sem.<name> holding one sem_t, mapped
// shared. glibc's sem_open (2.36) opens that file and its creation temp file
// without O_CLOEXEC, and lets the umask narrow the mode, so this file does the
// same steps itself: the descriptors are close-on-exec from birth, the mode is
// exact before the name exists (fchmod of the temp file), and C programs
// calling sem_open on the same name meet the same semaphore.
//
// Lifetime: an asynchronous wait runs on a thread of its own, which may go on
// for up to one slice after close(), and even after its environment is gone.
// The sem_t must stay mapped until that thread is done, so each semaphore is
// one Sem shared (std::shared_ptr) by the JavaScript handle and by every wait
// on it, owning a mapping of its own; the last owner unmaps it. A semaphore
// inside shared memory never uses the SharedMemory's ArrayBuffer, which
// JavaScript unmaps whenever it closes that.
//
// Waits and posts. A peer can rewrite any byte of a sem_t at any moment, and
// glibc aborts the process when the futex flags it reads from the sem_t make
// the kernel refuse a futex call ("The futex facility returned an unexpected
// error code"); checking the flags first is no defence, since they can change
// between the check and glibc's read. So glibc never waits on, posts or reads
// a semaphore here: this file does what glibc 2.36's sem_post.c and
// sem_waitcommon.c do, on the 64-bit word they use (the value in its low half,
// the number of waiters in its high half), with shared futex calls on the
// value's half, and never reads the flags word to decide anything. It stays
// the same semaphore for C programs using sem_wait/sem_post on it: they wait
// on the same futex word, count themselves in the same waiter field and wake
// with the same (shared) futex operation, since a pshared semaphore's flags
// say shared. The layout is checked once per process (LayoutOk); where it
// differs, every semaphore fails with ENOTSUP rather than guess. glibc still
// initialises semaphores (sem_init writes and reads nothing shared).
#include "semaphore.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <semaphore.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "common/deadline.h"
#include "common/exports.h"
#include "common/handle.h"
#include "common/result.h"
#include "common/sys.h"
#include "common/waiter.h"

namespace posix_ipc {
namespace semaphore {
namespace {

// Where glibc keeps named semaphores.
constexpr char kDir[] = "/dev/shm/sem.";

struct Sem {
  Sem(void* mapping, size_t length, sem_t* sem) : mapping(mapping), length(length), sem(sem) {}
  Sem(const Sem&) = delete;
  Sem& operator=(const Sem&) = delete;
  ~Sem() { munmap(mapping, length); }

  void* const mapping;
  const size_t length;
  sem_t* const sem;
};

// What a JavaScript handle holds (a handle of kSemHandle); empty after semClose.
using Handle = SharedHandle<Sem>;

const HandleKind kSemHandle{{0x7365a3d1c0de5e3aULL, 0x9b2f4c81e6a7d053ULL}};

// The Handle `value` is, or nullptr for anything this file did not make.
Handle* HandleOf(const Napi::CallbackInfo& info) { return UnwrapHandle<Handle>(info.Env(), info[0], kSemHandle); }

// Where glibc keeps a semaphore's futex flags (whether it is process-shared),
// and the value ours have: semaphores made with pshared 0 and 1 differ there
// (OnlyDifference; not found: nothing is checked). glibc aborts the process
// when the kernel refuses a futex call ("The futex facility returned an
// unexpected error code"), which overwritten flags make it do, so a semaphore
// whose flags are not ours is never handed to it: -EBADMSG.
const Field& OurFlags() {
  static const Field flags = [] {
    sem_t a, b;
    std::memset(&a, 0, sizeof a);
    std::memset(&b, 0, sizeof b);
    if (sem_init(&a, 1, 0) != 0 || sem_init(&b, 0, 0) != 0) return Field{0, 0, false};
    return OnlyDifference(&a, &b, sizeof a);
  }();
  return flags;
}

// 0 when `sem` has the flags ours are made with, else -EBADMSG. Nothing here
// uses the flags, so this is a report that the sem_t was overwritten (C
// programs' glibc would abort on it), not a defence: a peer may change them
// right after.
int FlagsOk(const sem_t* sem) {
  const Field& f = OurFlags();
  return !f.found || FieldIs(sem, f) ? 0 : -EBADMSG;
}

// glibc 2.36's struct new_sem with 64-bit atomics: a uint64_t `data` first,
// holding the value in its low 32 bits and the number of waiters above them;
// the futex word is the value's half (the first on a little-endian machine).
constexpr int kWaitersShift = 32;
constexpr uint64_t kValueMask = 0xffffffffu;
constexpr uint64_t kOneWaiter = uint64_t{1} << kWaitersShift;
static_assert(sizeof(sem_t) >= sizeof(uint64_t) && alignof(sem_t) >= alignof(uint64_t),
              "a sem_t must hold glibc's 64-bit data word");
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the value's futex word is the low half of the data word");

uint64_t* Data(sem_t* sem) { return reinterpret_cast<uint64_t*>(sem); }
uint32_t* ValueWord(sem_t* sem) { return reinterpret_cast<uint32_t*>(sem); }

// Whether this glibc lays a semaphore out as above, checked on private ones:
// sem_init stores the value in the low half of the first 8 bytes, sem_trywait
// takes from it, sem_post adds to it and keeps a waiter count in the high
// half, and the flags word (OurFlags) lies after it.
bool LayoutOk() {
  static const bool ok = [] {
    const Field& flags = OurFlags();
    if (!flags.found || flags.offset < sizeof(uint64_t)) return false;
    sem_t s;
    std::memset(&s, 0, sizeof s);
    if (sem_init(&s, 1, 3) != 0) return false;
    uint64_t d;
    std::memcpy(&d, &s, sizeof d);
    bool good = d == 3 && sem_trywait(&s) == 0;
    std::memcpy(&d, &s, sizeof d);
    good = good && d == 2;
    // One waiter recorded: sem_post adds one token and leaves the count (its
    // wake-up finds nobody on this private memory).
    d = kOneWaiter | 2;
    std::memcpy(&s, &d, sizeof d);
    int value = -1;
    good = good && sem_post(&s) == 0 && sem_getvalue(&s, &value) == 0 && value == 3;
    std::memcpy(&d, &s, sizeof d);
    good = good && d == (kOneWaiter | 3);
    sem_destroy(&s);
    return good;
  }();
  return ok;
}

// The value a data word holds, or -EBADMSG above SEM_VALUE_MAX (no semaphore
// ever holds that: a peer wrote it).
int64_t ValueOf(uint64_t d) {
  uint64_t v = d & kValueMask;
  return v > SEM_VALUE_MAX ? -EBADMSG : static_cast<int64_t>(v);
}

// sem_trywait: 0 with a token taken, -EAGAIN when there is none, -EBADMSG.
int TakeToken(sem_t* sem) {
  uint64_t d = __atomic_load_n(Data(sem), __ATOMIC_RELAXED);
  for (;;) {
    int64_t v = ValueOf(d);
    if (v < 0) return static_cast<int>(v);
    if (v == 0) return -EAGAIN;
    // Acquire: whoever posted this token synchronises with us.
    if (__atomic_compare_exchange_n(Data(sem), &d, d - 1, true, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return 0;
  }
}

// sem_post: 0, -EOVERFLOW at SEM_VALUE_MAX, -EBADMSG. Wakes one waiter when
// any is counted, with a shared futex call (the flags word is never read).
int PostToken(sem_t* sem) {
  uint64_t d = __atomic_load_n(Data(sem), __ATOMIC_RELAXED);
  for (;;) {
    int64_t v = ValueOf(d);
    if (v < 0) return static_cast<int>(v);
    if (v == SEM_VALUE_MAX) return -EOVERFLOW;
    if (__atomic_compare_exchange_n(Data(sem), &d, d + 1, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) break;
  }
  // The futex word is mapped for as long as this Sem lives: a failure can
  // only say nobody was woken, which is no error of the post.
  if ((d >> kWaitersShift) != 0) syscall(SYS_futex, ValueWord(sem), FUTEX_WAKE, 1, nullptr, nullptr, 0);
  return 0;
}

// Maps the pages of `fd` that hold a sem_t at `offset`: the Sem, or -errno.
int Map(int fd, int64_t offset, std::shared_ptr<Sem>* out) {
  int64_t start = offset & ~static_cast<int64_t>(sysconf(_SC_PAGESIZE) - 1);
  size_t length = static_cast<size_t>(offset - start) + sizeof(sem_t);
  void* addr = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, start);
  if (addr == MAP_FAILED) return -errno;
  sem_t* sem = reinterpret_cast<sem_t*>(static_cast<char*>(addr) + (offset - start));
  *out = std::make_shared<Sem>(addr, length, sem);
  return 0;
}

// Opens an existing named semaphore. Anything but a regular file holding a
// whole sem_t is EINVAL: touching a shorter file would be SIGBUS.
int OpenNamed(const std::string& path, std::shared_ptr<Sem>* out) {
  int fd = RetryOnEintr([&] { return open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC); });
  if (fd < 0) return fd;
  struct stat st;
  int r = fstat(fd, &st) != 0 ? -errno : 0;
  if (r == 0 && (!S_ISREG(st.st_mode) || st.st_size < static_cast<off_t>(sizeof(sem_t)))) r = -EINVAL;
  if (r == 0) r = Map(fd, 0, out);
  if (r == 0) r = FlagsOk((*out)->sem);
  if (r == 0 && ValueOf(__atomic_load_n(Data((*out)->sem), __ATOMIC_RELAXED)) < 0) r = -EBADMSG;
  if (r < 0) out->reset();
  close(fd);
  return r;
}

// Creates a named semaphore as glibc does, so nobody ever sees it half made:
// a temp file gets its exact mode and an initialised sem_t, and only then its
// name (link fails with EEXIST when the name is taken).
int CreateNamed(const std::string& path, mode_t mode, unsigned value, std::shared_ptr<Sem>* out) {
  std::string temp = std::string(kDir) + "XXXXXX";
  int fd = mkostemp(&temp[0], O_CLOEXEC);
  if (fd < 0) return -errno;
  // glibc's sem_open writes a copy of a sem_t too: it holds no addresses.
  sem_t initial{};
  sem_init(&initial, 1, value);
  int r = RetryOnEintr([&] { return fchmod(fd, mode); });
  if (r == 0) {
    ssize_t n = RetryOnEintr([&] { return write(fd, &initial, sizeof initial); });
    r = n < 0 ? static_cast<int>(n) : n != static_cast<ssize_t>(sizeof initial) ? -ENOSPC : Map(fd, 0, out);
  }
  if (r == 0) r = RetryOnEintr([&] { return link(temp.c_str(), path.c_str()); });
  if (r < 0) out->reset();
  unlink(temp.c_str());
  close(fd);
  return r;
}

Napi::Value NewHandle(Napi::Env env, int r, std::shared_ptr<Sem> sem) {
  if (r < 0) return Result(env, r);
  return WrapShared(env, kSemHandle, std::move(sem));
}

// The semaphore of the handle in info[0], or nullptr for a closed handle or
// anything that is not a handle of ours (so either is an error, never a crash).
Sem* Of(const Napi::CallbackInfo& info) { return SharedObject(HandleOf(info)); }

// Takes one token, waiting until `deadline` (CLOCK_MONOTONIC; nullptr: none):
// 0 or -errno (-ETIMEDOUT, -EBADMSG). glibc's sem_clockwait step by step: count
// ourselves a waiter, sleep while the value is 0 (FUTEX_WAIT_BITSET takes an
// absolute CLOCK_MONOTONIC deadline), take a token and stop being a waiter in
// one step. A signal handler's interruption is not the end of the wait: it
// goes on to the same absolute deadline.
int WaitUntil(sem_t* sem, const timespec* deadline) {
  if (int bad = FlagsOk(sem)) return bad;
  int r = TakeToken(sem);
  if (r != -EAGAIN) return r;
  uint64_t d = __atomic_fetch_add(Data(sem), kOneWaiter, __ATOMIC_RELAXED);
  for (;;) {
    int64_t v = ValueOf(d);
    if (v < 0) {
      r = static_cast<int>(v);
      break;
    }
    if (v > 0) {
      if (__atomic_compare_exchange_n(Data(sem), &d, d - 1 - kOneWaiter, true, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return 0;
      continue;
    }
    long w = syscall(SYS_futex, ValueWord(sem), FUTEX_WAIT_BITSET, 0, deadline, nullptr, FUTEX_BITSET_MATCH_ANY);
    // Woken, the value no longer 0 (EAGAIN) or a signal (EINTR): look again.
    if (w != 0 && errno != EAGAIN && errno != EINTR) {
      r = -errno;
      break;
    }
    d = __atomic_load_n(Data(sem), __ATOMIC_RELAXED);
  }
  // No longer a waiter.
  __atomic_fetch_sub(Data(sem), kOneWaiter, __ATOMIC_RELAXED);
  return r;
}

class SemWait : public waiter::Wait {
 public:
  explicit SemWait(std::shared_ptr<Sem> sem) : sem_(std::move(sem)) {}

  int Slice(const timespec& slice_end) override { return WaitUntil(sem_->sem, &slice_end); }

  // A token taken for a wait nobody listens to any more goes back.
  void Undo(int result) override {
    if (result == 0) PostToken(sem_->sem);
  }

 private:
  std::shared_ptr<Sem> sem_;
};

// semOpen(name, create, mode, value) -> handle | -errno. `name` has its
// leading '/'. With `create` it makes a new one (EEXIST when taken) with
// exactly `mode`; without, it opens an existing one.
Napi::Value SemOpen(const Napi::CallbackInfo& info) {
  std::string path = kDir + info[0].As<Napi::String>().Utf8Value().substr(1);
  bool create = info[1].As<Napi::Boolean>().Value();
  mode_t mode = info[2].As<Napi::Number>().Uint32Value();
  unsigned value = info[3].As<Napi::Number>().Uint32Value();
  std::shared_ptr<Sem> sem;
  int r = !LayoutOk() ? -ENOTSUP : create ? CreateNamed(path, mode, value, &sem) : OpenNamed(path, &sem);
  return NewHandle(info.Env(), r, std::move(sem));
}

// semInside(fd, offset, value) -> handle | -errno. Maps the pages of shared
// memory `fd` that hold the sem_t at `offset`; value >= 0 initialises it
// (sem_init, pshared = 1), value < 0 attaches to one initialised before.
Napi::Value SemInside(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int64_t offset = info[1].As<Napi::Number>().Int64Value();
  int64_t value = info[2].As<Napi::Number>().Int64Value();
  std::shared_ptr<Sem> sem;
  int r = LayoutOk() ? Map(fd, offset, &sem) : -ENOTSUP;
  if (r == 0 && value >= 0 && sem_init(sem->sem, 1, static_cast<unsigned>(value)) != 0) r = -errno;
  if (r == 0 && value < 0) r = FlagsOk(sem->sem);
  if (r == 0 && value < 0 && ValueOf(__atomic_load_n(Data(sem->sem), __ATOMIC_RELAXED)) < 0) r = -EBADMSG;
  return NewHandle(info.Env(), r, std::move(sem));
}

// semClose(handle) -> 0 | -EBADF. The handle lets go of its semaphore; the
// memory goes once no wait uses it either. Idempotent.
Napi::Value SemClose(const Napi::CallbackInfo& info) { return Result(info.Env(), CloseShared(HandleOf(info))); }

// semUnlink(name) -> 0 | -errno.
Napi::Value SemUnlink(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>().Utf8Value();
  return Result(info.Env(), RetryOnEintr([&] { return sem_unlink(name.c_str()); }));
}

// semTryWait(handle) -> 0 | -EAGAIN | -errno.
Napi::Value SemTryWait(const Napi::CallbackInfo& info) {
  Sem* s = Of(info);
  if (s == nullptr) return Result(info.Env(), -EBADF);
  if (int bad = FlagsOk(s->sem)) return Result(info.Env(), bad);
  return Result(info.Env(), TakeToken(s->sem));
}

// semWaitSync(handle, timeoutMs) -> 0 | -ETIMEDOUT | -errno. Blocks this
// thread; timeoutMs < 0 waits without a deadline.
Napi::Value SemWaitSync(const Napi::CallbackInfo& info) {
  Sem* s = Of(info);
  if (s == nullptr) return Result(info.Env(), -EBADF);
  double timeout_ms = info[1].As<Napi::Number>().DoubleValue();
  return Result(info.Env(), WaitUntil(s->sem, DeadlineIn(timeout_ms).get()));
}

// semWait(handle, timeoutMs, callback(0 | -ETIMEDOUT | -errno)) -> wait | -errno.
Napi::Value SemWaitAsync(const Napi::CallbackInfo& info) {
  Handle* h = HandleOf(info);
  if (h == nullptr || h->shared == nullptr) return Result(info.Env(), -EBADF);
  std::shared_ptr<Sem> s = h->shared;
  return waiter::Start(info.Env(), std::make_unique<SemWait>(std::move(s)), info[1].As<Napi::Number>().DoubleValue(),
                       info[2].As<Napi::Function>());
}

// semPost(handle, n) -> n | -errno. -EOVERFLOW when the value reached
// SEM_VALUE_MAX; the posts before that one stay (-EBADMSG: overwritten).
Napi::Value SemPost(const Napi::CallbackInfo& info) {
  Sem* s = Of(info);
  int64_t n = info[1].As<Napi::Number>().Int64Value();
  if (s == nullptr) return Result(info.Env(), -EBADF);
  if (int bad = FlagsOk(s->sem)) return Result(info.Env(), bad);
  for (int64_t i = 0; i < n; i++) {
    if (int r = PostToken(s->sem)) return Result(info.Env(), r);
  }
  return Result(info.Env(), static_cast<double>(n));
}

// semGetValue(handle) -> value | -errno (-EBADMSG: its flags or its value overwritten).
Napi::Value SemGetValue(const Napi::CallbackInfo& info) {
  Sem* s = Of(info);
  if (s == nullptr) return Result(info.Env(), -EBADF);
  if (int bad = FlagsOk(s->sem)) return Result(info.Env(), bad);
  // Above SEM_VALUE_MAX (INT_MAX), which no semaphore holds: overwritten.
  return Result(info.Env(), static_cast<double>(ValueOf(__atomic_load_n(Data(s->sem), __ATOMIC_RELAXED))));
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  LayoutOk();  // Probed once per process.
  const FunctionExport functions[] = {
      {"semOpen", SemOpen},      {"semInside", SemInside},   {"semClose", SemClose},
      {"semUnlink", SemUnlink},  {"semTryWait", SemTryWait}, {"semWaitSync", SemWaitSync},
      {"semWait", SemWaitAsync}, {"semPost", SemPost},       {"semGetValue", SemGetValue},
  };
  SetFunctions(env, exports, functions);
  const ConstantExport constants[] = {
      {"SEM_VALUE_MAX", SEM_VALUE_MAX},
      {"SEM_SIZE", sizeof(sem_t)},
      {"SEM_ALIGN", alignof(sem_t)},
  };
  SetConstants(env, exports, constants);
}

}  // namespace semaphore
}  // namespace posix_ipc
