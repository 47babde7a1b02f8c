// What the C contenders of the bench share: the clock, dying on a failed
// call, message sequence numbers, JSON arrays, and the placement record
// (where the process ran during its timed part). lib/placement-node.js makes
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

#endif  // POSIX_IPC_BENCH_H
