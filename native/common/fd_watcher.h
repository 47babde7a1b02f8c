// Watching a pollable descriptor (pipe, FIFO, socket, and on Linux an mqd_t)
// from the event loop with uv_poll: no thread is parked while waiting.
#ifndef POSIX_IPC_COMMON_FD_WATCHER_H_
#define POSIX_IPC_COMMON_FD_WATCHER_H_

#include <napi.h>

namespace posix_ipc {
namespace fd_watcher {

// Registers watchFd, watcherStart, watcherStop, watcherClose and watcherRef.
void Init(Napi::Env env, Napi::Object exports);

}  // namespace fd_watcher
}  // namespace posix_ipc

#endif  // POSIX_IPC_COMMON_FD_WATCHER_H_
