// C contenders of the channel suite: the shared-memory floor the Channel is
// measured against. Two processes, both spinning (never sleeping):
//
//   spin  the baseline: a one-message mailbox, two flags on cache lines of
//         their own and the payload next to each. The sender copies the
//         message in and raises its flag; the receiver spins on the flag and
//         copies the message out. No ring, no record headers, no liveness: the
//         least two processes can do to hand each other a copy of a message.
//   ring  the Channel's own protocol through include/posix-ipc/ring.h (what a C program
//         joining a channel does): pipc_ring_send, and a spin on
//         pipc_ring_peek, then copy out and pipc_ring_release.
//
// See: shm_open(3), mmap(2), fcntl(2) (F_OFD_SETLK, through ring.h);
// bench.h for the clock and the placement record.
//
// Usage: channel MODE ROLE IN OUT SIZE WARMUP COUNT CHUNK
//   MODE     spin | ring
//   IN, OUT  shared-memory names the suite made (- when the role does not
//            use it): for spin one segment, the same name for IN and OUT; for
//            ring a Channel each (the suite creates them with Channel.create)
//   ping     sends message i (SIZE bytes) on OUT, waits for its echo on IN,
//            WARMUP untimed then COUNT timed round trips; prints {"rtt_ns":[...], ...}
//   pong     receives on IN and sends the same bytes back on OUT
//   produce  sends WARMUP + COUNT messages on OUT, waiting (spinning) for room
//   consume  receives WARMUP + COUNT messages from IN; after the WARMUP ones
//            it takes the time every CHUNK messages; prints {"chunk_ns":[...],
//            "chunk_bytes":[...], ...}
// Every message carries its sequence number in its first four bytes, which
// the receiving side checks; every role prints its placement (bench.h).
//
// Usage: channel bounce CPU_A CPU_B
//   The placement probe: one cache line bounced between a process pinned to
//   CPU_A and a child pinned to CPU_B, 100,000 round trips; prints
//   {"line_rtt_ns":N}, the mean round trip. The suite runs it before and
//   after each spinning run: the hypervisor moves the vCPUs, and a line
//   crossing between them costs some minutes 4x what it costs in others.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "posix-ipc/ring.h"

// --- spin: the mailbox ------------------------------------------------------

// One direction of the mailbox: the writer's flag (the sequence number of the
// message in `payload`, plus one), on a line of its own, and the payload.
// The segment holds two: [0] ping -> pong (and producer -> consumer), [1] back.
struct mailbox {
  uint64_t full;
  uint8_t pad[56];
  uint64_t taken;  // written by the reader: the last sequence number it took, plus one
  uint8_t pad2[56];
  uint8_t payload[];
};

static size_t mailbox_size(size_t size) { return (sizeof(struct mailbox) + size + 63) & ~(size_t)63; }

static void* map_segment(const char* name, int* fd_out, uint64_t* size_out) {
  int fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) die("shm_open");
  struct stat st;
  if (fstat(fd, &st) != 0) die("fstat");
  void* base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) die("mmap");
  if (fd_out != NULL) {
    *fd_out = fd;
  } else {
    close(fd);
  }
  if (size_out != NULL) *size_out = (uint64_t)st.st_size;
  return base;
}

static void box_send(struct mailbox* box, const char* msg, size_t size, uint64_t seq) {
  // One message at a time: wait until the reader took the previous one.
  while (__atomic_load_n(&box->taken, __ATOMIC_ACQUIRE) != seq) pipc_ring_cpu_relax();
  memcpy(box->payload, msg, size);
  __atomic_store_n(&box->full, seq + 1, __ATOMIC_RELEASE);
}

static void box_receive(struct mailbox* box, char* buf, size_t size, uint64_t seq) {
  while (__atomic_load_n(&box->full, __ATOMIC_ACQUIRE) != seq + 1) pipc_ring_cpu_relax();
  memcpy(buf, box->payload, size);
  __atomic_store_n(&box->taken, seq + 1, __ATOMIC_RELEASE);
}

// --- ring: include/posix-ipc/ring.h ---------------------------------------

struct ring_end {
  int fd;  // the segment's descriptor: its open file description holds the liveness lock
  pipc_ring ring;
  pipc_ring_producer p;
  pipc_ring_consumer c;
  pipc_ring_cursor cursor;
};

static void ring_open(struct ring_end* e, const char* name, int consumer) {
  int fd;
  uint64_t size;
  void* base = map_segment(name, &fd, &size);
  e->fd = fd;
  int r = pipc_ring_attach(&e->ring, base, size);
  if (r < 0 || e->ring.lane_count != 1) {
    fprintf(stderr, "%s: not a one-lane channel\n", name);
    exit(1);
  }
  // shm_open gave this process an open file description of its own: it
  // carries the liveness lock (ring.h), for as long as the process lives.
  if (consumer) {
    static const uint8_t doorbell[PIPC_RING_DOORBELL_BYTES] = "bench-c-nobell00";
    e->c.cursors = &e->cursor;
    r = pipc_ring_claim_consumer(&e->ring, fd, &e->c, doorbell);
  } else {
    r = pipc_ring_claim_lane(&e->ring, fd, &e->p);
  }
  if (r < 0) {
    fprintf(stderr, "%s: claiming the %s failed: %s\n", name, consumer ? "consumer" : "lane", strerror(-r));
    exit(1);
  }
}

static void ring_send(struct ring_end* e, const char* msg, size_t size) {
  for (unsigned long spins = 1;; spins++) {
    uint32_t sleeping;
    int r = pipc_ring_send(&e->ring, &e->p, msg, size, &sleeping);
    if (r == 0) return;  // Nobody sleeps here: every side spins.
    if (r != -EAGAIN) {
      fprintf(stderr, "pipc_ring_send: %s\n", strerror(-r));
      exit(1);
    }
    // Full for a long while: a consumer that died would leave this spinning forever.
    if (spins % (1ul << 22) == 0 && pipc_ring_consumer_gone(&e->ring, e->fd)) {
      fprintf(stderr, "pipc_ring_send: the consumer is gone\n");
      exit(1);
    }
    pipc_ring_cpu_relax();
  }
}

static void ring_receive(struct ring_end* e, char* buf, size_t size) {
  uint64_t offset = 0;
  int64_t length;
  while ((length = pipc_ring_peek(&e->ring, &e->c, &offset)) == -EAGAIN) pipc_ring_cpu_relax();
  if (length != (int64_t)size) {
    fprintf(stderr, "pipc_ring_peek: %lld, expected a message of %zu bytes\n", (long long)length, size);
    exit(1);
  }
  memcpy(buf, e->ring.base + offset, size);
  pipc_ring_release(&e->ring, &e->c);
}

// --- the ends, over either -------------------------------------------------------

enum mode { SPIN, RING };

static void spin_send(void* out, const char* msg, size_t size, uint64_t seq) { box_send(out, msg, size, seq); }
static void spin_receive(void* in, char* buf, size_t size, uint64_t seq) { box_receive(in, buf, size, seq); }
static void ring_send_io(void* out, const char* msg, size_t size, uint64_t seq) {
  (void)seq;
  ring_send(out, msg, size);
}
static void ring_receive_io(void* in, char* buf, size_t size, uint64_t seq) {
  (void)seq;
  ring_receive(in, buf, size);
}

// Opens IN or OUT: the mailbox of one direction (0: ping to pong, producer to
// consumer; 1: back), or a ring end (the consumer's, or a producer's).
static void* open_end(enum mode mode, const char* name, size_t size, int direction, int consumer) {
  if (mode == SPIN) {
    uint64_t length;
    uint8_t* base = map_segment(name, NULL, &length);
    if (length < 2 * mailbox_size(size)) {
      fprintf(stderr, "%s: %llu bytes, too small for two mailboxes of %zu\n", name, (unsigned long long)length, size);
      exit(1);
    }
    return base + (size_t)direction * mailbox_size(size);
  }
  struct ring_end* e = calloc(1, sizeof *e);
  if (e == NULL) die("calloc");
  ring_open(e, name, consumer);
  return e;
}

// --- bounce: the placement probe ----------------------------------------------

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
}

static int bounce(int cpu_a, int cpu_b) {
  enum { ROUND_TRIPS = 100000 };
  uint64_t* line = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (line == MAP_FAILED) die("mmap");
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    pin(cpu_b);
    for (uint64_t i = 0; i < ROUND_TRIPS; i++) {
      while (__atomic_load_n(line, __ATOMIC_ACQUIRE) != 2 * i + 1) pipc_ring_cpu_relax();
      __atomic_store_n(line, 2 * i + 2, __ATOMIC_RELEASE);
    }
    _exit(0);
  }
  pin(cpu_a);
  uint64_t t0 = now_ns();
  for (uint64_t i = 0; i < ROUND_TRIPS; i++) {
    __atomic_store_n(line, 2 * i + 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(line, __ATOMIC_ACQUIRE) != 2 * i + 2) pipc_ring_cpu_relax();
  }
  uint64_t t1 = now_ns();
  int status;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) die("waitpid");
  printf("{\"line_rtt_ns\":%llu}\n", (unsigned long long)((t1 - t0) / ROUND_TRIPS));
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 4 && strcmp(argv[1], "bounce") == 0) return bounce(atoi(argv[2]), atoi(argv[3]));
  if (argc != 9 || (strcmp(argv[1], "spin") != 0 && strcmp(argv[1], "ring") != 0)) {
    fprintf(stderr, "usage: %s spin|ring ping|pong|produce|consume IN OUT SIZE WARMUP COUNT CHUNK\n       %s bounce CPU_A CPU_B\n", argv[0], argv[0]);
    return 2;
  }
  enum mode mode = strcmp(argv[1], "spin") == 0 ? SPIN : RING;
  const char* role = argv[2];
  long size, warmup, count, chunk;
  if (bench_counts(argv + 5, &size, &warmup, &count, &chunk) != 0) return 2;
  struct bench_io io = {mode == SPIN ? spin_send : ring_send_io, mode == SPIN ? spin_receive : ring_receive_io, NULL, NULL};
  // Ping sends on OUT (mailbox 0) and hears back on IN (mailbox 1); pong the
  // other way round; a producer uses OUT, a consumer IN (mailbox 0).
  int ping = strcmp(role, "ping") == 0, pong = strcmp(role, "pong") == 0;
  if (strcmp(argv[4], "-") != 0) io.out = open_end(mode, argv[4], (size_t)size, pong ? 1 : 0, 0);
  if (strcmp(argv[3], "-") != 0) io.in = open_end(mode, argv[3], (size_t)size, ping ? 1 : 0, 1);
  return bench_run_role(role, &io, (size_t)size, warmup, count, chunk);
}
