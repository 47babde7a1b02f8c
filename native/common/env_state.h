// Per-environment state: what one JavaScript environment (the main thread or
// a worker_threads Worker) has open in the kernel, so that tearing the
// environment down closes it (better-sqlite3's Addon::Cleanup is the model).
//
// Everything here is touched only from the environment's own JavaScript
// thread, so nothing needs a lock, except the process-wide record of which
// descriptors some environment owns (see TrackFd): a descriptor number is the
// process's, and each thread may ask about it.
#ifndef POSIX_IPC_COMMON_ENV_STATE_H_
#define POSIX_IPC_COMMON_ENV_STATE_H_

#include <napi.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <unordered_set>

namespace posix_ipc {

class EnvState;
namespace waiter {
struct Hub;
}

// One mmap(2) region handed to JavaScript as an external ArrayBuffer. It is
// owned by that ArrayBuffer's finalizer once `adopted` is set; `owner` is
// non-null exactly while the region is still mapped and registered with its
// environment.
struct Mapping {
  void* addr;
  size_t length;
  EnvState* owner;
  bool adopted;
};

class EnvState {
 public:
  // Creates the state for `env` and registers the teardown hook.
  static void Install(Napi::Env env);
  static EnvState* Get(Napi::Env env);

  // This environment owns `fd`: its teardown closes it. Also recorded
  // process-wide, so that no other environment (a Worker) adopts the same
  // number: its teardown would close a descriptor this one still uses, and
  // this one's close() would then close whatever file reused the number.
  void TrackFd(int fd);
  // TrackFd, but only when no environment of this process owns `fd` yet,
  // checked and recorded at once: whether it was.
  bool ClaimFd(int fd);
  // This environment no longer owns `fd` (call it before close(2): once the
  // number is free, another thread may be given it and track it).
  void UntrackFd(int fd);
  // Whether any environment of this process owns `fd`.
  static bool OwnedAnywhere(int fd);

  void TrackMapping(Mapping* m) { mappings_[m->addr] = m; }
  Mapping* FindMapping(void* addr) const;
  // Unmaps `m` and forgets it. The ArrayBuffer over it must be detached first.
  static void Unmap(Mapping* m);

  // Where this environment's wait threads report (common/waiter).
  std::shared_ptr<waiter::Hub> waiter_hub;

 private:
  // Environment teardown: unmaps and closes whatever JavaScript left open.
  static void Cleanup(void* arg);

  std::unordered_set<int> fds_;
  std::unordered_map<void*, Mapping*> mappings_;
};

// The step after every call that makes a descriptor: a new one (`fd` >= 0) is
// tracked by env's state, so that environment teardown closes it if
// JavaScript never does. Returns `fd` unchanged, -errno included.
inline int Tracked(Napi::Env env, int fd) {
  if (fd >= 0) EnvState::Get(env)->TrackFd(fd);
  return fd;
}

// Undoes Tracked for a descriptor a call made but does not hand to JavaScript
// after all (a later step failed): untracked and closed.
inline void CloseTracked(Napi::Env env, int fd) {
  EnvState::Get(env)->UntrackFd(fd);
  close(fd);
}

// The same as Tracked for a call that makes a pair of descriptors (pipe2, socketpair):
// after it returned `r`, 0 makes both tracked and copies them to out[0] and
// out[1] (JavaScript's Int32Array(2)). Returns `r` unchanged, -errno included.
inline int TrackedPair(Napi::Env env, int r, const int (&fds)[2], int32_t* out) {
  if (r != 0) return r;
  EnvState* state = EnvState::Get(env);
  state->TrackFd(fds[0]);
  state->TrackFd(fds[1]);
  out[0] = fds[0];
  out[1] = fds[1];
  return r;
}

}  // namespace posix_ipc

#endif  // POSIX_IPC_COMMON_ENV_STATE_H_
