// File locks: open-file-description byte-range locks, and whole-file flock(2).
//
// See: fcntl(2) ("Open file description locks (non-POSIX)", F_OFD_SETLK,
// F_OFD_SETLKW, F_OFD_GETLK, F_DUPFD_CLOEXEC), flock(2), open(2), clock_nanosleep(2).
//
// Both kinds of lock belong to an open file description, not to a process:
// two descriptions of one file conflict even inside one process (unlike
// classic POSIX locks), every descriptor of the description shares the lock,
// and it goes away with the description's last descriptor, so a process that
// dies releases it. Linux keeps the two kinds apart: an OFD lock never
// conflicts with a flock(2) lock (it does with a classic POSIX lock).
//
// Waiting: F_OFD_SETLKW and a blocking flock(2) end only when the lock is
// granted or a signal handler runs, and this library installs no signal
// handlers (the kernel offers no other event for a released lock: no poll,
// no inotify or fanotify event, no io_uring operation). So an asynchronous wait polls the non-blocking call on a thread
// of its own (common/waiter), backing off from 1 ms to 10 ms; a timed
// synchronous wait polls the same way on the calling thread. Only a
// synchronous wait without a deadline blocks in the kernel.
#include "file-lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>

#include "common/deadline.h"
#include "common/env_state.h"
#include "common/exports.h"
#include "common/result.h"
#include "common/sys.h"
#include "common/waiter.h"

namespace posix_ipc {
namespace file_lock {
namespace {

// Which call a lock uses (lib/file-lock.ts passes these numbers).
constexpr int kOfd = 0;
constexpr int kFlock = 1;

// The polling backoff: the first retry after 1 ms, then twice as long each
// time up to 10 ms.
constexpr long kFirstDelayMs = 1;
constexpr long kMaxDelayMs = 10;

// One lock: the descriptor, the call, and for OFD locks the byte range
// (length 0: from start to the end of the file and beyond).
struct Request {
  int fd;
  int kind;
  off_t start;
  off_t length;
};

// Sets the lock to `type` (F_RDLCK, F_WRLCK or F_UNLCK): 0, -EAGAIN when
// another description holds a conflicting lock (POSIX lets fcntl say EACCES
// for that; flock's EWOULDBLOCK is EAGAIN), or -errno. `wait` blocks until
// granted.
int Apply(const Request& r, short type, bool wait) {
  int res;
  if (r.kind == kFlock) {
    int op = type == F_WRLCK ? LOCK_EX : type == F_RDLCK ? LOCK_SH : LOCK_UN;
    if (!wait) op |= LOCK_NB;
    res = RetryOnEintr([&] { return ::flock(r.fd, op); });
  } else {
    // OFD locks require l_pid 0; the kernel reports EINVAL otherwise.
    struct flock fl = {};
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = r.start;
    fl.l_len = r.length;
    res = RetryOnEintr([&] { return fcntl(r.fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl); });
  }
  return res == -EACCES ? -EAGAIN : res;
}

// Whether `type` could be set now, without setting it (F_OFD_GETLK): 0 when
// no other description holds a conflicting lock, -EAGAIN when one does, or
// -errno. Locks of the same description never conflict, so this asks exactly
// whether an upgrade of a shared lock would be granted.
int Probe(const Request& r, short type) {
  struct flock fl = {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = r.start;
  fl.l_len = r.length;
  int res = RetryOnEintr([&] { return fcntl(r.fd, F_OFD_GETLK, &fl); });
  if (res < 0) return res;
  return fl.l_type == F_UNLCK ? 0 : -EAGAIN;
}

// Tries to set the lock (with `probe`, only to see whether it could be set)
// until that succeeds or `deadline` (CLOCK_MONOTONIC) passes: 0, -ETIMEDOUT,
// or -errno. At least one try, even at the deadline. `*delay_ms` is the
// backoff, kept by the caller across calls.
int PollUntil(const Request& r, short type, bool probe, const timespec& deadline, long* delay_ms) {
  for (;;) {
    int res = probe ? Probe(r, type) : Apply(r, type, false);
    if (res != -EAGAIN) return res;
    timespec wake = MonotonicAfter(*delay_ms);
    timespec now = MonotonicAfter(0);
    if (!Before(now, deadline)) return -ETIMEDOUT;
    if (Before(deadline, wake)) wake = deadline;
    // clock_nanosleep returns the error number; the wait threads block every
    // signal, and the synchronous caller just sleeps on to the same instant.
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, nullptr) == EINTR) {
    }
    *delay_ms = std::min(*delay_ms * 2, kMaxDelayMs);
  }
}

// A lock request waited for on its own thread. It owns a duplicate of the
// caller's descriptor (the same open file description, so the lock lands
// where the caller wants it): JavaScript may close its own descriptor at any
// time (an abort), and a number closed there could be reused for another
// file before this thread's next try.
//
// A wait either takes the lock itself (a new lock: a late grant is simply
// unlocked again) or, with `probe`, only waits until it could be taken (an
// upgrade: JavaScript then takes it on its own thread). An upgrade must not be
// taken here, because what a late grant should go back to depends on what
// JavaScript did meanwhile: shared again after an abort, unlocked after
// release().
class LockWait : public waiter::Wait {
 public:
  LockWait(const Request& r, short type, bool probe) : req_(r), type_(type), probe_(probe) {}
  ~LockWait() override { close(req_.fd); }

  int Slice(const timespec& slice_end) override { return PollUntil(req_, type_, probe_, slice_end, &delay_ms_); }

  // Unlocking never waits.
  void Undo(int /*result*/) override {
    if (!probe_) Apply(req_, F_UNLCK, false);
  }

 private:
  Request req_;
  short type_;
  bool probe_;
  long delay_ms_ = kFirstDelayMs;
};

// The arguments every lock call starts with: (fd, kind, start, length).
Request RequestArg(const Napi::CallbackInfo& info) {
  return Request{
      info[0].As<Napi::Number>().Int32Value(),
      info[1].As<Napi::Number>().Int32Value(),
      static_cast<off_t>(info[2].As<Napi::Number>().Int64Value()),
      static_cast<off_t>(info[3].As<Napi::Number>().Int64Value()),
  };
}

short TypeArg(const Napi::CallbackInfo& info, size_t i) {
  return static_cast<short>(info[i].As<Napi::Number>().Int32Value());
}

// fileLockOpen(path, flags, mode) -> fd | -errno: open(2) with O_CLOEXEC,
// O_NOCTTY and O_NONBLOCK added. O_NONBLOCK keeps the open itself from
// blocking when the path is a FIFO; locks do not care about it. Tracked for
// environment teardown.
Napi::Value FileLockOpen(const Napi::CallbackInfo& info) {
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int flags = info[1].As<Napi::Number>().Int32Value() | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  mode_t mode = info[2].As<Napi::Number>().Uint32Value();
  int fd = Tracked(info.Env(), RetryOnEintr([&] { return open(path.c_str(), flags, mode); }));
  return Result(info.Env(), fd);
}

// fileLock(fd, kind, start, length, type) -> 0 | -EAGAIN | -errno: one
// non-blocking F_OFD_SETLK or flock(LOCK_NB); also unlocks (F_UNLCK).
Napi::Value FileLock(const Napi::CallbackInfo& info) {
  return Result(info.Env(), Apply(RequestArg(info), TypeArg(info, 4), false));
}

// fileLockWait(fd, kind, start, length, type, probe, timeoutMs, done) ->
// handle | -errno. done(0 | -ETIMEDOUT | -errno) runs on the event loop. The
// thread polls a duplicate of fd (see LockWait); with probe (OFD only) it
// only waits until the lock could be set.
Napi::Value FileLockWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Request r = RequestArg(info);
  r.fd = RetryOnEintr([&] { return fcntl(r.fd, F_DUPFD_CLOEXEC, 0); });
  if (r.fd < 0) return Result(env, r.fd);
  auto wait = std::make_unique<LockWait>(r, TypeArg(info, 4), info[5].As<Napi::Boolean>().Value());
  return waiter::Start(env, std::move(wait), info[6].As<Napi::Number>().DoubleValue(), info[7].As<Napi::Function>());
}

// fileLockSync(fd, kind, start, length, type, timeoutMs) -> 0 | -ETIMEDOUT |
// -errno, on this thread. timeoutMs < 0 blocks in the kernel (F_OFD_SETLKW,
// flock without LOCK_NB) until granted; a deadline needs polling (see above).
Napi::Value FileLockSync(const Napi::CallbackInfo& info) {
  Request r = RequestArg(info);
  short type = TypeArg(info, 4);
  double timeout_ms = info[5].As<Napi::Number>().DoubleValue();
  if (timeout_ms < 0) return Result(info.Env(), Apply(r, type, true));
  long delay_ms = kFirstDelayMs;
  return Result(info.Env(), PollUntil(r, type, false, MonotonicAfter(timeout_ms), &delay_ms));
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  const FunctionExport functions[] = {
      {"fileLockOpen", FileLockOpen},
      {"fileLock", FileLock},
      {"fileLockWait", FileLockWait},
      {"fileLockSync", FileLockSync},
  };
  SetFunctions(env, exports, functions);
  const ConstantExport constants[] = {
      {"F_RDLCK", F_RDLCK},
      {"F_WRLCK", F_WRLCK},
      {"F_UNLCK", F_UNLCK},
  };
  SetConstants(env, exports, constants);
}

}  // namespace file_lock
}  // namespace posix_ipc
