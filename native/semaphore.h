// POSIX semaphores, named and in shared memory, native/semaphore.cc.
#ifndef POSIX_IPC_SEMAPHORE_H_
#define POSIX_IPC_SEMAPHORE_H_

#include <napi.h>

namespace posix_ipc {
namespace semaphore {

// Registers named and unnamed (in shared memory) semaphores on the binding.
void Init(Napi::Env env, Napi::Object exports);

}  // namespace semaphore
}  // namespace posix_ipc

#endif  // POSIX_IPC_SEMAPHORE_H_
