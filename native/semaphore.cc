// POSIX semaphores: named ones (what sem_open(3) makes), and unnamed ones
// living inside shared memory (sem_init with pshared = 1).
//
// See: sem_overview(7), sem_open(3), sem_unlink(3), sem_init(3),
// sem_clockwait(3), sem_trywait(3), sem_post(3), sem_getvalue(3), mmap(2),
// mkostemp(3), link(2).
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
#include "semaphore.h"

#include <fcntl.h>
#include <semaphore.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

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

// What a JavaScript handle holds (through an External); empty after semClose.
struct Handle {
  std::shared_ptr<Sem> sem;
};

Napi::Number Result(Napi::Env env, double r) { return Napi::Number::New(env, r); }

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

// 0 when `sem` has the flags ours are made with, else -EBADMSG.
int FlagsOk(const sem_t* sem) {
  const Field& f = OurFlags();
  return !f.found || FieldIs(sem, f) ? 0 : -EBADMSG;
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
  return Napi::External<Handle>::New(env, new Handle{std::move(sem)}, [](Napi::Env, Handle* h) { delete h; });
}

// The semaphore of the handle in info[0], or nullptr once it was closed (so a
// closed handle is an error, never a crash).
Sem* Of(const Napi::CallbackInfo& info) { return info[0].As<Napi::External<Handle>>().Data()->sem.get(); }

// Takes one token, waiting until `deadline` (CLOCK_MONOTONIC; nullptr: none):
// 0 or -errno (-ETIMEDOUT). A signal handler's interruption is not the end of
// the wait: it goes on to the same absolute deadline.
int WaitUntil(sem_t* sem, const timespec* deadline) {
  if (int bad = FlagsOk(sem)) return bad;
  for (;;) {
    int r = deadline == nullptr ? sem_wait(sem) : sem_clockwait(sem, CLOCK_MONOTONIC, deadline);
    if (r == 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

class SemWait : public waiter::Wait {
 public:
  explicit SemWait(std::shared_ptr<Sem> sem) : sem_(std::move(sem)) {}

  int Slice(const timespec& slice_end) override { return WaitUntil(sem_->sem, &slice_end); }

  // A token taken for a wait nobody listens to any more goes back.
  void Undo(int) override {
    if (FlagsOk(sem_->sem) == 0) sem_post(sem_->sem);
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
  int r = create ? CreateNamed(path, mode, value, &sem) : OpenNamed(path, &sem);
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
  int r = Map(fd, offset, &sem);
  if (r == 0 && value >= 0 && sem_init(sem->sem, 1, static_cast<unsigned>(value)) != 0) r = -errno;
  if (r == 0 && value < 0) r = FlagsOk(sem->sem);
  return NewHandle(info.Env(), r, std::move(sem));
}

// semClose(handle) -> 0. The handle lets go of its semaphore; the memory goes
// once no wait uses it either. Idempotent.
Napi::Value SemClose(const Napi::CallbackInfo& info) {
  info[0].As<Napi::External<Handle>>().Data()->sem.reset();
  return Result(info.Env(), 0);
}

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
  return Result(info.Env(), RetryOnEintr([&] { return sem_trywait(s->sem); }));
}

// semWaitSync(handle, timeoutMs) -> 0 | -ETIMEDOUT | -errno. Blocks this
// thread; timeoutMs < 0 waits without a deadline.
Napi::Value SemWaitSync(const Napi::CallbackInfo& info) {
  Sem* s = Of(info);
  if (s == nullptr) return Result(info.Env(), -EBADF);
  double timeout_ms = info[1].As<Napi::Number>().DoubleValue();
  timespec deadline = waiter::MonotonicAfter(timeout_ms < 0 ? 0 : timeout_ms);
  return Result(info.Env(), WaitUntil(s->sem, timeout_ms < 0 ? nullptr : &deadline));
}

// semWait(handle, timeoutMs, callback(0 | -ETIMEDOUT | -errno)) -> wait | -errno.
Napi::Value SemWaitAsync(const Napi::CallbackInfo& info) {
  std::shared_ptr<Sem> s = info[0].As<Napi::External<Handle>>().Data()->sem;
  if (s == nullptr) return Result(info.Env(), -EBADF);
  return waiter::Start(info.Env(), std::make_unique<SemWait>(std::move(s)), info[1].As<Napi::Number>().DoubleValue(),
                       info[2].As<Napi::Function>());
}

// semPost(handle, n) -> n | -errno. -EOVERFLOW when the value reached
// SEM_VALUE_MAX; the posts before that one stay.
Napi::Value SemPost(const Napi::CallbackInfo& info) {
  Sem* s = Of(info);
  int64_t n = info[1].As<Napi::Number>().Int64Value();
  if (s == nullptr) return Result(info.Env(), -EBADF);
  if (int bad = FlagsOk(s->sem)) return Result(info.Env(), bad);
  for (int64_t i = 0; i < n; i++) {
    if (sem_post(s->sem) != 0) return Result(info.Env(), -errno);
  }
  return Result(info.Env(), static_cast<double>(n));
}

// semGetValue(handle) -> value | -errno (-EBADMSG: its flags or its value overwritten).
Napi::Value SemGetValue(const Napi::CallbackInfo& info) {
  Sem* s = Of(info);
  if (s == nullptr) return Result(info.Env(), -EBADF);
  if (int bad = FlagsOk(s->sem)) return Result(info.Env(), bad);
  int value;
  if (sem_getvalue(s->sem, &value) != 0) return Result(info.Env(), -errno);
  // Never negative for a semaphore (SEM_VALUE_MAX is INT_MAX): overwritten.
  return Result(info.Env(), value < 0 ? -EBADMSG : value);
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("semOpen", Napi::Function::New(env, SemOpen, "semOpen"));
  exports.Set("semInside", Napi::Function::New(env, SemInside, "semInside"));
  exports.Set("semClose", Napi::Function::New(env, SemClose, "semClose"));
  exports.Set("semUnlink", Napi::Function::New(env, SemUnlink, "semUnlink"));
  exports.Set("semTryWait", Napi::Function::New(env, SemTryWait, "semTryWait"));
  exports.Set("semWaitSync", Napi::Function::New(env, SemWaitSync, "semWaitSync"));
  exports.Set("semWait", Napi::Function::New(env, SemWaitAsync, "semWait"));
  exports.Set("semPost", Napi::Function::New(env, SemPost, "semPost"));
  exports.Set("semGetValue", Napi::Function::New(env, SemGetValue, "semGetValue"));
  exports.Set("SEM_VALUE_MAX", Napi::Number::New(env, SEM_VALUE_MAX));
  exports.Set("SEM_SIZE", Napi::Number::New(env, sizeof(sem_t)));
  exports.Set("SEM_ALIGN", Napi::Number::New(env, alignof(sem_t)));
}

}  // namespace semaphore
}  // namespace posix_ipc
