// C baseline of the mq suite: POSIX message queues with the plain blocking
// calls, the work the Node contenders do with MessageQueue.
//
// See: mq_open(3), mq_send(3), mq_receive(3), mq_overview(7),
// clock_gettime(2), sched_getcpu(3), proc(5) (/proc/self/sched).
//
// Usage: mq ROLE Q1 Q2 WARMUP COUNT CHUNK
//   ping     sends message i on Q1, waits for its echo on Q2, WARMUP untimed
//            then COUNT timed round trips; prints {"rtt_ns":[...], ...}
//   pong     receives on Q1 and sends the same bytes back on Q2,
//            WARMUP + COUNT times
//   produce  sends WARMUP + COUNT messages on Q1 (Q2 is not used)
//   consume  receives WARMUP + COUNT messages from Q1; after the WARMUP ones
//            it takes the time every CHUNK messages; prints {"chunk_ns":[...], ...}
// Every role prints one JSON line with its placement (the CPU it ran on when
// the timed part started and ended, CPU migrations and voluntary context
// switches during it, from /proc/self/sched; bench.h).
//
// The queues exist already (the suite creates them, 64-byte messages); they
// are opened here without O_NONBLOCK, so mq_send waits for room and
// mq_receive for a message in the kernel, the baseline the Node contenders
// are compared with. Every message is 64 bytes and carries its sequence
// number in its first four bytes, which the receiving side checks.
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MESSAGE_SIZE 64

static mqd_t open_queue(const char* name, int access) {
  mqd_t q = mq_open(name, access | O_CLOEXEC);
  if (q == (mqd_t)-1) die("mq_open");
  return q;
}

static void send_message(mqd_t q, const char* msg) {
  while (mq_send(q, msg, MESSAGE_SIZE, 0) != 0) {
    if (errno != EINTR) die("mq_send");
  }
}

// Receives one message into `buf` (which holds the queue's mq_msgsize bytes).
static void receive_message(mqd_t q, char* buf, size_t size) {
  for (;;) {
    ssize_t n = mq_receive(q, buf, size, NULL);
    if (n == MESSAGE_SIZE) return;
    if (n >= 0) {
      fprintf(stderr, "mq_receive: got %zd bytes, expected %d\n", n, MESSAGE_SIZE);
      exit(1);
    }
    if (errno != EINTR) die("mq_receive");
  }
}

int main(int argc, char** argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: %s ping|pong|produce|consume Q1 Q2 WARMUP COUNT CHUNK\n", argv[0]);
    return 2;
  }
  const char* role = argv[1];
  long warmup = strtol(argv[4], NULL, 10);
  long count = strtol(argv[5], NULL, 10);
  long chunk = strtol(argv[6], NULL, 10);
  if (warmup < 0 || count <= 0 || chunk <= 0 || count % chunk != 0) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }
  long total = warmup + count;
  char msg[MESSAGE_SIZE];
  memset(msg, 0x5A, sizeof msg);
  struct placement where;

  if (strcmp(role, "ping") == 0) {
    mqd_t out = open_queue(argv[2], O_WRONLY);
    mqd_t in = open_queue(argv[3], O_RDONLY);
    struct mq_attr attr;
    if (mq_getattr(in, &attr) != 0) die("mq_getattr");
    char* buf = malloc((size_t)attr.mq_msgsize);
    uint64_t* rtt = malloc(sizeof(uint64_t) * (size_t)count);
    if (buf == NULL || rtt == NULL) die("malloc");
    int verified = 1;
    for (long i = 0; i < total; i++) {
      if (i == warmup) placement_start(&where);
      set_sequence(msg, (uint32_t)i);
      uint64_t t0 = now_ns();
      send_message(out, msg);
      receive_message(in, buf, (size_t)attr.mq_msgsize);
      uint64_t t1 = now_ns();
      if (i >= warmup) rtt[i - warmup] = t1 - t0;
      if (sequence(buf) != (uint32_t)i) verified = 0;
    }
    placement_end(&where);
    print_round_trips(rtt, count, verified, &where);
    return verified ? 0 : 1;
  }

  if (strcmp(role, "pong") == 0) {
    mqd_t in = open_queue(argv[2], O_RDONLY);
    mqd_t out = open_queue(argv[3], O_WRONLY);
    struct mq_attr attr;
    if (mq_getattr(in, &attr) != 0) die("mq_getattr");
    char* buf = malloc((size_t)attr.mq_msgsize);
    if (buf == NULL) die("malloc");
    for (long i = 0; i < total; i++) {
      if (i == warmup) placement_start(&where);
      receive_message(in, buf, (size_t)attr.mq_msgsize);
      send_message(out, buf);
    }
    placement_end(&where);
    print_placement_line(&where);
    return 0;
  }

  if (strcmp(role, "produce") == 0) {
    mqd_t out = open_queue(argv[2], O_WRONLY);
    for (long i = 0; i < total; i++) {
      if (i == warmup) placement_start(&where);
      set_sequence(msg, (uint32_t)i);
      send_message(out, msg);
    }
    placement_end(&where);
    print_placement_line(&where);
    return 0;
  }

  if (strcmp(role, "consume") == 0) {
    mqd_t in = open_queue(argv[2], O_RDONLY);
    struct mq_attr attr;
    if (mq_getattr(in, &attr) != 0) die("mq_getattr");
    char* buf = malloc((size_t)attr.mq_msgsize);
    uint64_t* chunks = malloc(sizeof(uint64_t) * (size_t)(count / chunk));
    if (buf == NULL || chunks == NULL) die("malloc");
    int verified = 1;
    uint64_t t0 = 0;
    for (long i = 0; i < total; i++) {
      if (i == warmup) {
        placement_start(&where);
        t0 = now_ns();
      }
      receive_message(in, buf, (size_t)attr.mq_msgsize);
      if (sequence(buf) != (uint32_t)i) verified = 0;
      long done = i + 1 - warmup;
      if (done > 0 && done % chunk == 0) {
        uint64_t t1 = now_ns();
        chunks[done / chunk - 1] = t1 - t0;
        t0 = t1;
      }
    }
    placement_end(&where);
    printf("{");
    print_array("chunk_ns", chunks, count / chunk);
    printf(",\"verified\":%s,", verified ? "true" : "false");
    print_placement(&where);
    printf("}\n");
    return verified ? 0 : 1;
  }

  fprintf(stderr, "unknown role '%s'\n", role);
  return 2;
}
