// Robust process-shared mutexes, native/mutex.cc.
#ifndef POSIX_IPC_MUTEX_H_
#define POSIX_IPC_MUTEX_H_

#include <napi.h>

namespace posix_ipc {
namespace mutex {

// Registers robust process-shared mutexes on the binding.
void Init(Napi::Env env, Napi::Object exports);

}  // namespace mutex
}  // namespace posix_ipc

#endif  // POSIX_IPC_MUTEX_H_
