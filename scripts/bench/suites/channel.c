// C contenders of the channel suite: the shared-memory floor the Channel is
// measured against. Two processes, both spinning (never sleeping):
//
//   spin  the baseline: a one-message mailbox, two flags on cache lines of
//         their own and the payload next to each. The sender copies the
//         message in and raises its flag; the receiver spins on the flag and
//         copies the message out. No ring, no record headers, no liveness: the
//         least two processes can do to hand each other a copy of a message.
//   ring  the Channel's own protocol through native/ring.h (what a C program
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
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "ring.h"

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

// --- ring: native/ring.h ----------------------------------------------------

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
  uint64_t offset;
  int64_t length;
  while ((length = pipc_ring_peek(&e->ring, &e->c, &offset)) == -EAGAIN) pipc_ring_cpu_relax();
  if (length != (int64_t)size) {
    fprintf(stderr, "pipc_ring_peek: %lld, expected a message of %zu bytes\n", (long long)length, size);
    exit(1);
  }
  memcpy(buf, e->ring.base + offset, size);
  pipc_ring_release(&e->ring, &e->c);
}

// --- the roles, over either ---------------------------------------------------

enum mode { SPIN, RING };

struct end {
  enum mode mode;
  struct mailbox* box;
  struct ring_end ring;
};

static void send_message(struct end* e, const char* msg, size_t size, uint64_t seq) {
  if (e->mode == SPIN) {
    box_send(e->box, msg, size, seq);
  } else {
    ring_send(&e->ring, msg, size);
  }
}

static void receive_message(struct end* e, char* buf, size_t size, uint64_t seq) {
  if (e->mode == SPIN) {
    box_receive(e->box, buf, size, seq);
  } else {
    ring_receive(&e->ring, buf, size);
  }
}

// Opens IN or OUT: the mailbox of one direction, or a ring end.
static void open_end(struct end* e, enum mode mode, const char* name, size_t size, int direction, int consumer) {
  e->mode = mode;
  if (mode == SPIN) {
    uint64_t length;
    uint8_t* base = map_segment(name, NULL, &length);
    if (length < 2 * mailbox_size(size)) {
      fprintf(stderr, "%s: %llu bytes, too small for two mailboxes of %zu\n", name, (unsigned long long)length, size);
      exit(1);
    }
    e->box = (struct mailbox*)(base + (size_t)direction * mailbox_size(size));
  } else {
    ring_open(&e->ring, name, consumer);
  }
}

int main(int argc, char** argv) {
  if (argc != 9 || (strcmp(argv[1], "spin") != 0 && strcmp(argv[1], "ring") != 0)) {
    fprintf(stderr, "usage: %s spin|ring ping|pong|produce|consume IN OUT SIZE WARMUP COUNT CHUNK\n", argv[0]);
    return 2;
  }
  enum mode mode = strcmp(argv[1], "spin") == 0 ? SPIN : RING;
  const char* role = argv[2];
  long size = strtol(argv[5], NULL, 10);
  long warmup = strtol(argv[6], NULL, 10);
  long count = strtol(argv[7], NULL, 10);
  long chunk = strtol(argv[8], NULL, 10);
  if (size < 4 || warmup < 0 || count <= 0 || chunk <= 0 || count % chunk != 0) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }
  long total = warmup + count;
  char* msg = malloc((size_t)size);
  char* buf = malloc((size_t)size);
  if (msg == NULL || buf == NULL) die("malloc");
  memset(msg, 0x5A, (size_t)size);
  memset(buf, 0, (size_t)size);
  struct placement where;
  struct end in, out;

  if (strcmp(role, "ping") == 0) {
    uint64_t* rtt = malloc(sizeof(uint64_t) * (size_t)count);
    if (rtt == NULL) die("malloc");
    open_end(&out, mode, argv[4], (size_t)size, 0, 0);
    open_end(&in, mode, argv[3], (size_t)size, 1, 1);
    int verified = 1;
    for (long i = 0; i < total; i++) {
      if (i == warmup) placement_start(&where);
      set_sequence(msg, (uint32_t)i);
      uint64_t t0 = now_ns();
      send_message(&out, msg, (size_t)size, (uint64_t)i);
      receive_message(&in, buf, (size_t)size, (uint64_t)i);
      uint64_t t1 = now_ns();
      if (i >= warmup) rtt[i - warmup] = t1 - t0;
      if (sequence(buf) != (uint32_t)i) verified = 0;
    }
    placement_end(&where);
    print_round_trips(rtt, count, verified, &where);
    return verified ? 0 : 1;
  }

  if (strcmp(role, "pong") == 0) {
    open_end(&in, mode, argv[3], (size_t)size, 0, 1);
    open_end(&out, mode, argv[4], (size_t)size, 1, 0);
    for (long i = 0; i < total; i++) {
      if (i == warmup) placement_start(&where);
      receive_message(&in, buf, (size_t)size, (uint64_t)i);
      send_message(&out, buf, (size_t)size, (uint64_t)i);
    }
    placement_end(&where);
    print_placement_line(&where);
    return 0;
  }

  if (strcmp(role, "produce") == 0) {
    open_end(&out, mode, argv[4], (size_t)size, 0, 0);
    for (long i = 0; i < total; i++) {
      if (i == warmup) placement_start(&where);
      set_sequence(msg, (uint32_t)i);
      send_message(&out, msg, (size_t)size, (uint64_t)i);
    }
    placement_end(&where);
    print_placement_line(&where);
    return 0;
  }

  if (strcmp(role, "consume") == 0) {
    open_end(&in, mode, argv[3], (size_t)size, 0, 1);
    uint64_t* chunks = malloc(sizeof(uint64_t) * (size_t)(count / chunk));
    uint64_t* bytes = malloc(sizeof(uint64_t) * (size_t)(count / chunk));
    if (chunks == NULL || bytes == NULL) die("malloc");
    int verified = 1;
    uint64_t t0 = 0;
    for (long i = 0; i < total; i++) {
      if (i == warmup) {
        placement_start(&where);
        t0 = now_ns();
      }
      receive_message(&in, buf, (size_t)size, (uint64_t)i);
      if (sequence(buf) != (uint32_t)i) verified = 0;
      long done = i + 1 - warmup;
      if (done > 0 && done % chunk == 0) {
        uint64_t t1 = now_ns();
        chunks[done / chunk - 1] = t1 - t0;
        bytes[done / chunk - 1] = (uint64_t)chunk * (uint64_t)size;
        t0 = t1;
      }
    }
    placement_end(&where);
    printf("{");
    print_array("chunk_ns", chunks, count / chunk);
    printf(",");
    print_array("chunk_bytes", bytes, count / chunk);
    printf(",\"verified\":%s,", verified ? "true" : "false");
    print_placement(&where);
    printf("}\n");
    return verified ? 0 : 1;
  }

  fprintf(stderr, "unknown role '%s'\n", role);
  return 2;
}
