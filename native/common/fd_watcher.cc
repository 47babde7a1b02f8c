// See: uv_poll_init(3) (libuv docs: "Poll handle"), uv_close, napi_make_callback,
// napi_add_async_cleanup_hook.
//
// JavaScript gets an External ("the box") for each watcher. The libuv handle
// lives in a separate Watch record, because uv_close() finishes on a later
// loop iteration: the Watch is freed in its close callback, the box when
// JavaScript drops it. Each points at the other until one side goes, so
// neither ever follows a dangling pointer, whichever goes first.
//
// The callback is held strongly only while polling, so an idle watcher does not
// keep its owner alive; an active one does, as a pending socket read does. The
// owner must keep the callback alive itself while it keeps the box.
#include "fd_watcher.h"

#include <uv.h>

#include "callback.h"

namespace posix_ipc {
namespace fd_watcher {
namespace {

struct Box;

struct Watch {
  uv_poll_t poll;
  napi_env env;
  Napi::FunctionReference callback;
  napi_async_cleanup_hook_handle cleanup_hook;
  Box* box;
  bool polling;
  bool closing;
};

struct Box {
  Watch* watch;
};

void OnClosed(uv_handle_t* handle) {
  auto* w = reinterpret_cast<Watch*>(handle);
  // Tells Node the environment may finish tearing down (when it is doing so).
  napi_remove_async_cleanup_hook(w->cleanup_hook);
  w->callback.Reset();
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
  Napi::Env env(w->env);
  Napi::HandleScope scope(env);
  // Held strongly while polling, so it is there; checked all the same.
  if (w->callback.IsEmpty() || w->callback.Value().IsEmpty()) return;
  // The JavaScript side catches its own errors.
  CallIntoJs(env, w->callback.Value(), {Napi::Number::New(env, status), Napi::Number::New(env, events)});
}

Watch* WatchOf(const Napi::CallbackInfo& info) {
  return info[0].As<Napi::External<Box>>().Data()->watch;
}

// watchFd(fd, callback(status, events)) -> External | -errno.
Napi::Value WatchFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  uv_loop_t* loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return Napi::Number::New(env, -EINVAL);
  auto* w = new Watch{};
  int r = uv_poll_init(loop, &w->poll, fd);
  if (r < 0) {
    delete w;  // uv_poll_init failed before registering the handle.
    return Napi::Number::New(env, r);
  }
  w->env = env;
  w->callback = Napi::Weak(info[1].As<Napi::Function>());
  napi_add_async_cleanup_hook(env, OnTeardown, w, &w->cleanup_hook);
  w->box = new Box{w};
  return Napi::External<Box>::New(env, w->box, OnBoxFinalized);
}

// watcherStart(box, events) -> 0 | -errno. events: UV_READABLE | UV_WRITABLE.
Napi::Value WatcherStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Watch* w = WatchOf(info);
  if (w == nullptr) return Napi::Number::New(env, -EBADF);
  int r = uv_poll_start(&w->poll, info[1].As<Napi::Number>().Int32Value(), OnPoll);
  if (r == 0 && !w->polling) {
    w->polling = true;
    w->callback.Ref();
  }
  return Napi::Number::New(env, r);
}

// watcherStop(box) -> 0.
Napi::Value WatcherStop(const Napi::CallbackInfo& info) {
  Watch* w = WatchOf(info);
  if (w != nullptr && w->polling) {
    uv_poll_stop(&w->poll);
    w->polling = false;
    w->callback.Unref();
  }
  return Napi::Number::New(info.Env(), 0);
}

// watcherClose(box) -> 0. Stops and releases the handle; idempotent.
Napi::Value WatcherClose(const Napi::CallbackInfo& info) {
  Watch* w = WatchOf(info);
  if (w != nullptr) CloseWatch(w);
  return Napi::Number::New(info.Env(), 0);
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("watchFd", Napi::Function::New(env, WatchFd, "watchFd"));
  exports.Set("watcherStart", Napi::Function::New(env, WatcherStart, "watcherStart"));
  exports.Set("watcherStop", Napi::Function::New(env, WatcherStop, "watcherStop"));
  exports.Set("watcherClose", Napi::Function::New(env, WatcherClose, "watcherClose"));
  exports.Set("UV_READABLE", Napi::Number::New(env, UV_READABLE));
  exports.Set("UV_WRITABLE", Napi::Number::New(env, UV_WRITABLE));
}

}  // namespace fd_watcher
}  // namespace posix_ipc
