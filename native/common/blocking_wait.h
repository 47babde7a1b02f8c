// Blocking the calling thread until a descriptor is ready, for the *Sync calls
// of pollable objects (dedicated processes and scripts; the event loop waits
// on uv_poll instead, fd_watcher): a non-blocking attempt, and on EAGAIN a
// ppoll(2) until the descriptor is ready or one CLOCK_MONOTONIC deadline,
// computed once, has passed, so that neither EINTR nor a spurious wake-up
// extends it.
//
// See: poll(2), ppoll(2), clock_gettime(2) (CLOCK_MONOTONIC).
#ifndef POSIX_IPC_COMMON_BLOCKING_WAIT_H_
#define POSIX_IPC_COMMON_BLOCKING_WAIT_H_

#include <napi.h>
#include <poll.h>
#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <ctime>

#include "deadline.h"

namespace posix_ipc {

// The deadline of the timeoutMs number at info[i].
Deadline DeadlineArg(const Napi::CallbackInfo& info, size_t i);

// Blocks the calling thread until poll(2) reports `events` (or an error or
// hang-up, which the next attempt reports) on fd: 0, -ETIMEDOUT once the
// deadline has passed, or -errno. EINTR waits again for what is left.
int WaitFor(int fd, short events, const Deadline& deadline);

// Whether a call that takes `timeoutMs: number | null` at info[i] waits:
// null (or undefined) makes one try that never blocks; a number blocks the
// thread up to that many milliseconds (< 0: no limit).
bool Waits(const Napi::CallbackInfo& info, size_t i);

namespace blocking_wait_detail {

// Whether this thread's blocking call on fd waits before its first try (see
// UntilReady), and what that first try found.
bool WaitFirst(int fd);
void FirstTried(int fd, bool found_nothing);

}  // namespace blocking_wait_detail

// Runs `attempt`, one try that never blocks, until it gives anything but
// -EAGAIN, blocking the calling thread in between until poll(2) reports
// `events` on fd: the last try's result, or -ETIMEDOUT (or -errno) from the
// wait once the deadline has passed.
//
// A request and its answer (a round trip) ask for the answer before it can be
// there, so each blocking call would make a try that fails, a ppoll, and the
// try again. When this thread's last blocking call on fd found nothing at its
// first try, this one waits first: a ppoll and one try, the same outcome
// (ppoll reports a descriptor that is ready at once, and one whose deadline
// has passed as -ETIMEDOUT, as the wait after a failed try would). Every
// few calls (blocking_wait.cc) one tries first again, and one that finds
// something there (a reader of a stream of messages) goes back to one try per
// message.
template <typename Attempt>
ssize_t UntilReady(int fd, short events, const Deadline& deadline, Attempt attempt) {
  bool wait = blocking_wait_detail::WaitFirst(fd);
  bool tried_first = !wait;
  for (;;) {
    if (wait) {
      int waited = WaitFor(fd, events, deadline);
      if (waited < 0) return waited;
    }
    ssize_t r = attempt();
    if (tried_first) {
      // Only a try made before any wait says whether fd keeps us waiting.
      blocking_wait_detail::FirstTried(fd, r == -EAGAIN);
      tried_first = false;
    }
    if (r != -EAGAIN) return r;
    wait = true;
  }
}

// `attempt` once, or as UntilReady runs it, as the timeoutMs at info[i] says.
template <typename Attempt>
ssize_t AttemptOrWait(const Napi::CallbackInfo& info, size_t i, int fd, short events, Attempt attempt) {
  if (!Waits(info, i)) return attempt();
  Deadline deadline = DeadlineArg(info, i);
  return UntilReady(fd, events, deadline, attempt);
}

}  // namespace posix_ipc

#endif  // POSIX_IPC_COMMON_BLOCKING_WAIT_H_
