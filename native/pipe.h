#ifndef POSIX_IPC_PIPE_H_
#define POSIX_IPC_PIPE_H_

#include <napi.h>

namespace posix_ipc {
namespace pipe {

// Registers this object's operations on the binding.
void Init(Napi::Env env, Napi::Object exports);

}  // namespace pipe
}  // namespace posix_ipc

#endif  // POSIX_IPC_PIPE_H_
