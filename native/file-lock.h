// File locks (open-file-description and flock), native/file-lock.cc.
#ifndef POSIX_IPC_FILE_LOCK_H_
#define POSIX_IPC_FILE_LOCK_H_

#include <napi.h>

namespace posix_ipc {
namespace file_lock {

// Registers fileLockOpen, fileLock, fileLockWait and fileLockSync on the binding.
void Init(Napi::Env env, Napi::Object exports);

}  // namespace file_lock
}  // namespace posix_ipc

#endif  // POSIX_IPC_FILE_LOCK_H_
