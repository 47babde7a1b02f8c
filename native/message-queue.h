// POSIX message queues, native/message-queue.cc.
#ifndef POSIX_IPC_MESSAGE_QUEUE_H_
#define POSIX_IPC_MESSAGE_QUEUE_H_

#include <napi.h>

namespace posix_ipc {
namespace message_queue {

// Registers POSIX message queue operations on the binding.
void Init(Napi::Env env, Napi::Object exports);

}  // namespace message_queue
}  // namespace posix_ipc

#endif  // POSIX_IPC_MESSAGE_QUEUE_H_
