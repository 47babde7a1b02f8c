// Calling into JavaScript from a libuv callback (a watcher's readiness, a
// finished wait), the way that survives a Worker being terminated.
//
// See: napi_make_callback, napi_fatal_exception, napi_open_handle_scope,
// napi_get_and_clear_last_exception.
//
// Everything here is the C Node-API, on purpose. While an environment is
// being torn down (worker.terminate(), process.exit() in a Worker) every call
// that would run JavaScript fails, and the exception then pending is the
// engine's termination, which is no Error object. node-addon-api's wrappers
// answer any failure by making a Napi::Error and throwing it, and both steps
// fail in such an environment: the process aborts ("Error::Error
// napi_define_properties"). So each status is checked here, and on failure
// the pending exception is dropped, never wrapped or thrown.
#ifndef POSIX_IPC_COMMON_CALLBACK_H_
#define POSIX_IPC_COMMON_CALLBACK_H_

#include <node_api.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>

namespace posix_ipc {

// Drops the exception pending on `env`, if there is one.
inline void DropPendingException(napi_env env) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) != napi_ok || !pending) return;
  napi_value ignored;
  napi_get_and_clear_last_exception(env, &ignored);
}

namespace callback_detail {

constexpr size_t kMaxArgs = 4;

// The body of CallIntoJs, inside its handle scope.
inline bool Call(napi_env env, napi_ref fn_ref, std::initializer_list<int32_t> args) {
  napi_value fn = nullptr;
  napi_value receiver;
  napi_value argv[kMaxArgs];
  size_t argc = 0;
  // A weak reference whose function was collected gives nullptr: nobody is
  // left to call.
  if (args.size() > kMaxArgs || napi_get_reference_value(env, fn_ref, &fn) != napi_ok || fn == nullptr ||
      napi_get_global(env, &receiver) != napi_ok) {
    DropPendingException(env);
    return false;
  }
  for (int32_t arg : args) {
    if (napi_create_int32(env, arg, &argv[argc++]) != napi_ok) {
      DropPendingException(env);
      return false;
    }
  }
  if (napi_make_callback(env, nullptr, receiver, fn, argc, argv, nullptr) == napi_ok) return true;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) != napi_ok || !pending) {
    // Refused before any JavaScript ran: the environment can no longer run
    // it (napi_make_callback checks that first), or `fn` is no function.
    return false;
  }
  // JavaScript ran, and let an exception escape or was stopped by the
  // termination. In an environment that can still run JavaScript the
  // exception goes to 'uncaughtException', as from any other event;
  // napi_fatal_exception refuses an environment that cannot (its status is
  // then an error, and nothing was thrown), and the exception is dropped.
  napi_value error;
  if (napi_get_and_clear_last_exception(env, &error) == napi_ok && napi_fatal_exception(env, error) != napi_ok) {
    DropPendingException(env);
  }
  return true;
}

}  // namespace callback_detail

// Calls the function `fn_ref` refers to with `args` (int32 each, at most
// four) and the global object as receiver, in a handle scope of its own.
// Never throws and never leaves an exception pending.
//
// Returns whether JavaScript received the call: false when it never ran (the
// environment can no longer run it, e.g. a Worker being terminated, or the
// function is gone), so the caller can give back what the call carried.
// JavaScript that started counts as having received it, even when it was
// stopped part-way by a termination: it may have acted on the result already
// (released a token it got, say), and giving the result back as well would
// hand it out twice. A Worker terminated while holding a result loses it, as
// it loses whatever else it holds.
inline bool CallIntoJs(napi_env env, napi_ref fn_ref, std::initializer_list<int32_t> args) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) {
    DropPendingException(env);
    return false;
  }
  bool received = callback_detail::Call(env, fn_ref, args);
  napi_close_handle_scope(env, scope);
  return received;
}

}  // namespace posix_ipc

#endif  // POSIX_IPC_COMMON_CALLBACK_H_
