// Running one blocking wait on a thread of its own and delivering its result
// on the event loop (waiter.h).
//
// See: pthread_create(3), pthread_sigmask(3), clock_gettime(2), uv_async_send,
// uv_ref/uv_unref (libuv docs: "Async handle", "Base handle"), napi_add_async_cleanup_hook, napi_wrap.
//
// Each environment has one Hub: a uv_async_t that wait threads signal when
// they finish, and the list of finished waits. The Hub outlives its
// environment for as long as any wait thread holds it: a thread that finishes
// after teardown finds `alive` false, undoes its result itself and touches
// nothing of JavaScript's.
//
// Code that can run while the environment is being torn down (OnAsync,
// OnTeardown, Untrack) uses the C Node-API and checks each status: see
// callback.h for why node-addon-api's wrappers abort the process there.
#include "waiter.h"

#include <pthread.h>
#include <signal.h>
#include <uv.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "callback.h"
#include "deadline.h"
#include "env_state.h"
#include "exports.h"
#include "handle.h"

namespace posix_ipc {
namespace waiter {

struct Hub;

namespace {

struct Pending {
  std::unique_ptr<Wait> wait;
  std::shared_ptr<Hub> hub;
  std::atomic<bool> cancelled{false};
  bool has_deadline = false;
  timespec deadline{};
  int result = 0;  // Written by the thread before it hands the wait to the Hub.
  // JavaScript thread only. Whether this wait keeps the event loop alive
  // (its handle's ref()/unref()); settable while it runs.
  bool ref = true;
  // JavaScript thread only. Null once delivered or cancelled, so a Pending
  // freed on its own thread never deletes a reference of a dead environment.
  napi_ref callback = nullptr;
};

}  // namespace

struct Hub {
  std::mutex mu;
  bool alive = true;                           // Under mu.
  std::vector<std::shared_ptr<Pending>> done;  // Under mu.
  uv_async_t async;                            // uv_async_send under mu.
  napi_env env = nullptr;
  napi_async_cleanup_hook_handle hook = nullptr;
  std::unordered_set<std::shared_ptr<Pending>> outstanding;  // JavaScript thread only.
  std::shared_ptr<Hub> self;                                 // Keeps the Hub until uv_close has finished.

  void DropCallback(Pending* p) {
    if (p->callback == nullptr) return;
    napi_delete_reference(env, p->callback);
    p->callback = nullptr;
  }

  // A pending wait keeps the process alive, as a pending read does, unless
  // its handle was unref()'d (as net.Socket's unref() lets a pending read go).
  // The uv_async is ref'd exactly while `refs` (the outstanding ref'd waits)
  // is above zero: one count, so flipping one wait never affects another.
  size_t refs = 0;  // JavaScript thread only.

  void AddRef() {
    if (refs++ == 0) uv_ref(reinterpret_cast<uv_handle_t*>(&async));
  }
  void DropRef() {
    if (--refs == 0) uv_unref(reinterpret_cast<uv_handle_t*>(&async));
  }

  void Track(const std::shared_ptr<Pending>& p) {
    outstanding.insert(p);
    if (p->ref) AddRef();
  }
  void Untrack(const std::shared_ptr<Pending>& p) {
    DropCallback(p.get());
    if (outstanding.erase(p) == 1 && p->ref) DropRef();
  }
  // Only an outstanding wait counts; one that is over just keeps the flag.
  void SetRef(const std::shared_ptr<Pending>& p, bool ref) {
    if (p->ref == ref) return;
    p->ref = ref;
    if (outstanding.count(p) == 0) return;
    if (ref)
      AddRef();
    else
      DropRef();
  }
};

namespace {

struct Box {
  std::shared_ptr<Pending> pending;
};

// What JavaScript holds for waitCancel(), wrapped in a handle of its own
// kind (handle.h). Weak: a wait that is over is freed (and with it whatever
// its Wait holds, a descriptor say) when its thread and the Hub are done with
// it, not whenever the garbage collector gets to this.
struct Handle {
  std::weak_ptr<Pending> pending;
};

constexpr HandleKind kWaitHandle{{0xf40aeba90945e611ULL, 0x4d1210d7f1782554ULL}};

// Wait threads running now, in every environment of the process.
std::atomic<long> running{0};

// The next slice's length for the waits running now (waiter.h).
long SliceMs() {
  long n = running.load(std::memory_order_relaxed);
  if (n <= kSliceWaits) return kSliceMs;
  long ms = kSliceMs * n / kSliceWaits;
  return ms < kMaxSliceMs ? ms : kMaxSliceMs;
}

void* Run(void* arg) {
  std::shared_ptr<Pending> p = std::move(static_cast<Box*>(arg)->pending);
  delete static_cast<Box*>(arg);
  int r = -ECANCELED;
  running.fetch_add(1, std::memory_order_relaxed);
  while (!p->cancelled.load(std::memory_order_acquire)) {
    timespec end = MonotonicAfter(SliceMs());
    bool last = p->has_deadline && !Before(end, p->deadline);
    if (last) end = p->deadline;
    r = p->wait->Slice(end);
    if (r != -ETIMEDOUT || last) break;
  }
  running.fetch_sub(1, std::memory_order_relaxed);
  if (r == -ECANCELED) return nullptr;
  p->result = r;
  Hub* hub = p->hub.get();
  {
    std::lock_guard<std::mutex> lock(hub->mu);
    if (hub->alive) {
      // Handed over, not shared: once delivered, the wait is freed on the
      // JavaScript thread (see OnAsync), never a moment later here.
      hub->done.push_back(std::move(p));
      uv_async_send(&hub->async);
      return nullptr;
    }
  }
  if (r >= 0) p->wait->Undo(r);
  return nullptr;
}

void OnAsync(uv_async_t* handle) {
  Hub* hub = static_cast<Hub*>(handle->data);
  std::vector<std::shared_ptr<Pending>> batch;
  {
    std::lock_guard<std::mutex> lock(hub->mu);
    batch.swap(hub->done);
  }
  for (auto& p : batch) {
    if (p->callback == nullptr) {
      // JavaScript gave up first: give back what the wait took.
      if (p->result >= 0) p->wait->Undo(p->result);
      continue;
    }
    // Taken out of the Pending before the call: JavaScript may cancel this
    // very wait from inside it, which must then find nothing to delete.
    napi_ref callback = p->callback;
    p->callback = nullptr;
    hub->Untrack(p);
    // What a failed wait holds (a descriptor, say) is given back before
    // JavaScript sees the failure: nothing it can observe lingers. A result
    // stays undoable until JavaScript has it: when it can no longer run here
    // (a Worker being terminated), nobody received it.
    if (p->result < 0) p->wait.reset();
    bool received = CallIntoJs(hub->env, callback, {p->result});
    napi_delete_reference(hub->env, callback);
    if (!received && p->result >= 0) p->wait->Undo(p->result);
  }
}

void OnHubClosed(uv_handle_t* handle) {
  Hub* hub = static_cast<Hub*>(handle->data);
  napi_remove_async_cleanup_hook(hub->hook);
  hub->self.reset();  // May free the Hub; nothing follows.
}

// Environment teardown: no JavaScript runs any more. Waits still running are
// told to stop; whatever finished but was not delivered is given back.
void OnTeardown(napi_async_cleanup_hook_handle, void* arg) {
  Hub* hub = static_cast<Hub*>(arg);
  std::vector<std::shared_ptr<Pending>> batch;
  {
    std::lock_guard<std::mutex> lock(hub->mu);
    hub->alive = false;
    batch.swap(hub->done);
  }
  for (auto& p : batch) {
    if (p->result >= 0) p->wait->Undo(p->result);
  }
  for (auto& p : hub->outstanding) {
    p->cancelled.store(true, std::memory_order_release);
    hub->DropCallback(p.get());
  }
  hub->outstanding.clear();
  hub->refs = 0;
  uv_close(reinterpret_cast<uv_handle_t*>(&hub->async), OnHubClosed);
}

void OnHandleFinalized(napi_env, Handle* handle) { delete handle; }

// waitCancel(handle) -> 0, or -EBADF when `handle` is no wait handle.
Napi::Value Cancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Handle* handle = UnwrapHandle<Handle>(env, info[0], kWaitHandle);
  if (handle == nullptr) return Napi::Number::New(env, -EBADF);
  std::shared_ptr<Pending> p = handle->pending.lock();
  if (p && p->callback != nullptr) {
    p->cancelled.store(true, std::memory_order_release);
    p->hub->Untrack(p);
  }
  return Napi::Number::New(env, 0);
}

// waitSetRef(handle, ref) -> 0, -EBADF when `handle` is no wait handle, or
// -EINVAL when `ref` is no boolean. A wait that is over is left as it is.
Napi::Value SetRef(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Handle* handle = UnwrapHandle<Handle>(env, info[0], kWaitHandle);
  if (handle == nullptr) return Napi::Number::New(env, -EBADF);
  bool ref;
  napi_valuetype type;
  if (napi_typeof(env, info[1], &type) != napi_ok || type != napi_boolean ||
      napi_get_value_bool(env, info[1], &ref) != napi_ok) {
    return Napi::Number::New(env, -EINVAL);
  }
  std::shared_ptr<Pending> p = handle->pending.lock();
  if (p) p->hub->SetRef(p, ref);
  return Napi::Number::New(env, 0);
}

}  // namespace

Napi::Value Start(Napi::Env env, std::unique_ptr<Wait> wait, double timeout_ms, Napi::Function callback) {
  // The callback is called natively later: it must be a function now.
  napi_valuetype type;
  if (callback.IsEmpty() || napi_typeof(env, callback, &type) != napi_ok || type != napi_function) {
    return Napi::Number::New(env, -EINVAL);
  }
  std::shared_ptr<Hub> hub = EnvState::Get(env)->waiter_hub;
  auto p = std::make_shared<Pending>();
  p->wait = std::move(wait);
  p->hub = hub;
  if (timeout_ms >= 0) {
    p->has_deadline = true;
    p->deadline = MonotonicAfter(timeout_ms);
  }
  // The handle is made before the thread: when the engine refuses it (the
  // environment is being torn down), no wait has started that nobody could
  // cancel.
  Napi::Value handle = WrapHandle<Handle>(env, kWaitHandle, new Handle{p}, OnHandleFinalized);
  if (handle.IsEmpty()) {
    DropPendingException(env);
    return Napi::Number::New(env, -ECANCELED);
  }
  if (napi_create_reference(env, callback, 1, &p->callback) != napi_ok) {
    DropPendingException(env);
    return Napi::Number::New(env, -ECANCELED);
  }

  // The thread blocks every signal, so signals reach the threads that handle
  // them and never interrupt a wait.
  sigset_t all, old;
  sigfillset(&all);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t thread;
  auto* arg = new Box{p};
  int r = pthread_create(&thread, &attr, Run, arg);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  if (r != 0) {
    delete arg;
    hub->DropCallback(p.get());
    return Napi::Number::New(env, -r);
  }
  hub->Track(p);
  return handle;
}

void Init(Napi::Env env, Napi::Object exports) {
  auto hub = std::make_shared<Hub>();
  hub->env = env;
  uv_loop_t* loop;
  napi_get_uv_event_loop(env, &loop);
  uv_async_init(loop, &hub->async, OnAsync);
  hub->async.data = hub.get();
  uv_unref(reinterpret_cast<uv_handle_t*>(&hub->async));
  hub->self = hub;
  napi_add_async_cleanup_hook(env, OnTeardown, hub.get(), &hub->hook);
  EnvState::Get(env)->waiter_hub = hub;
  const FunctionExport functions[] = {
      {"waitCancel", Cancel},
      {"waitSetRef", SetRef},
  };
  SetFunctions(env, exports, functions);
}

}  // namespace waiter
}  // namespace posix_ipc
