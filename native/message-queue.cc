// POSIX message queues.
//
// See: mq_open(3), mq_unlink(3), mq_getattr(3), mq_send(3), mq_receive(3),
// mq_overview(7), proc(5) (/proc/self/fd).
//
// Every queue descriptor is opened O_NONBLOCK | O_CLOEXEC. On Linux an mqd_t is
// a file descriptor that poll/epoll understand, so the asynchronous side waits
// with uv_poll (fd_watcher) and never parks a thread. The *Sync variants block
// in mq_timedsend/mq_timedreceive on a second, blocking descriptor for the same
// queue (reopened through /proc/self/fd): there the kernel hands a message
// straight to a sleeping receiver, one wake-up instead of poll-then-retry, and
// the non-blocking descriptor's open file description is left alone.
#include "message-queue.h"

#include <fcntl.h>
#include <mqueue.h>
#include <unistd.h>

#include <time.h>

#include <cstdint>
#include <string>

#include "common/deadline.h"
#include "common/env_state.h"
#include "common/exports.h"
#include "common/pool.h"
#include "common/result.h"
#include "common/sys.h"
#include "common/view.h"

namespace posix_ipc {
namespace message_queue {
namespace {

mqd_t MqdArg(const Napi::CallbackInfo& info) { return info[0].As<Napi::Number>().Int32Value(); }

// mqOpen(name, oflag, mode, maxMessages, messageSize) -> mqd | -errno.
// maxMessages and messageSize apply when creating; 0 means the system defaults.
Napi::Value MqOpen(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>().Utf8Value();
  int oflag = info[1].As<Napi::Number>().Int32Value() | O_NONBLOCK | O_CLOEXEC;
  mode_t mode = info[2].As<Napi::Number>().Uint32Value();
  struct mq_attr attr = {};
  attr.mq_maxmsg = info[3].As<Napi::Number>().Int64Value();
  attr.mq_msgsize = info[4].As<Napi::Number>().Int64Value();
  struct mq_attr* attr_arg = attr.mq_maxmsg > 0 ? &attr : nullptr;
  mqd_t mqd = Tracked(info.Env(), RetryOnEintr([&] { return mq_open(name.c_str(), oflag, mode, attr_arg); }));
  return Result(info.Env(), mqd);
}

// mqUnlink(name) -> 0 | -errno.
Napi::Value MqUnlink(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>().Utf8Value();
  return Result(info.Env(), RetryOnEintr([&] { return mq_unlink(name.c_str()); }));
}

// mqGetattr(mqd, out: Float64Array(3)) -> 0 | -errno; out = [maxmsg, msgsize, curmsgs].
Napi::Value MqGetattr(const Napi::CallbackInfo& info) {
  struct mq_attr attr;
  int r = RetryOnEintr([&] { return mq_getattr(MqdArg(info), &attr); });
  if (r == 0) {
    double* out = info[1].As<Napi::Float64Array>().Data();
    out[0] = static_cast<double>(attr.mq_maxmsg);
    out[1] = static_cast<double>(attr.mq_msgsize);
    out[2] = static_cast<double>(attr.mq_curmsgs);
  }
  return Result(info.Env(), r);
}

// mqOpenBlocking(mqd) -> fd | -errno: a blocking, close-on-exec descriptor
// for the same queue, with the same access mode. Works after mq_unlink too.
Napi::Value MqOpenBlocking(const Napi::CallbackInfo& info) {
  mqd_t mqd = MqdArg(info);
  int flags = RetryOnEintr([&] { return fcntl(mqd, F_GETFL); });
  if (flags < 0) return Result(info.Env(), flags);
  std::string path = "/proc/self/fd/" + std::to_string(mqd);
  int fd = Tracked(info.Env(), RetryOnEintr([&] { return open(path.c_str(), (flags & O_ACCMODE) | O_CLOEXEC); }));
  return Result(info.Env(), fd);
}

// The CLOCK_REALTIME time timeout_ms from now, as mq_timed* want it; null for
// no limit. EINTR retries reuse it, so signals never extend the wait.
const struct timespec* RealtimeDeadline(int64_t timeout_ms, struct timespec* at) {
  if (timeout_ms < 0) return nullptr;
  *at = ClockAfter(CLOCK_REALTIME, static_cast<double>(timeout_ms));
  return at;
}

// The attempts that must not wait (trySend/tryReceive, and the event loop's
// tries) pass a deadline long past rather than count on O_NONBLOCK: a process
// the descriptor was passed to shares its open file description and may have
// cleared the flag. Full or empty is then ETIMEDOUT at once, reported as EAGAIN.
const struct timespec kPast = {0, 0};

int NowOrEagain(int r) { return r == -ETIMEDOUT ? -EAGAIN : r; }

// One send of info[1] (a Uint8Array) at priority info[2], waiting until
// `deadline` (nullptr: no limit; &kPast: not at all, full is -EAGAIN).
Napi::Value Send(const Napi::CallbackInfo& info, const struct timespec* deadline) {
  mqd_t mqd = MqdArg(info);
  uint8_t* data;
  size_t length;
  if (!BytesArg(info.Env(), info[1], &data, &length)) return Result(info.Env(), -EINVAL);
  unsigned priority = info[2].As<Napi::Number>().Uint32Value();
  const char* bytes = reinterpret_cast<const char*>(data);
  // glibc declares the timeout nonnull: no deadline means plain mq_send.
  int r = RetryOnEintr([&] {
    return deadline ? mq_timedsend(mqd, bytes, length, priority, deadline) : mq_send(mqd, bytes, length, priority);
  });
  if (deadline == &kPast) r = NowOrEagain(r);
  return Result(info.Env(), r);
}

// mqSend(mqd, data: Uint8Array, priority) -> 0 | -errno (-EAGAIN when full).
Napi::Value MqSend(const Napi::CallbackInfo& info) { return Send(info, &kPast); }

// mqSendSync(blockingFd, data, priority, timeoutMs) -> 0 | -errno (-ETIMEDOUT).
// timeoutMs < 0: no limit.
Napi::Value MqSendSync(const Napi::CallbackInfo& info) {
  struct timespec at;
  return Send(info, RealtimeDeadline(info[3].As<Napi::Number>().Int64Value(), &at));
}

// One receive into `scratch` (which must hold mq_msgsize bytes): the length,
// with the priority written to priorityOut[0]. When info[offset_at] is given,
// info[1] is a receive pool (common/pool.h) and the message goes straight
// into it from that offset: the copying receives' one copy, the kernel's.
Napi::Value Receive(const Napi::CallbackInfo& info, const struct timespec* deadline, size_t offset_at) {
  mqd_t mqd = MqdArg(info);
  uint8_t* scratch;
  size_t scratch_length;
  bool ok = info.Length() > offset_at ? PoolRoomArg(info.Env(), info[1], info[offset_at], &scratch, &scratch_length)
                                      : BytesArg(info.Env(), info[1], &scratch, &scratch_length);
  if (!ok) return Result(info.Env(), -EINVAL);
  uint32_t* priority_out = info[2].As<Napi::Uint32Array>().Data();
  char* bytes = reinterpret_cast<char*>(scratch);
  unsigned priority = 0;
  // glibc declares the timeout nonnull: no deadline means plain mq_receive.
  // The kernel writes at most scratch_length bytes (EMSGSIZE when that is
  // less than mq_msgsize), the real view's length.
  ssize_t r = RetryOnEintr([&] {
    return deadline ? mq_timedreceive(mqd, bytes, scratch_length, &priority, deadline)
                    : mq_receive(mqd, bytes, scratch_length, &priority);
  });
  if (r >= 0) *priority_out = priority;
  if (deadline == &kPast) r = NowOrEagain(static_cast<int>(r));
  return Result(info.Env(), static_cast<double>(r));
}

// mqReceive(mqd, scratch, priorityOut: Uint32Array(1)[, offset]) -> length | -errno
// (-EAGAIN when empty, whatever the descriptor's O_NONBLOCK says). With an
// offset, scratch is a receive pool.
Napi::Value MqReceive(const Napi::CallbackInfo& info) { return Receive(info, &kPast, 3); }

// mqReceiveSync(blockingFd, scratch, priorityOut, timeoutMs[, offset]) -> length | -errno (-ETIMEDOUT).
Napi::Value MqReceiveSync(const Napi::CallbackInfo& info) {
  struct timespec at;
  return Receive(info, RealtimeDeadline(info[3].As<Napi::Number>().Int64Value(), &at), 4);
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  const FunctionExport functions[] = {
      {"mqOpen", MqOpen}, {"mqUnlink", MqUnlink},     {"mqGetattr", MqGetattr}, {"mqOpenBlocking", MqOpenBlocking},
      {"mqSend", MqSend}, {"mqSendSync", MqSendSync}, {"mqReceive", MqReceive}, {"mqReceiveSync", MqReceiveSync},
  };
  SetFunctions(env, exports, functions);
  const ConstantExport constants[] = {
      {"MQ_PRIO_MAX", static_cast<double>(sysconf(_SC_MQ_PRIO_MAX))},
  };
  SetConstants(env, exports, constants);
}

}  // namespace message_queue
}  // namespace posix_ipc
