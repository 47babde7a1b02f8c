// Unix-domain sockets, native/unix-socket.cc.
#ifndef POSIX_IPC_UNIX_SOCKET_H_
#define POSIX_IPC_UNIX_SOCKET_H_

#include <napi.h>

namespace posix_ipc {
namespace unix_socket {

// Registers the Unix-domain socket operations (native/unix-socket.cc) on the
// binding: creating, binding, listening, accepting and connecting sockets,
// sendmsg/recvmsg with descriptor passing, and peer credentials.
void Init(Napi::Env env, Napi::Object exports);

}  // namespace unix_socket
}  // namespace posix_ipc

#endif  // POSIX_IPC_UNIX_SOCKET_H_
