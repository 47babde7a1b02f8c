// Large ArrayBuffer views of a ProcessLink, through sealed memfds, and views
// of SharedMemory shared by reference, native/transfer.cc.
#ifndef POSIX_IPC_TRANSFER_H_
#define POSIX_IPC_TRANSFER_H_

#include <napi.h>

namespace posix_ipc {
namespace transfer {

// Registers the sealing and the peer-descriptor opening on the binding.
void Init(Napi::Env env, Napi::Object exports);

}  // namespace transfer
}  // namespace posix_ipc

#endif  // POSIX_IPC_TRANSFER_H_
