// POSIX message queues.
//
// See: mq_open(3), mq_unlink(3), mq_getattr(3), mq_send(3), mq_receive(3),
// mq_overview(7), poll(2).
//
// Every queue descriptor is opened O_NONBLOCK | O_CLOEXEC. On Linux an mqd_t is
// a file descriptor that poll/epoll understand, so the asynchronous side waits
// with uv_poll (fd_watcher) and never parks a thread. The *Sync variants wait
// with poll(2) and then retry the non-blocking call: a blocking descriptor (or
// toggling O_NONBLOCK with mq_setattr) would change the open file description
// that other handles may share.
#include "mqueue.h"

#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <unistd.h>

#include <string>

#include "common/env_state.h"
#include "common/sys.h"

namespace posix_ipc {
namespace mqueue {
namespace {

Napi::Number Result(Napi::Env env, double r) { return Napi::Number::New(env, r); }

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
  mqd_t mqd = RetryOnEintr([&] { return mq_open(name.c_str(), oflag, mode, attr_arg); });
  if (mqd >= 0) EnvState::Get(info.Env())->TrackFd(mqd);
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

// mqSend(mqd, data: Uint8Array, priority, timeoutMs) -> 0 | -errno.
// timeoutMs < 0 with wait == false: one attempt (-EAGAIN when full). With
// wait: poll until there is room, for at most timeoutMs (-1: no limit).
int Send(mqd_t mqd, const Napi::Uint8Array& data, unsigned priority, bool wait, int64_t timeout_ms) {
  const char* bytes = reinterpret_cast<const char*>(data.Data());
  size_t length = data.ByteLength();
  int64_t deadline = DeadlineAfter(timeout_ms);
  for (;;) {
    int r = RetryOnEintr([&] { return mq_send(mqd, bytes, length, priority); });
    if (r != -EAGAIN || !wait) return r;
    // Another sender may fill the room first: retry until the deadline.
    r = WaitForFd(mqd, POLLOUT, deadline);
    if (r < 0) return r;
  }
}

// mqReceive, one attempt or waiting as for Send; returns the length, writes
// the priority to out[0]. `scratch` must hold mq_msgsize bytes.
ssize_t Receive(mqd_t mqd, Napi::Uint8Array scratch, uint32_t* priority, bool wait, int64_t timeout_ms) {
  char* bytes = reinterpret_cast<char*>(scratch.Data());
  size_t length = scratch.ByteLength();
  int64_t deadline = DeadlineAfter(timeout_ms);
  for (;;) {
    unsigned prio = 0;
    ssize_t r = RetryOnEintr([&] { return mq_receive(mqd, bytes, length, &prio); });
    if (r >= 0) *priority = prio;
    if (r != -EAGAIN || !wait) return r;
    // Another receiver may take the message first: retry until the deadline.
    int w = WaitForFd(mqd, POLLIN, deadline);
    if (w < 0) return w;
  }
}

// mqSend(mqd, data, priority) -> 0 | -errno (-EAGAIN when full).
Napi::Value MqSend(const Napi::CallbackInfo& info) {
  return Result(info.Env(), Send(MqdArg(info), info[1].As<Napi::Uint8Array>(), info[2].As<Napi::Number>().Uint32Value(), false, 0));
}

// mqSendSync(mqd, data, priority, timeoutMs) -> 0 | -errno (-ETIMEDOUT).
Napi::Value MqSendSync(const Napi::CallbackInfo& info) {
  return Result(info.Env(), Send(MqdArg(info), info[1].As<Napi::Uint8Array>(), info[2].As<Napi::Number>().Uint32Value(), true,
                                 info[3].As<Napi::Number>().Int64Value()));
}

// mqReceive(mqd, scratch, priorityOut: Uint32Array(1)) -> length | -errno (-EAGAIN when empty).
Napi::Value MqReceive(const Napi::CallbackInfo& info) {
  uint32_t* priority = info[2].As<Napi::Uint32Array>().Data();
  return Result(info.Env(), Receive(MqdArg(info), info[1].As<Napi::Uint8Array>(), priority, false, 0));
}

// mqReceiveSync(mqd, scratch, priorityOut, timeoutMs) -> length | -errno (-ETIMEDOUT).
Napi::Value MqReceiveSync(const Napi::CallbackInfo& info) {
  uint32_t* priority = info[2].As<Napi::Uint32Array>().Data();
  return Result(info.Env(), Receive(MqdArg(info), info[1].As<Napi::Uint8Array>(), priority, true,
                                    info[3].As<Napi::Number>().Int64Value()));
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("mqOpen", Napi::Function::New(env, MqOpen, "mqOpen"));
  exports.Set("mqUnlink", Napi::Function::New(env, MqUnlink, "mqUnlink"));
  exports.Set("mqGetattr", Napi::Function::New(env, MqGetattr, "mqGetattr"));
  exports.Set("mqSend", Napi::Function::New(env, MqSend, "mqSend"));
  exports.Set("mqSendSync", Napi::Function::New(env, MqSendSync, "mqSendSync"));
  exports.Set("mqReceive", Napi::Function::New(env, MqReceive, "mqReceive"));
  exports.Set("mqReceiveSync", Napi::Function::New(env, MqReceiveSync, "mqReceiveSync"));
  exports.Set("MQ_PRIO_MAX", Napi::Number::New(env, static_cast<double>(sysconf(_SC_MQ_PRIO_MAX))));
}

}  // namespace mqueue
}  // namespace posix_ipc
