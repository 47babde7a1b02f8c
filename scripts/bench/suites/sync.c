// C contenders of the sync suite: a robust process-shared pthread mutex,
// process-shared semaphores and shared futexes, in a shared memory segment
// the suite creates (4096 zero bytes). See sync.js for what is measured.
//
// Usage: sync PRIM ROLE SHM WARMUP COUNT CHUNK
//   PRIM  mutex | sem | futex
//   ROLE  solo    uncontended: COUNT operation pairs in one process, one
//                 sample (ns per pair) per CHUNK pairs
//         ping    initialises the primitives, then hands off to pong and
//                 back; one sample per hand-off (ns), see below
//         pong    the other side of ping
// Prints one JSON line: {"op_ns":[...]} (solo) or {"handoff_ns":[...]}
// (ping), and every role {"placement":{...}}.
//
// Hand-off: sem and futex ping-pong (ping posts/wakes A and sleeps on B, pong
// the other way round); a sample is half a round trip. mutex: pong blocks in
// lock() while ping holds the mutex; ping sees pong asleep (FUTEX_WAITERS in
// the lock word), takes t0 and unlocks; pong takes t1 as soon as it holds the
// mutex; a sample is t1 - t0 (CLOCK_MONOTONIC is one clock for both).
//
// See: pthread_mutexattr_setrobust(3), sem_init(3), futex(2).

#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"

// The layout of the segment; sync-node.js uses the same offsets.
enum { READY = 0, SEQ = 4, ROUND = 8, T1 = 16, WORD_A = 64, WORD_B = 128, SEM_A = 256, SEM_B = 320, MUTEX = 512 };
#define FUTEX_WAITERS_BIT 0x80000000u

static char* base;
#define AT(type, off) ((type*)(base + (off)))

static void futex_wait(_Atomic int* w, int val) { syscall(SYS_futex, w, FUTEX_WAIT, val, NULL, NULL, 0); }
static void futex_wake(_Atomic int* w) { syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0); }

// Waits, yielding the CPU (the two processes may share one), until *w == val.
static void spin_until(_Atomic int* w, int val) {
  while (atomic_load_explicit(w, memory_order_acquire) != val) sched_yield();
}

static void init(const char* prim) {
  if (strcmp(prim, "mutex") == 0) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (pthread_mutex_init(AT(pthread_mutex_t, MUTEX), &a) != 0) die("pthread_mutex_init");
  } else if (strcmp(prim, "sem") == 0) {
    if (sem_init(AT(sem_t, SEM_A), 1, 0) != 0 || sem_init(AT(sem_t, SEM_B), 1, 0) != 0) die("sem_init");
  }
}

static void solo(const char* prim, long warmup, long count, long chunk, uint64_t* out) {
  pthread_mutex_t* m = AT(pthread_mutex_t, MUTEX);
  sem_t* s = AT(sem_t, SEM_A);
  _Atomic int* w = AT(_Atomic int, WORD_A);
  int kind = prim[0];  // 'm', 's', 'f'
  if (kind == 's') sem_post(s);
  uint64_t t0 = now_ns();
  for (long i = 0; i < warmup + count; i++) {
    if (i == warmup) t0 = now_ns();
    if (kind == 'm') {
      pthread_mutex_lock(m);
      pthread_mutex_unlock(m);
    } else if (kind == 's') {
      sem_wait(s);
      sem_post(s);
    } else {
      futex_wait(w, 1);  // The word is 0: returns EAGAIN at once.
    }
    long done = i + 1 - warmup;
    if (done > 0 && done % chunk == 0) {
      uint64_t t1 = now_ns();
      out[done / chunk - 1] = (t1 - t0) / (uint64_t)chunk;
      t0 = t1;
    }
  }
}

static uint64_t handoff_ping(int kind, long i) {
  _Atomic int* a = AT(_Atomic int, WORD_A);
  _Atomic int* b = AT(_Atomic int, WORD_B);
  if (kind == 'm') {
    _Atomic unsigned* word = AT(_Atomic unsigned, MUTEX);
    while (!(atomic_load_explicit(word, memory_order_acquire) & FUTEX_WAITERS_BIT)) sched_yield();
    uint64_t t0 = now_ns();
    pthread_mutex_unlock(AT(pthread_mutex_t, MUTEX));
    spin_until(AT(_Atomic int, SEQ), (int)i + 1);
    uint64_t t1 = *AT(uint64_t, T1);
    pthread_mutex_lock(AT(pthread_mutex_t, MUTEX));
    atomic_store_explicit(AT(_Atomic int, ROUND), (int)i + 1, memory_order_release);
    return t1 - t0;
  }
  uint64_t t0 = now_ns();
  if (kind == 's') {
    sem_post(AT(sem_t, SEM_A));
    sem_wait(AT(sem_t, SEM_B));
  } else {
    atomic_store_explicit(a, (int)i + 1, memory_order_release);
    futex_wake(a);
    int v;
    while ((v = atomic_load_explicit(b, memory_order_acquire)) != (int)i + 1) futex_wait(b, v);
  }
  return (now_ns() - t0) / 2;
}

static void handoff_pong(int kind, long i) {
  _Atomic int* a = AT(_Atomic int, WORD_A);
  _Atomic int* b = AT(_Atomic int, WORD_B);
  if (kind == 'm') {
    pthread_mutex_lock(AT(pthread_mutex_t, MUTEX));
    *AT(uint64_t, T1) = now_ns();
    pthread_mutex_unlock(AT(pthread_mutex_t, MUTEX));
    atomic_store_explicit(AT(_Atomic int, SEQ), (int)i + 1, memory_order_release);
    spin_until(AT(_Atomic int, ROUND), (int)i + 1);
  } else if (kind == 's') {
    sem_wait(AT(sem_t, SEM_A));
    sem_post(AT(sem_t, SEM_B));
  } else {
    int v;
    while ((v = atomic_load_explicit(a, memory_order_acquire)) != (int)i + 1) futex_wait(a, v);
    atomic_store_explicit(b, (int)i + 1, memory_order_release);
    futex_wake(b);
  }
}

int main(int argc, char** argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: sync mutex|sem|futex solo|ping|pong SHM WARMUP COUNT CHUNK\n");
    return 2;
  }
  const char* prim = argv[1];
  const char* role = argv[2];
  long warmup = atol(argv[4]), count = atol(argv[5]), chunk = atol(argv[6]);
  int kind = prim[0];
  int fd = shm_open(argv[3], O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) die("shm_open");
  base = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) die("mmap");
  close(fd);

  struct placement where;
  if (strcmp(role, "solo") == 0) {
    init(prim);
    uint64_t* out = calloc(count / chunk, sizeof *out);
    placement_start(&where);
    solo(prim, warmup, count, chunk, out);
    placement_end(&where);
    printf("{");
    print_array("op_ns", out, count / chunk);
    printf(",");
    print_placement(&where);
    printf("}\n");
    return 0;
  }
  int ping = strcmp(role, "ping") == 0;
  if (ping) {
    init(prim);
    if (kind == 'm') pthread_mutex_lock(AT(pthread_mutex_t, MUTEX));
    atomic_store_explicit(AT(_Atomic int, READY), 1, memory_order_release);
  } else {
    spin_until(AT(_Atomic int, READY), 1);
  }
  uint64_t* out = calloc(count, sizeof *out);
  for (long i = 0; i < warmup + count; i++) {
    if (i == warmup) placement_start(&where);
    if (ping) {
      uint64_t ns = handoff_ping(kind, i);
      if (i >= warmup) out[i - warmup] = ns;
    } else {
      handoff_pong(kind, i);
    }
  }
  placement_end(&where);
  if (ping) {
    printf("{");
    print_array("handoff_ns", out, count);
    printf(",");
    print_placement(&where);
    printf("}\n");
  } else {
    print_placement_line(&where);
  }
  return 0;
}
