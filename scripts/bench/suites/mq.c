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

// The queue descriptors ride in bench_io's pointers.
static mqd_t queue_of(void* end) { return (mqd_t)(intptr_t)end; }

static void send_message(void* out, const char* msg, size_t size, uint64_t seq) {
  (void)seq;
  while (mq_send(queue_of(out), msg, size, 0) != 0) {
    if (errno != EINTR) die("mq_send");
  }
}

// Receives one message into `buf`: SIZE bytes, the queue's mq_msgsize (the
// suite creates the queues with 64-byte messages).
static void receive_message(void* in, char* buf, size_t size, uint64_t seq) {
  (void)seq;
  for (;;) {
    ssize_t n = mq_receive(queue_of(in), buf, size, NULL);
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
  struct bench_io io = {send_message, receive_message, NULL, NULL};
  // ping: Q1 out, Q2 back; pong: the other way; produce: Q1 out; consume: Q1 in.
  int ping = strcmp(role, "ping") == 0, pong = strcmp(role, "pong") == 0;
  int produce = strcmp(role, "produce") == 0, consume = strcmp(role, "consume") == 0;
  if (ping || produce) io.out = (void*)(intptr_t)open_queue(argv[2], O_WRONLY);
  if (ping) io.in = (void*)(intptr_t)open_queue(argv[3], O_RDONLY);
  if (pong || consume) io.in = (void*)(intptr_t)open_queue(argv[2], O_RDONLY);
  if (pong) io.out = (void*)(intptr_t)open_queue(argv[3], O_WRONLY);
  if (io.in != NULL) {
    struct mq_attr attr;
    if (mq_getattr(queue_of(io.in), &attr) != 0) die("mq_getattr");
    if (attr.mq_msgsize != MESSAGE_SIZE) {
      fprintf(stderr, "mq_msgsize is %ld, expected %d\n", attr.mq_msgsize, MESSAGE_SIZE);
      return 1;
    }
  }
  return bench_run_role(role, &io, MESSAGE_SIZE, warmup, count, chunk);
}
