#ifndef POSIX_IPC_FILE_LOCK_H_
#define POSIX_IPC_FILE_LOCK_H_

#include <napi.h>

namespace posix_ipc {
namespace file_lock {

// Registers this object's operations on the binding.
void Init(Napi::Env env, Napi::Object exports);

}  // namespace file_lock
}  // namespace posix_ipc

#endif  // POSIX_IPC_FILE_LOCK_H_
