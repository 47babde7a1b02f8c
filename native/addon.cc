// Module initialisation only: every kernel object registers its own functions.
// The module is context-aware (Node-API modules always are): each environment,
// main thread or Worker, gets its own EnvState.
#include <napi.h>

#include "channel.h"
#include "common/env_state.h"
#include "common/errno_names.h"
#include "common/fd.h"
#include "common/fd_watcher.h"
#include "common/waiter.h"
#include "fifo.h"
#include "file-lock.h"
#include "futex.h"
#include "message-queue.h"
#include "mutex.h"
#include "pipe.h"
#include "process.h"
#include "semaphore.h"
#include "shared-memory.h"
#include "transfer.h"
#include "unix-socket.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  posix_ipc::EnvState::Install(env);
  posix_ipc::errno_names::Init(env, exports);
  posix_ipc::fd::Init(env, exports);
  posix_ipc::fd_watcher::Init(env, exports);
  posix_ipc::waiter::Init(env, exports);
  posix_ipc::channel::Init(env, exports);
  posix_ipc::fifo::Init(env, exports);
  posix_ipc::file_lock::Init(env, exports);
  posix_ipc::futex::Init(env, exports);
  posix_ipc::message_queue::Init(env, exports);
  posix_ipc::mutex::Init(env, exports);
  posix_ipc::pipe::Init(env, exports);
  posix_ipc::process::Init(env, exports);
  posix_ipc::semaphore::Init(env, exports);
  posix_ipc::shared_memory::Init(env, exports);
  posix_ipc::transfer::Init(env, exports);
  posix_ipc::unix_socket::Init(env, exports);
  return exports;
}

NODE_API_MODULE(posix_ipc, Init)
