// TODO(issue 4): socket operations.
#include "socket.h"

namespace posix_ipc {
namespace socket {

void Init(Napi::Env, Napi::Object) {}

}  // namespace socket
}  // namespace posix_ipc
