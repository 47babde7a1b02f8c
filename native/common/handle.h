// Handles: what JavaScript holds for a native object (a mutex's mapping, a
// semaphore, a channel, a pending wait), made so that no native call trusts a
// value it did not make itself.
//
// See: napi_wrap, napi_unwrap, napi_type_tag_object, napi_check_object_type_tag.
//
// A handle is a plain, empty object that wraps the native pointer and carries
// a type tag of its kind. A call finds the pointer only when the value is an
// object with that exact tag: a number, a string, a handle of another kind, an
// External of another addon or a look-alike object all give nullptr, which the
// call reports as -EBADF (or a refusal). Tags live in the engine, out of
// JavaScript's reach: an object cannot be given a tag it was not made with.
// (An External would do as well on newer Node versions; an object can be
// tagged on every version this package supports.)
#ifndef POSIX_IPC_COMMON_HANDLE_H_
#define POSIX_IPC_COMMON_HANDLE_H_

#include <napi.h>

namespace posix_ipc {

// Each kind of handle has a tag of its own (two random 64-bit halves).
struct HandleKind {
  napi_type_tag tag;
};

// Wraps `data` in a new tagged object; `finalize(env, data)` runs when the
// object is collected (or the environment goes). Returns an empty value when
// the engine refused (an exception is then pending); `data` is finalized then.
template <typename T>
Napi::Value WrapHandle(Napi::Env env, const HandleKind& kind, T* data, void (*finalize)(napi_env, T*)) {
  napi_value object;
  if (napi_create_object(env, &object) != napi_ok) {
    finalize(env, data);
    return Napi::Value();
  }
  auto trampoline = [](napi_env e, void* d, void* hint) { reinterpret_cast<void (*)(napi_env, T*)>(hint)(e, static_cast<T*>(d)); };
  if (napi_wrap(env, object, data, trampoline, reinterpret_cast<void*>(finalize), nullptr) != napi_ok) {
    finalize(env, data);
    return Napi::Value();
  }
  // The object now owns `data`: a failure to tag leaves it to the finalizer.
  if (napi_type_tag_object(env, object, &kind.tag) != napi_ok) return Napi::Value();
  return Napi::Value(env, object);
}

// The pointer `value` wraps when it is a handle of `kind`, else nullptr. No
// exception is ever left pending.
template <typename T>
T* UnwrapHandle(Napi::Env env, napi_value value, const HandleKind& kind) {
  napi_valuetype type;
  if (value == nullptr || napi_typeof(env, value, &type) != napi_ok || type != napi_object) return nullptr;
  bool ours = false;
  if (napi_check_object_type_tag(env, value, &kind.tag, &ours) != napi_ok || !ours) return nullptr;
  void* data = nullptr;
  if (napi_unwrap(env, value, &data) != napi_ok) return nullptr;
  return static_cast<T*>(data);
}

}  // namespace posix_ipc

#endif  // POSIX_IPC_COMMON_HANDLE_H_
