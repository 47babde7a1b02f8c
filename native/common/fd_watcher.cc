// Watching pollable descriptors from the event loop (fd_watcher.h): the
// uv_poll handles behind watchFd and the watcher calls.
//
// See: uv_poll_init(3) (libuv docs: "Poll handle"), uv_close, uv_ref/uv_unref
// (libuv docs: "Base handle"), napi_make_callback,
// napi_add_async_cleanup_hook, napi_wrap.
//
// JavaScript gets a handle of its own kind (handle.h, "the box") for each
// watcher, so a call given anything else finds no watcher (-EBADF). The libuv handle
// lives in a separate Watch record, because uv_close() finishes on a later
// loop iteration: the Watch is freed in its close callback, the box when
// JavaScript drops it. Each points at the other until one side goes, so
// neither ever follows a dangling pointer, whichever goes first.
//
// The callback is held strongly only while polling, so an idle watcher does not
// keep its owner alive; an active one does, as a pending socket read does. The
// owner must keep the callback alive itself while it keeps the box.
//
// OnPoll and the teardown path use the C Node-API and check each status: see
// callback.h for why node-addon-api's wrappers abort the process there.
#include "fd_watcher.h"

#include <uv.h>

#include <cerrno>

#include "callback.h"
#include "exports.h"
#include "handle.h"

namespace posix_ipc {
namespace fd_watcher {
namespace {

struct Box;

struct Watch {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;  // Weak (count 0) unless polling.
  napi_async_cleanup_hook_handle cleanup_hook;
  Box* box;
  bool polling;
  bool closing;
};

struct Box {
  Watch* watch;
};

constexpr HandleKind kWatcherHandle{{0x2499e93aad8d9830ULL, 0x369267aad4352e19ULL}};

void OnClosed(uv_handle_t* handle) {
  auto* w = reinterpret_cast<Watch*>(handle);
  napi_delete_reference(w->env, w->callback);
  // Tells Node the environment may finish tearing down (when it is doing so):
  // the last use of the environment here.
  napi_remove_async_cleanup_hook(w->cleanup_hook);
  delete w;
}

void CloseWatch(Watch* w) {
  if (w->closing) return;
  w->closing = true;
  if (w->box != nullptr) w->box->watch = nullptr;
  w->box = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), OnClosed);
}

// Environment teardown (e.g. a Worker ending): the handle must be closed
// before Node closes the loop.
void OnTeardown(napi_async_cleanup_hook_handle, void* arg) { CloseWatch(static_cast<Watch*>(arg)); }

void OnBoxFinalized(napi_env, Box* box) {
  if (box->watch != nullptr) CloseWatch(box->watch);
  delete box;
}

void OnPoll(uv_poll_t* handle, int status, int events) {
  auto* w = reinterpret_cast<Watch*>(handle);
  // Held strongly while polling, so it is there; CallIntoJs checks all the
  // same. The JavaScript side catches its own errors; when it cannot run any
  // more (a Worker being terminated), there is nothing to give back.
  CallIntoJs(w->env, w->callback, {status, events});
}

// The watcher of the box `value`, or nullptr: a box whose watcher is closed,
// or anything that is not a box.
Watch* WatchOf(const Napi::CallbackInfo& info, size_t index) {
  Box* box = UnwrapHandle<Box>(info.Env(), info[index], kWatcherHandle);
  return box == nullptr ? nullptr : box->watch;
}

// An int32 argument, or false when it is not one.
bool Int32Arg(const Napi::CallbackInfo& info, size_t index, int32_t* out) {
  napi_valuetype type;
  return napi_typeof(info.Env(), info[index], &type) == napi_ok && type == napi_number &&
         napi_get_value_int32(info.Env(), info[index], out) == napi_ok;
}

// watchFd(fd, callback(status, events)) -> box | -errno.
Napi::Value WatchFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t fd;
  napi_valuetype type;
  if (!Int32Arg(info, 0, &fd) || fd < 0) return Napi::Number::New(env, -EBADF);
  if (napi_typeof(env, info[1], &type) != napi_ok || type != napi_function) return Napi::Number::New(env, -EINVAL);
  uv_loop_t* loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return Napi::Number::New(env, -EINVAL);
  auto* w = new Watch{};
  w->env = env;
  // Weak until polling.
  if (napi_create_reference(env, info[1], 0, &w->callback) != napi_ok) {
    DropPendingException(env);
    delete w;
    return Napi::Number::New(env, -ECANCELED);
  }
  int r = uv_poll_init(loop, &w->poll, fd);
  if (r < 0) {
    // uv_poll_init failed before registering the handle.
    napi_delete_reference(env, w->callback);
    delete w;
    return Napi::Number::New(env, r);
  }
  napi_add_async_cleanup_hook(env, OnTeardown, w, &w->cleanup_hook);
  w->box = new Box{w};
  // When the engine refuses the handle (the environment is being torn
  // down), OnBoxFinalized has already closed the watcher.
  Napi::Value box = WrapHandle<Box>(env, kWatcherHandle, w->box, OnBoxFinalized);
  if (box.IsEmpty()) {
    DropPendingException(env);
    return Napi::Number::New(env, -ECANCELED);
  }
  return box;
}

// watcherStart(box, events) -> 0 | -errno. events: UV_READABLE | UV_WRITABLE.
Napi::Value WatcherStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Watch* w = WatchOf(info, 0);
  if (w == nullptr) return Napi::Number::New(env, -EBADF);
  int32_t events;
  if (!Int32Arg(info, 1, &events) || (events & ~(UV_READABLE | UV_WRITABLE)) != 0)
    return Napi::Number::New(env, -EINVAL);
  int r = uv_poll_start(&w->poll, events, OnPoll);
  if (r == 0 && !w->polling) {
    w->polling = true;
    uint32_t count;
    napi_reference_ref(env, w->callback, &count);
  }
  return Napi::Number::New(env, r);
}

// watcherStop(box) -> 0.
Napi::Value WatcherStop(const Napi::CallbackInfo& info) {
  Watch* w = WatchOf(info, 0);
  if (w != nullptr && w->polling) {
    uv_poll_stop(&w->poll);
    w->polling = false;
    uint32_t count;
    napi_reference_unref(info.Env(), w->callback, &count);
  }
  return Napi::Number::New(info.Env(), 0);
}

// watcherRef(box, ref) -> 0 | -EBADF | -EINVAL. Whether polling keeps the
// event loop alive (uv_ref / uv_unref; a new watcher does). libuv keeps the
// flag across uv_poll_stop and uv_poll_start, so it is set once, not per wait.
Napi::Value WatcherRef(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Watch* w = WatchOf(info, 0);
  if (w == nullptr) return Napi::Number::New(env, -EBADF);
  bool ref;
  napi_valuetype type;
  if (napi_typeof(env, info[1], &type) != napi_ok || type != napi_boolean ||
      napi_get_value_bool(env, info[1], &ref) != napi_ok) {
    return Napi::Number::New(env, -EINVAL);
  }
  if (ref)
    uv_ref(reinterpret_cast<uv_handle_t*>(&w->poll));
  else
    uv_unref(reinterpret_cast<uv_handle_t*>(&w->poll));
  return Napi::Number::New(env, 0);
}

// watcherClose(box) -> 0. Stops and releases the handle; idempotent.
Napi::Value WatcherClose(const Napi::CallbackInfo& info) {
  Watch* w = WatchOf(info, 0);
  if (w != nullptr) CloseWatch(w);
  return Napi::Number::New(info.Env(), 0);
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  const FunctionExport functions[] = {
      {"watchFd", WatchFd},           {"watcherStart", WatcherStart}, {"watcherStop", WatcherStop},
      {"watcherClose", WatcherClose}, {"watcherRef", WatcherRef},
  };
  SetFunctions(env, exports, functions);
  const ConstantExport constants[] = {
      {"UV_READABLE", UV_READABLE},
      {"UV_WRITABLE", UV_WRITABLE},
  };
  SetConstants(env, exports, constants);
}

}  // namespace fd_watcher
}  // namespace posix_ipc
