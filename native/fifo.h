#ifndef POSIX_IPC_FIFO_H_
#define POSIX_IPC_FIFO_H_

#include <napi.h>

namespace posix_ipc {
namespace fifo {

// Registers this object's operations on the binding.
void Init(Napi::Env env, Napi::Object exports);

}  // namespace fifo
}  // namespace posix_ipc

#endif  // POSIX_IPC_FIFO_H_
