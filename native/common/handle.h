// Handles: what JavaScript holds for a native object (a mutex's mapping, a
// semaphore, a channel, a pending wait), made so that no native call trusts a
// value it did not make itself.
//
// See: napi_create_external, napi_wrap, napi_type_tag_object,
// napi_check_object_type_tag.
//
// A handle carries a type tag of its kind. A call finds the pointer only when
// the value carries that exact tag: a number, a string, a handle of another
// kind, an External of another addon or a look-alike object all give nullptr,
// which the call reports as -EBADF (or a refusal). Tags live in the engine,
// out of JavaScript's reach: a value cannot be given a tag it was not made
// with.
//
// A handle is an External with the tag where the engine can tag Externals
// (Node 20 can; checking costs ~15 ns). Where it cannot, it is a plain object
// that wraps the pointer (napi_wrap) and carries the tag: correct everywhere,
// but its check costs ~130 ns, through V8's private properties.
#ifndef POSIX_IPC_COMMON_HANDLE_H_
#define POSIX_IPC_COMMON_HANDLE_H_

#include <napi.h>

#include <cerrno>
#include <memory>

namespace posix_ipc {

// Each kind of handle has a tag of its own (two random 64-bit halves).
struct HandleKind {
  napi_type_tag tag;
};

namespace handle_detail {
template <typename T>
void Finalize(napi_env env, void* data, void* hint) {
  reinterpret_cast<void (*)(napi_env, T*)>(hint)(env, static_cast<T*>(data));
}
}  // namespace handle_detail

// Whether this engine can tag an External: asked once per process, of an
// External that owns nothing.
inline bool CanTagExternals(napi_env env) {
  static const bool can = [env] {
    static const napi_type_tag probe = {0x8d1f6a0c2b7e4935, 0x51c3e09a7f2d68b4};
    napi_value value;
    if (napi_create_external(env, nullptr, nullptr, nullptr, &value) != napi_ok) return false;
    if (napi_type_tag_object(env, value, &probe) == napi_ok) return true;
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
    return false;
  }();
  return can;
}

// Wraps `data` in a new tagged handle; `finalize(env, data)` runs when the
// handle is collected (or the environment goes). Returns an empty value when
// the engine refused (an exception is then pending); the handle, if it was
// made, owns `data` from then on, else `data` is finalized at once.
template <typename T>
Napi::Value WrapHandle(Napi::Env env, const HandleKind& kind, T* data, void (*finalize)(napi_env, T*)) {
  void* hint = reinterpret_cast<void*>(finalize);
  napi_value value;
  if (CanTagExternals(env)) {
    if (napi_create_external(env, data, handle_detail::Finalize<T>, hint, &value) != napi_ok) {
      finalize(env, data);
      return Napi::Value();
    }
  } else {
    if (napi_create_object(env, &value) != napi_ok ||
        napi_wrap(env, value, data, handle_detail::Finalize<T>, hint, nullptr) != napi_ok) {
      finalize(env, data);
      return Napi::Value();
    }
  }
  if (napi_type_tag_object(env, value, &kind.tag) != napi_ok) return Napi::Value();
  return Napi::Value(env, value);
}

// The pointer `value` wraps when it is a handle of `kind`, else nullptr. No
// exception is ever left pending.
template <typename T>
T* UnwrapHandle(Napi::Env env, napi_value value, const HandleKind& kind) {
  napi_valuetype type;
  if (value == nullptr || napi_typeof(env, value, &type) != napi_ok) return nullptr;
  if (type != napi_external && type != napi_object) return nullptr;
  bool ours = false;
  if (napi_check_object_type_tag(env, value, &kind.tag, &ours) != napi_ok || !ours) return nullptr;
  void* data = nullptr;
  napi_status status =
      type == napi_external ? napi_get_value_external(env, value, &data) : napi_unwrap(env, value, &data);
  return status == napi_ok ? static_cast<T*>(data) : nullptr;
}

// What a handle holds when waits on other threads share its object (a mutex's
// mapping, a semaphore): this handle's share, emptied by close. The object
// goes once no wait uses it either.
template <typename T>
struct SharedHandle {
  std::shared_ptr<T> shared;
};

namespace handle_detail {
template <typename T>
void DeleteShared(napi_env, SharedHandle<T>* handle) {
  delete handle;
}
}  // namespace handle_detail

// A new handle of `kind` holding a share of `object` (see WrapHandle).
template <typename T>
Napi::Value WrapShared(Napi::Env env, const HandleKind& kind, std::shared_ptr<T> object) {
  return WrapHandle(env, kind, new SharedHandle<T>{std::move(object)}, handle_detail::DeleteShared<T>);
}

// The object of a handle UnwrapHandle found (or nullptr), or nullptr for a
// closed one: either way the caller reports -EBADF.
template <typename T>
T* SharedObject(SharedHandle<T>* handle) {
  return handle == nullptr ? nullptr : handle->shared.get();
}

// Closes a handle UnwrapHandle found (or nullptr): 0, idempotent, or -EBADF
// for nullptr.
template <typename T>
int CloseShared(SharedHandle<T>* handle) {
  if (handle == nullptr) return -EBADF;
  handle->shared.reset();
  return 0;
}

}  // namespace posix_ipc

#endif  // POSIX_IPC_COMMON_HANDLE_H_
