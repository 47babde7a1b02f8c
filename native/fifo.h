// Named pipes (FIFOs), native/fifo.cc.
#ifndef POSIX_IPC_FIFO_H_
#define POSIX_IPC_FIFO_H_

#include <napi.h>

namespace posix_ipc {
namespace fifo {

// Registers mkfifo, fifoChmod, fifoOpen and fifoWrite on the binding.
void Init(Napi::Env env, Napi::Object exports);

}  // namespace fifo
}  // namespace posix_ipc

#endif  // POSIX_IPC_FIFO_H_
