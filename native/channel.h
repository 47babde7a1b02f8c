// Channel (native/channel.cc): the shared-memory ring of include/posix-ipc/ring.h, exported
// to JavaScript.
#ifndef POSIX_IPC_CHANNEL_H_
#define POSIX_IPC_CHANNEL_H_

#include <napi.h>

namespace posix_ipc {
namespace channel {

void Init(Napi::Env env, Napi::Object exports);

}  // namespace channel
}  // namespace posix_ipc

#endif  // POSIX_IPC_CHANNEL_H_
