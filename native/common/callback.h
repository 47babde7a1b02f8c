// Calling into JavaScript from a libuv callback (a watcher's readiness, a
// finished wait), the way that survives a Worker being terminated.
//
// See: napi_make_callback, napi_fatal_exception.
#ifndef POSIX_IPC_COMMON_CALLBACK_H_
#define POSIX_IPC_COMMON_CALLBACK_H_

#include <napi.h>

#include <initializer_list>

namespace posix_ipc {

// Calls `fn` with `args` and the global object as receiver; returns whether
// JavaScript ran (false only when the environment can no longer run it, e.g.
// a Worker being terminated). The C call on purpose: node-addon-api's
// MakeCallback aborts the process on any failure, and a terminating Worker
// fails every call into it. An exception the callback let escape goes to
// 'uncaughtException', as from any other event.
inline bool CallIntoJs(Napi::Env env, Napi::Function fn, std::initializer_list<napi_value> args) {
  if (napi_make_callback(env, nullptr, env.Global(), fn, args.size(), args.begin(), nullptr) == napi_ok) return true;
  if (!env.IsExceptionPending()) return false;
  napi_fatal_exception(env, env.GetAndClearPendingException().Value());
  return true;
}

}  // namespace posix_ipc

#endif  // POSIX_IPC_COMMON_CALLBACK_H_
