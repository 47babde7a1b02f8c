// C baseline of the shm-copy suite: memcpy(3) bandwidth into and out of a
// POSIX shared-memory mapping, the work the Node contenders do with
// Uint8Array#set and Buffer#copy on SharedMemory.buffer.
//
// See: shm_open(3), posix_fallocate(3), mmap(2), memcpy(3), clock_gettime(2).
//
// Usage: shm-copy NAME SIZE ITERS WARMUP
// Prints one JSON line: {"in_ns":[...],"out_ns":[...],"verified":true,...}.
//
// The setup mirrors the Node side exactly: the object is sized with
// posix_fallocate and mapped MAP_SHARED (as SharedMemory.create does), and the
// private source and destination come from malloc, the allocator behind
// Node's ArrayBuffers, so both sides copy between the same kinds of memory
// with the same alignment. Every page of all three regions is written before
// the first copy, and WARMUP untimed copies per direction run before the
// timed ones.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

// Tells the compiler that the memory behind `p` may be read and written by
// code it cannot see, so it can neither drop a copy into it nor merge two
// copies into one.
static inline void escape(void* p) { __asm__ volatile("" : : "r"(p) : "memory"); }

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s NAME SIZE ITERS WARMUP\n", argv[0]);
    return 2;
  }
  const char* name = argv[1];
  size_t size = strtoull(argv[2], NULL, 10);
  long iters = strtol(argv[3], NULL, 10);
  long warmup = strtol(argv[4], NULL, 10);
  if (size == 0 || iters <= 0 || warmup < 0) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }

  int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) die("shm_open");
  int err = posix_fallocate(fd, 0, (off_t)size);
  if (err != 0) {
    shm_unlink(name);
    fprintf(stderr, "posix_fallocate: %s\n", strerror(err));
    return 1;
  }
  unsigned char* shm = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (shm == MAP_FAILED) {
    shm_unlink(name);
    die("mmap");
  }
  // The mapping keeps the memory; the name is not needed any more.
  if (shm_unlink(name) != 0) die("shm_unlink");
  close(fd);

  unsigned char* src = malloc(size);
  unsigned char* dst = malloc(size);
  uint64_t* in_ns = malloc(sizeof(uint64_t) * (size_t)iters);
  uint64_t* out_ns = malloc(sizeof(uint64_t) * (size_t)iters);
  if (!src || !dst || !in_ns || !out_ns) die("malloc");

  // Fault in every page, with contents that differ between the regions.
  for (size_t i = 0; i < size; i++) src[i] = (unsigned char)i;
  memset(dst, 0xA5, size);
  memset(shm, 0x5A, size);
  escape(src);
  escape(dst);
  escape(shm);

  for (long i = 0; i < warmup; i++) {
    memcpy(shm, src, size);
    escape(shm);
    memcpy(dst, shm, size);
    escape(dst);
  }
  for (long i = 0; i < iters; i++) {
    uint64_t t0 = now_ns();
    memcpy(shm, src, size);
    escape(shm);
    in_ns[i] = now_ns() - t0;
  }
  for (long i = 0; i < iters; i++) {
    uint64_t t0 = now_ns();
    memcpy(dst, shm, size);
    escape(dst);
    out_ns[i] = now_ns() - t0;
  }
  // The bytes made the round trip src -> shm -> dst.
  int verified = memcmp(dst, src, size) == 0;
  if (!verified) fprintf(stderr, "verification failed: dst differs from src after the copies\n");

  printf("{");
  print_array("in_ns", in_ns, iters);
  printf(",");
  print_array("out_ns", out_ns, iters);
  printf(",\"verified\":%s,\"srcPageOffset\":%lu,\"dstPageOffset\":%lu}\n", verified ? "true" : "false",
         (unsigned long)((uintptr_t)src % 4096), (unsigned long)((uintptr_t)dst % 4096));

  munmap(shm, size);
  free(src);
  free(dst);
  free(in_ns);
  free(out_ns);
  return verified ? 0 : 1;
}
