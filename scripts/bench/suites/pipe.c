// C baseline of the pipe suite: byte streams between two processes with the
// plain blocking calls, the work the Node contenders do with inherited pipe
// ends.
//
// See: pipe(7), read(2), write(2), clock_gettime(2), sched_getcpu(3),
// proc(5) (/proc/self/sched).
//
// Usage: pipe ROLE IN OUT SIZE WARMUP COUNT CHUNK
//   IN, OUT  where to read and where to write: fd:N, a descriptor the suite
//            placed in this process (spawn with fds), or - when the role does
//            not use it. (A FIFO contender would add path:P, opened here.)
//   ping     writes message i (SIZE bytes) to OUT, reads its echo from IN,
//            WARMUP untimed then COUNT timed round trips; prints {"rtt_ns":[...], ...}
//   pong     reads SIZE bytes from IN and writes them back to OUT,
//            WARMUP + COUNT times
//   produce  writes WARMUP + COUNT messages of SIZE bytes to OUT, then closes it
//   consume  reads IN until WARMUP + COUNT messages have arrived, as much as
//            is there per read(2) (up to 64 KiB or SIZE, whichever is more);
//            once WARMUP messages' worth has arrived it takes the time each time
//            another CHUNK messages' worth has; prints {"chunk_ns":[...],
//            "chunk_bytes":[...], ...}
// Every role prints one JSON line with its placement (the CPU it ran on when
// the timed part started and ended, CPU migrations and voluntary context
// switches during it, from /proc/self/sched).
//
// The descriptors are blocking (pipe2 without O_NONBLOCK): write waits for
// room and read for data in the kernel. A pipe has no message boundaries, so
// every message carries its sequence number in its first four bytes and the
// reader checks each one at its offset in the stream (SIZE bytes apart),
// wherever the reads happen to split it.
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define READ_BUFFER (64 * 1024)

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char* what) {
  perror(what);
  exit(1);
}

// The descriptor an IN or OUT argument names, or -1 for "-".
static int endpoint(const char* spec) {
  if (strcmp(spec, "-") == 0) return -1;
  if (strncmp(spec, "fd:", 3) == 0) {
    char* end;
    long fd = strtol(spec + 3, &end, 10);
    if (*end == '\0' && fd >= 0 && fd < 1024) return (int)fd;
  }
  fprintf(stderr, "bad endpoint '%s' (expected fd:N or -)\n", spec);
  exit(2);
}

static void write_all(int fd, const char* buf, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    buf += w;
    n -= (size_t)w;
  }
}

// Reads up to `n` bytes (at least one); EOF before the expected end is an error.
static size_t read_some(int fd, char* buf, size_t n) {
  for (;;) {
    ssize_t r = read(fd, buf, n);
    if (r > 0) return (size_t)r;
    if (r == 0) {
      fprintf(stderr, "read: EOF before the last message\n");
      exit(1);
    }
    if (errno != EINTR) die("read");
  }
}

static void read_exact(int fd, char* buf, size_t n) {
  for (size_t done = 0; done < n;) done += read_some(fd, buf + done, n - done);
}

static void set_sequence(char* msg, uint32_t seq) { memcpy(msg, &seq, sizeof seq); }

static uint32_t sequence(const char* msg) {
  uint32_t seq;
  memcpy(&seq, msg, sizeof seq);
  return seq;
}

// Checks the sequence number at the start of every message in a stream of
// SIZE-byte messages, fed in pieces of any length.
struct verifier {
  uint64_t size, pos;
  char header[4];
  int ok;
};

static void verify(struct verifier* v, const char* p, size_t n) {
  while (n > 0) {
    uint64_t off = v->pos % v->size;
    size_t step;
    if (off < 4) {
      step = 4 - off < n ? (size_t)(4 - off) : n;
      memcpy(v->header + off, p, step);
      if (off + step == 4 && sequence(v->header) != (uint32_t)(v->pos / v->size)) v->ok = 0;
    } else {
      step = v->size - off < n ? (size_t)(v->size - off) : n;
    }
    p += step;
    n -= step;
    v->pos += step;
  }
}

// Counters from /proc/self/sched ("se.nr_migrations", "nr_voluntary_switches"),
// or -1 when the kernel does not provide them.
struct sched_counts {
  long migrations;
  long voluntary;
};

static struct sched_counts read_sched(void) {
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

struct placement {
  int cpu_start, cpu_end;
  struct sched_counts before, after;
};

static void placement_start(struct placement* p) {
  p->before = read_sched();
  p->cpu_start = sched_getcpu();
}

static void placement_end(struct placement* p) {
  p->cpu_end = sched_getcpu();
  p->after = read_sched();
}

static long delta(long after, long before) { return after < 0 || before < 0 ? -1 : after - before; }

static void print_placement(const struct placement* p) {
  printf("\"placement\":{\"cpuStart\":%d,\"cpuEnd\":%d,\"migrations\":%ld,\"voluntarySwitches\":%ld}", p->cpu_start,
         p->cpu_end, delta(p->after.migrations, p->before.migrations), delta(p->after.voluntary, p->before.voluntary));
}

static void print_array(const char* key, const uint64_t* v, long n) {
  printf("\"%s\":[", key);
  for (long i = 0; i < n; i++) printf("%s%llu", i ? "," : "", (unsigned long long)v[i]);
  printf("]");
}

int main(int argc, char** argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: %s ping|pong|produce|consume IN OUT SIZE WARMUP COUNT CHUNK\n", argv[0]);
    return 2;
  }
  const char* role = argv[1];
  int in = endpoint(argv[2]);
  int out = endpoint(argv[3]);
  long size = strtol(argv[4], NULL, 10);
  long warmup = strtol(argv[5], NULL, 10);
  long count = strtol(argv[6], NULL, 10);
  long chunk = strtol(argv[7], NULL, 10);
  if (size < 4 || warmup < 0 || count <= 0 || chunk <= 0 || count % chunk != 0) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }
  long total = warmup + count;
  char* msg = malloc((size_t)size);
  if (msg == NULL) die("malloc");
  memset(msg, 0x5A, (size_t)size);
  struct placement where;

  if (strcmp(role, "ping") == 0 && in >= 0 && out >= 0) {
    char* echo = malloc((size_t)size);
    uint64_t* rtt = malloc(sizeof(uint64_t) * (size_t)count);
    if (echo == NULL || rtt == NULL) die("malloc");
    int verified = 1;
    for (long i = 0; i < total; i++) {
      if (i == warmup) placement_start(&where);
      set_sequence(msg, (uint32_t)i);
      uint64_t t0 = now_ns();
      write_all(out, msg, (size_t)size);
      read_exact(in, echo, (size_t)size);
      uint64_t t1 = now_ns();
      if (i >= warmup) rtt[i - warmup] = t1 - t0;
      if (sequence(echo) != (uint32_t)i) verified = 0;
    }
    placement_end(&where);
    printf("{");
    print_array("rtt_ns", rtt, count);
    printf(",\"verified\":%s,", verified ? "true" : "false");
    print_placement(&where);
    printf("}\n");
    return verified ? 0 : 1;
  }

  if (strcmp(role, "pong") == 0 && in >= 0 && out >= 0) {
    for (long i = 0; i < total; i++) {
      if (i == warmup) placement_start(&where);
      read_exact(in, msg, (size_t)size);
      write_all(out, msg, (size_t)size);
    }
    placement_end(&where);
    printf("{");
    print_placement(&where);
    printf("}\n");
    return 0;
  }

  if (strcmp(role, "produce") == 0 && out >= 0) {
    for (long i = 0; i < total; i++) {
      if (i == warmup) placement_start(&where);
      set_sequence(msg, (uint32_t)i);
      write_all(out, msg, (size_t)size);
    }
    placement_end(&where);
    if (close(out) != 0) die("close");
    printf("{");
    print_placement(&where);
    printf("}\n");
    return 0;
  }

  if (strcmp(role, "consume") == 0 && in >= 0) {
    size_t buffer_size = (size_t)size > READ_BUFFER ? (size_t)size : READ_BUFFER;
    char* buf = malloc(buffer_size);
    long slots = count / chunk;
    uint64_t* chunk_ns = malloc(sizeof(uint64_t) * (size_t)slots);
    uint64_t* chunk_bytes = malloc(sizeof(uint64_t) * (size_t)slots);
    if (buf == NULL || chunk_ns == NULL || chunk_bytes == NULL) die("malloc");
    struct verifier v = {(uint64_t)size, 0, {0}, 1};
    uint64_t all = (uint64_t)total * (uint64_t)size;
    uint64_t start_at = (uint64_t)warmup * (uint64_t)size;
    uint64_t step = (uint64_t)chunk * (uint64_t)size;
    uint64_t got = 0, mark = 0, t_mark = 0;
    int timing = 0;
    long samples = 0;
    while (got < all) {
      size_t want = all - got < buffer_size ? (size_t)(all - got) : buffer_size;
      size_t n = read_some(in, buf, want);
      verify(&v, buf, n);
      got += n;
      if (!timing) {
        if (got >= start_at) {
          placement_start(&where);
          timing = 1;
          mark = got;
          t_mark = now_ns();
        }
      } else if (got - mark >= step && samples < slots) {
        uint64_t t = now_ns();
        chunk_ns[samples] = t - t_mark;
        chunk_bytes[samples] = got - mark;
        samples++;
        mark = got;
        t_mark = t;
      }
    }
    placement_end(&where);
    printf("{");
    print_array("chunk_ns", chunk_ns, samples);
    printf(",");
    print_array("chunk_bytes", chunk_bytes, samples);
    printf(",\"verified\":%s,", v.ok ? "true" : "false");
    print_placement(&where);
    printf("}\n");
    return v.ok ? 0 : 1;
  }

  fprintf(stderr, "unknown role '%s', or it lacks an IN or OUT\n", role);
  return 2;
}
