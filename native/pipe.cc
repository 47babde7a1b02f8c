// Anonymous pipes, close-on-exec from birth.
//
// See: pipe2(2), pipe(7).
//
// O_CLOEXEC is set atomically by pipe2: a child spawned by another thread at
// the same moment can never inherit either end (a later fcntl could not promise
// that). Ends reach a child only when passed on purpose (lib/spawn.ts).
#include "pipe.h"

#include <fcntl.h>
#include <unistd.h>

#include "common/env_state.h"
#include "common/sys.h"

namespace posix_ipc {
namespace pipe {
namespace {

// pipe(out: Int32Array(2)) -> 0 | -errno; out = [read end, write end].
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  int32_t* out = info[0].As<Napi::Int32Array>().Data();
  int fds[2];
  int r = RetryOnEintr([&] { return pipe2(fds, O_CLOEXEC); });
  if (r == 0) {
    EnvState* state = EnvState::Get(info.Env());
    state->TrackFd(fds[0]);
    state->TrackFd(fds[1]);
    out[0] = fds[0];
    out[1] = fds[1];
  }
  return Napi::Number::New(info.Env(), r);
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("pipe", Napi::Function::New(env, Pipe, "pipe"));
}

}  // namespace pipe
}  // namespace posix_ipc
