// Deadlines as absolute clock times (struct timespec), the form that
// clock_nanosleep(2), ppoll(2), sem_clockwait(3), pthread_mutex_clocklock(3)
// and mq_timedsend(3) take. A deadline is computed once per call, so retries
// after EINTR or a spurious wake-up wait only for what is left of it.
//
// See: clock_gettime(2).
#ifndef POSIX_IPC_COMMON_DEADLINE_H_
#define POSIX_IPC_COMMON_DEADLINE_H_

#include <cstdint>
#include <ctime>

namespace posix_ipc {

constexpr long kNsPerSecond = 1000000000;

// `clock`'s now + ms. Fractions of a millisecond count; callers bound ms (a
// timeout is validated in JavaScript to about 24.8 days at most).
inline timespec ClockAfter(clockid_t clock, double ms) {
  timespec t;
  clock_gettime(clock, &t);
  long long ns = static_cast<long long>(ms * 1e6);
  t.tv_sec += ns / kNsPerSecond;
  t.tv_nsec += ns % kNsPerSecond;
  if (t.tv_nsec >= kNsPerSecond) {
    t.tv_sec += 1;
    t.tv_nsec -= kNsPerSecond;
  }
  return t;
}

// CLOCK_MONOTONIC now + ms: a wall-clock change must not move a deadline.
inline timespec MonotonicAfter(double ms) { return ClockAfter(CLOCK_MONOTONIC, ms); }

// Whether `a` is strictly earlier than `b`.
inline bool Before(const timespec& a, const timespec& b) {
  return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

inline timespec Earlier(const timespec& a, const timespec& b) { return Before(a, b) ? a : b; }

// Whether the CLOCK_MONOTONIC `deadline` has come.
inline bool Passed(const timespec& deadline) { return !Before(MonotonicAfter(0), deadline); }

// How long until the CLOCK_MONOTONIC `deadline` (a relative timeout, as
// ppoll(2) takes it); zero once it has passed.
inline timespec Remaining(const timespec& deadline) {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  timespec left = {deadline.tv_sec - now.tv_sec, deadline.tv_nsec - now.tv_nsec};
  if (left.tv_nsec < 0) {
    left.tv_sec--;
    left.tv_nsec += kNsPerSecond;
  }
  if (left.tv_sec < 0) left = {0, 0};
  return left;
}

// A wait's limit: one CLOCK_MONOTONIC time, computed once per call, or none.
struct Deadline {
  bool forever;
  timespec at;

  // Whether it has come (never, for a wait without a limit).
  bool HasPassed() const { return !forever && Passed(at); }
  // The end of a sleep of at most slice_ms that ends no later than the deadline.
  timespec SliceEnd(long slice_ms) const {
    return forever ? MonotonicAfter(slice_ms) : Earlier(MonotonicAfter(slice_ms), at);
  }
  // As the C calls take a deadline: nullptr for none.
  const timespec* get() const { return forever ? nullptr : &at; }
};

// timeout_ms < 0: no limit.
inline Deadline DeadlineIn(double timeout_ms) {
  Deadline d = {timeout_ms < 0, {0, 0}};
  if (!d.forever) d.at = MonotonicAfter(timeout_ms);
  return d;
}

// CLOCK_MONOTONIC now in nanoseconds, for short spins.
inline int64_t NowNs() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * kNsPerSecond + now.tv_nsec;
}

}  // namespace posix_ipc

#endif  // POSIX_IPC_COMMON_DEADLINE_H_
