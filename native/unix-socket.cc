// Unix-domain sockets: stream, sequenced-packet and datagram sockets bound to
// a path or to Linux's abstract namespace, descriptor passing and peer
// credentials.
//
// See: unix(7), socket(2), socketpair(2), bind(2), listen(2), accept4(2),
// connect(2), sendmsg(2), recvmsg(2), sendmmsg(2), recvmmsg(2), cmsg(3),
// getsockopt(2) (SO_PEERCRED, SO_TYPE, SO_SNDBUF), setsockopt(2) (SO_PASSCRED),
// ioctl(SIOCINQ), poll(2), fcntl(2) (F_DUPFD_CLOEXEC).
//
// Every socket this file creates is SOCK_CLOEXEC | SOCK_NONBLOCK, accepted
// ones come from accept4(SOCK_CLOEXEC | SOCK_NONBLOCK), and received
// descriptors are installed close-on-exec by MSG_CMSG_CLOEXEC. sendmsg and
// recvmsg also pass MSG_DONTWAIT, so a descriptor adopted from elsewhere (which
// may be blocking, and whose open file description other processes share, so
// it must not be switched to O_NONBLOCK) never blocks the event loop either.
// The asynchronous waits happen in JavaScript, on uv_poll (fd_watcher). The
// *Sync variants, for dedicated processes and scripts, block the calling
// thread instead, through common/blocking_wait.h: the same non-blocking
// attempt, and on EAGAIN a ppoll(2) until the socket is ready or the deadline
// has passed. (A socket cannot be made blocking for one call: O_NONBLOCK
// belongs to the open file description, which every duplicate and other
// processes share, and SO_RCVTIMEO to the socket; so a receive that must wait
// costs a ppoll on top of the receive, and UntilReady saves the failed attempt
// where it can.)
#include "unix-socket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/sockios.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "common/blocking_wait.h"
#include "common/env_state.h"
#include "common/exports.h"
#include "common/pool.h"
#include "common/result.h"
#include "common/sys.h"
#include "common/view.h"

// Newer than some C libraries' headers: a pidfd the kernel attaches when the
// receiving socket has SO_PASSPIDFD set (never by us, perhaps by whoever
// handed us the socket).
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif

namespace posix_ipc {
namespace unix_socket {
namespace {

// The kernel's limit on descriptors in one message (include/net/scm.h); it is
// not exported to user space. sendmsg with more fails with EINVAL.
constexpr int kScmMaxFd = 253;

// The largest chunk one receive takes from a stream socket (libuv reads 64 KiB
// at a time; a stream socket that wants throughput is handed to net.Socket).
constexpr size_t kMaxStreamChunk = 256 * 1024;

// The largest datagram or sequenced packet a sender can make: its SO_SNDBUF
// less 32 bytes, and SO_SNDBUF is at most net.core.wmem_max (read once).
size_t MaxMessageSize() {
  static const size_t size = [] {
    long wmem_max = 0;
    if (FILE* f = std::fopen("/proc/sys/net/core/wmem_max", "re")) {
      if (std::fscanf(f, "%ld", &wmem_max) != 1) wmem_max = 0;
      std::fclose(f);
    }
    // SO_SNDBUF doubles what is asked, up to twice wmem_max.
    return std::clamp(static_cast<size_t>(wmem_max) * 2, kMaxStreamChunk, static_cast<size_t>(64) << 20);
  }();
  return size;
}

int IntArg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int32Value(); }

// Fills `addr` from the bytes of sun_path that JavaScript built: a path, or a
// NUL followed by an abstract name. Returns the address length, or -errno for
// one that does not fit (JavaScript validates first; this is the last guard
// against overrunning sun_path).
int MakeAddress(Napi::Value value, struct sockaddr_un* addr, socklen_t* length) {
  uint8_t* data;
  size_t n;
  if (!BytesArg(value.Env(), value, &data, &n)) return -EINVAL;
  bool abstract = n > 0 && data[0] == 0;
  // A path needs room for its terminating NUL; an abstract name does not.
  size_t max = abstract ? sizeof(addr->sun_path) : sizeof(addr->sun_path) - 1;
  if (n == 0) return -EINVAL;
  if (n > max) return -ENAMETOOLONG;
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path, data, n);
  *length = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + n + (abstract ? 0 : 1));
  return 0;
}

// socketCreate(type) -> fd | -errno. An unbound, unconnected AF_UNIX socket.
Napi::Value SocketCreate(const Napi::CallbackInfo& info) {
  int type = IntArg(info, 0);
  int fd = Tracked(info.Env(), RetryOnEintr([&] { return ::socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0); }));
  return Result(info.Env(), fd);
}

// socketPair(type, out: Int32Array(2)) -> 0 | -errno. Two connected sockets.
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  int type = IntArg(info, 0);
  int32_t* out = info[1].As<Napi::Int32Array>().Data();
  int sv[2];
  int r = RetryOnEintr([&] { return socketpair(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv); });
  return Result(info.Env(), TrackedPair(info.Env(), r, sv, out));
}

// The (fd, address) arguments that socketBind and socketConnect share.
struct Endpoint {
  int fd;
  struct sockaddr_un addr;
  socklen_t length;
  const struct sockaddr* sockaddr() const { return reinterpret_cast<const struct sockaddr*>(&addr); }
};

// Reads the (fd, address) arguments into `out`: 0, or -errno for an address
// that does not fit.
int EndpointArgs(const Napi::CallbackInfo& info, Endpoint* out) {
  out->fd = IntArg(info, 0);
  return MakeAddress(info[1], &out->addr, &out->length);
}

// socketBind(fd, address, mode) -> 0 | -errno. For a path, mode >= 0 is
// applied to the socket's inode before bind(2): the kernel creates the file
// with that mode less the umask, so it is never more open than asked, not even
// for an instant. (An abstract name has no file and no permissions.)
Napi::Value SocketBind(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Endpoint e;
  int r = EndpointArgs(info, &e);
  if (r < 0) return Result(env, r);
  int mode = IntArg(info, 2);
  if (e.addr.sun_path[0] != 0 && mode >= 0) {
    r = RetryOnEintr([&] { return fchmod(e.fd, static_cast<mode_t>(mode)); });
    if (r < 0) return Result(env, r);
  }
  return Result(env, RetryOnEintr([&] { return bind(e.fd, e.sockaddr(), e.length); }));
}

// socketChmodPath(path: Uint8Array, mode) -> 0 | -errno. Sets the exact mode of
// a socket file just bound, when the umask took bits the caller asked for. The
// file is opened O_PATH | O_NOFOLLOW and checked to be a socket, and the mode is
// set through that descriptor's /proc link, so a path swapped for a symlink or
// another kind of file in the meantime is refused (-ELOOP, -ENOTSOCK).
Napi::Value SocketChmodPath(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* bytes;
  size_t bytes_length;
  if (!BytesArg(env, info[0], &bytes, &bytes_length)) return Result(env, -EINVAL);
  std::string path(reinterpret_cast<const char*>(bytes), bytes_length);
  mode_t mode = static_cast<mode_t>(IntArg(info, 1));
  int fd = RetryOnEintr([&] { return open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC); });
  if (fd < 0) return Result(env, fd);
  struct stat st;
  int r = RetryOnEintr([&] { return fstat(fd, &st); });
  if (r == 0 && !S_ISSOCK(st.st_mode)) r = -ENOTSOCK;
  if (r == 0) {
    std::string link = "/proc/self/fd/" + std::to_string(fd);
    r = RetryOnEintr([&] { return chmod(link.c_str(), mode); });
  }
  close(fd);
  return Result(env, r);
}

// socketListen(fd, backlog) -> 0 | -errno.
Napi::Value SocketListen(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0);
  int backlog = IntArg(info, 1);
  return Result(info.Env(), RetryOnEintr([&] { return listen(fd, backlog); }));
}

// socketAccept(fd) -> fd | -errno (-EAGAIN when nobody is waiting).
//
// The listening socket is this library's, made non-blocking, but a process it
// was passed to shares its open file description and may have cleared
// O_NONBLOCK, and accept4 has no per-call flag (unlike MSG_DONTWAIT): it is
// set again first, as libuv does, so that an accept never blocks.
int AcceptOnce(Napi::Env env, int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0 && !(flags & O_NONBLOCK)) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  int conn = Tracked(env, RetryOnEintr([&] { return accept4(fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK); }));
  return conn;
}

Napi::Value SocketAccept(const Napi::CallbackInfo& info) {
  return Result(info.Env(), AcceptOnce(info.Env(), IntArg(info, 0)));
}

// socketAcceptSync(fd, timeoutMs) -> fd | -errno (-ETIMEDOUT): blocks the
// calling thread until a connection comes or the deadline passes (timeoutMs
// < 0: never). A wake-up whose connection another process took waits again.
Napi::Value SocketAcceptSync(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0);
  Deadline deadline = DeadlineArg(info, 1);
  return Result(info.Env(),
                static_cast<double>(UntilReady(fd, POLLIN, deadline, [&] { return AcceptOnce(info.Env(), fd); })));
}

// socketConnect(fd, address) -> 0 | -errno. A Unix-domain connect never
// returns EINPROGRESS: it succeeds at once, or fails (-EAGAIN when the
// listener's backlog is full and the socket is non-blocking). It is not
// retried on EINTR (a non-blocking connect does not sleep, so it cannot be
// interrupted, and a retried connect could report EISCONN).
Napi::Value SocketConnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Endpoint e;
  int r = EndpointArgs(info, &e);
  if (r < 0) return Result(env, r);
  r = connect(e.fd, e.sockaddr(), e.length);
  return Result(env, r == -1 ? -errno : 0);
}

// The most messages one sendmmsg(2) or recvmmsg(2) call takes here: the
// kernel's own limit per call (UIO_MAXIOV). JavaScript calls again for more.
constexpr size_t kMaxBatch = 1024;

// The control data of one outgoing message: SCM_RIGHTS with up to kScmMaxFd
// descriptors.
union SendControl {
  struct cmsghdr align;
  char bytes[CMSG_SPACE(sizeof(int) * kScmMaxFd)];
};

// Sets msg's destination from `to` (sun_path bytes, or null/undefined: the
// peer) in addr: 0, or -errno for an address that does not fit.
int AttachAddress(Napi::Value to, struct msghdr* msg, struct sockaddr_un* addr) {
  if (to.IsNull() || to.IsUndefined()) return 0;
  socklen_t length;
  int r = MakeAddress(to, addr, &length);
  if (r < 0) return r;
  msg->msg_name = addr;
  msg->msg_namelen = length;
  return 0;
}

// Attaches the descriptors of `fds_value` (an Int32Array, or null/undefined:
// none) to msg as one SCM_RIGHTS message held in control: 0, or -EINVAL for
// more than the kernel takes.
int AttachFds(Napi::Value fds_value, struct msghdr* msg, SendControl* control) {
  if (fds_value.IsNull() || fds_value.IsUndefined()) return 0;
  void* fds_data;
  size_t count;
  if (!ViewArg(fds_value.Env(), fds_value, napi_int32_array, &fds_data, &count)) return -EINVAL;
  if (count > static_cast<size_t>(kScmMaxFd)) return -EINVAL;
  if (count == 0) return 0;
  std::memset(control, 0, sizeof(*control));
  msg->msg_control = control->bytes;
  msg->msg_controllen = CMSG_SPACE(sizeof(int) * count);
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int) * count);
  std::memcpy(CMSG_DATA(cmsg), fds_data, sizeof(int) * count);
  return 0;
}

// One outgoing message as sendmsg(2) wants it, built from the JavaScript
// arguments (data: Uint8Array, fds: Int32Array | null, to: Uint8Array | null)
// at info[first...]. It points into data's bytes, which stay put: the sync
// variant runs JavaScript no more until it returns.
struct Outgoing {
  struct msghdr msg;
  struct iovec iov;
  struct sockaddr_un addr;
  SendControl control;
};

// Fills `out`: 0, or -errno for a bad address or too many descriptors, or
// -EINVAL for data that is not a real Uint8Array (nothing is sent then).
int PrepareSend(const Napi::CallbackInfo& info, size_t first, Outgoing* out) {
  uint8_t* data;
  size_t length;
  if (!BytesArg(info.Env(), info[first], &data, &length)) return -EINVAL;
  std::memset(&out->msg, 0, sizeof(out->msg));
  out->iov = {data, length};
  out->msg.msg_iov = &out->iov;
  out->msg.msg_iovlen = 1;
  int r = AttachAddress(info[first + 2], &out->msg, &out->addr);
  if (r < 0) return r;
  return AttachFds(info[first + 1], &out->msg, &out->control);
}

// One sendmsg(2) that never blocks: bytes sent | -errno (-EAGAIN when full).
// MSG_NOSIGNAL: a closed peer is EPIPE, never SIGPIPE.
ssize_t SendOnce(int fd, struct msghdr* msg) {
  return RetryOnEintr([&] { return sendmsg(fd, msg, MSG_NOSIGNAL | MSG_DONTWAIT); });
}

// What WaitForRoom returns when it cannot wait: the caller tries once more,
// and that try reports what happened.
constexpr int kLastTry = 1;

// Blocks the calling thread after a send of `msg` on fd failed with EAGAIN,
// until it may go: 0 (try again), -errno (-ETIMEDOUT: the deadline passed),
// or kLastTry.
//
// An unconnected datagram socket whose receiver's queue is full
// (net.unix.max_dgram_qlen) reports itself writable all along, so poll(2) on
// it cannot wait for that receiver: a helper datagram socket connected to the
// receiver is polled instead, for which the kernel reports writability by the
// receiver's queue (unix_dgram_poll), as JavaScript's async send does. It is
// made on the first wait and kept in *helper, which the caller closes. When
// it cannot be made (most likely the receiver went away, or is connected
// elsewhere), the result is kLastTry: that send says so, or reports the full
// queue as EAGAIN.
int WaitForRoom(int fd, const struct msghdr& msg, int* helper, const Deadline& deadline) {
  int wait_fd = fd;
  if (msg.msg_name != nullptr) {
    struct pollfd p = {fd, POLLOUT, 0};
    if (RetryOnEintr([&] { return poll(&p, 1, 0); }) > 0 && (p.revents & POLLOUT)) {
      if (*helper < 0) {
        int made = RetryOnEintr([] { return ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0); });
        if (made >= 0 && connect(made, static_cast<struct sockaddr*>(msg.msg_name), msg.msg_namelen) < 0) {
          close(made);
          made = -1;
        }
        if (made < 0) return kLastTry;
        *helper = made;
      }
      wait_fd = *helper;
    }
  }
  return WaitFor(wait_fd, POLLOUT, deadline);
}

// socketSend(fd, data: Uint8Array, fds: Int32Array | null, to: Uint8Array | null)
// -> bytes sent | -errno (-EAGAIN when it would block). One sendmsg(2); the
// descriptors travel as one SCM_RIGHTS message (on a stream socket, with the
// first byte).
Napi::Value SocketSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Outgoing out;
  int r = PrepareSend(info, 1, &out);
  if (r < 0) return Result(env, r);
  return Result(env, static_cast<double>(SendOnce(IntArg(info, 0), &out.msg)));
}

// socketSendSync(fd, data, fds, to, timeoutMs) -> bytes sent | -errno
// (-ETIMEDOUT). Blocks the calling thread until all of data has gone (a
// stream may take it in parts; the descriptors go with the first) or the
// deadline passes (timeoutMs < 0: never); a full receiver is waited for as
// WaitForRoom explains.
Napi::Value SocketSendSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0);
  Outgoing out;
  int r = PrepareSend(info, 1, &out);
  if (r < 0) return Result(env, r);
  Deadline deadline = DeadlineArg(info, 4);

  size_t total = out.iov.iov_len;
  size_t sent = 0;
  int helper = -1;
  ssize_t result;
  for (;;) {
    ssize_t n = SendOnce(fd, &out.msg);
    if (n >= 0) {
      sent += static_cast<size_t>(n);
      if (sent >= total) {
        result = static_cast<ssize_t>(sent);
        break;
      }
      // Only a stream takes part of the data; the descriptors went with it.
      out.iov.iov_base = static_cast<uint8_t*>(out.iov.iov_base) + n;
      out.iov.iov_len -= static_cast<size_t>(n);
      out.msg.msg_control = nullptr;
      out.msg.msg_controllen = 0;
      continue;
    }
    if (n != -EAGAIN) {
      result = n;
      break;
    }
    int waited = WaitForRoom(fd, out.msg, &helper, deadline);
    if (waited == kLastTry) {
      result = SendOnce(fd, &out.msg);
      break;
    }
    if (waited < 0) {
      result = waited;
      break;
    }
  }
  if (helper >= 0) close(helper);
  return Result(env, static_cast<double>(result));
}

// socketSendMany(fd, datas: Uint8Array[], fds: (Int32Array | null)[] | null,
// to: Uint8Array | null, start, timeoutMs: number | null) -> messages sent |
// -errno. sendmmsg(2) of datas[start...], at most kMaxBatch of them: each one
// message (datagram and seqpacket sockets), with fds[i] as its own
// SCM_RIGHTS, all to `to` (or the peer).
//
// timeoutMs null: one try that never blocks (-EAGAIN when not even the first
// message fits). A number: blocks the calling thread until all have gone or
// the deadline passes (< 0: never), waiting for room as WaitForRoom explains.
// When some went and then the next could not (an error, the deadline), the
// result is how many went; a call for the rest reports why.
Napi::Value SocketSendMany(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0);
  if (!info[1].IsArray()) return Result(env, -EINVAL);
  auto datas = info[1].As<Napi::Array>();
  Napi::Value fds_value = info[2];
  bool with_fds = !fds_value.IsNull() && !fds_value.IsUndefined();
  if (with_fds && !fds_value.IsArray()) return Result(env, -EINVAL);
  uint32_t start = info[4].As<Napi::Number>().Uint32Value();
  uint32_t length = datas.Length();
  if (start >= length) return Result(env, 0);
  size_t count = std::min(static_cast<size_t>(length - start), kMaxBatch);

  struct sockaddr_un addr;
  struct msghdr common = {};
  int r = AttachAddress(info[3], &common, &addr);
  if (r < 0) return Result(env, r);
  std::vector<struct mmsghdr> msgs(count);
  std::vector<struct iovec> iovs(count);
  std::vector<SendControl> controls(with_fds ? count : 0);
  Napi::Array fds_list = with_fds ? fds_value.As<Napi::Array>() : Napi::Array();
  // Every message of the chunk is checked before the first goes: one that is
  // not a real Uint8Array fails the call with -EINVAL and none is sent.
  // (JavaScript checked the whole batch before the first chunk.)
  for (size_t i = 0; i < count; i++) {
    napi_value item;
    uint8_t* data;
    size_t data_length;
    if (napi_get_element(env, datas, static_cast<uint32_t>(start + i), &item) != napi_ok ||
        !BytesArg(env, item, &data, &data_length)) {
      return Result(env, -EINVAL);
    }
    iovs[i] = {data, data_length};
    struct msghdr& msg = msgs[i].msg_hdr;
    msg = common;
    msg.msg_iov = &iovs[i];
    msg.msg_iovlen = 1;
    if (with_fds) {
      r = AttachFds(fds_list.Get(static_cast<uint32_t>(start + i)), &msg, &controls[i]);
      if (r < 0) return Result(env, r);
    }
  }

  bool waits = Waits(info, 5);
  Deadline deadline = waits ? DeadlineArg(info, 5) : Deadline{};
  size_t sent = 0;
  int helper = -1;
  ssize_t failed = 0;
  auto send_rest = [&] {
    return RetryOnEintr([&] {
      return sendmmsg(fd, msgs.data() + sent, static_cast<unsigned>(count - sent), MSG_NOSIGNAL | MSG_DONTWAIT);
    });
  };
  while (sent < count) {
    int n = send_rest();
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n != -EAGAIN || !waits) {
      failed = n;
      break;
    }
    int waited = WaitForRoom(fd, msgs[sent].msg_hdr, &helper, deadline);
    if (waited == kLastTry) {
      n = send_rest();
      if (n > 0)
        sent += static_cast<size_t>(n);
      else
        failed = n;
      break;
    }
    if (waited < 0) {
      failed = waited;
      break;
    }
  }
  if (helper >= 0) close(helper);
  return Result(env, static_cast<double>(sent > 0 ? static_cast<ssize_t>(sent) : failed));
}

// What a receive reports besides the bytes, per message, in its meta
// argument: [length (the message's full length; more than what arrived only
// with MSG_TRUNC), msg_flags (MSG_CTRUNC also when descriptors had to be
// closed here), descriptor count, sun_path bytes of the sender's address (0:
// unnamed), 1 at end of stream].
enum Meta { kLength, kFlags, kFdCount, kAddressLength, kEnd, kMetaSize };

// The room for the sender's address that a receive reports (sun_path).
constexpr size_t kAddressBytes = sizeof(((struct sockaddr_un*)nullptr)->sun_path);

// Where one message is received: its bytes go to a target the caller
// provides, its control data and sender's address here.
struct Slot {
  struct iovec iov;
  struct sockaddr_un from;
  union {
    struct cmsghdr align;
    // Room for the most descriptors one message can carry, plus credentials
    // and a pidfd, which a socket set up elsewhere may have asked for.
    char bytes[CMSG_SPACE(sizeof(int) * kScmMaxFd) + CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int))];
  } control;
};

// Sets up msg to receive into target (size bytes) through slot; the sender's
// address only when want_from. Called before every try: recvmsg(2) changes msg.
void PrepareReceive(Slot* slot, void* target, size_t size, bool want_from, struct msghdr* msg) {
  std::memset(msg, 0, sizeof(*msg));
  slot->iov = {target, size};
  msg->msg_iov = &slot->iov;
  msg->msg_iovlen = 1;
  if (want_from) {
    slot->from.sun_family = AF_UNIX;
    msg->msg_name = &slot->from;
    msg->msg_namelen = sizeof(slot->from);
  }
  msg->msg_control = slot->control.bytes;
  msg->msg_controllen = sizeof(slot->control.bytes);
}

// The flags of every receive: never blocks, installs descriptors
// close-on-exec, and on message sockets reports a message's full length.
int ReceiveFlags(int type) { return MSG_DONTWAIT | MSG_CMSG_CLOEXEC | (type == SOCK_STREAM ? 0 : MSG_TRUNC); }

// How a receive tells, on a sequenced-packet socket, an empty message from
// the end of the stream: both read as 0 bytes, with the same flags and, from
// an unnamed peer, no address. Nothing about the socket tells them apart
// before the read either: poll reports POLLIN | POLLRDHUP for both once the
// peer has shut down, SIOCINQ (the bytes queued) is 0 for both, SO_MEMINFO's
// receive allocation stays 0 on a Unix socket (its queued messages are charged
// to their sender), and a MSG_PEEK reads 0 bytes for both. The mark is
// SCM_CREDENTIALS: with SO_PASSCRED set on the receiving socket when the
// receive runs, unix_dgram_recvmsg attaches them to every message it dequeues
// (scm_recv), and returns 0 for the end before it attaches anything (an empty
// queue and RCV_SHUTDOWN). So JavaScript sets the option once per handle,
// before its first receive (socketPassCredentials), and never clears it: an
// option that only ever goes on cannot be cleared under another receiver of
// the same socket (a process sharing it, or another handle of ours) between
// its setting and its read, which setting it around each receive could. The
// price, documented: a socket with SO_PASSCRED that sends while unbound is
// bound by the kernel to an abstract name of five hex digits for good
// (unix(7), autobind; unix_dgram_sendmsg calls unix_autobind when the socket
// passes credentials), and its peer sees that address.
//
// socketPassCredentials(fd) -> 0 | -errno: setsockopt(SO_PASSCRED, 1).
Napi::Value SocketPassCredentials(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0);
  int on = 1;
  return Result(info.Env(), RetryOnEintr([&] { return setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)); }));
}

// After a receive of n >= 0 bytes into msg: puts the descriptors into fds_out
// (up to max_fds; pidfds and any beyond are closed, and a closed SCM_RIGHTS
// descriptor sets MSG_CTRUNC), the sender's sun_path into address_out (when
// not null, kAddressBytes of room), tells the end of a stream (on a
// sequenced-packet socket, by the credentials the kernel put on every message
// of a socket with SO_PASSCRED: see SocketPassCredentials), and fills meta[0..kMetaSize).
//
// Received descriptors are close-on-exec (MSG_CMSG_CLOEXEC) and belong to the
// caller: they are not tracked, so that SharedMemory.fromFd and the like can
// adopt them.
void Finish(int type, const struct msghdr& msg, ssize_t n, int32_t* meta, int32_t* fds_out, int max_fds,
            uint8_t* address_out) {
  int count = 0;
  bool dropped = false;
  bool marked = false;
  for (struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr;
       cmsg = CMSG_NXTHDR(const_cast<struct msghdr*>(&msg), cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET) continue;
    if (cmsg->cmsg_type == SCM_CREDENTIALS) marked = true;
    if (cmsg->cmsg_type != SCM_RIGHTS && cmsg->cmsg_type != SCM_PIDFD) continue;
    size_t in_message = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < in_message; i++) {
      int received;
      std::memcpy(&received, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
      if (cmsg->cmsg_type == SCM_RIGHTS && count < max_fds) {
        fds_out[count++] = received;
      } else {
        // Nobody asked for a pidfd, and there is no room for more than asked
        // for: close them rather than leak them.
        close(received);
        if (cmsg->cmsg_type == SCM_RIGHTS) dropped = true;
      }
    }
  }

  int end = 0;
  if (n == 0 && count == 0 && !dropped) {
    if (type == SOCK_STREAM) {
      end = 1;
    } else if (type == SOCK_SEQPACKET) {
      // An empty message and the end of the stream both read as 0 bytes;
      // with SO_PASSCRED (SocketPassCredentials) the kernel marks every
      // message, and only messages.
      end = marked ? 0 : 1;
    }
  }

  size_t name_bytes = 0;
  if (address_out != nullptr && msg.msg_namelen > offsetof(struct sockaddr_un, sun_path)) {
    name_bytes = std::min(static_cast<size_t>(msg.msg_namelen - offsetof(struct sockaddr_un, sun_path)), kAddressBytes);
    std::memcpy(address_out, static_cast<const struct sockaddr_un*>(msg.msg_name)->sun_path, name_bytes);
  }

  meta[kLength] = static_cast<int32_t>(n);
  meta[kFlags] = msg.msg_flags | (dropped ? MSG_CTRUNC : 0);
  meta[kFdCount] = count;
  meta[kAddressLength] = static_cast<int32_t>(name_bytes);
  meta[kEnd] = end;
}

// socketReceive(fd, type, meta: Int32Array(kMetaSize), fdsOut: Int32Array(253),
// addressOut: Uint8Array(108), scratch: Uint8Array(MAX_MESSAGE_SIZE)) -> Buffer
// (stream) | bytes (message sockets) | -errno (-EAGAIN when nothing waits).
// socketReceiveSync(fd, type, meta, fdsOut, addressOut, scratch, timeoutMs) -> the same,
// or -ETIMEDOUT: blocks the calling thread until a message (or the end of the
// stream, or an error) is there, or the deadline passes (timeoutMs < 0:
// never). POLLIN wakes it; so do POLLHUP and POLLERR, which the receive then
// reports. A wake-up with nothing to take (another process took the message
// first) waits again for what is left of the deadline.
//
// Datagram and sequenced-packet sockets: one recvmsg into JavaScript's scratch
// buffer, as large as any message a sender can make (MaxMessageSize). With a
// receive pool and an offset (common/pool.h; info[pool_at], info[pool_at + 1]),
// a message of up to kPooledMax bytes is copied into the pool from that offset
// (which must leave kPooledMax bytes of room, else -EINVAL before anything is
// received), and JavaScript makes its Buffer there; a longer one JavaScript
// copies out of the scratch into a Buffer of its own. Stream sockets: what is queued
// (SIOCINQ), up to 256 KiB; the kernel ends a read at a message that carries
// descriptors, so they arrive with their own bytes. meta as for Finish; a
// length over the Buffer's only if MSG_TRUNC is set (a sender forced its
// SO_SNDBUF past net.core.wmem_max after this process started).
Napi::Value Receive(const Napi::CallbackInfo& info, const Deadline* deadline, size_t pool_at) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0);
  int type = IntArg(info, 1);
  int32_t* meta = info[2].As<Napi::Int32Array>().Data();
  auto fds_out = info[3].As<Napi::Int32Array>();
  auto address_out = info[4].As<Napi::Uint8Array>();
  auto scratch = info[5].As<Napi::Uint8Array>();
  if (address_out.ByteLength() < kAddressBytes) return Result(env, -EINVAL);
  uint8_t* pool = nullptr;
  size_t pool_room = 0;
  if (info.Length() > pool_at &&
      (!PoolRoomArg(env, info[pool_at], info[pool_at + 1], &pool, &pool_room) || pool_room < kPooledMax)) {
    return Result(env, -EINVAL);
  }

  Napi::Buffer<uint8_t> buffer;
  Slot slot;
  struct msghdr msg;
  size_t size = 0;
  auto attempt = [&]() -> ssize_t {
    // A stream chunk is read straight into its Buffer; a message into scratch.
    uint8_t* target;
    if (type == SOCK_STREAM) {
      int queued = 0;
      int r = RetryOnEintr([&] { return ioctl(fd, SIOCINQ, &queued); });
      if (r < 0) return r;
      if (queued == 0) {
        // Nothing queued: a 1-byte peek (no control buffer, so no descriptor
        // is installed) tells the end of the stream (0) from EAGAIN. Bytes
        // that arrived in between are measured again, so that a message is
        // not split after its first byte.
        char byte;
        ssize_t peeked = RetryOnEintr([&] { return recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT); });
        if (peeked < 0) return peeked;
        if (peeked > 0) {
          r = RetryOnEintr([&] { return ioctl(fd, SIOCINQ, &queued); });
          if (r < 0) return r;
        }
      }
      size = std::min(static_cast<size_t>(std::max(queued, 1)), kMaxStreamChunk);
      buffer = Napi::Buffer<uint8_t>::New(env, size);
      if (env.IsExceptionPending()) return -ENOMEM;
      target = buffer.Data();
    } else {
      size = scratch.ByteLength();
      target = scratch.Data();
    }
    PrepareReceive(&slot, target, size, true, &msg);
    return RetryOnEintr([&] { return recvmsg(fd, &msg, ReceiveFlags(type)); });
  };
  ssize_t n = deadline == nullptr ? attempt() : UntilReady(fd, POLLIN, *deadline, attempt);
  if (env.IsExceptionPending()) return env.Undefined();
  if (n < 0) return Result(env, static_cast<double>(n));
  int max_fds = static_cast<int>(std::min(fds_out.ElementLength(), static_cast<size_t>(kScmMaxFd)));
  Finish(type, msg, n, meta, fds_out.Data(), max_fds, address_out.Data());
  if (type != SOCK_STREAM) {
    // n is the message's whole length (MSG_TRUNC): only what is in scratch is copied.
    if (pool != nullptr && static_cast<size_t>(n) <= kPooledMax && static_cast<size_t>(n) <= size && n != 0) {
      memcpy(pool, scratch.Data(), static_cast<size_t>(n));
    }
    return Result(env, static_cast<double>(n));
  }
  return buffer;
}

// socketReceive(..., scratch[, pool, offset]).
Napi::Value SocketReceive(const Napi::CallbackInfo& info) { return Receive(info, nullptr, 6); }

// socketReceiveSync(..., scratch, timeoutMs[, pool, offset]).
Napi::Value SocketReceiveSync(const Napi::CallbackInfo& info) {
  Deadline deadline = DeadlineArg(info, 6);
  return Receive(info, &deadline, 7);
}

// socketReceiveInto(fd, type, target: Uint8Array, meta: Int32Array(kMetaSize),
// timeoutMs: number | null) -> bytes | -errno. One recvmsg(2) straight into
// target: no allocation, no sender's address. Descriptors that came with the
// message are closed (MSG_CTRUNC in meta's flags). On a message socket, a
// length in meta over target's size means the message was cut (MSG_TRUNC).
// timeoutMs null: never blocks (-EAGAIN when nothing waits); a number: blocks
// the calling thread as socketReceiveSync does. A target of 0 bytes is
// -EINVAL: recvmsg into it would read a stream as ended while data waits, and
// take a datagram whole only to lose it as truncated.
Napi::Value SocketReceiveInto(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0);
  int type = IntArg(info, 1);
  uint8_t* target;
  size_t target_length;
  if (!BytesArg(info.Env(), info[2], &target, &target_length) || target_length == 0) return Result(info.Env(), -EINVAL);
  int32_t* meta = info[3].As<Napi::Int32Array>().Data();
  Slot slot;
  struct msghdr msg;
  auto attempt = [&]() -> ssize_t {
    PrepareReceive(&slot, target, target_length, false, &msg);
    return RetryOnEintr([&] { return recvmsg(fd, &msg, ReceiveFlags(type)); });
  };
  ssize_t n = AttemptOrWait(info, 4, fd, POLLIN, attempt);
  if (n >= 0) Finish(type, msg, n, meta, nullptr, 0, nullptr);
  return Result(info.Env(), static_cast<double>(n));
}

// Where recvmmsg(2) lands, one per thread (each Worker has its own): grown to
// the largest batch asked for. The data is allocated without being touched,
// so pages no message reached are never made resident.
struct Batch {
  std::unique_ptr<uint8_t[]> data;
  size_t data_size = 0;
  std::vector<Slot> slots;
  std::vector<struct mmsghdr> msgs;
};

// socketReceiveMany(fd, type, max, messageSize, meta: Int32Array(1 + max *
// kMetaSize), fdsOut: Int32Array, addressOut: Uint8Array(max * 108),
// timeoutMs: number | null) -> Buffer | -errno. One recvmmsg(2) of up to max
// (at most kMaxBatch) messages of up to messageSize bytes each; meta[0] is how
// many came, and meta[1 + i * kMetaSize...] describes message i as Finish
// does (its descriptors follow those of the messages before it in fdsOut, its
// address is at addressOut[i * 108]). The Buffer holds the messages' bytes
// back to back, each cut to messageSize. timeoutMs as for socketReceiveInto:
// with a number, it waits for the first message only.
Napi::Value SocketReceiveMany(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0);
  int type = IntArg(info, 1);
  size_t max = std::min(static_cast<size_t>(info[2].As<Napi::Number>().Uint32Value()), kMaxBatch);
  size_t message_size = info[3].As<Napi::Number>().Uint32Value();
  auto meta_array = info[4].As<Napi::Int32Array>();
  auto fds_out = info[5].As<Napi::Int32Array>();
  auto address_out = info[6].As<Napi::Uint8Array>();
  if (max == 0 || meta_array.ElementLength() < 1 + max * kMetaSize || address_out.ByteLength() < max * kAddressBytes) {
    return Result(env, -EINVAL);
  }
  int32_t* meta = meta_array.Data();

  thread_local Batch batch;
  if (batch.data_size < max * message_size) {
    batch.data.reset(new (std::nothrow) uint8_t[max * message_size]);
    batch.data_size = batch.data ? max * message_size : 0;
    if (!batch.data) return Result(env, -ENOMEM);
  }
  if (batch.slots.size() < max) {
    batch.slots.resize(max);
    batch.msgs.resize(max);
  }
  auto attempt = [&]() -> ssize_t {
    for (size_t i = 0; i < max; i++) {
      PrepareReceive(&batch.slots[i], batch.data.get() + i * message_size, message_size, type == SOCK_DGRAM,
                     &batch.msgs[i].msg_hdr);
      batch.msgs[i].msg_len = 0;
    }
    return RetryOnEintr(
        [&] { return recvmmsg(fd, batch.msgs.data(), static_cast<unsigned>(max), ReceiveFlags(type), nullptr); });
  };
  ssize_t n = AttemptOrWait(info, 7, fd, POLLIN, attempt);
  if (n < 0) return Result(env, static_cast<double>(n));

  meta[0] = static_cast<int32_t>(n);
  size_t total = 0;
  int fds_at = 0;
  int fds_room = static_cast<int>(fds_out.ElementLength());
  for (ssize_t i = 0; i < n; i++) {
    int32_t* m = meta + 1 + i * kMetaSize;
    ssize_t length = batch.msgs[i].msg_len;
    Finish(type, batch.msgs[i].msg_hdr, length, m, fds_out.Data() + fds_at, std::min(kScmMaxFd, fds_room - fds_at),
           address_out.Data() + i * kAddressBytes);
    fds_at += m[kFdCount];
    total += std::min(static_cast<size_t>(length), message_size);
  }
  auto buffer = Napi::Buffer<uint8_t>::New(env, total);
  if (env.IsExceptionPending()) {
    for (int i = 0; i < fds_at; i++) close(fds_out.Data()[i]);
    return env.Undefined();
  }
  size_t at = 0;
  for (ssize_t i = 0; i < n; i++) {
    size_t length = std::min(static_cast<size_t>(batch.msgs[i].msg_len), message_size);
    // An empty batch's Buffer may have no data pointer at all.
    if (length == 0) continue;
    std::memcpy(buffer.Data() + at, batch.data.get() + i * message_size, length);
    at += length;
  }
  return buffer;
}

// socketPeerCredentials(fd, out: Int32Array(3)) -> 0 | -errno; out = [pid,
// uid, gid] as the peer had them when it connected (or created the pair). An
// unconnected socket reports pid 0 and uid/gid -1.
Napi::Value SocketPeerCredentials(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0);
  int32_t* out = info[1].As<Napi::Int32Array>().Data();
  struct ucred cred;
  socklen_t length = sizeof(cred);
  int r = RetryOnEintr([&] { return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length); });
  if (r == 0) {
    out[0] = cred.pid;
    out[1] = static_cast<int32_t>(cred.uid);
    out[2] = static_cast<int32_t>(cred.gid);
  }
  return Result(info.Env(), r);
}

// socketAddress(fd, peer, out: Uint8Array(108)) -> sun_path bytes | -errno:
// getsockname(2), or getpeername(2) when peer is true. 0: unnamed.
Napi::Value SocketAddress(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0);
  bool peer = info[1].As<Napi::Boolean>().Value();
  auto out = info[2].As<Napi::Uint8Array>();
  struct sockaddr_un addr;
  std::memset(&addr, 0, sizeof(addr));
  socklen_t length = sizeof(addr);
  auto* sa = reinterpret_cast<struct sockaddr*>(&addr);
  int r = RetryOnEintr([&] { return peer ? getpeername(fd, sa, &length) : getsockname(fd, sa, &length); });
  if (r < 0) return Result(info.Env(), r);
  size_t n = 0;
  if (length > offsetof(struct sockaddr_un, sun_path)) {
    n = std::min(static_cast<size_t>(length - offsetof(struct sockaddr_un, sun_path)),
                 std::min(sizeof(addr.sun_path), out.ByteLength()));
    std::memcpy(out.Data(), addr.sun_path, n);
  }
  return Result(info.Env(), static_cast<double>(n));
}

// socketInfo(fd, out: Int32Array(3)) -> 0 | -errno; out = [SO_DOMAIN, SO_TYPE,
// SO_ACCEPTCONN]. -ENOTSOCK for a descriptor that is not a socket.
Napi::Value SocketInfo(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0);
  int32_t* out = info[1].As<Napi::Int32Array>().Data();
  const int options[] = {SO_DOMAIN, SO_TYPE, SO_ACCEPTCONN};
  for (int i = 0; i < 3; i++) {
    int value = 0;
    socklen_t length = sizeof(value);
    int r = RetryOnEintr([&] { return getsockopt(fd, SOL_SOCKET, options[i], &value, &length); });
    if (r < 0) return Result(info.Env(), r);
    out[i] = value;
  }
  return Result(info.Env(), 0);
}

// socketSendBufferSize(fd, bytes) -> SO_SNDBUF | -errno. bytes > 0 sets it
// first (the kernel doubles it for its bookkeeping and caps it at
// net.core.wmem_max); the result is the kernel's value.
Napi::Value SocketSendBufferSize(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0);
  int bytes = IntArg(info, 1);
  if (bytes > 0) {
    int r = RetryOnEintr([&] { return setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes)); });
    if (r < 0) return Result(info.Env(), r);
  }
  int value = 0;
  socklen_t length = sizeof(value);
  int r = RetryOnEintr([&] { return getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &value, &length); });
  return Result(info.Env(), r < 0 ? r : value);
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  const FunctionExport functions[] = {
      {"socketCreate", SocketCreate},
      {"socketPair", SocketPair},
      {"socketBind", SocketBind},
      {"socketChmodPath", SocketChmodPath},
      {"socketListen", SocketListen},
      {"socketAccept", SocketAccept},
      {"socketConnect", SocketConnect},
      {"socketAcceptSync", SocketAcceptSync},
      {"socketSend", SocketSend},
      {"socketSendSync", SocketSendSync},
      {"socketReceive", SocketReceive},
      {"socketReceiveSync", SocketReceiveSync},
      {"socketReceiveInto", SocketReceiveInto},
      {"socketSendMany", SocketSendMany},
      {"socketReceiveMany", SocketReceiveMany},
      {"socketPeerCredentials", SocketPeerCredentials},
      {"socketAddress", SocketAddress},
      {"socketInfo", SocketInfo},
      {"socketSendBufferSize", SocketSendBufferSize},
      {"socketPassCredentials", SocketPassCredentials},
  };
  SetFunctions(env, exports, functions);
  const ConstantExport constants[] = {
      {"AF_UNIX", AF_UNIX},
      {"SOCK_STREAM", SOCK_STREAM},
      {"SOCK_DGRAM", SOCK_DGRAM},
      {"SOCK_SEQPACKET", SOCK_SEQPACKET},
      {"SCM_MAX_FD", kScmMaxFd},
      {"MSG_TRUNC", MSG_TRUNC},
      {"MSG_CTRUNC", MSG_CTRUNC},
      {"SOCKET_BATCH_MAX", kMaxBatch},
      {"MAX_MESSAGE_SIZE", static_cast<double>(MaxMessageSize())},
  };
  SetConstants(env, exports, constants);
}

}  // namespace unix_socket
}  // namespace posix_ipc
