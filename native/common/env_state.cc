// Per-environment state (env_state.h): installing it, and closing what the
// environment left open when it is torn down.
//
// See: napi_add_env_cleanup_hook, napi_set_instance_data, munmap(2), close(2).
#include "env_state.h"

#include <sys/mman.h>
#include <unistd.h>

#include <mutex>

namespace posix_ipc {

namespace {
// The descriptors the environments of the process own, each with how many
// environments track it (more than one only when a number one of them tracks
// was closed behind its back and made again for another), behind a lock:
// environments run on threads of their own. Never destroyed, so a Worker torn
// down during process exit still finds it.
std::mutex& OwnedLock() {
  static std::mutex* lock = new std::mutex();
  return *lock;
}
std::unordered_map<int, int>& Owned() {
  static auto* owned = new std::unordered_map<int, int>();
  return *owned;
}

// One fewer environment owns `fd`. The caller holds OwnedLock().
void Disown(int fd) {
  auto it = Owned().find(fd);
  if (it != Owned().end() && --it->second == 0) Owned().erase(it);
}
// The cleanup hook deletes the state, so Node's instance-data finalizer must
// not: that keeps the order of the two teardown steps ours to choose.
void KeepInstanceData(Napi::Env, EnvState*) {}
}  // namespace

void EnvState::Install(Napi::Env env) {
  auto* state = new EnvState();
  env.SetInstanceData<EnvState, KeepInstanceData>(state);
  napi_add_env_cleanup_hook(env, Cleanup, state);
}

EnvState* EnvState::Get(Napi::Env env) { return env.GetInstanceData<EnvState>(); }

void EnvState::TrackFd(int fd) {
  std::lock_guard<std::mutex> hold(OwnedLock());
  if (fds_.insert(fd).second) Owned()[fd]++;
}

bool EnvState::ClaimFd(int fd) {
  std::lock_guard<std::mutex> hold(OwnedLock());
  if (Owned().count(fd) != 0) return false;
  fds_.insert(fd);
  Owned()[fd] = 1;
  return true;
}

void EnvState::UntrackFd(int fd) {
  std::lock_guard<std::mutex> hold(OwnedLock());
  if (fds_.erase(fd) != 0) Disown(fd);
}

bool EnvState::OwnedAnywhere(int fd) {
  std::lock_guard<std::mutex> hold(OwnedLock());
  return Owned().count(fd) != 0;
}

Mapping* EnvState::FindMapping(void* addr) const {
  auto it = mappings_.find(addr);
  return it == mappings_.end() ? nullptr : it->second;
}

void EnvState::Unmap(Mapping* m) {
  if (m->owner == nullptr) return;
  m->owner->mappings_.erase(m->addr);
  m->owner = nullptr;
  munmap(m->addr, m->length);
}

void EnvState::Cleanup(void* arg) {
  auto* state = static_cast<EnvState*>(arg);
  // No JavaScript runs any more, so no view can reach these regions. The
  // ArrayBuffer finalizers may still run later; they find owner == nullptr
  // and only free the Mapping record.
  while (!state->mappings_.empty()) Unmap(state->mappings_.begin()->second);
  {
    // Disowned before closed: once closed, another thread may be given the
    // number and track it.
    std::lock_guard<std::mutex> hold(OwnedLock());
    for (int fd : state->fds_) Disown(fd);
  }
  for (int fd : state->fds_) close(fd);
  delete state;
}

}  // namespace posix_ipc
