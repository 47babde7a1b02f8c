// Blocking the calling thread until a descriptor is ready (blocking_wait.h):
// the deadline, the ppoll(2) loop, and which descriptor this thread waits on
// first.
//
// See: poll(2), ppoll(2), clock_gettime(2) (CLOCK_MONOTONIC).
#include "blocking_wait.h"

namespace posix_ipc {

Deadline DeadlineArg(const Napi::CallbackInfo& info, size_t i) {
  return DeadlineIn(static_cast<double>(info[i].As<Napi::Number>().Int64Value()));
}

int WaitFor(int fd, short events, const Deadline& deadline) {
  for (;;) {
    struct timespec left;
    struct timespec* timeout = nullptr;
    if (!deadline.forever) {
      // Past the deadline: one last look that does not wait.
      left = Remaining(deadline.at);
      timeout = &left;
    }
    struct pollfd p = {fd, events, 0};
    int r = ppoll(&p, 1, timeout, nullptr);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -errno;
    if (r == 0) return -ETIMEDOUT;
    if (p.revents & POLLNVAL) return -EBADF;
    return 0;
  }
}

bool Waits(const Napi::CallbackInfo& info, size_t i) { return !info[i].IsNull() && !info[i].IsUndefined(); }

namespace blocking_wait_detail {
namespace {

// The descriptor on which this thread's last blocking call found nothing at
// its first try, and how many calls have waited on it first since.
struct WaitFirstOn {
  int fd = -1;
  unsigned calls = 0;
};
thread_local WaitFirstOn wait_first_on;

// How often a descriptor that is waited on first is tried first again.
constexpr unsigned kProbeEvery = 16;

}  // namespace

bool WaitFirst(int fd) { return wait_first_on.fd == fd && ++wait_first_on.calls % kProbeEvery != 0; }

void FirstTried(int fd, bool found_nothing) {
  if (found_nothing)
    wait_first_on = {fd, 0};
  else if (wait_first_on.fd == fd)
    wait_first_on.fd = -1;
}

}  // namespace blocking_wait_detail
}  // namespace posix_ipc
