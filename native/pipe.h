// Anonymous pipes, native/pipe.cc.
#ifndef POSIX_IPC_PIPE_H_
#define POSIX_IPC_PIPE_H_

#include <napi.h>

namespace posix_ipc {
namespace pipe {

// Registers pipe and pipeSize on the binding.
void Init(Napi::Env env, Napi::Object exports);

}  // namespace pipe
}  // namespace posix_ipc

#endif  // POSIX_IPC_PIPE_H_
