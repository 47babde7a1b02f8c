// What the C contenders of the bench share: the clock, dying on a failed
// call, message sequence numbers, JSON arrays, the placement record
// (where the process ran during its timed part), and the four roles of a
// message contender (bench_run_role). lib/placement-node.js makes
// the same record in the Node contenders and explains its fields.
//
// See: clock_gettime(2), sched_getcpu(3), proc(5) (/proc/self/sched).
//
// Each source file is compiled on its own (lib/child.js compileC), so
// everything here is static inline: a contender pays only for what it uses,
// and -Wall does not warn about the rest.
#ifndef POSIX_IPC_BENCH_H
#define POSIX_IPC_BENCH_H

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void die(const char* what) {
  perror(what);
  exit(1);
}

// Messages carry their sequence number in their first four bytes, which the
// receiving side checks.
static inline void set_sequence(char* msg, uint32_t seq) { memcpy(msg, &seq, sizeof seq); }

static inline uint32_t sequence(const char* msg) {
  uint32_t seq;
  memcpy(&seq, msg, sizeof seq);
  return seq;
}

static inline void print_array(const char* key, const uint64_t* v, long n) {
  printf("\"%s\":[", key);
  for (long i = 0; i < n; i++) printf("%s%llu", i ? "," : "", (unsigned long long)v[i]);
  printf("]");
}

// Counters from /proc/self/sched ("se.nr_migrations", "nr_voluntary_switches"),
// or -1 when the kernel does not provide them.
struct sched_counts {
  long migrations;
  long voluntary;
};

static inline struct sched_counts read_sched(void) {
  struct sched_counts c = {-1, -1};
  FILE* f = fopen("/proc/self/sched", "re");
  if (f == NULL) return c;
  char line[256];
  while (fgets(line, sizeof line, f) != NULL) {
    char key[64];
    long value;
    if (sscanf(line, "%63s : %ld", key, &value) != 2) continue;
    if (strcmp(key, "se.nr_migrations") == 0) c.migrations = value;
    if (strcmp(key, "nr_voluntary_switches") == 0) c.voluntary = value;
  }
  fclose(f);
  return c;
}

// Where a role ran: placement_start and placement_end are called outside the
// timed code.
struct placement {
  int cpu_start, cpu_end;
  struct sched_counts before, after;
};

static inline void placement_start(struct placement* p) {
  p->before = read_sched();
  p->cpu_start = sched_getcpu();
}

static inline void placement_end(struct placement* p) {
  p->cpu_end = sched_getcpu();
  p->after = read_sched();
}

static inline long sched_delta(long after, long before) { return after < 0 || before < 0 ? -1 : after - before; }

// Prints "placement":{...} (no braces around it: it is one field of the
// role's JSON line).
static inline void print_placement(const struct placement* p) {
  printf("\"placement\":{\"cpuStart\":%d,\"cpuEnd\":%d,\"migrations\":%ld,\"voluntarySwitches\":%ld}", p->cpu_start,
         p->cpu_end, sched_delta(p->after.migrations, p->before.migrations),
         sched_delta(p->after.voluntary, p->before.voluntary));
}

// The JSON line of a role that reports only where it ran.
static inline void print_placement_line(const struct placement* p) {
  printf("{");
  print_placement(p);
  printf("}\n");
}

// The JSON line of a ping: its round trips (ns), whether every echo was the
// message sent, and where it ran.
static inline void print_round_trips(const uint64_t* rtt, long count, int verified, const struct placement* p) {
  printf("{");
  print_array("rtt_ns", rtt, count);
  printf(",\"verified\":%s,", verified ? "true" : "false");
  print_placement(p);
  printf("}\n");
}

// --- The roles of a message contender ----------------------------------------

// Reads the arguments SIZE WARMUP COUNT CHUNK at arg[0..3]; 0, or 2 (the exit
// status for bad arguments) after saying so.
static inline int bench_counts(char** arg, long* size, long* warmup, long* count, long* chunk) {
  *size = strtol(arg[0], NULL, 10);
  *warmup = strtol(arg[1], NULL, 10);
  *count = strtol(arg[2], NULL, 10);
  *chunk = strtol(arg[3], NULL, 10);
  if (*size < 4 || *warmup < 0 || *count <= 0 || *chunk <= 0 || *count % *chunk != 0) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }
  return 0;
}

// How a contender moves messages, for bench_run_role: send message `seq`
// (SIZE bytes at msg) on `out`, receive the next one into buf from `in`.
// Each waits as its contender does (blocks, or spins).
struct bench_io {
  void (*send)(void* out, const char* msg, size_t size, uint64_t seq);
  void (*receive)(void* in, char* buf, size_t size, uint64_t seq);
  void* out;
  void* in;
};

// Runs one role and prints its JSON line (with the placement); returns the
// exit status, 2 for an unknown role. Every message is SIZE bytes of 0x5A with
// its sequence number in the first four, checked by the receiving side.
//   ping     message i out, its echo back: WARMUP untimed, then COUNT timed
//            round trips; prints {"rtt_ns":[...], "verified":...}
//   pong     receives and sends the same bytes back, WARMUP + COUNT times
//   produce  sends WARMUP + COUNT messages
//   consume  receives WARMUP + COUNT messages; after the WARMUP ones it takes
//            the time every CHUNK messages; prints {"chunk_ns":[...],
//            "chunk_bytes":[...], "verified":...}
static inline int bench_run_role(const char* role, const struct bench_io* io, size_t size, long warmup, long count,
                                 long chunk) {
  int ping = strcmp(role, "ping") == 0, pong = strcmp(role, "pong") == 0;
  int produce = strcmp(role, "produce") == 0, consume = strcmp(role, "consume") == 0;
  if (!ping && !pong && !produce && !consume) {
    fprintf(stderr, "unknown role '%s'\n", role);
    return 2;
  }
  long total = warmup + count;
  char* msg = malloc(size);
  char* buf = calloc(1, size);
  uint64_t* times = malloc(sizeof(uint64_t) * (size_t)count);
  uint64_t* bytes = malloc(sizeof(uint64_t) * (size_t)count);
  if (msg == NULL || buf == NULL || times == NULL || bytes == NULL) die("malloc");
  memset(msg, 0x5A, size);
  struct placement where;
  int verified = 1;
  uint64_t t0 = 0;
  for (long i = 0; i < total; i++) {
    if (i == warmup) {
      placement_start(&where);
      t0 = now_ns();
    }
    if (pong) {
      io->receive(io->in, buf, size, (uint64_t)i);
      io->send(io->out, buf, size, (uint64_t)i);
      continue;
    }
    if (!consume) {
      set_sequence(msg, (uint32_t)i);
      if (ping) t0 = now_ns();
      io->send(io->out, msg, size, (uint64_t)i);
    }
    if (produce) continue;
    io->receive(io->in, buf, size, (uint64_t)i);
    if (sequence(buf) != (uint32_t)i) verified = 0;
    uint64_t t1 = now_ns();
    long done = i + 1 - warmup;
    if (ping && i >= warmup) times[i - warmup] = t1 - t0;
    if (consume && done > 0 && done % chunk == 0) {
      times[done / chunk - 1] = t1 - t0;
      bytes[done / chunk - 1] = (uint64_t)chunk * size;
      t0 = t1;
    }
  }
  placement_end(&where);
  if (ping) {
    print_round_trips(times, count, verified, &where);
  } else if (consume) {
    printf("{");
    print_array("chunk_ns", times, count / chunk);
    printf(",");
    print_array("chunk_bytes", bytes, count / chunk);
    printf(",\"verified\":%s,", verified ? "true" : "false");
    print_placement(&where);
    printf("}\n");
  } else {
    print_placement_line(&where);
  }
  free(msg);
  free(buf);
  free(times);
  free(bytes);
  return verified ? 0 : 1;
}

#endif  // POSIX_IPC_BENCH_H
