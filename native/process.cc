// Processes: a pidfd for a child (its exit, pollable; signals that can never
// reach a process that reused its pid), dying with the parent, the resource
// limits a child sets on itself before any user code runs, and giving the CPU
// to another process while spinning.
//
// See: pidfd_open(2), pidfd_send_signal(2), prctl(2) (PR_SET_PDEATHSIG),
// getppid(2), setrlimit(2), sched_yield(2).
//
// A pidfd is close-on-exec from birth (the kernel sets O_CLOEXEC on every
// pidfd) and becomes readable when its process exits, whoever reaps it: libuv
// reaps the children child_process starts, so the exit status comes from
// there, and the pidfd says at once, without SIGCHLD, that the process is gone.
#include "process.h"

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/env_state.h"
#include "common/exports.h"
#include "common/sys.h"

namespace posix_ipc {
namespace process {
namespace {

// Newer than some C libraries' headers.
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

// pidfdOpen(pid) -> fd | -errno (-ENOSYS before Linux 5.3, -ESRCH: no such
// process). Tracked, so the environment's teardown closes it.
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  pid_t pid = info[0].As<Napi::Number>().Int32Value();
  int fd = RetryOnEintr([&] { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); });
  return Napi::Number::New(info.Env(), Tracked(info.Env(), fd));
}

// pidfdSendSignal(fd, signal) -> 0 | -errno (-ESRCH once the process exited,
// even if its pid now names another process).
Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int sig = info[1].As<Napi::Number>().Int32Value();
  int r = RetryOnEintr([&] { return static_cast<int>(syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0)); });
  return Napi::Number::New(info.Env(), r);
}

// processDieWithParent(signal) -> the parent's pid after setting it | -errno.
// PR_SET_PDEATHSIG has a classic race: a parent that died before the call
// sends nothing. The caller compares the pid returned (read after the call)
// with the parent it expects: another one (the reaper) means that parent is
// already gone.
Napi::Value DieWithParent(const Napi::CallbackInfo& info) {
  int sig = info[0].As<Napi::Number>().Int32Value();
  int r = prctl(PR_SET_PDEATHSIG, static_cast<unsigned long>(sig), 0, 0, 0);
  return Napi::Number::New(info.Env(), r < 0 ? -errno : static_cast<int>(getppid()));
}

// processSetLimit(resource, soft, hard) -> 0 | -errno. A negative soft or hard
// limit means RLIM_INFINITY; a hard limit may only be lowered (EPERM to raise
// it without CAP_SYS_RESOURCE), and the soft limit is at most the hard one.
Napi::Value SetLimit(const Napi::CallbackInfo& info) {
  int resource = info[0].As<Napi::Number>().Int32Value();
  double soft = info[1].As<Napi::Number>().DoubleValue();
  double hard = info[2].As<Napi::Number>().DoubleValue();
  struct rlimit limit;
  limit.rlim_cur = soft < 0 ? RLIM_INFINITY : static_cast<rlim_t>(soft);
  limit.rlim_max = hard < 0 ? RLIM_INFINITY : static_cast<rlim_t>(hard);
  int r = setrlimit(resource, &limit);
  return Napi::Number::New(info.Env(), r < 0 ? -errno : 0);
}

// processYield() -> undefined. Gives this thread's CPU to another runnable
// thread, if any (sched_yield returns at once otherwise): a ProcessLink that
// polls its ring for a reply calls it between polls, so that on a machine
// with more runnable threads than CPUs the poll does not keep the peer that
// would send the reply off the CPU.
Napi::Value Yield(const Napi::CallbackInfo& info) {
  sched_yield();
  return info.Env().Undefined();
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  const FunctionExport functions[] = {
      {"pidfdOpen", PidfdOpen},
      {"pidfdSendSignal", PidfdSendSignal},
      {"processDieWithParent", DieWithParent},
      {"processSetLimit", SetLimit},
      {"processYield", Yield},
  };
  SetFunctions(env, exports, functions);
  const ConstantExport constants[] = {
      {"RLIMIT_AS", RLIMIT_AS},
      {"RLIMIT_CPU", RLIMIT_CPU},
      {"RLIMIT_DATA", RLIMIT_DATA},
      {"RLIMIT_NOFILE", RLIMIT_NOFILE},
  };
  SetConstants(env, exports, constants);
}

}  // namespace process
}  // namespace posix_ipc
