// Robust, process-shared mutexes: a pthread_mutex_t (PTHREAD_PROCESS_SHARED,
// PTHREAD_MUTEX_ROBUST, PTHREAD_MUTEX_ERRORCHECK) in shared memory, with the
// pid of its holder next to it.
//
// See: pthread_mutexattr_setrobust(3), pthread_mutex_consistent(3),
// pthread_mutex_lock(3p), pthread_mutex_clocklock(3), futex(2), futex(7),
// set_robust_list(2), open(2) (O_TMPFILE), linkat(2), mmap(2).
//
// Ownership. The kernel keeps a robust-futex list per *thread*: when a thread
// exits (SIGKILL included) it marks each robust mutex on that list
// FUTEX_OWNER_DIED and wakes one waiter. The thread that locks is the owner the
// kernel watches, and only it may unlock, so every lock and unlock here runs
// on the JavaScript thread. An asynchronous lock() does not lock on its wait
// thread: that thread only sleeps on the lock word until it may have changed
// (MutexWait::Slice), and JavaScript then tries again with trylock.
//
// The lock word. glibc's robust mutex word is the first int of
// pthread_mutex_t, in the kernel's robust-futex format:
//   owner TID | FUTEX_WAITERS (0x80000000) | FUTEX_OWNER_DIED (0x40000000).
// A sleeper sets FUTEX_WAITERS first, so that the unlocker (glibc) or the
// kernel (at the owner's death) wakes it; whoever takes the lock after having
// slept keeps FUTEX_WAITERS set, because other sleepers may share the flag
// (glibc's own pthread_mutex_lock does the same). The layout is checked once
// per process, on a private mutex; if it ever differs, every call fails with
// ENOTSUP rather than guess.
//
// Memory. A mapping is shared by the JavaScript handle and each pending wait
// (std::shared_ptr), so closing a handle never unmaps memory a wait thread
// reads. A mapping whose mutex this thread holds is never unmapped at all:
// held robust mutexes are linked into the thread's robust list through the
// mutexes themselves, and the kernel walks that list when the thread exits.
//
// Locking without glibc. A peer can rewrite any byte of the mutex at any
// moment. glibc's pthread_mutex_unlock reads the mutex's robust-list links
// (__list.__prev/__next) from it and writes through them (DEQUEUE_MUTEX): a
// peer's pointers made it write anywhere. Its lock calls read the kind again
// after any check of ours, and a priority-protect kind aborts the process.
// Checking first is no defence (the bytes can change right after), so glibc
// never locks, unlocks or reads a mutex here once it is initialised: this file
// does what glibc 2.36's robust, process-shared, error-checking mutex does
// (nptl/pthread_mutex_trylock.c, pthread_mutex_lock.c, the robust branch of
// pthread_mutex_unlock.c, ENQUEUE_MUTEX/DEQUEUE_MUTEX in pthreadP.h), with the
// same bytes and the same futex calls, so C programs locking the same mutex
// with glibc interoperate. What it needs of the list it keeps privately:
//
// The thread's robust list (set_robust_list(2)) starts at glibc's
// robust_head, private to the thread; each held mutex's __next points to the
// next entry, the last one back to the head; pointers name an entry's __next
// field. Locking pushes the mutex at the front, as glibc does: the head's
// list pointer becomes the mutex's __next, the head its __prev. So the true
// links of every mutex this thread holds through us follow from the order we
// locked them in: ThreadList keeps that order (never the links a peer can
// rewrite), and unlocking unlinks a mutex with the links computed from it,
// reading nothing from shared memory but the lock word and the __owner field,
// both plain integers.
//
// A robust mutex this library did not lock (a C library's, on the JavaScript
// thread) breaks that computation when it sits among ours, and glibc then
// writes into our mutexes' links as well. Ours are therefore kept together at
// the end of the list: a lock fails with ENOTSUP while the thread holds such a
// mutex (the head's list pointer is not our latest mutex, or the head). One
// locked after ours only goes in front of them; its unlock (by glibc) reads
// its own links, which nobody but glibc writes, and rewrites our front mutex's
// __prev, which we never read. When we unlock our front mutex while such
// mutexes sit in front of it, we find its predecessor by walking them from the
// head (their __next fields are what glibc itself trusts); if that walk does
// not reach our mutex, the mutex is left linked and mapped (ENOTSUP) rather
// than unlinked with links we cannot vouch for.
//
// What a peer's scribbling still does: a peer that rewrites a held mutex's
// __next makes the kernel's walk at this thread's death stop there (the
// kernel reads user memory fault-safely and at most ROBUST_LIST_LIMIT
// entries), so later mutexes are not marked owner-died; and a lock word it
// rewrites is what it is (held by nobody, or by a stranger). Neither crashes.
#include "mutex.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/deadline.h"
#include "common/env_state.h"
#include "common/exports.h"
#include "common/handle.h"
#include "common/result.h"
#include "common/sys.h"
#include "common/waiter.h"

namespace posix_ipc {
namespace mutex {
namespace {

// What a mutex takes in shared memory: the pthread mutex, the pid of its
// holder, and a magic number written last by the initialiser.
struct Record {
  pthread_mutex_t mutex;
  int32_t owner_pid;  // 0: nobody recorded.
  uint32_t magic;
};

constexpr uint32_t kMagic = 0x31584d50;  // "PMX1"
constexpr size_t kRecordSize = 64;
static_assert(sizeof(Record) <= kRecordSize, "a mutex record must fit in kRecordSize bytes");

// Outcomes of a successful lock.
constexpr int kLocked = 0;
constexpr int kOwnerDied = 1;

// Outcomes of a wait slice.
constexpr int kWoken = 0;
constexpr int kChanged = 1;

pid_t Tid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// This process's pid, recorded by every lock: getpid(2) is a syscall, about
// as dear as the uncontended lock itself. A child forked without exec gets it
// refreshed before it runs any code of ours.
std::atomic<int32_t> cached_pid{0};

void RefreshPid() { cached_pid.store(static_cast<int32_t>(getpid()), std::memory_order_relaxed); }

int32_t Pid() {
  static const bool registered = [] {
    RefreshPid();
    return pthread_atfork(nullptr, nullptr, RefreshPid) == 0;
  }();
  (void)registered;
  return cached_pid.load(std::memory_order_relaxed);
}

// Initialises `m` as ours (process-shared, robust) of `type`.
int InitMutex(pthread_mutex_t* m, int type) {
  pthread_mutexattr_t attr;
  int e = pthread_mutexattr_init(&attr);
  if (e != 0) return -e;
  e = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (e == 0) e = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  if (e == 0) e = pthread_mutexattr_settype(&attr, type);
  if (e == 0) e = pthread_mutex_init(m, &attr);
  pthread_mutexattr_destroy(&attr);
  return -e;
}

// Where glibc keeps a mutex's kind (its type, robust and shared bits), and
// the kind of ours: two private mutexes made like ours but of two types
// differ there (OnlyDifference). A mutex whose kind is not ours (its bytes
// overwritten behind an intact magic) is never handed to glibc, which asserts,
// hangs or silently changes behaviour on a kind it did not make: a
// priority-protect kind aborts the process.
const Field& OurKind() {
  static const Field kind = [] {
    pthread_mutex_t a, b;
    std::memset(&a, 0, sizeof a);
    std::memset(&b, 0, sizeof b);
    if (InitMutex(&a, PTHREAD_MUTEX_ERRORCHECK) != 0 || InitMutex(&b, PTHREAD_MUTEX_NORMAL) != 0)
      return Field{0, 0, false};
    return OnlyDifference(&a, &b, sizeof a);
  }();
  return kind;
}

// The calling thread's robust list head, as glibc registered it
// (get_robust_list(2)), or nullptr.
robust_list_head* OwnHead() {
  robust_list_head* head = nullptr;
  size_t length = 0;
  if (syscall(SYS_get_robust_list, 0, &head, &length) != 0 || length != sizeof(robust_list_head)) return nullptr;
  return head;
}

void* LoadPointer(const void* at) { return __atomic_load_n(static_cast<void* const*>(at), __ATOMIC_RELAXED); }
void StorePointer(void* at, void* value) { __atomic_store_n(static_cast<void**>(at), value, __ATOMIC_RELAXED); }

// Where glibc keeps what this file reads and writes besides the lock word (at
// offset 0), and the __owner values glibc gives a mutex whose owner died:
// learnt once per process from private mutexes (Probe), never assumed.
struct Layout {
  bool ok = false;
  size_t owner = 0, count = 0, nusers = 0;  // int fields
  size_t next = 0, prev = 0;                // __list.__next and __list.__prev
  int inconsistent = 0, not_recoverable = 0;
};

// The int offsets of `m` that hold `value`, leaving out the lock word and the
// list pointers found so far.
std::vector<size_t> IntsHolding(const pthread_mutex_t& m, int value, const Layout& l) {
  std::vector<size_t> found;
  for (size_t at = sizeof(int); at + sizeof(int) <= sizeof m; at += sizeof(int)) {
    bool in_list = (at >= l.next && at < l.next + sizeof(void*)) || (at >= l.prev && at < l.prev + sizeof(void*));
    int v;
    std::memcpy(&v, reinterpret_cast<const char*>(&m) + at, sizeof v);
    if (!in_list && v == value) found.push_back(at);
  }
  return found;
}

// One int offset holding `value`, or false.
bool OneIntHolding(const pthread_mutex_t& m, int value, const Layout& l, size_t* out) {
  std::vector<size_t> found = IntsHolding(m, value, l);
  if (found.size() != 1) return false;
  *out = found[0];
  return true;
}

int IntAt(const pthread_mutex_t& m, size_t at) {
  int v;
  std::memcpy(&v, reinterpret_cast<const char*>(&m) + at, sizeof v);
  return v;
}

// Learns the Layout with glibc's own calls on private mutexes, on this thread:
// - an error-checking one, locked: its first int is our TID (the kernel's
//   robust-futex word); the head's list pointer now names a pointer field of
//   the mutex (__next) holding the previous front entry; exactly one other
//   pointer field names the head (__prev); the previous front entry's __prev
//   names our __next (so an entry's __prev lies next - prev bytes before the
//   pointer to it); the head's futex_offset leads from __next to the word;
//   exactly one other int holds our TID (__owner). Unlocked: all of it undone.
// - a recursive one locked twice: one int holds 2 (__count), one 1 (__nusers).
// - an error-checking one whose owner, a thread, ended holding it: trylock
//   says EOWNERDEAD and __owner holds glibc's "inconsistent" value; unlocked
//   without pthread_mutex_consistent, its "not recoverable" one.
Layout Probe() {
  Layout l;
  robust_list_head* head = OwnHead();
  if (head == nullptr) return l;
  const uint32_t tid = static_cast<uint32_t>(Tid());
  char* const h = reinterpret_cast<char*>(head);

  pthread_mutex_t p;
  std::memset(&p, 0, sizeof p);
  char* const base = reinterpret_cast<char*>(&p);
  if (InitMutex(&p, PTHREAD_MUTEX_ERRORCHECK) != 0) return l;
  char* const front = static_cast<char*>(LoadPointer(h));
  if (pthread_mutex_lock(&p) != 0) return l;
  char* const entry = static_cast<char*>(LoadPointer(h));
  bool good =
      entry >= base + sizeof(int) && entry + sizeof(void*) <= base + sizeof p && (entry - base) % alignof(void*) == 0;
  if (good) {
    l.next = static_cast<size_t>(entry - base);
    int prevs = 0;
    for (size_t at = 0; at + sizeof(void*) <= sizeof p; at += alignof(void*)) {
      if (at != l.next && LoadPointer(base + at) == h) {
        prevs++;
        l.prev = at;
      }
    }
    uint32_t word;
    std::memcpy(&word, &p, sizeof word);
    good = prevs == 1 && l.prev < l.next && l.prev >= sizeof(int) && LoadPointer(entry) == front &&
           LoadPointer(reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(front) & ~uintptr_t{1}) -
                       (l.next - l.prev)) == entry &&
           head->futex_offset == -static_cast<long>(l.next) && word == tid &&
           OneIntHolding(p, static_cast<int>(tid), l, &l.owner);
  }
  pthread_mutex_unlock(&p);
  good = good && LoadPointer(h) == front && LoadPointer(base + l.next) == nullptr &&
         LoadPointer(base + l.prev) == nullptr && IntAt(p, l.owner) == 0 && IntAt(p, 0) == 0;
  pthread_mutex_destroy(&p);
  if (!good) return l;

  pthread_mutex_t q;
  std::memset(&q, 0, sizeof q);
  if (InitMutex(&q, PTHREAD_MUTEX_RECURSIVE) != 0 || pthread_mutex_lock(&q) != 0) return l;
  if (pthread_mutex_lock(&q) == 0) {
    good = OneIntHolding(q, 2, l, &l.count) && OneIntHolding(q, 1, l, &l.nusers) && l.count != l.owner &&
           l.nusers != l.owner;
    pthread_mutex_unlock(&q);
  } else {
    good = false;
  }
  pthread_mutex_unlock(&q);
  good = good && IntAt(q, l.count) == 0 && IntAt(q, l.nusers) == 0;
  pthread_mutex_destroy(&q);
  if (!good) return l;

  pthread_mutex_t r;
  std::memset(&r, 0, sizeof r);
  if (InitMutex(&r, PTHREAD_MUTEX_ERRORCHECK) != 0) return l;
  // The kernel marks the mutex before the thread's TID is cleared, which is
  // what join waits for.
  std::thread([&r] { pthread_mutex_lock(&r); }).join();
  if (pthread_mutex_trylock(&r) != EOWNERDEAD) return l;
  l.inconsistent = IntAt(r, l.owner);
  pthread_mutex_unlock(&r);
  l.not_recoverable = IntAt(r, l.owner);
  pthread_mutex_destroy(&r);
  l.ok = l.inconsistent != 0 && l.not_recoverable != 0 && l.inconsistent != l.not_recoverable &&
         l.inconsistent != static_cast<int>(tid) && l.not_recoverable != static_cast<int>(tid);
  return l;
}

// The Layout, probed once per process (first from a JavaScript thread's
// Init), with OurKind: when anything differs from what this file relies on,
// every mutex fails with ENOTSUP rather than guess.
const Layout& GetLayout() {
  static const Layout layout = [] {
    Layout l = OurKind().found ? Probe() : Layout{};
    if (l.ok) {
      size_t kind = OurKind().offset;
      for (size_t at : {l.owner, l.count, l.nusers}) l.ok = l.ok && at != kind;
    }
    return l;
  }();
  return layout;
}

bool LayoutOk() { return GetLayout().ok; }

// What this thread knows of its robust list: its head, its TID, and the
// mutexes it holds through this file, in the order it locked them (the
// list's order from its end: the last one locked is at the front). Learnt
// again in a forked child, whose list glibc empties (and whose TID differs).
struct ThreadList {
  int32_t pid = 0;
  uint32_t tid = 0;
  robust_list_head* head = nullptr;
  std::vector<char*> held;  // each mutex's entry: the address of its __next
};

thread_local ThreadList this_thread;

// This thread's ThreadList, or nullptr when it has no robust list.
ThreadList* Current() {
  ThreadList& t = this_thread;
  int32_t pid = Pid();
  if (t.pid != pid) {
    t.pid = pid;
    t.tid = static_cast<uint32_t>(Tid());
    t.head = OwnHead();
    t.held.clear();
  }
  return t.head != nullptr ? &t : nullptr;
}

// Orders the list updates around the lock word's, for the kernel, which reads
// them only when this very thread dies: the compiler barriers glibc uses.
void SetPending(ThreadList* t, char* entry) {
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  StorePointer(&t->head->list_op_pending, entry);
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

class Mapping {
 public:
  Mapping(void* base, size_t length, Record* record) : record(record), base_(base), length_(length) {}
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  // A mutex this thread holds stays mapped: it is linked into the thread's
  // robust list, which glibc and the kernel walk.
  ~Mapping() {
    if (!held.load(std::memory_order_acquire)) munmap(base_, length_);
  }

  uint32_t* word() { return reinterpret_cast<uint32_t*>(&record->mutex); }
  int* field(size_t offset) { return reinterpret_cast<int*>(reinterpret_cast<char*>(&record->mutex) + offset); }
  // Its entry in a robust list: the address of its __next.
  char* entry() { return reinterpret_cast<char*>(&record->mutex) + GetLayout().next; }

  Record* const record;
  // Whether this mapping's mutex is locked through this handle (JavaScript
  // thread only, read by whichever thread frees the Mapping).
  std::atomic<bool> held{false};

 private:
  void* base_;
  size_t length_;
};

// Whether the mutex at `m` still has the kind ours are made with.
bool KindOk(Mapping* m) { return FieldIs(&m->record->mutex, OurKind()); }

// What the JavaScript handle (a handle of kMutexHandle) holds; emptied by mutexClose.
using Handle = SharedHandle<Mapping>;

const HandleKind kMutexHandle{{0x6d75746578a91c4fULL, 0xb3e05d7a2c6f1e98ULL}};

// The Handle info[0] is, or nullptr for anything this file did not make.
Handle* HandleOf(const Napi::CallbackInfo& info) { return UnwrapHandle<Handle>(info.Env(), info[0], kMutexHandle); }

// The mapping of the handle in info[0], or nullptr for a closed handle or
// anything that is not a handle of ours (-EBADF, never a crash).
Mapping* Get(const Napi::CallbackInfo& info) { return SharedObject(HandleOf(info)); }

long Futex(uint32_t* addr, int op, uint32_t val, const timespec* deadline) {
  return syscall(SYS_futex, addr, op, val, deadline, nullptr, FUTEX_BITSET_MATCH_ANY);
}

// Maps the kRecordSize bytes at `offset` of `fd` (its own mapping, from the
// page that holds them). -EINVAL when the object is too small to hold them.
int MapRecord(int fd, off_t offset, std::shared_ptr<Mapping>* out) {
  struct stat st;
  if (fstat(fd, &st) < 0) return -errno;
  if (st.st_size < offset + static_cast<off_t>(kRecordSize)) return -EINVAL;
  off_t start = offset & ~static_cast<off_t>(sysconf(_SC_PAGESIZE) - 1);
  size_t length = static_cast<size_t>(offset - start) + kRecordSize;
  void* base = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, start);
  if (base == MAP_FAILED) return -errno;
  auto* record = reinterpret_cast<Record*>(static_cast<char*>(base) + (offset - start));
  *out = std::make_shared<Mapping>(base, length, record);
  return 0;
}

int InitRecord(Record* r) {
  int e = InitMutex(&r->mutex, PTHREAD_MUTEX_ERRORCHECK);
  if (e != 0) return e;
  __atomic_store_n(&r->owner_pid, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&r->magic, kMagic, __ATOMIC_RELEASE);
  return 0;
}

// Releases the lock word as glibc's unlock does: 0, then one waiter woken
// (shared: the memory is shared) when FUTEX_WAITERS was set.
void ReleaseWord(uint32_t* word) {
  if ((__atomic_exchange_n(word, 0, __ATOMIC_RELEASE) & FUTEX_WAITERS) != 0) Futex(word, FUTEX_WAKE, 1, nullptr);
}

// One attempt at the lock, as glibc's pthread_mutex_trylock for a robust
// error-checking mutex: kLocked, kOwnerDied (the word said FUTEX_OWNER_DIED:
// taken, and inconsistent until mutexConsistent), -EBUSY, -EDEADLK when this
// thread holds it, -ENOTRECOVERABLE (the word is let go again, which glibc
// 2.36's trylock forgets), -ENOTSUP (a robust mutex we did not lock is held by
// this thread: see the top of this file). Having slept (`after_wait`), we may
// share FUTEX_WAITERS with other sleepers, so the word keeps it and our unlock
// wakes one of them (glibc's pthread_mutex_lock does the same).
int LockOnce(Mapping* m, bool after_wait) {
  const Layout& l = GetLayout();
  ThreadList* t = Current();
  if (t == nullptr) return -ENOTSUP;
  char* const head = reinterpret_cast<char*>(t->head);
  char* const front = static_cast<char*>(LoadPointer(head));
  if (front != (t->held.empty() ? head : t->held.back())) return -ENOTSUP;
  char* const entry = m->entry();
  uint32_t* const word = m->word();
  const uint32_t waiters = after_wait ? FUTEX_WAITERS : 0;
  SetPending(t, entry);
  bool died = false;
  uint32_t v = __atomic_load_n(word, __ATOMIC_RELAXED);
  for (;;) {
    if ((v & FUTEX_OWNER_DIED) != 0) {
      if (!__atomic_compare_exchange_n(word, &v, t->tid | (v & FUTEX_WAITERS) | waiters, false, __ATOMIC_ACQUIRE,
                                       __ATOMIC_RELAXED))
        continue;
      died = true;
      break;
    }
    if ((v & FUTEX_TID_MASK) == t->tid || v != 0) {
      SetPending(t, nullptr);
      return (v & FUTEX_TID_MASK) == t->tid ? -EDEADLK : -EBUSY;
    }
    if (__atomic_compare_exchange_n(word, &v, t->tid | waiters, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) break;
  }
  if (!died && __atomic_load_n(m->field(l.owner), __ATOMIC_RELAXED) == l.not_recoverable) {
    __atomic_store_n(m->field(l.count), 0, __ATOMIC_RELAXED);
    ReleaseWord(word);
    SetPending(t, nullptr);
    return -ENOTRECOVERABLE;
  }
  __atomic_store_n(m->field(l.count), 1, __ATOMIC_RELAXED);
  if (died) __atomic_store_n(m->field(l.owner), l.inconsistent, __ATOMIC_RELAXED);
  // ENQUEUE_MUTEX: in front of the list. The old front entry's __prev now
  // names us (glibc's own robust_prev beside the head, which nothing ever
  // reads, is left alone).
  if (front != head) StorePointer(front - (l.next - l.prev), entry);
  StorePointer(entry, front);
  StorePointer(entry - (l.next - l.prev), head);
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  StorePointer(head, entry);
  t->held.push_back(entry);
  SetPending(t, nullptr);
  if (!died) {
    __atomic_store_n(m->field(l.owner), static_cast<int>(t->tid), __ATOMIC_RELAXED);
    // __nusers is peer-writable: counted in unsigned arithmetic, so INT_MAX + 1 wraps instead of
    // being undefined behaviour (UBSan found it in the peer-scribble test).
    __atomic_store_n(
        m->field(l.nusers),
        static_cast<int>(static_cast<unsigned>(__atomic_load_n(m->field(l.nusers), __ATOMIC_RELAXED)) + 1u),
        __ATOMIC_RELAXED);
  }
  return died ? kOwnerDied : kLocked;
}

// The entry in front of `entry`, our front mutex, when robust mutexes we did
// not lock sit in front of it: found by walking them from the head through
// their __next fields (memory glibc itself trusts, never ours: a peer cannot
// steer this walk). nullptr when the walk does not reach `entry`.
char* ForeignPredecessor(ThreadList* t, char* entry) {
  char* const head = reinterpret_cast<char*>(t->head);
  char* prev = head;
  // The low bit marks a priority-inheritance mutex's entry (glibc, the kernel).
  auto untag = [](void* p) { return reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(p) & ~uintptr_t{1}); };
  char* at = untag(LoadPointer(head));
  for (int steps = 0; steps < 2048; steps++) {  // the kernel's ROBUST_LIST_LIMIT
    if (at == entry) return prev;
    if (at == head || at == nullptr || std::find(t->held.begin(), t->held.end(), at) != t->held.end()) return nullptr;
    prev = at;
    at = untag(LoadPointer(at));
  }
  return nullptr;
}

// Unlocks a mutex this thread holds through `m`, as the robust branch of
// glibc's __pthread_mutex_unlock_full, but with the list links computed from
// ThreadList: 0, -EBADMSG when the lock word no longer names this thread (a
// peer rewrote it: the mutex is unlinked but the word left as the peer made
// it), -ENOTSUP when the mutex could not be unlinked safely (it stays linked,
// and mapped), -EPERM when this thread does not hold it through `m`.
int UnlockOurs(Mapping* m) {
  const Layout& l = GetLayout();
  ThreadList* t = Current();
  char* const entry = m->entry();
  auto it = t == nullptr ? std::vector<char*>::iterator() : std::find(t->held.begin(), t->held.end(), entry);
  if (t == nullptr || it == t->held.end()) return -EPERM;
  char* const head = reinterpret_cast<char*>(t->head);
  // held is in the list's order from its end: the entry after ours is the one
  // locked before it (or the head), the one before ours the one locked after.
  char* const next = it == t->held.begin() ? head : *(it - 1);
  char* const prev = it + 1 != t->held.end()      ? *(it + 1)
                     : LoadPointer(head) == entry ? head
                                                  : ForeignPredecessor(t, entry);
  if (prev == nullptr) return -ENOTSUP;
  uint32_t* const word = m->word();
  SetPending(t, entry);
  // DEQUEUE_MUTEX.
  if (next != head) StorePointer(next - (l.next - l.prev), prev);
  StorePointer(prev, next);
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  StorePointer(entry - (l.next - l.prev), nullptr);
  StorePointer(entry, nullptr);
  t->held.erase(it);
  // Unlocked without mutexConsistent after an owner's death: nobody may
  // have it any more.
  int* owner = m->field(l.owner);
  __atomic_store_n(owner, __atomic_load_n(owner, __ATOMIC_RELAXED) == l.inconsistent ? l.not_recoverable : 0,
                   __ATOMIC_RELAXED);
  __atomic_store_n(m->field(l.nusers),
                   static_cast<int>(static_cast<unsigned>(__atomic_load_n(m->field(l.nusers), __ATOMIC_RELAXED)) - 1u),
                   __ATOMIC_RELAXED);
  bool ours = (__atomic_load_n(word, __ATOMIC_RELAXED) & FUTEX_TID_MASK) == t->tid;
  if (ours) ReleaseWord(word);
  SetPending(t, nullptr);
  return ours ? 0 : -EBADMSG;
}

// Sleeps on the lock word until it may be takeable: free (0), or its owner
// died; until `deadline` (CLOCK_MONOTONIC, nullptr: none). It never takes the
// lock itself. kWoken, kChanged, -ETIMEDOUT or -errno. A word with no owner
// but other bits set is no state glibc leaves (its unlock stores 0) and
// trylock refuses it: slept on like a held one, never reported as a change,
// which would make lock() try again at once, forever.
int SleepWhileHeld(uint32_t* word, const timespec* deadline) {
  for (;;) {
    uint32_t v = __atomic_load_n(word, __ATOMIC_ACQUIRE);
    if (v == 0 || (v & FUTEX_OWNER_DIED) != 0) return kChanged;
    if ((v & FUTEX_WAITERS) == 0) {
      if (!__atomic_compare_exchange_n(word, &v, v | FUTEX_WAITERS, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        continue;
      v |= FUTEX_WAITERS;
    }
    // Shared (no FUTEX_PRIVATE_FLAG), as glibc's process-shared mutexes and
    // the kernel's owner-death wake-up are.
    if (Futex(word, FUTEX_WAIT_BITSET, v, deadline) == 0) return kWoken;
    if (errno == ETIMEDOUT) return -ETIMEDOUT;
    if (errno != EAGAIN && errno != EINTR) return -errno;
  }
}

// The outcome `r` of a lock attempt, with our pid recorded when it took the lock.
int Acquired(Mapping* m, int r) {
  if (r < 0) return r;
  __atomic_store_n(&m->record->owner_pid, Pid(), __ATOMIC_RELAXED);
  m->held.store(true, std::memory_order_release);
  return r;
}

// The wait of an asynchronous lock(): sleeps on its own thread until the
// mutex may be takeable, for JavaScript to try again (the JavaScript thread
// must own it).
class MutexWait : public waiter::Wait {
 public:
  explicit MutexWait(std::shared_ptr<Mapping> mapping) : mapping_(std::move(mapping)) {}

  int Slice(const timespec& slice_end) override { return SleepWhileHeld(mapping_->word(), &slice_end); }

  // A wake-up nobody will act on goes to the next sleeper.
  void Undo(int result) override {
    if (result == kWoken) Futex(mapping_->word(), FUTEX_WAKE, 1, nullptr);
  }

 private:
  std::shared_ptr<Mapping> mapping_;
};

// mutexTmpfile(mode) -> fd | -errno: an unnamed, close-on-exec file in
// /dev/shm (where glibc's shm_open keeps named objects), to be initialised
// before mutexPublish gives it its name. Nobody can open a half-made mutex.
Napi::Value Tmpfile(const Napi::CallbackInfo& info) {
  mode_t mode = info[0].As<Napi::Number>().Uint32Value();
  int fd = Tracked(info.Env(), RetryOnEintr([&] { return open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, mode); }));
  return Result(info.Env(), fd);
}

// mutexPublish(fd, name) -> 0 | -errno (-EEXIST when the name is taken): links
// the file as /dev/shm/<name>, atomically. linkat through /proc/self/fd is how
// open(2) documents giving an O_TMPFILE file a name without privileges.
Napi::Value Publish(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  std::string path = "/dev/shm" + info[1].As<Napi::String>().Utf8Value();
  char proc[64];
  std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  return Result(info.Env(),
                RetryOnEintr([&] { return linkat(AT_FDCWD, proc, AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW); }));
}

// mutexMap(fd, offset, init) -> handle | -errno. Maps the record at `offset`;
// with `init` initialises it (-EEXIST if it already holds a mutex), without
// attaches to it (-EINVAL if it holds none, -EBADMSG if its kind was
// overwritten: KindOk). -ENOTSUP if this libc's mutex word
// is not the kernel's robust-futex word.
Napi::Value Map(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!LayoutOk()) return Result(env, -ENOTSUP);
  int fd = info[0].As<Napi::Number>().Int32Value();
  off_t offset = info[1].As<Napi::Number>().Int64Value();
  bool init = info[2].As<Napi::Boolean>().Value();
  std::shared_ptr<Mapping> m;
  int r = MapRecord(fd, offset, &m);
  if (r < 0) return Result(env, r);
  bool initialised = __atomic_load_n(&m->record->magic, __ATOMIC_ACQUIRE) == kMagic;
  if (init) {
    r = initialised ? -EEXIST : InitRecord(m->record);
  } else if (!initialised) {
    r = -EINVAL;
  } else if (!KindOk(m.get())) {
    r = -EBADMSG;
  }
  if (r < 0) return Result(env, r);
  return WrapShared(env, kMutexHandle, std::move(m));
}

// mutexClose(handle) -> 0 | -EBADF. The mapping goes once no wait uses it (and
// never while this thread holds the mutex).
Napi::Value Close(const Napi::CallbackInfo& info) { return Result(info.Env(), CloseShared(HandleOf(info))); }

// mutexTryLock(handle, afterWait) -> 0 locked | 1 locked, owner died | -errno
// (-EBUSY, -EDEADLK when this thread holds it, -ENOTRECOVERABLE, -EBADMSG
// when its kind was overwritten: every call below but unlock checks it first,
// to report an overwritten mutex; nothing here relies on the kind).
Napi::Value TryLock(const Napi::CallbackInfo& info) {
  Mapping* m = Get(info);
  if (m == nullptr) return Result(info.Env(), -EBADF);
  if (!KindOk(m)) return Result(info.Env(), -EBADMSG);
  bool after_wait = info[1].As<Napi::Boolean>().Value();
  return Result(info.Env(), Acquired(m, LockOnce(m, after_wait)));
}

// mutexLockSync(handle, timeoutMs) -> as mutexTryLock, or -ETIMEDOUT. Blocks
// this thread (timeoutMs < 0: without a deadline), sleeping on the lock word
// between attempts; a signal does not move the CLOCK_MONOTONIC deadline.
Napi::Value LockSync(const Napi::CallbackInfo& info) {
  Mapping* m = Get(info);
  if (m == nullptr) return Result(info.Env(), -EBADF);
  if (!KindOk(m)) return Result(info.Env(), -EBADMSG);
  double timeout_ms = info[1].As<Napi::Number>().DoubleValue();
  Deadline deadline = DeadlineIn(timeout_ms);
  for (bool after_wait = false;; after_wait = true) {
    int r = LockOnce(m, after_wait);
    if (r != -EBUSY) return Result(info.Env(), Acquired(m, r));
    r = SleepWhileHeld(m->word(), deadline.get());
    if (r < 0) return Result(info.Env(), r);
  }
}

// mutexUnlock(handle) -> 0 | -errno (-EPERM when this handle does not hold
// it; -EBADMSG when a peer rewrote the lock word: unlinked and no longer held
// all the same). The kind is not checked: unlocking uses nothing but the
// lock word, the __owner field and what this thread knows.
Napi::Value Unlock(const Napi::CallbackInfo& info) {
  Mapping* m = Get(info);
  if (m == nullptr) return Result(info.Env(), -EBADF);
  if (!m->held.load(std::memory_order_relaxed)) return Result(info.Env(), -EPERM);
  // Cleared first: once the word is free, the pid field is the next holder's.
  __atomic_store_n(&m->record->owner_pid, 0, __ATOMIC_RELAXED);
  int r = UnlockOurs(m);
  if (r != -ENOTSUP) m->held.store(false, std::memory_order_release);
  return Result(info.Env(), r);
}

// mutexConsistent(handle) -> 0 | -errno (-EINVAL when the mutex is
// consistent, -EPERM when this handle does not hold it): what
// pthread_mutex_consistent does, __owner from "inconsistent" to our TID.
Napi::Value Consistent(const Napi::CallbackInfo& info) {
  Mapping* m = Get(info);
  if (m == nullptr) return Result(info.Env(), -EBADF);
  if (!m->held.load(std::memory_order_relaxed)) return Result(info.Env(), -EPERM);
  if (!KindOk(m)) return Result(info.Env(), -EBADMSG);
  ThreadList* t = Current();
  int expected = GetLayout().inconsistent;
  bool done =
      t != nullptr && __atomic_compare_exchange_n(m->field(GetLayout().owner), &expected, static_cast<int>(t->tid),
                                                  false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  return Result(info.Env(), done ? 0 : -EINVAL);
}

// mutexOwnerPid(handle) -> the holder's pid, 0 when nobody holds it (or its
// holder died, or has not recorded itself yet), or -errno.
Napi::Value OwnerPid(const Napi::CallbackInfo& info) {
  Mapping* m = Get(info);
  if (m == nullptr) return Result(info.Env(), -EBADF);
  uint32_t word = __atomic_load_n(m->word(), __ATOMIC_ACQUIRE);
  if ((word & FUTEX_TID_MASK) == 0) return Result(info.Env(), 0);
  return Result(info.Env(), __atomic_load_n(&m->record->owner_pid, __ATOMIC_RELAXED));
}

// mutexWait(handle, timeoutMs, done) -> wait handle | -errno; done(0 woken |
// 1 changed | -ETIMEDOUT | -errno) once the mutex may be takeable.
Napi::Value Wait(const Napi::CallbackInfo& info) {
  Handle* h = HandleOf(info);
  if (h == nullptr || !h->shared) return Result(info.Env(), -EBADF);
  const std::shared_ptr<Mapping>& m = h->shared;
  return waiter::Start(info.Env(), std::make_unique<MutexWait>(m), info[1].As<Napi::Number>().DoubleValue(),
                       info[2].As<Napi::Function>());
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  LayoutOk();  // Probed once per process, here on a JavaScript thread.
  const FunctionExport functions[] = {
      {"mutexTmpfile", Tmpfile}, {"mutexPublish", Publish},       {"mutexMap", Map},
      {"mutexClose", Close},     {"mutexTryLock", TryLock},       {"mutexLockSync", LockSync},
      {"mutexUnlock", Unlock},   {"mutexConsistent", Consistent}, {"mutexOwnerPid", OwnerPid},
      {"mutexWait", Wait},
  };
  SetFunctions(env, exports, functions);
  const ConstantExport constants[] = {
      {"MUTEX_SIZE", kRecordSize},
  };
  SetConstants(env, exports, constants);
}

}  // namespace mutex
}  // namespace posix_ipc
