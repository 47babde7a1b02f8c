// errno names and descriptions, native/common/errno_names.cc.
#ifndef POSIX_IPC_COMMON_ERRNO_NAMES_H_
#define POSIX_IPC_COMMON_ERRNO_NAMES_H_

#include <napi.h>

namespace posix_ipc {
namespace errno_names {

// Registers errnoName(), for the errors libuv's table does not know.
void Init(Napi::Env env, Napi::Object exports);

}  // namespace errno_names
}  // namespace posix_ipc

#endif  // POSIX_IPC_COMMON_ERRNO_NAMES_H_
