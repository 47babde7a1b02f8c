// Shared memory objects and their mappings, native/shared-memory.cc.
#ifndef POSIX_IPC_SHARED_MEMORY_H_
#define POSIX_IPC_SHARED_MEMORY_H_

#include <napi.h>

namespace posix_ipc {
namespace shared_memory {

// Registers shared-memory objects and mappings on the binding.
void Init(Napi::Env env, Napi::Object exports);

}  // namespace shared_memory
}  // namespace posix_ipc

#endif  // POSIX_IPC_SHARED_MEMORY_H_
