// Per-environment state (env_state.h): installing it, and closing what the
// environment left open when it is torn down.
//
// See: napi_add_env_cleanup_hook, napi_set_instance_data, munmap(2), close(2).
#include "env_state.h"

#include <sys/mman.h>
#include <unistd.h>

namespace posix_ipc {

namespace {
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
  for (int fd : state->fds_) close(fd);
  delete state;
}

}  // namespace posix_ipc
