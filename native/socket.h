#ifndef POSIX_IPC_SOCKET_H_
#define POSIX_IPC_SOCKET_H_

#include <napi.h>

namespace posix_ipc {
namespace socket {

// Registers this object's operations on the binding.
void Init(Napi::Env env, Napi::Object exports);

}  // namespace socket
}  // namespace posix_ipc

#endif  // POSIX_IPC_SOCKET_H_
