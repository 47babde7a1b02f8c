/*
 * The posix-ipc Channel: a segment of shared memory holding one lock-free
 * single-producer/single-consumer ring ("lane") per producer, each with a
 * mailbox beside it for one small message at a time, read by one consumer.
 * This header is the whole protocol, in plain C11 with GCC/Clang
 * __atomic builtins: the Node addon (native/channel.cc) and C programs include
 * it alike. The layout is documented in docs/channel-format.md.
 *
 * The package ships this header as include/posix-ipc/ring.h: a C program
 * compiles with -I node_modules/posix-ipc/include and includes
 * "posix-ipc/ring.h".
 *
 * See: futex(2), fcntl(2) (F_OFD_SETLK, F_OFD_GETLK), unix(7) (abstract
 * addresses), sendto(2), getrandom(2).
 *
 * Everything a peer writes is hostile input: each shared field is loaded
 * once into a local, checked, and only the local copy is used. A segment that
 * breaks the rules yields PIPC_RING_CORRUPT, never an out-of-bounds access.
 * The geometry (capacity, lane count, offsets) is read and checked once, at
 * attach time, and never read from the segment again.
 *
 * Liveness is kernel-attested: each side holds an open-file-description lock
 * (F_OFD_SETLK) on one byte of the segment's file for as long as it is
 * attached. The kernel drops the lock when the last descriptor of that open
 * file description closes, which includes the process dying; the other side
 * asks the kernel (F_OFD_GETLK). No pid is ever stored or guessed.
 *
 * Functions return >= 0 on success or a negative errno.
 */
#ifndef POSIX_IPC_RING_H_
#define POSIX_IPC_RING_H_

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define PIPC_RING_MAGIC 0x52435049u /* "IPCR" in memory order */
#define PIPC_RING_VERSION 3u
#define PIPC_RING_HEADER_SIZE 256u
#define PIPC_RING_LANE_SIZE 512u
#define PIPC_RING_RECORD_HEADER 8u
#define PIPC_RING_MIN_CAPACITY 64u
#define PIPC_RING_MAX_CAPACITY (1u << 30)
#define PIPC_RING_MAX_LANES 1024u
/* The largest message a lane's mailbox holds (lane_size - 256 - its word). */
#define PIPC_RING_BOX_MAX 248u

/* Record kinds (second word of a record header). A record header is stored
   as one 64-bit word, last: until it says MESSAGE or PAD, nothing is there. */
#define PIPC_RING_KIND_NONE 0u
#define PIPC_RING_KIND_MESSAGE 1u
#define PIPC_RING_KIND_PAD 2u

/* Low two bits of a state word; the bits above are a generation. */
#define PIPC_RING_NONE 0u
#define PIPC_RING_ACTIVE 1u
#define PIPC_RING_CLOSED 2u
/* A producer's state only: it died, and the consumer reported it (the
   consumer's compare-and-swap from the dead ACTIVE word). */
#define PIPC_RING_DEAD 3u

/* Bits of header->sleeping: how the consumer waits for a message. */
#define PIPC_RING_SLEEP_FUTEX 1u
#define PIPC_RING_SLEEP_DOORBELL 2u

/* The segment breaks the protocol. */
#define PIPC_RING_CORRUPT (-EBADMSG)
/* The peer a wait depends on is gone (died, or closed its end). */
#define PIPC_RING_PEER_DEAD (-EOWNERDEAD)
/* End of stream (pipc_ring_check_end): every producer that attached closed
   cleanly, none is attached, and everything they committed was read. */
#define PIPC_RING_ENDED (-EPIPE)

/* The byte of the segment's file each side locks (F_OFD_SETLK). */
#define PIPC_RING_CONSUMER_LOCK 0u
#define PIPC_RING_LANE_LOCK(i) (1u + (uint32_t)(i))

/* Abstract socket name of the doorbell: "\0posix-ipc-channel-" + 16 bytes. */
#define PIPC_RING_DOORBELL_PREFIX "posix-ipc-channel-"
#define PIPC_RING_DOORBELL_BYTES 16u

/* Offset 0. Line 0 is written once by the creator (magic last); line 1 by the consumer. */
typedef struct pipc_ring_header {
  uint32_t magic;
  uint32_t version;
  uint32_t header_size;   /* PIPC_RING_HEADER_SIZE */
  uint32_t lane_size;     /* PIPC_RING_LANE_SIZE */
  uint32_t record_header; /* PIPC_RING_RECORD_HEADER */
  uint32_t lane_count;    /* 1 .. PIPC_RING_MAX_LANES */
  uint64_t capacity;      /* bytes of ring per lane: a power of two */
  uint64_t total_size;    /* header + lanes + rings */
  uint8_t line0_pad[24];
  /* Line 1: the consumer. */
  uint32_t consumer_state; /* generation << 2 | NONE/ACTIVE/CLOSED */
  uint32_t sleeping;       /* PIPC_RING_SLEEP_* bits, set by the consumer, cleared by the waker */
  uint32_t bell;           /* futex word: producers add 1 before FUTEX_WAKE */
  uint32_t line1_reserved;
  uint8_t doorbell[PIPC_RING_DOORBELL_BYTES];
  uint8_t line1_pad[32];
  uint8_t reserved[128];
} pipc_ring_header;

/* At header_size + i * lane_size: one cache line per writer. */
typedef struct pipc_ring_lane {
  /* Line 0: the producer. */
  uint64_t tail;           /* bytes ever published (monotonic) */
  uint32_t producer_state; /* generation << 2 | NONE/ACTIVE/CLOSED/DEAD */
  uint32_t deaths;         /* predecessors found dead (ACTIVE, unreported) by producers claiming the lane */
  uint64_t messages;       /* messages ever committed to the ring (not the mailbox's: box counts those), for tools */
  uint8_t line0_pad[40];
  /* Line 1: the consumer. */
  uint64_t head;      /* bytes ever consumed (monotonic) */
  uint32_t box_taken; /* sequence number of the last mailbox message consumed */
  uint8_t line1_pad[52];
  /* Line 2: a producer waiting for space. */
  uint32_t waiting; /* 1 while the producer waits; cleared by the waker */
  uint32_t space;   /* futex word: the consumer adds 1 before FUTEX_WAKE */
  uint8_t line2_pad[56];
  uint8_t reserved[64];
  /* Lines 4-7: the mailbox, one small message at a time (the producer's). */
  uint64_t box; /* sequence number << 32 | length, stored after the data */
  uint8_t box_data[PIPC_RING_BOX_MAX];
} pipc_ring_lane;

#if defined(__cplusplus)
static_assert(sizeof(pipc_ring_header) == PIPC_RING_HEADER_SIZE, "header size");
static_assert(sizeof(pipc_ring_lane) == PIPC_RING_LANE_SIZE, "lane size");
/* Readers outside C (posix-ipc inspect/top, docs/channel-format.md) take the count at offset 16. */
static_assert(offsetof(pipc_ring_lane, messages) == 16, "messages offset");
#else
_Static_assert(sizeof(pipc_ring_header) == PIPC_RING_HEADER_SIZE, "header size");
_Static_assert(sizeof(pipc_ring_lane) == PIPC_RING_LANE_SIZE, "lane size");
_Static_assert(offsetof(pipc_ring_lane, messages) == 16, "messages offset");
#endif

/* A checked view of a segment, private to this process. */
typedef struct pipc_ring {
  uint8_t* base;
  pipc_ring_header* header;
  pipc_ring_lane* lanes;
  uint8_t* data; /* lane i's ring is data + i * capacity */
  uint32_t lane_count;
  uint64_t capacity;
  uint64_t mask;
  uint64_t max_message; /* capacity / 2 - record header */
  uint64_t total_size;
} pipc_ring;

/* The producer's private state of its lane. */
typedef struct pipc_ring_producer {
  pipc_ring_lane* lane;
  uint8_t* ring;
  uint32_t index;
  uint64_t tail;       /* authoritative: only this producer writes lane->tail */
  uint64_t head_cache; /* last head read from the lane */
  uint64_t reserved;   /* position of the reserved record, or UINT64_MAX */
  uint32_t box_seq;    /* sequence number of the last mailbox message */
  uint32_t box_skips;  /* sends since head was last read for the mailbox */
  uint32_t box_wait;   /* sends between two such reads: 1, doubling to 16 */
  uint64_t messages;   /* authoritative: only this producer writes lane->messages */
} pipc_ring_producer;

/* The consumer's private state of one lane. */
typedef struct pipc_ring_cursor {
  uint64_t head;         /* authoritative: only the consumer writes lane->head */
  uint64_t published;    /* the head last stored into lane->head */
  uint64_t tail_cache;   /* last tail read from the lane (checked against the records now and then) */
  uint32_t deaths_seen;  /* the lane's deaths count already reported */
  uint32_t own;          /* this handle is also the lane's producer */
  uint32_t box_taken;    /* authoritative: only the consumer writes lane->box_taken */
  uint32_t tail_checked; /* tail_cache was read from the lane since attaching */
} pipc_ring_cursor;

typedef struct pipc_ring_consumer {
  pipc_ring_cursor* cursors; /* lane_count entries, owned by the caller */
  uint32_t next;             /* where the round-robin scan starts */
  uint32_t current;          /* lane of the message found by pipc_ring_peek */
  uint32_t from_box;         /* that message is in the lane's mailbox, not its ring */
  uint64_t release_to;       /* its head once consumed (a ring record) */
} pipc_ring_consumer;

static inline uint64_t pipc_ring_record_size(uint64_t length) {
  return PIPC_RING_RECORD_HEADER + ((length + 7u) & ~(uint64_t)7u);
}

/* The segment size for `lanes` lanes of `capacity` bytes each. */
static inline uint64_t pipc_ring_segment_size(uint64_t capacity, uint32_t lanes) {
  return PIPC_RING_HEADER_SIZE + (uint64_t)lanes * (PIPC_RING_LANE_SIZE + capacity);
}

static inline int pipc_ring_valid_geometry(uint64_t capacity, uint32_t lanes) {
  return capacity >= PIPC_RING_MIN_CAPACITY && capacity <= PIPC_RING_MAX_CAPACITY && (capacity & (capacity - 1)) == 0 &&
         lanes >= 1 && lanes <= PIPC_RING_MAX_LANES;
}

static inline long pipc_ring_futex(uint32_t* word, int op, uint32_t value, const struct timespec* deadline) {
  /* Shared futexes (no FUTEX_PRIVATE_FLAG): processes meet on the page. */
  return syscall(SYS_futex, word, op, value, deadline, NULL, FUTEX_BITSET_MATCH_ANY);
}

/* Waits while *word == value, until `deadline` (CLOCK_MONOTONIC, absolute). */
static inline void pipc_ring_futex_wait(uint32_t* word, uint32_t value, const struct timespec* deadline) {
  pipc_ring_futex(word, FUTEX_WAIT_BITSET, value, deadline);
}

static inline void pipc_ring_futex_wake(uint32_t* word) { pipc_ring_futex(word, FUTEX_WAKE, 1, NULL); }

static inline void pipc_ring_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/*
 * Formats a zero-filled segment of `size` bytes (the creator, before anybody
 * else can attach). The magic is stored last, with release order: a reader
 * that sees it sees every other field.
 */
static inline int pipc_ring_format(void* base, uint64_t size, uint64_t capacity, uint32_t lanes) {
  if (!pipc_ring_valid_geometry(capacity, lanes) || size < pipc_ring_segment_size(capacity, lanes)) return -EINVAL;
  pipc_ring_header* h = (pipc_ring_header*)base;
  h->version = PIPC_RING_VERSION;
  h->header_size = PIPC_RING_HEADER_SIZE;
  h->lane_size = PIPC_RING_LANE_SIZE;
  h->record_header = PIPC_RING_RECORD_HEADER;
  h->lane_count = lanes;
  h->capacity = capacity;
  h->total_size = pipc_ring_segment_size(capacity, lanes);
  __atomic_store_n(&h->magic, PIPC_RING_MAGIC, __ATOMIC_RELEASE);
  return 0;
}

/* Checks the header of a mapped segment of `size` bytes and fills `r`. */
static inline int pipc_ring_attach(pipc_ring* r, void* base, uint64_t size) {
  if (size < PIPC_RING_HEADER_SIZE) return PIPC_RING_CORRUPT;
  pipc_ring_header* h = (pipc_ring_header*)base;
  if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != PIPC_RING_MAGIC) return PIPC_RING_CORRUPT;
  uint32_t version = __atomic_load_n(&h->version, __ATOMIC_RELAXED);
  uint32_t header_size = __atomic_load_n(&h->header_size, __ATOMIC_RELAXED);
  uint32_t lane_size = __atomic_load_n(&h->lane_size, __ATOMIC_RELAXED);
  uint32_t record_header = __atomic_load_n(&h->record_header, __ATOMIC_RELAXED);
  uint32_t lanes = __atomic_load_n(&h->lane_count, __ATOMIC_RELAXED);
  uint64_t capacity = __atomic_load_n(&h->capacity, __ATOMIC_RELAXED);
  uint64_t total = __atomic_load_n(&h->total_size, __ATOMIC_RELAXED);
  if (version != PIPC_RING_VERSION || header_size != PIPC_RING_HEADER_SIZE || lane_size != PIPC_RING_LANE_SIZE ||
      record_header != PIPC_RING_RECORD_HEADER || !pipc_ring_valid_geometry(capacity, lanes) ||
      total != pipc_ring_segment_size(capacity, lanes) || total > size) {
    return PIPC_RING_CORRUPT;
  }
  r->base = (uint8_t*)base;
  r->header = h;
  r->lanes = (pipc_ring_lane*)(r->base + PIPC_RING_HEADER_SIZE);
  r->data = r->base + PIPC_RING_HEADER_SIZE + (uint64_t)lanes * PIPC_RING_LANE_SIZE;
  r->lane_count = lanes;
  r->capacity = capacity;
  r->mask = capacity - 1;
  r->max_message = capacity / 2 - PIPC_RING_RECORD_HEADER;
  r->total_size = total;
  return 0;
}

/* --- Liveness: open-file-description locks on the segment's file --------- */

/* The one-byte range at `byte`, for a lock of `type`. */
static inline struct flock pipc_ring_byte(uint32_t byte, short type) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  return fl;
}

/*
 * Takes the write lock on `byte` for the open file description of `fd`
 * without waiting: 0, -EBUSY when another open file description holds it.
 * Each attached handle needs an open file description of its own (open
 * /proc/self/fd/N again): descriptors that share one share its locks.
 */
static inline int pipc_ring_lock(int fd, uint32_t byte) {
  struct flock fl = pipc_ring_byte(byte, F_WRLCK);
  if (fcntl(fd, F_OFD_SETLK, &fl) == 0) return 0;
  return errno == EAGAIN || errno == EACCES ? -EBUSY : -errno;
}

static inline int pipc_ring_unlock(int fd, uint32_t byte) {
  struct flock fl = pipc_ring_byte(byte, F_UNLCK);
  return fcntl(fd, F_OFD_SETLK, &fl) == 0 ? 0 : -errno;
}

/* 1 when another open file description holds `byte`, 0 when nobody does. */
static inline int pipc_ring_lock_held(int fd, uint32_t byte) {
  struct flock fl = pipc_ring_byte(byte, F_WRLCK);
  if (fcntl(fd, F_OFD_GETLK, &fl) != 0) return -errno;
  return fl.l_type != F_UNLCK;
}

/*
 * A new holder of the role of `state` says ACTIVE, under the next
 * generation. Returns 1 when the word said ACTIVE before: the previous holder
 * died and nobody reported it yet (a consumer that reports a death first
 * swaps the word to DEAD). A compare-and-swap, so that exactly one of the
 * two, the new holder or the consumer, sees the death.
 */
static inline int pipc_ring_say_active(uint32_t* state) {
  uint32_t old = __atomic_load_n(state, __ATOMIC_RELAXED);
  while (!__atomic_compare_exchange_n(state, &old, ((old >> 2) + 1u) << 2 | PIPC_RING_ACTIVE, 0, __ATOMIC_ACQ_REL,
                                      __ATOMIC_RELAXED)) {
  }
  return (old & 3u) == PIPC_RING_ACTIVE;
}

/* The holder says goodbye (CLOSED, same generation): peers will not take it for a death. */
static inline void pipc_ring_say_closed(uint32_t* state) {
  uint32_t old = __atomic_load_n(state, __ATOMIC_RELAXED);
  __atomic_store_n(state, (old & ~3u) | PIPC_RING_CLOSED, __ATOMIC_RELEASE);
}

/*
 * Whether the holder of `state` (read from the segment) under lock `byte`
 * is gone: its state says ACTIVE, yet nobody holds its lock, and the state
 * did not change while we asked (a new holder bumps the generation).
 * Returns the dead state (nonzero), or 0.
 */
static inline uint32_t pipc_ring_dead_state(int fd, uint32_t byte, uint32_t* state) {
  uint32_t before = __atomic_load_n(state, __ATOMIC_ACQUIRE);
  if ((before & 3u) != PIPC_RING_ACTIVE) return 0;
  if (pipc_ring_lock_held(fd, byte) != 0) return 0;
  uint32_t after = __atomic_load_n(state, __ATOMIC_ACQUIRE);
  return after == before ? before : 0;
}

/*
 * For a producer: whether the consumer is gone (it attached once, and then
 * closed or died). PIPC_RING_PEER_DEAD or 0. No consumer yet is not gone.
 */
static inline int pipc_ring_consumer_gone(const pipc_ring* r, int fd) {
  uint32_t state = __atomic_load_n(&r->header->consumer_state, __ATOMIC_ACQUIRE);
  if ((state & 3u) == PIPC_RING_CLOSED) return PIPC_RING_PEER_DEAD;
  return pipc_ring_dead_state(fd, PIPC_RING_CONSUMER_LOCK, &r->header->consumer_state) ? PIPC_RING_PEER_DEAD : 0;
}

/* --- Records ---------------------------------------------------------------- */

/* A record header as the one 64-bit word it is stored as (length first in memory). */
static inline uint64_t pipc_ring_record_word(uint32_t kind, uint64_t length) {
  return (uint64_t)kind << 32 | (uint32_t)length;
}

static inline uint64_t* pipc_ring_record_at(uint8_t* ring, const pipc_ring* r, uint64_t position) {
  return (uint64_t*)(ring + (position & r->mask));
}

/*
 * Where a new producer starts: the lane's tail, moved past records that a
 * producer which died between storing a record's header and its tail had
 * committed (a padding record and the message after it at most). The
 * header at a producer's tail is otherwise always NONE.
 */
static inline uint64_t pipc_ring_committed_tail(const pipc_ring* r, uint8_t* ring, uint64_t tail) {
  if ((tail & 7u) != 0) return tail; /* Nonsense: the caller's checks say so. */
  for (int i = 0; i < 2; i++) {
    uint64_t word = __atomic_load_n(pipc_ring_record_at(ring, r, tail), __ATOMIC_ACQUIRE);
    uint32_t kind = (uint32_t)(word >> 32);
    uint64_t contiguous = r->capacity - (tail & r->mask);
    uint64_t size;
    if (kind == PIPC_RING_KIND_PAD) {
      size = contiguous;
    } else if (kind == PIPC_RING_KIND_MESSAGE && (uint32_t)word <= r->max_message) {
      size = pipc_ring_record_size((uint32_t)word);
      if (size > contiguous) break;
    } else {
      break;
    }
    tail += size;
  }
  return tail;
}

/* --- Producer -------------------------------------------------------------- */

/*
 * Claims a free lane (its lock) for the open file description of `fd` and
 * starts `p` on it: the lane's index, -EBUSY when every lane is taken, or
 * PIPC_RING_CORRUPT when the lane's indices make no sense. A lane keeps what
 * a previous producer published and did not get consumed; this producer's
 * messages follow.
 */
static inline int pipc_ring_claim_lane(const pipc_ring* r, int fd, pipc_ring_producer* p) {
  for (uint32_t i = 0; i < r->lane_count; i++) {
    int locked = pipc_ring_lock(fd, PIPC_RING_LANE_LOCK(i));
    if (locked == -EBUSY) continue;
    if (locked < 0) return locked;
    pipc_ring_lane* lane = &r->lanes[i];
    uint8_t* ring = r->data + (uint64_t)i * r->capacity;
    uint64_t head = __atomic_load_n(&lane->head, __ATOMIC_ACQUIRE);
    uint64_t tail = pipc_ring_committed_tail(r, ring, __atomic_load_n(&lane->tail, __ATOMIC_ACQUIRE));
    uint32_t box_seq = (uint32_t)(__atomic_load_n(&lane->box, __ATOMIC_ACQUIRE) >> 32);
    uint32_t box_taken = __atomic_load_n(&lane->box_taken, __ATOMIC_ACQUIRE);
    if (tail - head > r->capacity || (tail & 7u) != 0 || (head & 7u) != 0 || box_seq - box_taken > 1u) {
      pipc_ring_unlock(fd, PIPC_RING_LANE_LOCK(i));
      return PIPC_RING_CORRUPT;
    }
    __atomic_store_n(&lane->tail, tail, __ATOMIC_RELEASE);
    /* A predecessor that died while the consumer was not looking (it looks
       only when it has nothing to read) would go unreported once this
       producer's ACTIVE replaced its word: count it in the lane instead. */
    if (pipc_ring_say_active(&lane->producer_state)) __atomic_fetch_add(&lane->deaths, 1u, __ATOMIC_RELEASE);
    p->lane = lane;
    p->ring = ring;
    p->index = i;
    p->tail = tail;
    p->head_cache = head;
    p->reserved = UINT64_MAX;
    p->box_seq = box_seq;
    p->box_skips = 0;
    p->box_wait = 1;
    p->messages = __atomic_load_n(&lane->messages, __ATOMIC_RELAXED);
    return (int)i;
  }
  return -EBUSY;
}

/*
 * Says goodbye without waking anybody: the consumer will not take this for a
 * death. Prefer pipc_ring_close_lane, which also wakes a consumer that sleeps,
 * so that it sees the end of the stream at once rather than at its next
 * liveness check (within 20 ms for a futex sleeper, 50 ms for an event loop).
 * The caller then unlocks or closes fd.
 */
static inline void pipc_ring_release_lane(pipc_ring_producer* p) { pipc_ring_say_closed(&p->lane->producer_state); }

/*
 * Whether `need` more bytes fit after the producer's tail, re-reading the
 * consumer's head only when the cached one says no: 1, 0, or CORRUPT.
 */
static inline int pipc_ring_has_space(const pipc_ring* r, pipc_ring_producer* p, uint64_t need) {
  if (p->tail - p->head_cache + need <= r->capacity) return 1;
  uint64_t head = __atomic_load_n(&p->lane->head, __ATOMIC_ACQUIRE);
  uint64_t used = p->tail - head;
  if (used > r->capacity || (head & 7u) != 0) return PIPC_RING_CORRUPT;
  p->head_cache = head;
  return used + need <= r->capacity;
}

/*
 * The bytes a record of `length` needs at the tail: a padding record
 * included, and the next record's header, which the commit clears.
 */
static inline uint64_t pipc_ring_needed(const pipc_ring* r, const pipc_ring_producer* p, uint64_t length) {
  uint64_t record = pipc_ring_record_size(length);
  uint64_t contiguous = r->capacity - (p->tail & r->mask);
  return (record <= contiguous ? record : contiguous + record) + PIPC_RING_RECORD_HEADER;
}

/*
 * Reserves room for a message of `length` bytes: the offset of its payload
 * in the lane's ring (>= 0), -EAGAIN when full, -EMSGSIZE when it can never
 * fit, or CORRUPT. Nothing is visible to the consumer until
 * pipc_ring_commit(); a producer that dies in between never delivers it.
 */
static inline int64_t pipc_ring_reserve(const pipc_ring* r, pipc_ring_producer* p, uint64_t length) {
  if (length > r->max_message) return -EMSGSIZE;
  uint64_t need = pipc_ring_needed(r, p, length);
  int space = pipc_ring_has_space(r, p, need);
  if (space <= 0) return space == 0 ? -EAGAIN : space;
  uint64_t at = p->tail;
  uint64_t contiguous = r->capacity - (at & r->mask);
  /* Not enough room before the end: the message goes to the start, and the
     commit writes a padding record over the rest. */
  if (pipc_ring_record_size(length) > contiguous) at += contiguous;
  p->reserved = at;
  return (int64_t)((at & r->mask) + PIPC_RING_RECORD_HEADER);
}

/*
 * Publishes the reserved record with `length` bytes (at most what was
 * reserved) and returns the consumer's sleeping bits seen right after: when
 * nonzero, call pipc_ring_wake_consumer().
 *
 * Order: the next record's header is cleared (NONE), then this record's
 * header is stored (release; the padding record's after it, when the
 * message wrapped), then the tail. The header is what the consumer polls,
 * so a consumer that keeps up touches no line of the producer's but the
 * record's own. A producer that dies before the header never delivers the
 * message; one that dies after it but before the tail is repaired by the
 * next producer of the lane (pipc_ring_committed_tail).
 */
static inline uint32_t pipc_ring_commit(const pipc_ring* r, pipc_ring_producer* p, uint64_t length) {
  uint64_t start = p->tail;
  uint64_t at = p->reserved;
  uint64_t tail = at + pipc_ring_record_size(length);
  p->reserved = UINT64_MAX;
  p->tail = tail;
  __atomic_store_n(pipc_ring_record_at(p->ring, r, tail), 0, __ATOMIC_RELAXED);
  __atomic_store_n(pipc_ring_record_at(p->ring, r, at), pipc_ring_record_word(PIPC_RING_KIND_MESSAGE, length),
                   __ATOMIC_RELEASE);
  if (at != start) {
    uint64_t pad = at - start - PIPC_RING_RECORD_HEADER;
    __atomic_store_n(pipc_ring_record_at(p->ring, r, start), pipc_ring_record_word(PIPC_RING_KIND_PAD, pad),
                     __ATOMIC_RELEASE);
  }
  /* Only counted, for tools that show messages/s (the producer's own line: no extra cache line). */
  __atomic_store_n(&p->lane->messages, ++p->messages, __ATOMIC_RELAXED);
  /* A full barrier (xchg), so the load of `sleeping` cannot pass the header
     stores: either the consumer sees the record when it re-checks before
     sleeping, or this sees its sleeping bit. */
  __atomic_exchange_n(&p->lane->tail, tail, __ATOMIC_SEQ_CST);
  return __atomic_load_n(&r->header->sleeping, __ATOMIC_SEQ_CST);
}

/*
 * Whether the next small message may go to the lane's mailbox: the consumer
 * took the last mailbox message, and every record of the ring (its head is
 * the producer's tail). So a mailbox message never overtakes a record, and
 * the consumer, which reads a lane's next record header before its mailbox,
 * takes it before any record that follows it. While the ring may hold
 * records, the consumer's head is read again at the next send, then after 2,
 * 4, 8 and every 16 sends: a conversation that fell back to the ring returns
 * at once, and a producer streaming into the ring does not pull the
 * consumer's line for each message.
 */
static inline int pipc_ring_box_free(const pipc_ring* r, pipc_ring_producer* p) {
  if (p->tail != p->head_cache) {
    if (++p->box_skips < p->box_wait) return 0;
    p->box_skips = 0;
    uint64_t head = __atomic_load_n(&p->lane->head, __ATOMIC_ACQUIRE);
    if (p->tail - head > r->capacity || (head & 7u) != 0) return 0; /* Nonsense: has_space reports it. */
    p->head_cache = head;
    if (head != p->tail) {
      if (p->box_wait < 16u) p->box_wait *= 2;
      return 0;
    }
    p->box_wait = 1;
  }
  return __atomic_load_n(&p->lane->box_taken, __ATOMIC_ACQUIRE) == p->box_seq;
}

/*
 * Sends a message of `length` bytes: to the mailbox when it is free and the
 * message fits (the same few lines for every message of a conversation),
 * else to the ring (reserve + copy + commit). Same results
 * as pipc_ring_reserve, 0 when sent; *sleeping as from commit.
 */
static inline int pipc_ring_send(const pipc_ring* r, pipc_ring_producer* p, const void* data, uint64_t length,
                                 uint32_t* sleeping) {
  if (length <= PIPC_RING_BOX_MAX && length <= r->max_message && p->reserved == UINT64_MAX &&
      pipc_ring_box_free(r, p)) {
    if (length != 0) memcpy(p->lane->box_data, data, length);
    p->box_seq++;
    /* As in pipc_ring_commit. */
    __atomic_exchange_n(&p->lane->box, (uint64_t)p->box_seq << 32 | length, __ATOMIC_SEQ_CST);
    *sleeping = __atomic_load_n(&r->header->sleeping, __ATOMIC_SEQ_CST);
    return 0;
  }
  int64_t at = pipc_ring_reserve(r, p, length);
  if (at < 0) return (int)at;
  if (length != 0) memcpy(p->ring + at, data, length); /* data may be NULL when empty */
  *sleeping = pipc_ring_commit(r, p, length);
  return 0;
}

/* The abstract address of a doorbell named `name` (PIPC_RING_DOORBELL_BYTES bytes). */
static inline socklen_t pipc_ring_doorbell_name_address(const uint8_t* name, struct sockaddr_un* addr) {
  static const char prefix[] = PIPC_RING_DOORBELL_PREFIX;
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  memcpy(addr->sun_path + 1, prefix, sizeof prefix - 1);
  memcpy(addr->sun_path + sizeof prefix, name, PIPC_RING_DOORBELL_BYTES);
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + sizeof prefix + PIPC_RING_DOORBELL_BYTES);
}

/* The address of the doorbell the consumer recorded in the header. */
static inline socklen_t pipc_ring_doorbell_address(const pipc_ring* r, struct sockaddr_un* addr) {
  uint8_t name[PIPC_RING_DOORBELL_BYTES];
  for (unsigned i = 0; i < PIPC_RING_DOORBELL_BYTES; i++) {
    name[i] = __atomic_load_n(&r->header->doorbell[i], __ATOMIC_RELAXED);
  }
  return pipc_ring_doorbell_name_address(name, addr);
}

/*
 * Wakes a consumer that announced it sleeps (`sleeping` from commit). The
 * bits are taken (cleared) first, so of several producers only one wakes it.
 * `sock` is any AF_UNIX datagram socket of the producer's, for the doorbell.
 */
static inline void pipc_ring_wake_consumer(const pipc_ring* r, uint32_t sleeping, int sock) {
  uint32_t taken = __atomic_fetch_and(&r->header->sleeping, ~sleeping, __ATOMIC_ACQ_REL) & sleeping;
  if (taken & PIPC_RING_SLEEP_FUTEX) {
    __atomic_fetch_add(&r->header->bell, 1u, __ATOMIC_RELEASE);
    pipc_ring_futex_wake(&r->header->bell);
  }
  if ((taken & PIPC_RING_SLEEP_DOORBELL) && sock >= 0) {
    struct sockaddr_un addr;
    socklen_t len = pipc_ring_doorbell_address(r, &addr);
    char byte = 0;
    /* EAGAIN: already rung. ECONNREFUSED: the consumer is gone. Either way nothing to do. */
    sendto(sock, &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr*)&addr, len);
  }
}

/*
 * A producer's clean close: says CLOSED, then wakes the consumer if it sleeps
 * (`sock` as for pipc_ring_wake_consumer, or -1 when the consumer waits only
 * on the futex). A consumer that learns from this that every producer has
 * closed ends its stream (pipc_ring_check_end) once it has read everything
 * committed before. The CLOSED word is stored with a full barrier (xchg), as
 * a commit's tail: either the consumer sees it when it looks once more before
 * sleeping, or this sees its sleeping bit. The caller then unlocks or closes
 * fd (the lane's lock): a producer that never says CLOSED has died, as far as
 * the consumer can tell, and that is ERR_IPC_PEER_DEAD, never an end.
 */
static inline void pipc_ring_close_lane(const pipc_ring* r, pipc_ring_producer* p, int sock) {
  uint32_t old = __atomic_load_n(&p->lane->producer_state, __ATOMIC_RELAXED);
  __atomic_exchange_n(&p->lane->producer_state, (old & ~3u) | PIPC_RING_CLOSED, __ATOMIC_SEQ_CST);
  uint32_t sleeping = __atomic_load_n(&r->header->sleeping, __ATOMIC_SEQ_CST);
  if (sleeping != 0) pipc_ring_wake_consumer(r, sleeping, sock);
}

/*
 * One slice of waiting for `need` bytes of space after `tail`: announces the
 * wait, re-checks, sleeps on the lane's space futex until `deadline`.
 * 1 when there is space, 0 when the slice ended without, or CORRUPT.
 */
static inline int pipc_ring_wait_space(const pipc_ring* r, pipc_ring_lane* lane, uint64_t tail, uint64_t need,
                                       const struct timespec* deadline) {
  uint32_t seq = __atomic_load_n(&lane->space, __ATOMIC_ACQUIRE);
  __atomic_exchange_n(&lane->waiting, 1u, __ATOMIC_SEQ_CST);
  uint64_t head = __atomic_load_n(&lane->head, __ATOMIC_SEQ_CST);
  uint64_t used = tail - head;
  if (used > r->capacity || (head & 7u) != 0) return PIPC_RING_CORRUPT;
  if (used + need <= r->capacity) return 1;
  pipc_ring_futex_wait(&lane->space, seq, deadline);
  return 0;
}

/* --- Consumer -------------------------------------------------------------- */

/*
 * Attaches the consumer (its lock, for the open file description of `fd`):
 * reads every lane's head, records the doorbell name and says ACTIVE.
 * -EBUSY when another consumer is attached, CORRUPT for nonsense indices.
 */
static inline int pipc_ring_claim_consumer(const pipc_ring* r, int fd, pipc_ring_consumer* c,
                                           const uint8_t doorbell[PIPC_RING_DOORBELL_BYTES]) {
  int locked = pipc_ring_lock(fd, PIPC_RING_CONSUMER_LOCK);
  if (locked < 0) return locked;
  for (uint32_t i = 0; i < r->lane_count; i++) {
    uint64_t head = __atomic_load_n(&r->lanes[i].head, __ATOMIC_ACQUIRE);
    uint32_t box_taken = __atomic_load_n(&r->lanes[i].box_taken, __ATOMIC_ACQUIRE);
    uint32_t box_seq = (uint32_t)(__atomic_load_n(&r->lanes[i].box, __ATOMIC_ACQUIRE) >> 32);
    if ((head & 7u) != 0 || box_seq - box_taken > 1u) {
      pipc_ring_unlock(fd, PIPC_RING_CONSUMER_LOCK);
      return PIPC_RING_CORRUPT;
    }
    c->cursors[i].head = head;
    c->cursors[i].published = head;
    c->cursors[i].tail_cache = head;
    c->cursors[i].deaths_seen = __atomic_load_n(&r->lanes[i].deaths, __ATOMIC_ACQUIRE);
    c->cursors[i].box_taken = box_taken;
    c->cursors[i].tail_checked = 0;
  }
  c->next = 0;
  c->current = 0;
  c->from_box = 0;
  for (unsigned i = 0; i < PIPC_RING_DOORBELL_BYTES; i++) {
    __atomic_store_n(&r->header->doorbell[i], doorbell[i], __ATOMIC_RELAXED);
  }
  __atomic_store_n(&r->header->sleeping, 0u, __ATOMIC_RELAXED);
  pipc_ring_say_active(&r->header->consumer_state);
  return 0;
}

/* Says goodbye; the caller then unlocks or closes fd. */
static inline void pipc_ring_release_consumer(const pipc_ring* r) { pipc_ring_say_closed(&r->header->consumer_state); }

/*
 * Stores the consumer's head of lane `i` for the producer, and wakes the
 * producer if it waits for room. The store is a full barrier (xchg), against
 * the producer's `waiting` flag as in pipc_ring_commit.
 */
static inline void pipc_ring_publish(const pipc_ring* r, pipc_ring_consumer* c, uint32_t i) {
  pipc_ring_cursor* cur = &c->cursors[i];
  pipc_ring_lane* lane = &r->lanes[i];
  cur->published = cur->head;
  __atomic_exchange_n(&lane->head, cur->head, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&lane->waiting, __ATOMIC_SEQ_CST) != 0 &&
      __atomic_exchange_n(&lane->waiting, 0u, __ATOMIC_ACQ_REL) != 0) {
    __atomic_fetch_add(&lane->space, 1u, __ATOMIC_RELEASE);
    pipc_ring_futex_wake(&lane->space);
  }
}

/* Publishes every lane's head that moved since it was last published. */
static inline void pipc_ring_flush(const pipc_ring* r, pipc_ring_consumer* c) {
  for (uint32_t i = 0; i < r->lane_count; i++) {
    if (c->cursors[i].head != c->cursors[i].published) pipc_ring_publish(r, c, i);
  }
}

/*
 * Checks the lane's tail against the consumer's head: aligned, and at most a
 * ring ahead of it or behind it (behind: the producer stored a record's
 * header and not yet its tail, and the consumer already took the record).
 * Updates the cursor's tail_cache; 0 or CORRUPT.
 */
static inline int pipc_ring_check_tail(const pipc_ring* r, pipc_ring_cursor* cur, uint32_t i) {
  uint64_t tail = __atomic_load_n(&r->lanes[i].tail, __ATOMIC_ACQUIRE);
  if ((tail - cur->head > r->capacity && cur->head - tail > r->capacity) || (tail & 7u) != 0) return PIPC_RING_CORRUPT;
  cur->tail_cache = tail;
  cur->tail_checked = 1;
  return 0;
}

/*
 * The next message of lane `i`, from its mailbox or its ring: its length (>= 0)
 * with its payload at *payload (offset from the segment's base) and
 * c->from_box / c->release_to set for pipc_ring_release, -EAGAIN when the
 * lane is empty, or CORRUPT. Padding records are skipped.
 *
 * The record header at the head says whether there is a record: the
 * producer's tail is not read for each message, not even when the lane is
 * empty (reading it would pull the line the producer stores its next tail
 * in). It is read, and checked, when the records read since the last check
 * go more than a quarter ring past it (a producer writing nonsense makes the
 * consumer read at most about that much before ERR_IPC_CORRUPT, never
 * endlessly), and before the consumer sleeps (pipc_ring_check_idle).
 */
static inline int64_t pipc_ring_peek_lane(const pipc_ring* r, pipc_ring_consumer* c, uint32_t i, uint64_t* payload) {
  pipc_ring_cursor* cur = &c->cursors[i];
  pipc_ring_lane* lane = &r->lanes[i];
  uint8_t* ring = r->data + (uint64_t)i * r->capacity;
  for (;;) {
    uint64_t offset = cur->head & r->mask;
    uint64_t word = __atomic_load_n(pipc_ring_record_at(ring, r, cur->head), __ATOMIC_ACQUIRE);
    /* The mailbox after the record header: the producer fills the mailbox
       only when the ring is empty, so a mailbox message comes before any
       record there is, and is visible here once a record after it is. */
    uint64_t box = __atomic_load_n(&lane->box, __ATOMIC_ACQUIRE);
    uint32_t seq = (uint32_t)(box >> 32);
    if (seq != cur->box_taken) {
      if (seq != cur->box_taken + 1u || (uint32_t)box > PIPC_RING_BOX_MAX) return PIPC_RING_CORRUPT;
      *payload = (uint64_t)(lane->box_data - r->base);
      c->current = i;
      c->from_box = 1;
      return (uint32_t)box;
    }
    uint32_t kind = (uint32_t)(word >> 32);
    uint32_t length = (uint32_t)word;
    uint64_t contiguous = r->capacity - offset;
    if (kind == PIPC_RING_KIND_NONE) {
      /* Caught up: the producer gets all the room back now. */
      if (cur->head != cur->published) pipc_ring_publish(r, c, i);
      return -EAGAIN;
    }
    uint64_t size;
    if (kind == PIPC_RING_KIND_PAD && offset != 0) {
      /* Never at offset 0 (the message after a padding record always fits
         there): so this loop skips one padding record at most, whatever
         a peer writes while it runs. */
      size = contiguous;
    } else if (kind == PIPC_RING_KIND_MESSAGE && length <= r->max_message) {
      size = pipc_ring_record_size(length);
      if (size > contiguous) return PIPC_RING_CORRUPT;
    } else {
      return PIPC_RING_CORRUPT;
    }
    /* How far this record reaches past the tail last checked (negative: not past it). */
    int64_t beyond = (int64_t)(cur->head + size - cur->tail_cache);
    if (beyond > (int64_t)(r->capacity / 4) && pipc_ring_check_tail(r, cur, i) < 0) return PIPC_RING_CORRUPT;
    if (kind == PIPC_RING_KIND_PAD) {
      cur->head += size;
      continue;
    }
    *payload = (uint64_t)(ring - r->base) + offset + PIPC_RING_RECORD_HEADER;
    c->current = i;
    c->from_box = 0;
    c->release_to = cur->head + size;
    return length;
  }
}

/*
 * The next message of any lane, scanning round-robin so that no producer
 * starves the others. As pipc_ring_peek_lane.
 */
static inline int64_t pipc_ring_peek(const pipc_ring* r, pipc_ring_consumer* c, uint64_t* payload) {
  uint32_t i = c->next;
  for (uint32_t k = 0; k < r->lane_count; k++) {
    int64_t length = pipc_ring_peek_lane(r, c, i, payload);
    if (++i == r->lane_count) i = 0;
    if (length == -EAGAIN) continue;
    if (length >= 0) c->next = i;
    return length;
  }
  return -EAGAIN;
}

/*
 * Consumes the message pipc_ring_peek found: a mailbox message by storing
 * box_taken, a ring record by moving the head. While the consumer is behind, the
 * head is published in batches (a quarter of the ring), since a head stored
 * per message would move its cache line to a producer that checks for room
 * and back, for every message. It is published at once when the consumer has
 * read everything there is (the next record's header says NONE), or when the
 * producer waits for room.
 */
static inline void pipc_ring_release(const pipc_ring* r, pipc_ring_consumer* c) {
  uint32_t i = c->current;
  pipc_ring_cursor* cur = &c->cursors[i];
  if (c->from_box) {
    /* The producer may fill the mailbox again once it sees this. */
    c->from_box = 0;
    __atomic_store_n(&r->lanes[i].box_taken, ++cur->box_taken, __ATOMIC_RELEASE);
    return;
  }
  cur->head = c->release_to;
  uint8_t* ring = r->data + (uint64_t)i * r->capacity;
  if (cur->head - cur->published >= r->capacity / 4 || __atomic_load_n(&r->lanes[i].waiting, __ATOMIC_RELAXED) != 0 ||
      (uint32_t)(__atomic_load_n(pipc_ring_record_at(ring, r, cur->head), __ATOMIC_RELAXED) >> 32) ==
          PIPC_RING_KIND_NONE) {
    pipc_ring_publish(r, c, i);
  }
}

/*
 * For a consumer with nothing to read, before it sleeps: whether a lane's
 * tail makes no sense next to the head (CORRUPT: pipc_ring_check_tail, for
 * the lanes not checked since attaching or whose head moved since), or a
 * producer died and was not reported yet (PEER_DEAD, and it counts as
 * reported when `report`), or 0. A death is seen one of two ways, never
 * both: the lane says ACTIVE but nobody holds its lock (reporting swaps the
 * word to DEAD), or the next producer of the lane found it so first and
 * counted it in `deaths`.
 */
static inline int pipc_ring_check_idle(const pipc_ring* r, pipc_ring_consumer* c, int fd, int report) {
  for (uint32_t i = 0; i < r->lane_count; i++) {
    pipc_ring_cursor* cur = &c->cursors[i];
    if ((!cur->tail_checked || cur->head != cur->tail_cache) && pipc_ring_check_tail(r, cur, i) < 0)
      return PIPC_RING_CORRUPT;
  }
  for (uint32_t i = 0; i < r->lane_count; i++) {
    pipc_ring_cursor* cur = &c->cursors[i];
    uint32_t deaths = __atomic_load_n(&r->lanes[i].deaths, __ATOMIC_ACQUIRE);
    if (deaths != cur->deaths_seen) {
      /* One report per death counted, one per call. */
      if (report) cur->deaths_seen++;
      return PIPC_RING_PEER_DEAD;
    }
    if (cur->own) continue; /* Our own lock looks free to us. */
    uint32_t* state = &r->lanes[i].producer_state;
    uint32_t dead = pipc_ring_dead_state(fd, PIPC_RING_LANE_LOCK(i), state);
    if (dead == 0) continue;
    /* Reported only if no new producer took the lane meanwhile (it would
       have counted the death in `deaths`, reported above next time). */
    if (report && !__atomic_compare_exchange_n(state, &dead, (dead & ~3u) | PIPC_RING_DEAD, 0, __ATOMIC_ACQ_REL,
                                               __ATOMIC_RELAXED)) {
      continue;
    }
    return PIPC_RING_PEER_DEAD;
  }
  return 0;
}

/*
 * For a consumer with nothing to read and nothing to report
 * (pipc_ring_check_idle said 0): whether the stream has ended,
 * PIPC_RING_ENDED, or 0. It has when every lane says NONE (never used) or
 * CLOSED (its last producer said goodbye), at least one says CLOSED (a
 * consumer that starts first waits for its producers), nobody holds a lane's
 * lock (a producer between taking its lock and saying ACTIVE is attached),
 * and one more look at every lane finds nothing: a producer says CLOSED after
 * its last commit (release), and the states are loaded here with acquire
 * order before that look, so everything committed was read.
 *
 * A lane that says ACTIVE has a producer (or one that died: check_idle
 * reports it first), and a lane that says DEAD lost its producer: neither
 * ends the stream, until a new producer takes the lane and closes cleanly.
 * A consumer decides for itself whether to look at all: an end is a moment,
 * and a producer that attaches later finds a consumer that may have stopped
 * reading (the Node addon keeps an end for good, per consumer handle).
 * The last look moves the consumer's scan state as pipc_ring_peek does: peek
 * again before releasing anything.
 */
static inline int pipc_ring_check_end(const pipc_ring* r, pipc_ring_consumer* c, int fd) {
  uint32_t closed = 0;
  for (uint32_t i = 0; i < r->lane_count; i++) {
    uint32_t state = __atomic_load_n(&r->lanes[i].producer_state, __ATOMIC_ACQUIRE) & 3u;
    if (state == PIPC_RING_CLOSED) {
      closed++;
    } else if (state != PIPC_RING_NONE) {
      return 0;
    }
  }
  if (closed == 0) return 0;
  for (uint32_t i = 0; i < r->lane_count; i++) {
    if (pipc_ring_lock_held(fd, PIPC_RING_LANE_LOCK(i)) != 0) return 0;
  }
  uint64_t payload;
  return pipc_ring_peek(r, c, &payload) == -EAGAIN ? PIPC_RING_ENDED : 0;
}

/*
 * Announces that the consumer is about to sleep (`how`: a PIPC_RING_SLEEP_*
 * bit) and returns the bell to wait on with pipc_ring_futex_wait. The caller
 * must peek once more after this and before sleeping.
 */
static inline uint32_t pipc_ring_announce_sleep(const pipc_ring* r, uint32_t how) {
  uint32_t bell = __atomic_load_n(&r->header->bell, __ATOMIC_ACQUIRE);
  __atomic_fetch_or(&r->header->sleeping, how, __ATOMIC_SEQ_CST);
  /* The peek that follows loads with acquire order only: the fence keeps
     those loads after the store of the bit (C11, and AArch64 without LSE). */
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  return bell;
}

static inline void pipc_ring_end_sleep(const pipc_ring* r, uint32_t how) {
  if (__atomic_load_n(&r->header->sleeping, __ATOMIC_RELAXED) & how) {
    __atomic_fetch_and(&r->header->sleeping, ~how, __ATOMIC_RELAXED);
  }
}

#endif /* POSIX_IPC_RING_H_ */
