// TODO(issue 4): fifo operations.
#include "fifo.h"

namespace posix_ipc {
namespace fifo {

void Init(Napi::Env, Napi::Object) {}

}  // namespace fifo
}  // namespace posix_ipc
