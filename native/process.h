// Processes: pidfds, dying with the parent, resource limits, native/process.cc.
#ifndef POSIX_IPC_PROCESS_H_
#define POSIX_IPC_PROCESS_H_

#include <napi.h>

namespace posix_ipc {
namespace process {

// Registers pidfdOpen, pidfdSendSignal, processDieWithParent and
// processSetLimit, and the RLIMIT_* constants, on the binding.
void Init(Napi::Env env, Napi::Object exports);

}  // namespace process
}  // namespace posix_ipc

#endif  // POSIX_IPC_PROCESS_H_
