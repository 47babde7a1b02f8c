#ifndef POSIX_IPC_SHARED_MEMORY_H_
#define POSIX_IPC_SHARED_MEMORY_H_

#include <napi.h>

namespace posix_ipc {
namespace shm {

// Registers shared-memory objects and mappings on the binding.
void Init(Napi::Env env, Napi::Object exports);

}  // namespace shm
}  // namespace posix_ipc

#endif  // POSIX_IPC_SHARED_MEMORY_H_
