// The one shape every binding call returns: a number, >= 0 on success or
// -errno (common/sys.h). JavaScript turns a negative one into an IpcError, so
// no wrapper needs to build an error object natively.
#ifndef POSIX_IPC_COMMON_RESULT_H_
#define POSIX_IPC_COMMON_RESULT_H_

#include <napi.h>

namespace posix_ipc {

// A result (a descriptor, a count, 0, or -errno) as a JavaScript number.
// A double, so that byte counts and offsets beyond 2^31 keep their value.
inline Napi::Number Result(Napi::Env env, double r) { return Napi::Number::New(env, r); }

}  // namespace posix_ipc

#endif  // POSIX_IPC_COMMON_RESULT_H_
