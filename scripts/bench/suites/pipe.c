// C baseline of the pipe suite: byte streams between two processes with the
// plain blocking calls, the work the Node contenders do with inherited pipe
// ends; and the same roles over a datagram socket, one message per call.
//
// See: pipe(7), unix(7), read(2), write(2), send(2), recv(2), sendmmsg(2),
// recvmmsg(2), fcntl(2),
// getsockopt(2) (SO_TYPE), setsockopt(2) (SO_SNDBUF), fcntl(2) (F_SETPIPE_SZ); bench.h for the clock and the placement record.
//
// Usage: pipe MODE ROLE IN OUT SIZE WARMUP COUNT CHUNK [BUFFER]
//   MODE     stream      read(2)/write(2) on blocking descriptors (pipes)
//            dgram       send(2)/recv(2) on a SOCK_DGRAM socket, made blocking
//                        here (the suite's socketPair is non-blocking): one
//                        message per call, each checked to be SIZE bytes whole
//            dgram-spin  the same with MSG_DONTWAIT, retried at once on EAGAIN:
//                        a busy-poll that burns the CPU while it waits (the
//                        like-for-like partner of Node's trySend/tryReceive)
//            stream-batch  stream, but produce writes BATCH messages per
//                        write(2) (one buffer of BATCH * SIZE bytes)
//            dgram-batch dgram, but produce sends BATCH messages per
//                        sendmmsg(2) and consume takes up to BATCH per
//                        recvmmsg(2) (MSG_WAITFORONE): the C side of Node's
//                        sendMany/receiveMany. Round trips (ping, pong) go one
//                        message per call in every mode.
//   IN, OUT  where to read and where to write: fd:N, a descriptor the suite
//            placed in this process (spawn with fds), or - when the role does
//            not use it; both may name the same socket; or path:P, a FIFO
//            opened here with a blocking open(2) (O_RDONLY for IN, O_WRONLY
//            for OUT; stream mode only). A blocking open of a FIFO waits for
//            the other side, so ping opens OUT before IN and pong IN before
//            OUT: each open meets its partner's.
//   BUFFER   bytes of kernel buffer each side asks for (default: the
//            kernel's sizes): a stream endpoint sets its pipe's capacity
//            (F_SETPIPE_SZ) and consume reads up to BUFFER bytes per read(2);
//            a datagram endpoint sets SO_SNDBUF
//   ping     writes message i (SIZE bytes) to OUT, reads its echo from IN,
//            WARMUP untimed then COUNT timed round trips; prints {"rtt_ns":[...], ...}
//   pong     reads SIZE bytes from IN and writes them back to OUT,
//            WARMUP + COUNT times
//   produce  writes WARMUP + COUNT messages of SIZE bytes to OUT, then closes it
//   consume  reads IN until WARMUP + COUNT messages have arrived, as much as
//            is there per read(2) (up to 64 KiB or SIZE, whichever is more;
//            a datagram mode receives one message per call); once WARMUP
//            messages' worth has arrived it takes the time each time another
//            CHUNK messages' worth has; prints {"chunk_ns":[...],
//            "chunk_bytes":[...], ...}
// Every role prints one JSON line with its placement (the CPU it ran on when
// the timed part started and ended, CPU migrations and voluntary context
// switches during it, from /proc/self/sched).
//
// The pipes are blocking (pipe2 without O_NONBLOCK): write waits for room and
// read for data in the kernel. A pipe has no message boundaries, so every
// message carries its sequence number in its first four bytes and the reader
// checks each one at its offset in the stream (SIZE bytes apart), wherever
// the reads happen to split it. A datagram arrives whole or not at all; the
// same check then sees one message per receive.
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

#define READ_BUFFER (64 * 1024)
// Messages per call in the batch modes (as BATCH in pipe-node.js).
#define BATCH 64

enum mode { STREAM, DGRAM, DGRAM_SPIN, STREAM_BATCH, DGRAM_BATCH };
static enum mode mode;

static int is_stream(void) { return mode == STREAM || mode == STREAM_BATCH; }

// BUFFER, or 0 for the kernel's sizes.
static long buffer;

// Asks for BUFFER bytes of kernel buffer on fd: the pipe's capacity, or the
// datagram socket's SO_SNDBUF.
static void size_buffer(int fd) {
  if (buffer <= 0) return;
  int bytes = (int)buffer;
  if (is_stream() ? fcntl(fd, F_SETPIPE_SZ, bytes) < 0 : setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes) != 0) {
    die(is_stream() ? "fcntl(F_SETPIPE_SZ)" : "setsockopt(SO_SNDBUF)");
  }
}

// The descriptor an IN or OUT argument names (opened with `access` for a
// path:P FIFO), or -1 for "-". A datagram mode
// checks that it is a datagram socket and makes it blocking (dgram) or
// leaves it as it is (dgram-spin: every call passes MSG_DONTWAIT).
static int endpoint(const char* spec, int access) {
  if (strcmp(spec, "-") == 0) return -1;
  if (strncmp(spec, "path:", 5) == 0 && is_stream()) {
    int fd;
    do fd = open(spec + 5, access | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) die("open");
    size_buffer(fd);
    return fd;
  }
  if (strncmp(spec, "fd:", 3) == 0) {
    char* end;
    long n = strtol(spec + 3, &end, 10);
    if (*end == '\0' && n >= 0 && n < 1024) {
      int fd = (int)n;
      size_buffer(fd);
      if (is_stream()) return fd;
      int type;
      socklen_t len = sizeof type;
      if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) die("getsockopt(SO_TYPE)");
      if (type != SOCK_DGRAM) {
        fprintf(stderr, "%s is not a datagram socket\n", spec);
        exit(2);
      }
      int flags = fcntl(fd, F_GETFL);
      if (flags < 0) die("fcntl(F_GETFL)");
      if (mode != DGRAM_SPIN && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) die("fcntl(F_SETFL)");
      return fd;
    }
  }
  fprintf(stderr, "bad endpoint '%s' (expected fd:N, path:P in stream mode, or -)\n", spec);
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

// Whether a failed datagram call is tried again: after a signal, and when
// spinning, while the socket is full or empty.
static int again(void) { return errno == EINTR || (mode == DGRAM_SPIN && errno == EAGAIN); }

static void send_datagram(int fd, const char* buf, size_t n) {
  int flags = mode == DGRAM_SPIN ? MSG_DONTWAIT : 0;
  for (;;) {
    ssize_t w = send(fd, buf, n, flags);
    if (w == (ssize_t)n) return;
    if (w >= 0) {
      fprintf(stderr, "send: %zd of %zu bytes\n", w, n);
      exit(1);
    }
    if (!again()) die("send");
  }
}

// Receives one datagram, which must be `n` bytes (MSG_TRUNC: recv returns
// the real length, so a longer one is caught too).
static void receive_datagram(int fd, char* buf, size_t n) {
  int flags = MSG_TRUNC | (mode == DGRAM_SPIN ? MSG_DONTWAIT : 0);
  for (;;) {
    ssize_t r = recv(fd, buf, n, flags);
    if (r == (ssize_t)n) return;
    if (r >= 0) {
      fprintf(stderr, "recv: a message of %zd bytes, expected %zu\n", r, n);
      exit(1);
    }
    if (!again()) die("recv");
  }
}

// One message of SIZE bytes out, in the mode's way.
static void send_message(int fd, const char* msg, size_t size) {
  if (is_stream()) write_all(fd, msg, size);
  else send_datagram(fd, msg, size);
}

static void receive_message(int fd, char* buf, size_t size) {
  if (is_stream()) read_exact(fd, buf, size);
  else receive_datagram(fd, buf, size);
}

// Points msgs[0..n) at n messages of `size` bytes back to back in `buf`.
static void point_batch(struct mmsghdr* msgs, struct iovec* iov, char* buf, size_t size, long n) {
  memset(msgs, 0, sizeof(*msgs) * (size_t)n);
  for (long k = 0; k < n; k++) {
    iov[k].iov_base = buf + k * size;
    iov[k].iov_len = size;
    msgs[k].msg_hdr.msg_iov = &iov[k];
    msgs[k].msg_hdr.msg_iovlen = 1;
  }
}

// Produces messages first..first+n-1 (n <= BATCH) from `batch` (BATCH
// messages of `size` bytes back to back) in one call: write(2) of them all,
// or sendmmsg(2) of one datagram each.
static void send_batch(int fd, char* batch, size_t size, long first, long n) {
  for (long k = 0; k < n; k++) set_sequence(batch + k * size, (uint32_t)(first + k));
  if (mode == STREAM_BATCH) {
    write_all(fd, batch, size * (size_t)n);
    return;
  }
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  point_batch(msgs, iov, batch, size, n);
  for (long sent = 0; sent < n;) {
    int r = sendmmsg(fd, msgs + sent, (unsigned)(n - sent), 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("sendmmsg");
    }
    sent += r;
  }
}

// Receives up to BATCH datagrams into `buf` (BATCH * size bytes), waiting for
// the first only; each must be `size` bytes whole. Returns how many came.
static long receive_batch(int fd, char* buf, size_t size) {
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  point_batch(msgs, iov, buf, size, BATCH);
  int r;
  do r = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
  while (r < 0 && errno == EINTR);
  if (r < 0) die("recvmmsg");
  for (int k = 0; k < r; k++) {
    if (msgs[k].msg_len != size || (msgs[k].msg_hdr.msg_flags & MSG_TRUNC)) {
      fprintf(stderr, "recvmmsg: a message of %u bytes, expected %zu\n", msgs[k].msg_len, size);
      exit(1);
    }
  }
  return r;
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

int main(int argc, char** argv) {
  if (argc != 9 && argc != 10) {
    fprintf(stderr, "usage: %s stream|dgram|dgram-spin|stream-batch|dgram-batch ping|pong|produce|consume IN OUT SIZE WARMUP COUNT CHUNK [BUFFER]\n", argv[0]);
    return 2;
  }
  if (strcmp(argv[1], "stream") == 0) mode = STREAM;
  else if (strcmp(argv[1], "dgram") == 0) mode = DGRAM;
  else if (strcmp(argv[1], "dgram-spin") == 0) mode = DGRAM_SPIN;
  else if (strcmp(argv[1], "stream-batch") == 0) mode = STREAM_BATCH;
  else if (strcmp(argv[1], "dgram-batch") == 0) mode = DGRAM_BATCH;
  else {
    fprintf(stderr, "unknown mode '%s'\n", argv[1]);
    return 2;
  }
  buffer = argc == 10 ? strtol(argv[9], NULL, 10) : 0;
  const char* role = argv[2];
  // ping opens OUT first, every other role IN first (see path:P above).
  int ping_first = strcmp(role, "ping") == 0;
  int out = ping_first ? endpoint(argv[4], O_WRONLY) : -1;
  int in = endpoint(argv[3], O_RDONLY);
  if (!ping_first) out = endpoint(argv[4], O_WRONLY);
  long size, warmup, count, chunk;
  if (bench_counts(argv + 5, &size, &warmup, &count, &chunk) != 0) return 2;
  if (buffer < 0 || buffer > (1L << 30)) {
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
      send_message(out, msg, (size_t)size);
      receive_message(in, echo, (size_t)size);
      uint64_t t1 = now_ns();
      if (i >= warmup) rtt[i - warmup] = t1 - t0;
      if (sequence(echo) != (uint32_t)i) verified = 0;
    }
    placement_end(&where);
    print_round_trips(rtt, count, verified, &where);
    return verified ? 0 : 1;
  }

  if (strcmp(role, "pong") == 0 && in >= 0 && out >= 0) {
    for (long i = 0; i < total; i++) {
      if (i == warmup) placement_start(&where);
      receive_message(in, msg, (size_t)size);
      send_message(out, msg, (size_t)size);
    }
    placement_end(&where);
    print_placement_line(&where);
    return 0;
  }

  if (strcmp(role, "produce") == 0 && out >= 0 && (mode == STREAM_BATCH || mode == DGRAM_BATCH)) {
    char* batch = malloc((size_t)size * BATCH);
    if (batch == NULL) die("malloc");
    memset(batch, 0x5A, (size_t)size * BATCH);
    for (long i = 0; i < total; i += BATCH) {
      long n = total - i < BATCH ? total - i : BATCH;
      // Outside the timed part, as at message `warmup` one at a time.
      if (i <= warmup && warmup < i + n) placement_start(&where);
      send_batch(out, batch, (size_t)size, i, n);
    }
    placement_end(&where);
    if (close(out) != 0) die("close");
    print_placement_line(&where);
    return 0;
  }

  if (strcmp(role, "produce") == 0 && out >= 0) {
    for (long i = 0; i < total; i++) {
      if (i == warmup) placement_start(&where);
      set_sequence(msg, (uint32_t)i);
      send_message(out, msg, (size_t)size);
    }
    placement_end(&where);
    if (close(out) != 0) die("close");
    print_placement_line(&where);
    return 0;
  }

  if (strcmp(role, "consume") == 0 && in >= 0) {
    size_t buffer_size = (size_t)size > READ_BUFFER ? (size_t)size : READ_BUFFER;
    if ((size_t)buffer > buffer_size) buffer_size = (size_t)buffer;
    if (mode == DGRAM_BATCH) buffer_size = (size_t)size * BATCH;
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
      size_t n = (size_t)size;
      if (is_stream()) n = read_some(in, buf, all - got < buffer_size ? (size_t)(all - got) : buffer_size);
      else if (mode == DGRAM_BATCH) n = (size_t)size * (size_t)receive_batch(in, buf, (size_t)size);
      else receive_datagram(in, buf, n);
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
