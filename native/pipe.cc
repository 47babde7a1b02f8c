// TODO(issue 4): pipe operations.
#include "pipe.h"

namespace posix_ipc {
namespace pipe {

void Init(Napi::Env, Napi::Object) {}

}  // namespace pipe
}  // namespace posix_ipc
