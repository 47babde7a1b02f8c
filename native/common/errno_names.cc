// Names and descriptions of errno values. Node's util.getSystemErrorMap() only
// knows libuv's errors; the kernel objects here also report others, such as
// EOWNERDEAD and ENOTRECOVERABLE from robust mutexes.
//
// See: strerrorname_np(3), strerrordesc_np(3).
#include "errno_names.h"

#include <cstring>

#include "exports.h"

namespace posix_ipc {
namespace errno_names {
namespace {

// errnoName(errno) -> [name, description] | null (errno is positive here).
Napi::Value ErrnoName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int n = info[0].As<Napi::Number>().Int32Value();
  const char* name = strerrorname_np(n);
  const char* desc = strerrordesc_np(n);
  if (name == nullptr || desc == nullptr) return env.Null();
  Napi::Array pair = Napi::Array::New(env, 2);
  pair.Set(0u, name);
  pair.Set(1u, desc);
  return pair;
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  const FunctionExport functions[] = {
      {"errnoName", ErrnoName},
  };
  SetFunctions(env, exports, functions);
}

}  // namespace errno_names
}  // namespace posix_ipc
