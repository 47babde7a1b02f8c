// Descriptor operations every kernel object shares, native/common/fd.cc.
#ifndef POSIX_IPC_COMMON_FD_H_
#define POSIX_IPC_COMMON_FD_H_

#include <napi.h>

namespace posix_ipc {
namespace fd {

// Registers the descriptor operations every kernel object shares.
void Init(Napi::Env env, Napi::Object exports);

}  // namespace fd
}  // namespace posix_ipc

#endif  // POSIX_IPC_COMMON_FD_H_
