// Anonymous pipes, close-on-exec from birth.
//
// See: pipe2(2), pipe(7) (capacity, /proc/sys/fs/pipe-max-size), fcntl(2)
// (F_SETPIPE_SZ, F_GETPIPE_SZ).
//
// O_CLOEXEC is set atomically by pipe2: a child spawned by another thread at
// the same moment can never inherit either end (a later fcntl could not promise
// that). Ends reach a child only when passed on purpose (lib/spawn.ts).
#include "pipe.h"

#include <fcntl.h>
#include <unistd.h>

#include "common/env_state.h"
#include "common/exports.h"
#include "common/sys.h"

namespace posix_ipc {
namespace pipe {
namespace {

// pipe(out: Int32Array(2)) -> 0 | -errno; out = [read end, write end].
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  int32_t* out = info[0].As<Napi::Int32Array>().Data();
  int fds[2];
  int r = RetryOnEintr([&] { return pipe2(fds, O_CLOEXEC); });
  return Napi::Number::New(info.Env(), TrackedPair(info.Env(), r, fds, out));
}

// pipeSize(fd, bytes) -> capacity in bytes | -errno. bytes > 0 first sets it
// (F_SETPIPE_SZ: the kernel rounds up to a power-of-two number of pages; -EPERM
// past /proc/sys/fs/pipe-max-size or the user's pipe-user-pages limits without
// CAP_SYS_RESOURCE, -EBUSY below what the pipe holds); the result is the
// capacity then (F_GETPIPE_SZ). Any descriptor of a pipe or FIFO will do; on
// anything else -EBADF.
Napi::Value PipeSize(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint32_t bytes = info[1].As<Napi::Number>().Uint32Value();
  int r = bytes > 0 ? RetryOnEintr([&] { return fcntl(fd, F_SETPIPE_SZ, bytes); }) : 0;
  if (r >= 0) r = RetryOnEintr([&] { return fcntl(fd, F_GETPIPE_SZ); });
  return Napi::Number::New(info.Env(), r);
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  const FunctionExport functions[] = {
      {"pipe", Pipe},
      {"pipeSize", PipeSize},
  };
  SetFunctions(env, exports, functions);
}

}  // namespace pipe
}  // namespace posix_ipc
