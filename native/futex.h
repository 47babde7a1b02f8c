// Shared futexes on memory several processes map, native/futex.cc.
#ifndef POSIX_IPC_FUTEX_H_
#define POSIX_IPC_FUTEX_H_

#include <napi.h>

namespace posix_ipc {
namespace futex {

// Registers futexWait, futexWaitSync and futexWake on the binding.
void Init(Napi::Env env, Napi::Object exports);

}  // namespace futex
}  // namespace posix_ipc

#endif  // POSIX_IPC_FUTEX_H_
