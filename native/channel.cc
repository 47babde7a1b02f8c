// Channel: the shared-memory ring of include/posix-ipc/ring.h, for JavaScript.
//
// See: mmap(2), fcntl(2) (F_OFD_SETLK, F_GET_SEALS), fstat(2), futex(2),
// socket(2), bind(2), recv(2), getrandom(2), clock_gettime(2).
//
// Each handle maps the segment itself (a second mapping of the same pages as
// the SharedMemory that owns the object), held through a shared_ptr: a wait
// thread keeps it mapped until it is done, whatever JavaScript closes in the
// meantime. Each handle also has an open file description of its own for its
// liveness lock (ring.h); the descriptors are tracked by the environment and
// returned to JavaScript, which closes them like any other.
//
// Hot path: one call per message, no allocation (a copying receive copies
// into a pool JavaScript gives, and JavaScript makes the Buffer over it); the
// pending-view and sleeping bookkeeping is here, not in JavaScript.
#include "posix-ipc/ring.h"

#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "channel.h"
#include "common/deadline.h"
#include "common/env_state.h"
#include "common/exports.h"
#include "common/handle.h"
#include "common/pool.h"
#include "common/result.h"
#include "common/sys.h"
#include "common/view.h"
#include "common/waiter.h"

namespace posix_ipc {
namespace channel {
namespace {

// The longest a sleeping side sleeps before it checks that its peer is still
// there: dead peers are reported within a few slices.
constexpr long kSliceMs = 20;

// meta[] slots shared with JavaScript (exported as channelMeta; lib/channel.ts
// reads them from there).
// JavaScript writes kSealed (1 before channelAttach when the object must be
// sealed against shrinking: Channel.fromFd) and kEndWhenIdle (1 before the
// consumer is claimed when this consumer's stream may end: see EndCheck).
// kEnded is 1 once this consumer saw its stream end. kFailedCall says which
// call of channelAttach failed (an AttachCall), for the error's syscall.
enum Meta {
  kLockFd,
  kLanes,
  kCapacity,
  kMaxMessage,
  kLane,
  kNeeded,
  kOffset,
  kSealed,
  kEndWhenIdle,
  kEnded,
  kFailedCall,
  kMetaSize
};

// The calls channelAttach makes that can fail, as meta[kFailedCall] names them.
// Their names, by number, are exported as channelAttachCalls (lib/channel.ts keeps no copy).
enum AttachCall { kCallNone, kCallFcntl, kCallFstat, kCallMmap, kCallOpen };
constexpr const char* kAttachCallNames[] = {"channelAttach", "fcntl", "fstat", "mmap", "open"};

// The tag of a channel's handle (native/common/handle.h).
const HandleKind kChannelKind{{0x8f1c2a7be3d94c01ULL, 0x5a6e0d93b7f2c418ULL}};

// The longest receiveSync spins before it sleeps (lib/channel.ts refuses
// more): a futex wake-up costs microseconds, so spinning longer buys nothing.
constexpr double kMaxSpinNs = 1e9;

struct Segment {
  void* addr;
  size_t length;
  ~Segment() { munmap(addr, length); }
};

// A receive's target or a send's data: none (a receive delivers a new
// Buffer), or a Uint8Array's bytes; `invalid` when the argument was neither
// null nor a Uint8Array (a Proxy, another kind of array): nothing is done.
struct Target {
  bool given;
  uint8_t* data;
  size_t length;
  bool invalid = false;
};

struct Channel {
  std::shared_ptr<Segment> segment;
  pipc_ring ring{};
  int lock_fd = -1;
  int send_fd = -1;      // producer: an unbound datagram socket to ring the doorbell with
  int doorbell_fd = -1;  // consumer: the bound doorbell
  uint8_t doorbell_name[PIPC_RING_DOORBELL_BYTES] = {};
  bool closed = false;
  bool producer = false;
  bool consumer = false;
  bool view_pending = false;
  bool end_when_idle = false;    // meta[kEndWhenIdle] when the consumer was claimed
  bool ended = false;            // this consumer saw the end of its stream: for good
  uint64_t reserved_length = 0;  // the length of the record reserved (p.reserved)
  pipc_ring_producer p{};
  pipc_ring_consumer c{};
  std::vector<pipc_ring_cursor> cursors;
  double* meta = nullptr;
  Napi::Reference<Napi::Float64Array> meta_ref;
  // The Uint8Arrays last sent from and received into (BytesArg): JavaScript
  // leaves the argument out for "the same one again".
  Target sent{false, nullptr, 0};
  Target received{false, nullptr, 0};
  // The pool copying receives copy into (an ArrayBuffer JavaScript made and
  // keeps, never resizable, which it checks is not detached before each
  // call), and how much of it is used.
  Target pool{false, nullptr, 0};
  size_t pool_used = 0;
};

// The channel a handle made by channelAttach wraps, or nullptr for anything
// else (the caller reports -EBADF).
Channel* ChannelArg(const Napi::CallbackInfo& info) { return UnwrapHandle<Channel>(info.Env(), info[0], kChannelKind); }

Napi::Number BadHandle(Napi::Env env) { return Result(env, -EBADF); }

// A number argument, or `fallback` when it is not a finite number (the
// binding's callers validate; this keeps a stray value from becoming
// undefined behaviour in a conversion).
double NumberArg(napi_env env, napi_value value, double fallback) {
  double out;
  if (value == nullptr || napi_get_value_double(env, value, &out) != napi_ok || !std::isfinite(out)) return fallback;
  return out;
}

void Finalize(napi_env, Channel* ch) { delete ch; }

// channelFormat(buffer, capacity, lanes) -> 0 | -EINVAL. The creator's
// mapping, before anybody else can know the object is there.
Napi::Value Format(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  void* data = nullptr;
  size_t length = 0;
  if (!info[0].IsArrayBuffer() || napi_get_arraybuffer_info(env, info[0], &data, &length) != napi_ok ||
      data == nullptr) {
    return Result(env, -EINVAL);
  }
  double capacity = NumberArg(env, info[1], 0);
  double lanes = NumberArg(env, info[2], 0);
  if (capacity < 0 || capacity > PIPC_RING_MAX_CAPACITY || lanes < 0 || lanes > PIPC_RING_MAX_LANES)
    return Result(env, -EINVAL);
  return Result(env, pipc_ring_format(data, length, static_cast<uint64_t>(capacity), static_cast<uint32_t>(lanes)));
}

// channelAttach(fd, size, meta) -> handle | -errno (-EBADMSG: not a valid
// channel; -EPERM: meta[kSealed] asked for a seal against shrinking and the
// object has none). Maps the object, checks its header, and opens the
// handle's own open file description (meta[kLockFd]) for its liveness lock.
Napi::Value Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  napi_typedarray_type type;
  size_t slots = 0;
  void* meta_data = nullptr;
  if (!info[2].IsTypedArray() ||
      napi_get_typedarray_info(env, info[2], &type, &slots, &meta_data, nullptr, nullptr) != napi_ok ||
      type != napi_float64_array || slots < kMetaSize) {
    return Result(env, -EINVAL);
  }
  auto meta = info[2].As<Napi::Float64Array>();
  double fd_arg = NumberArg(env, info[0], -1);
  double size_arg = NumberArg(env, info[1], -1);
  if (fd_arg < 0 || fd_arg > INT32_MAX || fd_arg != static_cast<int>(fd_arg) || size_arg < 0)
    return Result(env, -EINVAL);
  int fd = static_cast<int>(fd_arg);
  double* meta_slots = static_cast<double*>(meta_data);
  auto failed = [&](AttachCall call, int r) {
    meta_slots[kFailedCall] = call;
    return Result(env, r);
  };
  // A seal cannot be taken back: checked once, it holds for the mapping's life.
  if (meta_slots[kSealed] == 1) {
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 && errno != EINVAL) return failed(kCallFcntl, -errno);
    if (seals < 0 || (seals & F_SEAL_SHRINK) == 0) return Result(env, -EPERM);
  }
  // The size JavaScript measured, never more than the object has: mapped
  // pages past its end would be SIGBUS at the first touch.
  struct stat st;
  if (fstat(fd, &st) != 0) return failed(kCallFstat, -errno);
  // Smaller than measured (truncated meanwhile): what fstat said refuses it.
  if (size_arg > static_cast<double>(st.st_size) || size_arg > static_cast<double>(SIZE_MAX))
    return failed(kCallFstat, -EINVAL);
  size_t size = static_cast<size_t>(size_arg);
  void* addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) return failed(kCallMmap, -errno);
  auto segment = std::shared_ptr<Segment>(new Segment{addr, size});
  auto ch = std::make_unique<Channel>();
  int r = pipc_ring_attach(&ch->ring, addr, size);
  if (r < 0) return Result(env, r);
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  int lock_fd = RetryOnEintr([&] { return open(path.c_str(), O_RDWR | O_CLOEXEC); });
  if (lock_fd < 0) return failed(kCallOpen, lock_fd);
  EnvState::Get(env)->TrackFd(lock_fd);
  ch->segment = std::move(segment);
  ch->lock_fd = lock_fd;
  ch->cursors.resize(ch->ring.lane_count);
  ch->c.cursors = ch->cursors.data();
  ch->meta = meta.Data();
  ch->meta_ref = Napi::Persistent(meta);
  ch->meta[kLockFd] = lock_fd;
  ch->meta[kLanes] = ch->ring.lane_count;
  ch->meta[kCapacity] = static_cast<double>(ch->ring.capacity);
  ch->meta[kMaxMessage] = static_cast<double>(ch->ring.max_message);
  return WrapHandle(env, kChannelKind, ch.release(), Finalize);
}

int NewSocket(Napi::Env env) {
  int fd = Tracked(env, RetryOnEintr([] { return socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0); }));
  return fd;
}

// What both claims do: the handle's channel, open (else BadHandle); the
// descriptor of its `side` when this handle holds that side already; else a
// new descriptor from `make`, and `claim(ch)` (>= 0, or -errno: the
// descriptor is closed again), after which the handle holds the side.
template <typename Make, typename Claim>
Napi::Value ClaimSide(const Napi::CallbackInfo& info, bool Channel::*side, int Channel::*side_fd, Make make,
                      Claim claim) {
  Napi::Env env = info.Env();
  Channel* ch = ChannelArg(info);
  if (ch == nullptr || ch->closed) return BadHandle(env);
  if (ch->*side) return Result(env, ch->*side_fd);
  int fd = make(env);
  if (fd < 0) return Result(env, fd);
  int r = claim(ch);
  if (r < 0) {
    CloseTracked(env, fd);
    return Result(env, r);
  }
  ch->*side = true;
  ch->*side_fd = fd;
  return Result(env, fd);
}

// channelClaimLane(ch) -> the doorbell-ringing socket | -errno (-EBUSY: every
// lane is taken). meta[kLane] is the lane.
Napi::Value ClaimLane(const Napi::CallbackInfo& info) {
  return ClaimSide(info, &Channel::producer, &Channel::send_fd, NewSocket, [](Channel* ch) {
    int lane = pipc_ring_claim_lane(&ch->ring, ch->lock_fd, &ch->p);
    if (lane < 0) return lane;
    ch->cursors[lane].own = 1;
    ch->meta[kLane] = lane;
    return lane;
  });
}

// A doorbell bound to a fresh random abstract name; the name goes to `name`.
int BindDoorbell(Napi::Env env, uint8_t name[PIPC_RING_DOORBELL_BYTES]) {
  int fd = NewSocket(env);
  if (fd < 0) return fd;
  static const char hex[] = "0123456789abcdef";
  for (int attempt = 0; attempt < 8; attempt++) {
    uint8_t random[PIPC_RING_DOORBELL_BYTES / 2];
    if (getrandom(random, sizeof random, 0) != static_cast<ssize_t>(sizeof random)) break;
    for (unsigned i = 0; i < sizeof random; i++) {
      name[2 * i] = hex[random[i] >> 4];
      name[2 * i + 1] = hex[random[i] & 15];
    }
    sockaddr_un addr;
    socklen_t len = pipc_ring_doorbell_name_address(name, &addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0) return fd;
    if (errno != EADDRINUSE) break;
  }
  int err = -errno;
  CloseTracked(env, fd);
  return err;
}

// channelClaimConsumer(ch) -> the doorbell's descriptor | -errno (-EBUSY:
// another consumer is attached).
Napi::Value ClaimConsumer(const Napi::CallbackInfo& info) {
  uint8_t name[PIPC_RING_DOORBELL_BYTES];
  auto bind = [&name](Napi::Env env) { return BindDoorbell(env, name); };
  return ClaimSide(info, &Channel::consumer, &Channel::doorbell_fd, bind, [&name](Channel* ch) {
    int r = pipc_ring_claim_consumer(&ch->ring, ch->lock_fd, &ch->c, name);
    if (r < 0) return r;
    if (ch->producer) ch->cursors[ch->p.index].own = 1;
    ch->end_when_idle = ch->meta[kEndWhenIdle] == 1;
    memcpy(ch->doorbell_name, name, sizeof name);
    return r;
  });
}

// One attempt: 0 sent, -EAGAIN full, -errno.
int SendOnce(Channel* ch, const uint8_t* data, size_t length) {
  uint32_t sleeping = 0;
  int r = pipc_ring_send(&ch->ring, &ch->p, data, length, &sleeping);
  if (r == 0 && sleeping != 0) pipc_ring_wake_consumer(&ch->ring, sleeping, ch->send_fd);
  return r;
}

// The hot calls below are bound to their channel (its pointer is the
// function's data: no handle to unwrap) and use Node-API directly:
// node-addon-api would look each typed array up twice and wrap every value,
// which costs as much as the ring operation itself. lib/channel.ts checks
// their arguments; what they are given is still read from the engine (a
// typed array's own pointer and byte length, never a number from
// JavaScript), and a call made before its side was attached, or after
// close, is -EBADF.

// Fetches up to N arguments, nullptr for each one left out, and the channel:
// null unless it is attached on `side` (producer or consumer) and open, which
// the caller reports as -EBADF.
template <size_t N>
Channel* HotArgs(napi_env env, napi_callback_info info, bool Channel::*side, napi_value (&argv)[N]) {
  size_t argc = N;
  void* data;
  napi_get_cb_info(env, info, &argc, argv, nullptr, &data);
  for (size_t i = argc; i < N; i++) argv[i] = nullptr;
  Channel* ch = static_cast<Channel*>(data);
  return ch->*side && !ch->closed ? ch : nullptr;
}

// The bytes of an argument: a Uint8Array (remembered in *last), null (none),
// anything else invalid; or, when the argument was left out (nullptr),
// *last: the Uint8Array given before. Leaving it out spares
// napi_get_typedarray_info per message.
//
// Why *last cannot be stale: lib/channel.ts leaves the argument out only for
// the very object it gave last (it holds it, so it cannot be collected),
// only when that object's ArrayBuffer is neither resizable nor growable (its
// bytes never move, and its size changes only by being detached), and only
// when the engine's own byteLength getter still says the length remembered
// here, which is not 0 (a detached view reads 0). The size is never a
// number JavaScript passed. lib/channel.ts decides "the same one again" only
// after it read the options, the last caller code that runs before this
// call: nothing can detach or unmap those bytes in between.
Target BytesArg(napi_env env, napi_value value, Target* last) {
  if (value == nullptr) return *last;
  Target t{false, nullptr, 0};
  void* data;
  napi_typedarray_type type;
  napi_value buffer = nullptr;
  // For a small typed array kept on V8's heap this moves its bytes off it,
  // for good: where they are stays valid while the array lives and keeps
  // its byteLength.
  if (napi_get_typedarray_info(env, value, &type, &t.length, &data, &buffer, nullptr) != napi_ok) {
    napi_valuetype kind;
    t.invalid = napi_typeof(env, value, &kind) != napi_ok || kind != napi_null;
    return t;
  }
  // The length is in elements: only byte arrays are taken. A detached one is
  // refused rather than sent or received into as 0 bytes.
  if ((type != napi_uint8_array && type != napi_uint8_clamped_array) || DetachedBuffer(env, buffer)) {
    t.invalid = true;
    return t;
  }
  t.given = true;
  t.data = static_cast<uint8_t*>(data);
  *last = t;
  return t;
}

// Messages packed back to back: their bytes (not remembered) and their
// lengths (a Uint32Array of `slots`).
struct Packed {
  Target bytes;
  uint32_t* lengths;
  size_t slots;
};

// Both must be what they say (a byte array, a Uint32Array), else nullptr
// lengths: the caller does nothing.
Packed PackedArgs(napi_env env, napi_value bytes, napi_value lengths_array) {
  Target unremembered{false, nullptr, 0};
  Packed packed{BytesArg(env, bytes, &unremembered), nullptr, 0};
  if (!packed.bytes.given) return packed;
  void* lengths;
  napi_typedarray_type type;
  size_t slots;
  if (lengths_array == nullptr ||
      napi_get_typedarray_info(env, lengths_array, &type, &slots, &lengths, nullptr, nullptr) != napi_ok ||
      type != napi_uint32_array) {
    return packed;
  }
  packed.lengths = static_cast<uint32_t*>(lengths);
  packed.slots = slots;
  return packed;
}

// Results are lengths (below 2^30) or -errno: an int32 is a small integer to
// V8, made without allocating.
napi_value Int(napi_env env, int64_t value) {
  napi_value out;
  napi_create_int32(env, static_cast<int32_t>(value), &out);
  return out;
}

// A hot call's arguments, read as the call takes them: argv (nullptr for
// each one left out); its channel, or nullptr when the call is to report
// `error` (-EBADF: not attached on its side, or closed; -EINVAL: bytes or
// packed messages that are not what they must be); and its bytes or packed
// messages.
template <size_t N>
struct HotCall {
  napi_value argv[N];
  Channel* ch = nullptr;
  int error = -EBADF;
  Target bytes{false, nullptr, 0};
  Packed packed{{false, nullptr, 0}, nullptr, 0};
};

// A call whose bytes are argv[at], remembered in the channel's `last`
// (nullptr: not remembered).
template <size_t N>
HotCall<N> HotBytesCall(napi_env env, napi_callback_info info, bool Channel::*side, size_t at, Target Channel::*last) {
  HotCall<N> call;
  Channel* ch = HotArgs(env, info, side, call.argv);
  if (ch == nullptr) return call;
  Target unremembered{false, nullptr, 0};
  call.bytes = BytesArg(env, call.argv[at], last == nullptr ? &unremembered : &(ch->*last));
  if (call.bytes.invalid) {
    call.error = -EINVAL;
    return call;
  }
  call.ch = ch;
  return call;
}

// A call whose messages are packed in argv[0], their lengths in argv[1].
template <size_t N>
HotCall<N> HotPackedCall(napi_env env, napi_callback_info info, bool Channel::*side) {
  HotCall<N> call;
  Channel* ch = HotArgs(env, info, side, call.argv);
  if (ch == nullptr) return call;
  call.packed = PackedArgs(env, call.argv[0], call.argv[1]);
  if (call.packed.lengths == nullptr) {
    call.error = -EINVAL;
    return call;
  }
  call.ch = ch;
  return call;
}

// send([data]) -> undefined sent | 0 full | -errno. Nothing to make for
// the usual outcome.
napi_value Send(napi_env env, napi_callback_info info) {
  auto call = HotBytesCall<1>(env, info, &Channel::producer, 0, &Channel::sent);
  if (call.ch == nullptr) return Int(env, call.error);
  int r = SendOnce(call.ch, call.bytes.data, call.bytes.length);
  return r == 0 ? nullptr : Int(env, r == -EAGAIN ? 0 : r);
}

// sendManyFrom(source, lengths, count) -> how many were sent | -errno.
// Sends the first `count` messages packed back to back in source (message i
// is lengths[i] bytes), as many as there is room for, and wakes a sleeping
// consumer once, at the end. An error after some messages were sent is left
// for the next call. lib/channel.ts checks that count <= lengths.length and
// that the lengths fit in source; this checks the latter again.
napi_value SendManyFrom(napi_env env, napi_callback_info info) {
  auto call = HotPackedCall<3>(env, info, &Channel::producer);
  if (call.ch == nullptr) return Int(env, call.error);
  Channel* ch = call.ch;
  const Target& source = call.packed.bytes;
  const uint32_t* lengths = call.packed.lengths;
  size_t slots = call.packed.slots;
  double wanted = NumberArg(env, call.argv[2], 0);
  uint32_t count = wanted <= 0                            ? 0
                   : wanted >= static_cast<double>(slots) ? static_cast<uint32_t>(slots)
                                                          : static_cast<uint32_t>(wanted);
  size_t used = 0;
  uint32_t n = 0;
  uint32_t sleeping = 0;
  int r = 0;
  for (; n < count; n++) {
    size_t length = lengths[n];
    if (length > source.length - used) break;
    uint32_t seen = 0;
    r = pipc_ring_send(&ch->ring, &ch->p, source.data + used, length, &seen);
    if (r < 0) break;
    sleeping |= seen;
    used += length;
  }
  if (sleeping != 0) pipc_ring_wake_consumer(&ch->ring, sleeping, ch->send_fd);
  return Int(env, n == 0 && r < 0 && r != -EAGAIN ? r : n);
}

// Waits, a slice at a time, for space for `length` bytes and checks the
// consumer each slice: 1, -ETIMEDOUT, -EOWNERDEAD, -EBADMSG.
int WaitSpace(const pipc_ring& ring, pipc_ring_lane* lane, uint64_t tail, uint64_t need, int fd, bool self_consumer,
              const timespec& slice_end) {
  int r = pipc_ring_wait_space(&ring, lane, tail, need, &slice_end);
  if (r != 0) return r;
  if (!self_consumer && pipc_ring_consumer_gone(&ring, fd)) return PIPC_RING_PEER_DEAD;
  return -ETIMEDOUT;
}

// sendSync(timeoutMs[, data]) -> undefined | -ETIMEDOUT | -EOWNERDEAD |
// -errno. Blocks this thread; timeoutMs < 0 waits without a limit.
napi_value SendSync(napi_env env, napi_callback_info info) {
  auto call = HotBytesCall<2>(env, info, &Channel::producer, 1, &Channel::sent);
  if (call.ch == nullptr) return Int(env, call.error);
  Channel* ch = call.ch;
  const Target& data = call.bytes;
  int r = SendOnce(ch, data.data, data.length);
  if (r != -EAGAIN) return r == 0 ? nullptr : Int(env, r);
  // Full: only now is the clock read.
  Deadline deadline = DeadlineIn(NumberArg(env, call.argv[0], 0));
  for (;;) {
    uint64_t need = pipc_ring_needed(&ch->ring, &ch->p, data.length);
    for (;;) {
      if (deadline.HasPassed()) return Int(env, -ETIMEDOUT);
      r = WaitSpace(ch->ring, ch->p.lane, ch->p.tail, need, ch->lock_fd, ch->consumer, deadline.SliceEnd(kSliceMs));
      if (r == 1) break;
      if (r != -ETIMEDOUT) return Int(env, r);
    }
    r = SendOnce(ch, data.data, data.length);
    if (r != -EAGAIN) return r == 0 ? nullptr : Int(env, r);
  }
}

// A producer's wait for space on its own thread. It owns a duplicate of the
// lock descriptor (same open file description) and a reference to the
// mapping, so closing the handle meanwhile cannot pull either from under it.
class SpaceWait : public waiter::Wait {
 public:
  SpaceWait(const Channel* ch, uint64_t need, int fd)
      : segment_(ch->segment),
        ring_(ch->ring),
        lane_(ch->p.lane),
        tail_(ch->p.tail),
        need_(need),
        fd_(fd),
        self_consumer_(ch->consumer) {}
  ~SpaceWait() override { close(fd_); }

  int Slice(const timespec& slice_end) override {
    int r = WaitSpace(ring_, lane_, tail_, need_, fd_, self_consumer_, slice_end);
    return r == 1 ? 0 : r;
  }

 private:
  std::shared_ptr<Segment> segment_;
  pipc_ring ring_;
  pipc_ring_lane* lane_;
  uint64_t tail_;
  uint64_t need_;
  int fd_;
  bool self_consumer_;
};

// channelWaitSpace(ch, length, timeoutMs, done(result)) -> handle | -errno.
// done(0) when there may be space now: try again.
Napi::Value WaitSpaceAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Channel* ch = ChannelArg(info);
  if (ch == nullptr || ch->closed || !ch->producer || !info[3].IsFunction()) return BadHandle(env);
  double length = NumberArg(env, info[1], -1);
  if (length < 0 || length > static_cast<double>(ch->ring.max_message)) return Result(env, -EMSGSIZE);
  uint64_t need = pipc_ring_needed(&ch->ring, &ch->p, static_cast<uint64_t>(length));
  int fd = RetryOnEintr([&] { return fcntl(ch->lock_fd, F_DUPFD_CLOEXEC, 0); });
  if (fd < 0) return Result(env, fd);
  auto wait = std::make_unique<SpaceWait>(ch, need, fd);
  return waiter::Start(env, std::move(wait), NumberArg(env, info[2], 0), info[3].As<Napi::Function>());
}

// Finds the next message (after releasing a view handed out before): its
// length with *offset from the segment's base, -EAGAIN, or -errno.
int64_t Peek(Channel* ch, uint64_t* offset) {
  if (ch->view_pending) {
    ch->view_pending = false;
    pipc_ring_release(&ch->ring, &ch->c);
  }
  // An end is for good: what a producer attaching afterwards sends is not
  // this consumer's stream any more (lib/channel.ts, Channel#ended).
  if (ch->ended) return PIPC_RING_ENDED;
  return pipc_ring_peek(&ch->ring, &ch->c, offset);
}

// For a consumer with nothing to read and no death to report: whether its
// stream ended (PIPC_RING_ENDED, remembered for good) or 0. Only a consumer
// that asked for it looks (meta[kEndWhenIdle]: a named channel's server whose
// clients come and go does not end when the last one leaves).
int EndCheck(Channel* ch) {
  if (ch->ended) return PIPC_RING_ENDED;
  if (!ch->end_when_idle || pipc_ring_check_end(&ch->ring, &ch->c, ch->lock_fd) == 0) return 0;
  ch->ended = true;
  ch->meta[kEnded] = 1;
  return PIPC_RING_ENDED;
}

// Delivers the message Peek found as JavaScript wants it: a copy in a new
// Buffer, or copied into the target (the length; -EMSGSIZE and the message
// stays when it does not fit, meta[kNeeded] says how many bytes).
//
// Without a target and `pooled`, a message of up to kPooledMax bytes is
// copied into the pool: its length, meta[kOffset] where it starts there
// (8-byte aligned, as Node's pool aligns); -ENOBUFS, and the message stays,
// when the pool has no room left (JavaScript gives a new one and asks again).
// Making the Buffer in JavaScript over the pool costs a fifth of what
// napi_create_buffer_copy does (an ArrayBuffer and a backing store each).
napi_value Deliver(napi_env env, Channel* ch, const Target& target, int64_t length, uint64_t offset, bool pooled) {
  const uint8_t* payload = ch->ring.base + offset;
  size_t n = static_cast<size_t>(length);
  if (!target.given && pooled && n <= kPooledMax && ch->pool.given) {
    if (n > ch->pool.length - ch->pool_used) return Int(env, -ENOBUFS);
    if (n != 0) memcpy(ch->pool.data + ch->pool_used, payload, n);
    pipc_ring_release(&ch->ring, &ch->c);
    ch->meta[kOffset] = static_cast<double>(ch->pool_used);
    ch->pool_used = PoolNext(ch->pool_used, n, ch->pool.length);
    return Int(env, length);
  }
  if (!target.given) {
    napi_value copy;
    void* unused;
    if (napi_create_buffer_copy(env, n, payload, &unused, &copy) != napi_ok) return Int(env, -ENOMEM);
    pipc_ring_release(&ch->ring, &ch->c);
    return copy;
  }
  if (n > target.length) {
    ch->meta[kNeeded] = static_cast<double>(length);
    // Not consumed: peek finds it again (and checks it again).
    return Int(env, -EMSGSIZE);
  }
  if (n != 0) memcpy(target.data, payload, n);  // An empty target may have no data pointer.
  pipc_ring_release(&ch->ring, &ch->c);
  return Int(env, length);
}

// Whether a message can be read now. Peeking moves no head, but it does move
// the scan's bookkeeping, which a pending view still needs: that is kept.
bool Ready(Channel* ch) {
  if (ch->view_pending) return true;
  pipc_ring_consumer saved = ch->c;
  uint64_t offset;
  bool ready = pipc_ring_peek(&ch->ring, &ch->c, &offset) != -EAGAIN;
  ch->c = saved;
  return ready;
}

// The event-loop consumer's attempt: receive; else announce "asleep on the
// doorbell", drain the doorbell, re-check, and check the producers.
int64_t PeekArmed(Channel* ch, uint64_t* offset) {
  int64_t length = Peek(ch, offset);
  if (length != -EAGAIN) {
    pipc_ring_end_sleep(&ch->ring, PIPC_RING_SLEEP_DOORBELL);
    return length;
  }
  // One ring taken (a producer rings once per announced sleep): one syscall,
  // not a second one to find the socket empty. Should another ring be
  // queued, the doorbell stays readable and the next attempt takes it.
  char drain[16];
  recv(ch->doorbell_fd, drain, sizeof drain, MSG_DONTWAIT);
  pipc_ring_announce_sleep(&ch->ring, PIPC_RING_SLEEP_DOORBELL);
  length = pipc_ring_peek(&ch->ring, &ch->c, offset);
  if (length == -EAGAIN) {
    int dead = pipc_ring_check_idle(&ch->ring, &ch->c, ch->lock_fd, 1);
    if (dead == 0) dead = EndCheck(ch);
    // Asleep: a producer rings the doorbell when it sends or closes.
    if (dead == 0) return -EAGAIN;
    length = dead;
  }
  pipc_ring_end_sleep(&ch->ring, PIPC_RING_SLEEP_DOORBELL);
  return length;
}

// Receive and ReceiveArmed: the attempt `peek`, then the message delivered;
// the target is remembered in `last` (nullptr: not remembered).
template <int64_t (*peek)(Channel*, uint64_t*)>
napi_value ReceiveBy(napi_env env, napi_callback_info info, Target Channel::*last) {
  auto call = HotBytesCall<1>(env, info, &Channel::consumer, 0, last);
  if (call.ch == nullptr) return Int(env, call.error);
  // Set by peek whenever it returns a length; the initialiser only spares
  // GCC's -Wmaybe-uninitialized, which cannot see through PeekArmed.
  uint64_t offset = 0;
  int64_t length = peek(call.ch, &offset);
  if (length < 0) return Int(env, length);
  return Deliver(env, call.ch, call.bytes, length, offset, true);
}

// receive([target|null]) -> Buffer | length | -errno (-EAGAIN: empty).
napi_value Receive(napi_env env, napi_callback_info info) { return ReceiveBy<Peek>(env, info, &Channel::received); }

// receiveArmed(target|null) -> Buffer | length | -errno: the event loop's
// attempt (see PeekArmed), delivering as receive() does. The target is not
// remembered: an attempt per wake-up is no hot call.
napi_value ReceiveArmed(napi_env env, napi_callback_info info) { return ReceiveBy<PeekArmed>(env, info, nullptr); }

// channelReceiveView(ch) -> length | -errno; meta[kOffset] is where the
// payload starts in the segment. It is consumed at the next receive.
Napi::Value ReceiveView(const Napi::CallbackInfo& info) {
  Channel* ch = ChannelArg(info);
  if (ch == nullptr || ch->closed || !ch->consumer) return BadHandle(info.Env());
  uint64_t offset;
  int64_t length = Peek(ch, &offset);
  if (length >= 0) {
    ch->view_pending = true;
    ch->meta[kOffset] = static_cast<double>(offset);
  }
  return Result(info.Env(), static_cast<double>(length));
}

// receiveSync(spinNs, timeoutMs[, target|null]) -> Buffer | length |
// -ETIMEDOUT | -EOWNERDEAD | -errno. Spins up to spinNs (at most kMaxSpinNs,
// and never past the timeout), then sleeps on the bell in slices, checking
// the producers each slice. timeoutMs < 0: no limit.
napi_value ReceiveSync(napi_env env, napi_callback_info info) {
  // The target is taken now, whatever the outcome: JavaScript counts on a given target being remembered.
  auto call = HotBytesCall<3>(env, info, &Channel::consumer, 2, &Channel::received);
  if (call.ch == nullptr) return Int(env, call.error);
  Channel* ch = call.ch;
  const Target& target = call.bytes;
  uint64_t offset;
  int64_t length = Peek(ch, &offset);
  if (length == -EAGAIN) {
    double spin_ns = NumberArg(env, call.argv[0], 0);
    if (spin_ns > 0) {
      if (spin_ns > kMaxSpinNs) spin_ns = kMaxSpinNs;
      // The timeout bounds the spin too: a spin longer than the wait asked
      // for would make the call outlast its timeout.
      double timeout_ms = NumberArg(env, call.argv[1], 0);
      if (timeout_ms >= 0 && timeout_ms * 1e6 < spin_ns) spin_ns = timeout_ms * 1e6;
      int64_t spin_end = NowNs() + static_cast<int64_t>(spin_ns);
      do {
        for (int i = 0; i < 64 && length == -EAGAIN; i++) {
          pipc_ring_cpu_relax();
          length = pipc_ring_peek(&ch->ring, &ch->c, &offset);
        }
      } while (length == -EAGAIN && NowNs() < spin_end);
    }
  }
  if (length == -EAGAIN) {
    Deadline deadline = DeadlineIn(NumberArg(env, call.argv[1], 0));
    while (length == -EAGAIN) {
      uint32_t bell = pipc_ring_announce_sleep(&ch->ring, PIPC_RING_SLEEP_FUTEX);
      length = pipc_ring_peek(&ch->ring, &ch->c, &offset);
      if (length != -EAGAIN) break;
      int dead = pipc_ring_check_idle(&ch->ring, &ch->c, ch->lock_fd, 1);
      // A producer that closes rings the bell as one that sends does.
      if (dead == 0) dead = EndCheck(ch);
      if (dead != 0) {
        length = dead;
        break;
      }
      if (deadline.HasPassed()) {
        length = -ETIMEDOUT;
        break;
      }
      timespec end = deadline.SliceEnd(kSliceMs);
      pipc_ring_futex_wait(&ch->ring.header->bell, bell, &end);
      pipc_ring_end_sleep(&ch->ring, PIPC_RING_SLEEP_FUTEX);
      length = pipc_ring_peek(&ch->ring, &ch->c, &offset);
    }
    pipc_ring_end_sleep(&ch->ring, PIPC_RING_SLEEP_FUTEX);
  }
  if (length < 0) return Int(env, length);
  return Deliver(env, ch, target, length, offset, true);
}

// receiveManyInto(target, lengths) -> how many messages | -errno.
// Copies messages back to back into target, their lengths into lengths (a
// Uint32Array), until either is full or the ring is empty. A message that
// does not fit what is left stays; one that does not fit an empty target is
// -EMSGSIZE (meta[kNeeded] says how long). An error after some messages
// were taken is left for the next call.
napi_value ReceiveManyInto(napi_env env, napi_callback_info info) {
  auto call = HotPackedCall<2>(env, info, &Channel::consumer);
  if (call.ch == nullptr) return Int(env, call.error);
  Channel* ch = call.ch;
  const Target& target = call.packed.bytes;
  uint32_t* lengths = call.packed.lengths;
  size_t slots = call.packed.slots;
  size_t used = 0;
  uint32_t n = 0;
  while (n < slots) {
    uint64_t offset;
    int64_t length = Peek(ch, &offset);
    if (length == -EAGAIN) break;
    if (length < 0) return Int(env, n > 0 ? n : length);
    if (static_cast<uint64_t>(length) > target.length - used) {
      if (n > 0) break;
      ch->meta[kNeeded] = static_cast<double>(length);
      return Int(env, -EMSGSIZE);
    }
    if (length != 0) memcpy(target.data + used, ch->ring.base + offset, static_cast<size_t>(length));
    pipc_ring_release(&ch->ring, &ch->c);
    lengths[n++] = static_cast<uint32_t>(length);
    used += static_cast<size_t>(length);
  }
  return Int(env, n);
}

// channelReserve(ch, length) -> payload offset in the segment | -errno
// (-EAGAIN: full, -EMSGSIZE: never fits).
Napi::Value Reserve(const Napi::CallbackInfo& info) {
  Channel* ch = ChannelArg(info);
  if (ch == nullptr || ch->closed || !ch->producer) return BadHandle(info.Env());
  double length = NumberArg(info.Env(), info[1], -1);
  if (length < 0 || length > static_cast<double>(ch->ring.max_message)) return Result(info.Env(), -EMSGSIZE);
  int64_t at = pipc_ring_reserve(&ch->ring, &ch->p, static_cast<uint64_t>(length));
  if (at >= 0) {
    ch->reserved_length = static_cast<uint64_t>(length);
    at += ch->p.ring - ch->ring.base;
  }
  return Result(info.Env(), static_cast<double>(at));
}

// channelCommit(ch, length) -> 0 | -EINVAL (nothing reserved, or longer
// than what was: checked here too, as a record must end before the ring does).
Napi::Value Commit(const Napi::CallbackInfo& info) {
  Channel* ch = ChannelArg(info);
  if (ch == nullptr || ch->closed || !ch->producer) return BadHandle(info.Env());
  double length = NumberArg(info.Env(), info[1], -1);
  if (ch->p.reserved == UINT64_MAX || length < 0 || length > static_cast<double>(ch->reserved_length)) {
    return Result(info.Env(), -EINVAL);
  }
  uint32_t sleeping = pipc_ring_commit(&ch->ring, &ch->p, static_cast<uint64_t>(length));
  if (sleeping != 0) pipc_ring_wake_consumer(&ch->ring, sleeping, ch->send_fd);
  return Result(info.Env(), 0);
}

// channelProbe(ch) -> 0 | -EOWNERDEAD | -EBADMSG | -EPIPE. For an event-loop
// consumer waiting on its doorbell: when a producer died with nothing left to
// read, a lane's tail makes no sense, or the stream ended (EndCheck; a
// producer that closed with pipc_ring_release_lane rang no doorbell), rings
// its own doorbell, so that the waiting attempt runs and reports it. Also
// what Channel#ended asks.
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Channel* ch = ChannelArg(info);
  if (ch == nullptr || ch->closed || !ch->consumer) return BadHandle(info.Env());
  int idle = 0;
  if (!Ready(ch)) {
    idle = pipc_ring_check_idle(&ch->ring, &ch->c, ch->lock_fd, 0);
    // Only now, with no view pending (Ready), may the scan state move.
    if (idle == 0) idle = EndCheck(ch);
  }
  if (idle == 0) return Result(info.Env(), 0);
  sockaddr_un addr;
  socklen_t len = pipc_ring_doorbell_name_address(ch->doorbell_name, &addr);
  char byte = 0;
  sendto(ch->doorbell_fd, &byte, 1, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&addr), len);
  return Result(info.Env(), idle);
}

// channelClose(ch) -> 0. Says goodbye on each side this handle took, so the
// peers see a close rather than a death, and unlocks. JavaScript then closes
// the descriptors; the mapping goes with the last reference to it.
Napi::Value Close(const Napi::CallbackInfo& info) {
  Channel* ch = ChannelArg(info);
  if (ch == nullptr) return BadHandle(info.Env());
  if (!ch->closed) {
    ch->closed = true;
    if (ch->view_pending) {
      ch->view_pending = false;
      pipc_ring_release(&ch->ring, &ch->c);
    }
    if (ch->producer) {
      pipc_ring_close_lane(&ch->ring, &ch->p, ch->send_fd);
      pipc_ring_unlock(ch->lock_fd, PIPC_RING_LANE_LOCK(ch->p.index));
    }
    if (ch->consumer) {
      pipc_ring_flush(&ch->ring, &ch->c);
      pipc_ring_release_consumer(&ch->ring);
      pipc_ring_unlock(ch->lock_fd, PIPC_RING_CONSUMER_LOCK);
    }
    ch->meta_ref.Reset();
  }
  return Result(info.Env(), 0);
}

// pool(arrayBuffer) -> 0 | -EINVAL: the pool copying receives copy into from
// now on, from its start. lib/channel.ts makes it (never resizable), keeps it
// while it is the pool, and checks it is not detached before each receive
// (no JavaScript runs between that check and the copy).
napi_value Pool(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Channel* ch = HotArgs(env, info, &Channel::consumer, argv);
  if (ch == nullptr) return Int(env, -EBADF);
  uint8_t* data;
  size_t length;
  if (argv[0] == nullptr || !PoolArg(env, argv[0], &data, &length)) return Int(env, -EINVAL);
  ch->pool = Target{true, data, length};
  ch->pool_used = 0;
  return Int(env, 0);
}

// channelCalls(ch) -> { handle, send, sendManyFrom, sendSync, receive,
// receiveArmed, receiveSync, receiveManyInto, pool }: the hot calls, bound to this channel. The
// object holds the handle too, so the channel outlives its calls.
Napi::Value Calls(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Channel* ch = ChannelArg(info);
  if (ch == nullptr) return BadHandle(env);
  Napi::Object calls = Napi::Object::New(env);
  calls.Set("handle", info[0]);
  static const struct {
    const char* name;
    napi_callback cb;
  } hot[] = {{"send", Send},
             {"sendManyFrom", SendManyFrom},
             {"sendSync", SendSync},
             {"receive", Receive},
             {"receiveArmed", ReceiveArmed},
             {"receiveSync", ReceiveSync},
             {"receiveManyInto", ReceiveManyInto},
             {"pool", Pool}};
  for (const auto& h : hot) {
    napi_value fn;
    napi_create_function(env, h.name, NAPI_AUTO_LENGTH, h.cb, ch, &fn);
    calls.Set(h.name, Napi::Value(env, fn));
  }
  return calls;
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  const FunctionExport functions[] = {
      {"channelFormat", Format},
      {"channelAttach", Attach},
      {"channelCalls", Calls},
      {"channelClaimLane", ClaimLane},
      {"channelClaimConsumer", ClaimConsumer},
      {"channelWaitSpace", WaitSpaceAsync},
      {"channelReceiveView", ReceiveView},
      {"channelReserve", Reserve},
      {"channelCommit", Commit},
      {"channelProbe", Probe},
      {"channelClose", Close},
  };
  SetFunctions(env, exports, functions);
  const ConstantExport constants[] = {
      {"CHANNEL_HEADER_SIZE", PIPC_RING_HEADER_SIZE},
      {"CHANNEL_LANE_SIZE", PIPC_RING_LANE_SIZE},
      {"CHANNEL_CORRUPT", PIPC_RING_CORRUPT},
      {"CHANNEL_PEER_DEAD", PIPC_RING_PEER_DEAD},
      {"CHANNEL_ENDED", PIPC_RING_ENDED},
      {"POOLED_MAX", kPooledMax},
      {"CHANNEL_MAX_SPIN_NS", kMaxSpinNs},
  };
  SetConstants(env, exports, constants);
  // The slots of the meta array channelAttach fills, by name, so lib/channel.ts
  // never keeps a second copy of the enum Meta above.
  Napi::Object meta = Napi::Object::New(env);
  const ConstantExport slots[] = {
      {"LOCK_FD", kLockFd},
      {"LANES", kLanes},
      {"CAPACITY", kCapacity},
      {"MAX_MESSAGE", kMaxMessage},
      {"LANE", kLane},
      {"NEEDED", kNeeded},
      {"OFFSET", kOffset},
      {"SEALED", kSealed},
      {"END_WHEN_IDLE", kEndWhenIdle},
      {"ENDED", kEnded},
      {"FAILED_CALL", kFailedCall},
      {"SIZE", kMetaSize},
  };
  SetConstants(env, meta, slots);
  meta.Freeze();
  exports.Set("channelMeta", meta);
  Napi::Array calls = Napi::Array::New(env, std::size(kAttachCallNames));
  for (uint32_t i = 0; i < std::size(kAttachCallNames); i++) calls.Set(i, kAttachCallNames[i]);
  calls.Freeze();
  exports.Set("channelAttachCalls", calls);
}

}  // namespace channel
}  // namespace posix_ipc
