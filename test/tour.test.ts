/**
 * The student tour (`npm start`, `posix-ipc tour`): scripts/cli.js runs as a
 * real process and its output is checked for what it claims to show. No
 * assertion is about how fast anything was.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { MessageQueue } from '../lib';
import { run, until, type RunResult } from './helpers';

const cli = path.join(__dirname, '..', 'scripts', 'cli.js');
const duration = String.raw`\d+(?:\.\d+)? (?:ns|µs|ms|s)\b`;
const rate = String.raw`\d+(?:\.\d+)? (?:MB|GB)/s`;

/** A JavaScript stack frame, as an uncaught error prints it. */
const stackFrame = /^\s+at \S/m;

/**
 * Runs the tour (`node cli.js ...args`, or under `prefix`, e.g. taskset), and
 * sends `signal` to the tour's own process (not its children) as soon as its
 * stdout matches `when`; the result once every holder of its output closed it,
 * children included.
 */
function runAndSignal(
  args: string[], when: RegExp, signal: NodeJS.Signals, prefix: string[] = [],
): Promise<RunResult & { sent: boolean }> {
  return new Promise((resolve, reject) => {
    const argv = [...prefix, process.execPath, cli, ...args];
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (!sent && when.test(stdout)) {
        sent = true;
        process.kill(child.pid!, signal);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, sig) => resolve({ code, signal: sig, stdout, stderr, sent }));
  });
}

/** What the tour of parent `pid` left in /dev/shm and in the temporary directory. */
function leftBehind(pid: number): string[] {
  const shm = readdirSync('/dev/shm').filter((n) => n.startsWith(`posix-ipc-tour-${pid}`) || n.startsWith(`sem.posix-ipc-tour-${pid}`));
  const tmp = readdirSync(tmpdir()).filter((n) => n.startsWith(`posix-ipc-tour-${pid}-`));
  return [...shm, ...tmp];
}

function parentPid(stdout: string): number {
  const match = /^parent pid (\d+) \(ppid \d+\)/m.exec(stdout);
  expect(match).not.toBeNull();
  return Number(match![1]);
}

describe('posix-ipc tour', () => {
  let result: RunResult;
  let parent: number;

  beforeAll(async () => {
    result = await run(process.execPath, [cli, 'tour']);
    parent = parentPid(result.stdout);
  });

  test('runs every chapter and exits 0 without complaint', () => {
    expect(result).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(result.stdout).toMatch(/^Chapter 1: Processes and threads$/m);
    expect(result.stdout).toMatch(/^Chapter 2: Shared memory$/m);
    expect(result.stdout).toMatch(/^Chapter 3: Message queues$/m);
    expect(result.stdout).toMatch(/^Chapter 4: Pipes: a one-way channel between parent and child$/m);
    expect(result.stdout).toMatch(/^Chapter 5: Unix sockets: passing a descriptor to an unrelated process$/m);
    expect(result.stdout).toMatch(/^Chapter 6: FIFOs: a named pipe, one server and several clients$/m);
    expect(result.stdout).toMatch(/^Chapter 7: Mutexes: a deadlock between two processes, and its fix$/m);
    expect(result.stdout).toMatch(/^Chapter 8: Channel: a ring of messages in shared memory$/m);
    expect(result.stdout).toMatch(/^Chapter 9: A browser: one process per tab, and a crash that ends only its own$/m);
    expect(result.stdout).toMatch(/^End of the tour\.$/m);
  });

  test('shows child processes whose ppid is the parent pid', () => {
    const children = [...result.stdout.matchAll(/child pid (\d+) \(ppid (\d+)\)/g)].map((m) => ({
      pid: Number(m[1]),
      ppid: Number(m[2]),
    }));
    // Five forks in chapter 1; named, anonymous and two ping-pong children in
    // chapter 2; a producer and two ping-pong children in chapter 3; the
    // descriptor, pipe-throughput and process.send children in chapter 4; the
    // datagram and process.send ping-pong children in chapter 5 (its visitor
    // is a "process", not a child: its ppid is not the parent's); the shell
    // writer, three clients, the FifoServer and process.send children in chapter 6;
    // the browser in chapter 9 (its renderers are the browser's children, not the tour's).
    expect(children.length).toBeGreaterThanOrEqual(24);
    for (const child of children) {
      expect(child.pid).not.toBe(parent);
      expect(child.ppid).toBe(parent);
    }
    expect(new Set(children.map((c) => c.pid)).size).toBe(children.length);
  });

  test('shows worker threads living in the parent process', () => {
    const threads = [...result.stdout.matchAll(/Worker #\d+: thread \d+ in pid (\d+)/g)];
    expect(threads.length).toBeGreaterThan(0);
    for (const thread of threads) expect(Number(thread[1])).toBe(parent);
  });

  test('shows two pids seeing the same bytes of shared memory', () => {
    const named = new RegExp(String.raw`child pid (\d+) \(ppid ${parent}\) opened /posix-ipc-tour-${parent} by name\n +and wrote "hello from pid (\d+)"`);
    const match = named.exec(result.stdout);
    expect(match).not.toBeNull();
    expect(match![2]).toBe(match![1]);
    expect(result.stdout).toContain(`parent pid ${parent} reads its own mapping of /posix-ipc-tour-${parent}: "hello from pid ${match![1]}"`);
    expect(result.stdout).toMatch(new RegExp(String.raw`child pid \d+ \(ppid ${parent}\) mapped its descriptor 3, wrote "hello from pid \d+"`));
  });

  test('prints measured numbers with units', () => {
    expect(result.stdout).toMatch(new RegExp(`median time to first message: process ${duration}, thread ${duration}`));
    expect(result.stdout).toMatch(new RegExp(`shared memory, Atomics spin: +median round trip ${duration}, p99 ${duration}`));
    expect(result.stdout).toMatch(new RegExp(`process\\.send, IPC channel: +median round trip ${duration}, p99 ${duration}`));
    expect(result.stdout).toMatch(new RegExp(`message queues, sync: +median round trip ${duration}, p99 ${duration}`));
    expect(result.stdout).toMatch(new RegExp(`^ +pipe: child pid .* bytes: ${rate}$`, 'm'));
    expect(result.stdout).toMatch(new RegExp(`datagram socket, async: +median round trip ${duration}, p99 ${duration}`));
    expect(result.stdout).toMatch(new RegExp(`FIFO request/reply, async: +median round trip ${duration}, p99 ${duration}`));
    expect(result.stdout).toMatch(/\d+(?:\.\d+)?x faster/);
  });

  test('every line fits in 100 columns, and nothing waits for Enter without a terminal', () => {
    const long = `${result.stdout}${result.stderr}`.split('\n').filter((line) => [...line].length > 100);
    expect(long).toEqual([]);
    expect(result.stdout).not.toMatch(/Press Enter/);
  });

  test('leaves nothing behind in /dev/shm', () => {
    expect(result.stdout).toContain(`/dev/shm/posix-ipc-tour-${parent} exists: yes`);
    expect(readdirSync('/dev/shm').filter((n) => n.startsWith(`posix-ipc-tour-${parent}`))).toEqual([]);
  });
});

describe('posix-ipc tour, message-queue chapter', () => {
  let result: RunResult;
  let parent: number;

  beforeAll(async () => {
    result = await run(process.execPath, [cli, 'tour', 'message-queue']);
    parent = parentPid(result.stdout);
  });

  /** The jobs as the senders list them: `sent: urgent-1 (priority 9), ...`. */
  function sentJobs(): Map<string, number> {
    const jobs = new Map<string, number>();
    for (const line of result.stdout.matchAll(/ sent: (.*)$/gm)) {
      for (const job of line[1].matchAll(/([a-z]+-\d+) \((?:priority )?(\d+)\)/g)) {
        expect(jobs.has(job[1])).toBe(false);
        jobs.set(job[1], Number(job[2]));
      }
    }
    return jobs;
  }

  /** The workers as they introduce themselves: `worker 1: pid 123 (ppid 100)`. */
  function workers(): { pid: number; ppid: number }[] {
    return [...result.stdout.matchAll(/^ +worker \d+: pid (\d+) \(ppid (\d+)\)/gm)].map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]) }));
  }

  /** The takes, in printed order: `#1  urgent-1  priority 9  from pid 100  worker pid 123: ...`. */
  function takes(): { take: number; id: string; priority: number; from: number; worker: number; what: string }[] {
    return [...result.stdout.matchAll(/^ +#(\d+) +(\S+) +priority (\d+) +from pid (\d+) +worker pid (\d+): (.+)$/gm)].map((m) => ({
      take: Number(m[1]),
      id: m[2],
      priority: Number(m[3]),
      from: Number(m[4]),
      worker: Number(m[5]),
      what: m[6],
    }));
  }

  test('runs only this chapter and exits 0 without complaint', () => {
    expect(result).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(result.stdout).toMatch(/^Chapter 3: Message queues$/m);
    expect(result.stdout).not.toMatch(/^Chapter [12]:/m);
    expect(result.stdout).toMatch(/^End of the tour\.$/m);
  });

  test('shows worker processes whose ppid is the parent pid', () => {
    const list = workers();
    expect(list.length).toBeGreaterThanOrEqual(2);
    for (const worker of list) {
      expect(worker.pid).not.toBe(parent);
      expect(worker.ppid).toBe(parent);
    }
    expect(new Set(list.map((w) => w.pid)).size).toBe(list.length);
    const producer = new RegExp(String.raw`child pid (\d+) \(ppid ${parent}\) sent: .*; exited`).exec(result.stdout);
    expect(producer).not.toBeNull();
    expect(Number(producer![1])).not.toBe(parent);
  });

  test('prints the jobs in the order they left the queue: by priority, FIFO within one', () => {
    const list = takes();
    const sent = sentJobs();
    expect(sent.size).toBeGreaterThanOrEqual(3);
    expect(list).toHaveLength(sent.size + workers().length);
    expect(list.map((t) => t.take)).toEqual(list.map((_, i) => i + 1));
    for (const [i, t] of list.entries()) {
      if (t.id !== 'stop') expect(t.priority).toBe(sent.get(t.id));
      if (i === 0) continue;
      const before = list[i - 1];
      expect(t.priority).toBeLessThanOrEqual(before.priority);
      if (t.priority === before.priority && t.id !== 'stop') {
        // Ids are numbered per priority in the order they were sent.
        expect(Number(t.id.split('-')[1])).toBeGreaterThan(Number(before.id.split('-')[1]));
      }
    }
    // The senders' order was not already the priority order: the kernel sorted.
    const priorities = [...sent.values()];
    expect(priorities).not.toEqual([...priorities].sort((a, b) => b - a));
    expect(result.stdout).toContain('highest priority first: yes; first in, first out within a priority: yes');
  });

  test('has every job done exactly once, and one stop per worker', () => {
    const list = takes();
    const sent = sentJobs();
    const workerPids = workers().map((w) => w.pid);
    const jobs = list.filter((t) => t.id !== 'stop');
    expect(jobs.map((t) => t.id).sort()).toEqual([...sent.keys()].sort());
    for (const job of jobs) {
      expect(workerPids).toContain(job.worker);
      expect(job.what).toMatch(/^[\d,]+ primes below [\d,]+$/);
    }
    const stops = list.filter((t) => t.id === 'stop');
    expect(stops.map((t) => t.priority)).toEqual(workerPids.map(() => 0));
    expect(stops.map((t) => t.worker).sort()).toEqual([...workerPids].sort());
  });

  test('prints a measured round trip with a unit', () => {
    expect(result.stdout).toMatch(new RegExp(`message queues, sync: +median round trip ${duration}, p99 ${duration}`));
  });

  test('unlinks every queue it made', () => {
    const names = [...result.stdout.matchAll(/unlinked (\/posix-ipc-tour-mq-\d+\S*)/g)].map((m) => m[1]);
    expect(names).toContain(`/posix-ipc-tour-mq-${parent}`);
    for (const name of names) {
      let error: unknown;
      try {
        MessageQueue.open(name).close();
      } catch (err) {
        error = err;
      }
      expect(error).toMatchObject({ code: 'ENOENT', syscall: 'mq_open', path: name });
    }
  });
});

describe('posix-ipc tour, pipe chapter', () => {
  let result: RunResult;
  let parent: number;

  beforeAll(async () => {
    result = await run(process.execPath, [cli, 'tour', 'pipe']);
    parent = parentPid(result.stdout);
  });

  test('runs only this chapter and exits 0 without complaint', () => {
    expect(result).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(result.stdout).toMatch(/^Chapter 4: Pipes: a one-way channel between parent and child$/m);
    expect(result.stdout).not.toMatch(/^Chapter [123]:/m);
    expect(result.stdout).toMatch(/^End of the tour\.$/m);
  });

  test('shows child processes whose ppid is the parent pid', () => {
    const children = [...result.stdout.matchAll(/child pid (\d+) \(ppid (\d+)\)/g)].map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]) }));
    // The descriptor child, the pipe-throughput child and the process.send child.
    expect(children).toHaveLength(3);
    for (const child of children) {
      expect(child.pid).not.toBe(parent);
      expect(child.ppid).toBe(parent);
    }
    expect(new Set(children.map((c) => c.pid)).size).toBe(3);
  });

  test('the child got exactly stdio and the write end at 3: nothing else of the parent leaked', () => {
    const started = /^ +child pid (\d+) \(ppid \d+\) started with descriptors ([\d ]+) \(/m.exec(result.stdout);
    expect(started).not.toBeNull();
    expect(started![2]).toBe('0 1 2 3');
    // It said so itself, through the pipe, from the same pid, about the same pipe the parent holds.
    const pipeId = /^ +parent pid \d+ created a pipe, (pipe:\[\d+\]): read end fd \d+, write end fd \d+$/m.exec(result.stdout);
    expect(pipeId).not.toBeNull();
    expect(result.stdout).toContain(`parent read: "hello from pid ${started![1]} (ppid ${parent}), through my fd 3: ${pipeId![1]}, a write end"`);
    expect(result.stdout).toMatch(/^ +parent pid \d+ also holds anonymous shared memory: fd \d+ \(\/memfd:/m);
    expect(result.stdout).toContain('nothing else of the parent reached the child');
  });

  test('EOF waits for the last write end: none while the parent holds one, then at once', () => {
    expect(result.stdout).toMatch(/later, no EOF yet: the parent's write end, fd \d+, is still open$/m);
    expect(result.stdout).toMatch(new RegExp(`^ +parent closed fd \\d+: EOF ${duration} later`, 'm'));
  });

  test('shows backpressure: the pipe fills, write() returns false, every byte arrives', () => {
    const filled = /^ +nobody reads yet: write\(\) returned false after \d+ writes of [\d,]+ bytes \(([\d,]+) bytes\)$/m.exec(result.stdout);
    expect(filled).not.toBeNull();
    expect(result.stdout).toMatch(/^ +the pipe took [\d,]+ bytes/m);
    expect(result.stdout).toContain(`the reader got all ${filled![1]} bytes, then EOF`);
  });

  test('prints the measured throughput with a unit, next to process.send', () => {
    expect(result.stdout).toMatch(new RegExp(`^ +pipe: child pid \\d+ \\(ppid \\d+\\) wrote [\\d,]+ chunks, [\\d,]+ bytes: ${rate}$`, 'm'));
    expect(result.stdout).toMatch(new RegExp(`^ +process\\.send: child pid \\d+ \\(ppid \\d+\\) sent [\\d,]+ strings, .*: ${rate}$`, 'm'));
    expect(result.stdout).toMatch(/\d+(?:\.\d+)?x as many bytes per second as/);
  });
});

describe('posix-ipc tour, unix-socket chapter', () => {
  let result: RunResult;
  let parent: number;

  beforeAll(async () => {
    result = await run(process.execPath, [cli, 'tour', 'unix-socket']);
    parent = parentPid(result.stdout);
  });

  /** `process pid 123 (ppid 1, session 123) connected`: the visitor, as it describes itself. */
  function visitor(): { pid: number; ppid: number; sid: number } {
    const m = /^ +process pid (\d+) \(ppid (\d+), session (\d+)\) connected; its stdin, stdout and stderr: (.*)$/m.exec(result.stdout);
    expect(m).not.toBeNull();
    expect(m![4]).toBe('all /dev/null');
    return { pid: Number(m![1]), ppid: Number(m![2]), sid: Number(m![3]) };
  }

  function socketPath(): string {
    const m = /^ +parent pid \d+ listens on (\/\S+) \(seqpacket\)$/m.exec(result.stdout);
    expect(m).not.toBeNull();
    return m![1];
  }

  test('runs only this chapter and exits 0 without complaint', () => {
    expect(result).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(result.stdout).toMatch(/^Chapter 5: Unix sockets: passing a descriptor to an unrelated process$/m);
    expect(result.stdout).not.toMatch(/^Chapter [1234]:/m);
    expect(result.stdout).toMatch(/^End of the tour\.$/m);
  });

  test('listens on a 0600 socket in a 0700 directory of its own', () => {
    const file = socketPath();
    expect(path.basename(path.dirname(file))).toMatch(new RegExp(`^posix-ipc-tour-${parent}-`));
    expect(result.stdout).toMatch(/^ +the socket file is srw------- \(0600\), its directory drwx------ \(0700\): only .* may connect$/m);
  });

  test('the visitor is no child of the parent: another session, another parent, only /dev/null inherited', () => {
    const v = visitor();
    expect(v.pid).not.toBe(parent);
    expect(v.ppid).not.toBe(parent);
    expect(v.sid).toBe(v.pid);
    expect(result.stdout).not.toContain(`child pid ${v.pid}`);
  });

  test("the kernel's peerCredentials match what the visitor says, both ways", () => {
    const v = visitor();
    const says = /^ +it says: +"I am pid (\d+), uid (\d+)"$/m.exec(result.stdout);
    const kernel = /^ +the kernel says \(peerCredentials\): pid (\d+), uid (\d+), gid (\d+): it told the truth$/m.exec(result.stdout);
    expect(says).not.toBeNull();
    expect(kernel).not.toBeNull();
    expect([Number(says![1]), Number(kernel![1])]).toEqual([v.pid, v.pid]);
    expect([Number(says![2]), Number(kernel![2]), Number(kernel![3])])
      .toEqual([process.getuid!(), process.getuid!(), process.getgid!()]);
    expect(result.stdout).toContain(`it asked the kernel in turn who listens: pid ${parent}, uid ${process.getuid!()}, gid ${process.getgid!()}: the parent`);
  });

  test('the memfd arrives under another number, the visitor writes into it, the parent reads it', () => {
    const v = visitor();
    const sent = /^ +parent pid \d+ made 4096 bytes of anonymous memory, as its fd (\d+)\n +its fd \1 -> \/memfd:posix-ipc \(deleted\), inode (\d+)$/m.exec(result.stdout);
    expect(sent).not.toBeNull();
    const [fd, inode] = [sent![1], sent![2]];
    expect(result.stdout).toMatch(new RegExp(`^ +parent sent "[^"]+" with fds: \\[${fd}\\]$`, 'm'));
    const got = new RegExp(`^ +process pid ${v.pid} got "[^"]+" and, with it, the descriptor as its fd (\\d+)$`, 'm').exec(result.stdout);
    expect(got).not.toBeNull();
    const theirs = got![1];
    expect(result.stdout).toMatch(new RegExp(`^ +its fd ${theirs} -> /memfd:posix-ipc \\(deleted\\)$`, 'm'));
    const greeting = `hello from pid ${v.pid}, through my fd ${theirs}`;
    expect(result.stdout).toContain(`wrote "${greeting}"`);
    expect(result.stdout).toContain(`parent pid ${parent} reads its own mapping: "${greeting}"`);
    // Both tables, as /proc shows them: the same inode under each process's own number.
    expect(result.stdout).toMatch(new RegExp(`^ +/proc/${v.pid}/fd/${theirs} +-> /memfd:posix-ipc \\(deleted\\), inode ${inode}$`, 'm'));
    expect(result.stdout).toMatch(new RegExp(`^ +/proc/${parent}/fd/${fd} +-> /memfd:posix-ipc \\(deleted\\), inode ${inode} \\(the parent's\\)$`, 'm'));
    expect(result.stdout).toContain(`one memfd: descriptor ${fd} in one table, descriptor ${theirs} in the other`);
  });

  test('cleans up: the visitor exits when the parent hangs up, the socket file and directory are gone', () => {
    const v = visitor();
    expect(result.stdout).toMatch(new RegExp(`^ +parent hung up: process pid ${v.pid} saw the end of the stream and exited ${duration} later$`, 'm'));
    const file = socketPath();
    expect(result.stdout).toContain(`removed the socket file (${file} exists: no)`);
    expect(existsSync(file)).toBe(false);
    expect(existsSync(path.dirname(file))).toBe(false);
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${v.pid}/cmdline`, 'utf8');
    } catch {
      // Gone, as it should be.
    }
    expect(cmdline).not.toContain('unix-socket-child.js');
  });

  test('datagrams keep their boundaries, a stream does not', () => {
    expect(result.stdout).toMatch(/^ +dgram socketPair: +3 sends "one" "two" "three", 3 receives: "one" "two" "three"$/m);
    expect(result.stdout).toMatch(/^ +stream socketPair: +3 sends "one" "two" "three", 1 receive: "onetwothree"$/m);
  });

  test('measures a datagram round trip with a child, next to process.send', () => {
    const children = [...result.stdout.matchAll(/child pid (\d+) \(ppid (\d+)\)/g)].map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]) }));
    // The datagram echo child and the process.send child.
    expect(children).toHaveLength(2);
    for (const child of children) expect(child.ppid).toBe(parent);
    expect(result.stdout).toMatch(new RegExp(`^ +ping-pong over a datagram socketPair: parent pid ${parent} <-> child pid \\d+ \\(ppid ${parent}\\)$`, 'm'));
    expect(result.stdout).toMatch(new RegExp(`datagram socket, async: +median round trip ${duration}, p99 ${duration} \\([\\d,]+ round trips\\)`));
    expect(result.stdout).toMatch(new RegExp(`process\\.send, IPC channel: +median round trip ${duration}, p99 ${duration}`));
    expect(result.stdout).toMatch(/\d+(?:\.\d+)?x faster than (?:process\.send|a datagram round trip)|the measurement is unreliable: other processes used \d+%/);
  });
});

describe('posix-ipc tour, fifo chapter', () => {
  let result: RunResult;
  let parent: number;

  beforeAll(async () => {
    result = await run(process.execPath, [cli, 'tour', 'fifo']);
    parent = parentPid(result.stdout);
  });

  function tempDir(): string {
    const m = /^ +parent pid \d+ called mkfifo\('(\/\S+)\/jobs\.fifo'\)\n +ls -ln (\/\S+):$/m.exec(result.stdout);
    expect(m).not.toBeNull();
    expect(m![2]).toBe(m![1]);
    return m![1];
  }

  /** `client A: child pid 123 (ppid 100), reply FIFO posix-ipc-123-0.fifo: replies to 1 (served #4), ...`. */
  function clients(): {
    letter: string; pid: number; ppid: number; fifo: string; replies: { seq: number; served: number }[];
  }[] {
    return [...result.stdout.matchAll(/^ +client ([A-Z]): child pid (\d+) \(ppid (\d+)\), reply FIFO (\S+)\n +replies to (.+)$/gm)].map((m) => ({
      letter: m[1],
      pid: Number(m[2]),
      ppid: Number(m[3]),
      fifo: m[4],
      replies: [...m[5].matchAll(/(\d+) \(served #(\d+)\)/g)].map((r) => ({ seq: Number(r[1]), served: Number(r[2]) })),
    }));
  }

  test('runs only this chapter and exits 0 without complaint', () => {
    expect(result).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(result.stdout).toMatch(/^Chapter 6: FIFOs: a named pipe, one server and several clients$/m);
    expect(result.stdout).not.toMatch(/^Chapter [12345]:/m);
    expect(result.stdout).toMatch(/^End of the tour\.$/m);
  });

  test('makes the FIFO 0600 (type p) in a 0700 directory of its own', () => {
    expect(path.basename(tempDir())).toMatch(new RegExp(`^posix-ipc-tour-${parent}-`));
    expect(result.stdout).toMatch(/^ +prw------- 1 \d+ \d+ 0 jobs\.fifo \(0600\)$/m);
    expect(result.stdout).toMatch(/^ +drwx------ \d+ \d+ \d+ \d+ \. \(0700\)$/m);
    expect(result.stdout).toMatch(/^ +prw------- 1 \d+ \d+ 0 calc\.fifo \(0600\)$/m);
  });

  test('a shell child writes into the FIFO by its path, the parent reads it to EOF', () => {
    const shell = /^ +child pid (\d+) \(ppid (\d+)\), the shell, opened the FIFO/m.exec(result.stdout);
    expect(shell).not.toBeNull();
    expect(Number(shell![2])).toBe(parent);
    expect(result.stdout).toContain(`parent read: "hello from pid ${shell![1]} (ppid ${parent})"`);
    expect(result.stdout).toContain('parent read: "two lines, one open"');
    expect(result.stdout).toContain('jobs.fifo exists: no');
  });

  test('three client processes each get the replies to their own requests, through their own reply FIFO', () => {
    const list = clients();
    expect(list).toHaveLength(3);
    expect(new Set(list.map((c) => c.pid)).size).toBe(3);
    const served: number[] = [];
    for (const c of list) {
      expect(c.pid).not.toBe(parent);
      expect(c.ppid).toBe(parent);
      expect(c.fifo).toBe(`posix-ipc-${c.pid}-0.fifo`);
      expect(c.replies.map((r) => r.seq)).toEqual([1, 2, 3]);
      served.push(...c.replies.map((r) => r.served));
      expect(result.stdout).toMatch(new RegExp(`^ +prw------- 1 \\d+ \\d+ 0 ${c.fifo} \\(0600\\)$`, 'm'));
    }
    expect(served.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // The server's reading order, per client: each client's requests in the order it wrote them.
    const order = /^ +the server read them in this order: ((?:[A-Z]\d ?)+) \(/m.exec(result.stdout);
    expect(order).not.toBeNull();
    const takes = order![1].trim().split(' ');
    expect(takes).toHaveLength(9);
    for (const c of list) expect(takes.filter((t) => t[0] === c.letter)).toEqual([`${c.letter}1`, `${c.letter}2`, `${c.letter}3`]);
    expect(result.stdout).toContain('all in flight at once');
    expect(result.stdout).toMatch(/matched to its request: yes;\n +undeliverable or garbled lines: 0$/m);
  });

  test('cleans up: reply FIFOs, the request FIFO and the directory are gone', () => {
    const dir = tempDir();
    expect(result.stdout).toContain('removed its reply FIFO: none left');
    expect(result.stdout).toMatch(new RegExp(`^ +server\\.close\\(\\) ${duration}: calc\\.fifo exists: no; \\S+ now holds 0 files$`, 'm'));
    expect(result.stdout).toContain(`parent removed ${dir}: exists: no`);
    expect(existsSync(dir)).toBe(false);
    for (const c of clients()) expect(existsSync(path.join(dir, c.fifo))).toBe(false);
  });

  test('measures a request/reply round trip with a FifoServer child, next to process.send', () => {
    const children = [...result.stdout.matchAll(/child pid (\d+) \(ppid (\d+)\)/g)].map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]) }));
    // The shell, three clients, the FifoServer child and the process.send child.
    expect(children).toHaveLength(6);
    for (const child of children) expect(child.ppid).toBe(parent);
    expect(new Set(children.map((c) => c.pid)).size).toBe(6);
    expect(result.stdout).toMatch(new RegExp(`^ +FIFO request/reply: parent pid ${parent} \\(FifoClient\\) <-> child pid \\d+ \\(ppid ${parent}\\) \\(FifoServer\\)$`, 'm'));
    expect(result.stdout).toMatch(new RegExp(`FIFO request/reply, async: +median round trip ${duration}, p99 ${duration} \\([\\d,]+ round trips\\)`));
    expect(result.stdout).toMatch(new RegExp(`process\\.send, IPC channel: +median round trip ${duration}, p99 ${duration}`));
    expect(result.stdout).toMatch(/\d+(?:\.\d+)?x faster than (?:process\.send|a FIFO request\/reply)|the measurement is unreliable: other processes used \d+%/);
  });
});

describe('posix-ipc tour, deadlock chapter', () => {
  let result: RunResult;
  let parent: number;

  beforeAll(async () => {
    result = await run(process.execPath, [cli, 'tour', 'deadlock']);
    parent = parentPid(result.stdout);
  });

  test('runs only this chapter and exits 0 without complaint', () => {
    expect(result).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(result.stdout).toMatch(/^Chapter 7: Mutexes: a deadlock between two processes, and its fix$/m);
    expect(result.stdout).not.toMatch(/^Chapter [123456]:/m);
    expect(result.stdout).toMatch(/^End of the tour\.$/m);
  });

  test('two child processes lock A and B in opposite orders; the owner pids show the cycle', () => {
    const a = new RegExp(String.raw`^ +child pid (\d+) \(ppid ${parent}\) locked A, and now wants B$`, 'm').exec(result.stdout);
    const b = new RegExp(String.raw`^ +child pid (\d+) \(ppid ${parent}\) locked B, and now wants A$`, 'm').exec(result.stdout);
    expect(a).not.toBeNull();
    expect(b).not.toBeNull();
    const [holderA, holderB] = [a![1], b![1]];
    expect(holderA).not.toBe(holderB);
    expect(result.stdout).toContain(`parent pid ${parent} asks who holds what: A is held by pid ${holderA}, B by pid ${holderB}`);
    expect(result.stdout).toContain(`so pid ${holderA} waits for pid ${holderB}, which waits for pid ${holderA}: a cycle`);
  });

  test('posix-ipc locks, run while the children wait, draws the cycle between their pids', () => {
    const [holderA, holderB] = ['A, and now wants B', 'B, and now wants A'].map(
      (what) => new RegExp(String.raw`^ +child pid (\d+) \(ppid ${parent}\) locked ${what}$`, 'm').exec(result.stdout)![1],
    );
    // fact() wraps long lines, going on eight columns in: join them back.
    const text = result.stdout.replace(/\n {8}(?=\S)/g, ' ');
    const [nameA, nameB] = ['a', 'b'].map((x) => `/posix-ipc-tour-${parent}-${x}`);
    expect(text).toMatch(/^ {2}\$ posix-ipc locks$/m);
    expect(text).toMatch(new RegExp(`^ {4}pid ${holderA} \\(node deadlock-child\\.js [^)]*\\) holds mutex ${nameA}, waits for mutex ${nameB} \\(for [^)]+\\) held by pid ${holderB} `, 'm'));
    expect(text).toContain(`DEADLOCK: pid ${holderA} waits for mutex ${nameB} held by pid ${holderB}; pid ${holderB} waits for mutex ${nameA} held by pid ${holderA}`);
  });

  test('a timeout reveals the deadlock, and giving up breaks it', () => {
    const gaveUp = new RegExp(`^ +child pid (\\d+): lock\\(B, \\{ timeoutMs: 1000 \\}\\) gave up with ETIMEDOUT after ${duration}, and unlocked A$`, 'm').exec(result.stdout);
    expect(gaveUp).not.toBeNull();
    expect(result.stdout).toMatch(new RegExp(`^ +child pid \\d+: lock\\(A, \\{ timeoutMs: 3000 \\}\\) got A after ${duration}, when pid ${gaveUp![1]} let go$`, 'm'));
    expect(result.stdout).toContain('after both children exited: A is held by nobody, B by nobody');
  });

  test('with one lock order, two children each finish all their rounds', () => {
    const done = [...result.stdout.matchAll(new RegExp(`^ +child pid (\\d+) \\(ppid (\\d+)\\) took A then B 5 times; its longest wait was ${duration}$`, 'gm'))];
    expect(done).toHaveLength(2);
    for (const d of done) expect(Number(d[2])).toBe(parent);
    expect(result.stdout).toContain('both finished: with one agreed order there is no cycle, so no deadlock');
  });

  test('unlinks both mutexes', () => {
    expect(result.stdout).toContain('parent closed and unlinked both mutexes');
    expect(readdirSync('/dev/shm').filter((n) => n.startsWith(`posix-ipc-tour-${parent}-`))).toEqual([]);
  });
});

describe('posix-ipc tour, channel chapter', () => {
  let result: RunResult;
  let parent: number;

  beforeAll(async () => {
    result = await run(process.execPath, [cli, 'tour', 'channel']);
    parent = parentPid(result.stdout);
  });

  test('runs only this chapter and exits 0 without complaint', () => {
    expect(result).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(result.stdout).toMatch(/^Chapter 8: Channel: a ring of messages in shared memory$/m);
    expect(result.stdout).not.toMatch(/^Chapter [1234567]:/m);
  });

  test('ping-pongs with a child per mode, then prints one table against process.send', () => {
    for (const mode of ['sync', 'async']) {
      expect(result.stdout).toMatch(new RegExp(`^ +${mode} ping-pong over two Channels: parent pid ${parent} <-> child pid \\d+ \\(ppid ${parent}\\)$`, 'm'));
    }
    expect(result.stdout).toMatch(/^ +how +median +p99 +round trips +vs process\.send$/m);
    for (const how of [String.raw`Channel, sync \(spin, then futex\)`, String.raw`Channel, async \(event loop\)`]) {
      // On a machine busy with other work a slower Channel is no claim: 'unreliable', and a note says why.
      expect(result.stdout).toMatch(new RegExp(`^ +${how} +${duration} +${duration} +[\\d,]+ +(?:\\d+(?:\\.\\d)?x (?:faster|slower)|unreliable)$`, 'm'));
    }
    if (/ unreliable$/m.test(result.stdout)) expect(result.stdout).toMatch(/the measurement is unreliable: other processes used \d+%/);
    expect(result.stdout).toMatch(new RegExp(`^ +process\\.send \\(JSON over a socket\\) +${duration} +${duration} +[\\d,]+ +1x$`, 'm'));
  });
});

/** Whether process `pid` still runs: it exists, and is not a zombie (dead, waiting to be reaped). */
function running(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** Every pid the browser chapter printed: the browser, its renderers, the Python and Node children. */
function browserChapterPids(stdout: string): number[] {
  const pids = [...stdout.matchAll(/\b(?:child pid|pid|ppid) (\d+)/g)].map((m) => Number(m[1]));
  return [...new Set(pids)];
}

describe('posix-ipc tour, browser chapter', () => {
  let result: RunResult;
  let parent: number;
  let browser: number;
  /** The first three renderers, by tab. */
  let renderers: Map<number, number>;

  beforeAll(async () => {
    result = await run(process.execPath, [cli, 'tour', 'browser']);
    parent = parentPid(result.stdout);
    const started = /^ +the tour \(pid (\d+)\) started the browser: child pid (\d+) \(ppid (\d+)\)$/m.exec(result.stdout);
    expect(started).not.toBeNull();
    expect(Number(started![1])).toBe(parent);
    expect(Number(started![3])).toBe(parent);
    browser = Number(started![2]);
    renderers = new Map();
    for (const m of result.stdout.matchAll(/^ +renderer (\d) started for \S+: pid (\d+), ppid (\d+) \(the browser's pid\)$/gm)) {
      expect(Number(m[3])).toBe(browser);
      renderers.set(Number(m[1]), Number(m[2]));
    }
  });

  test('runs only this chapter and exits 0 without complaint', () => {
    expect(result).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(result.stdout).toMatch(/^Chapter 9: A browser: one process per tab, and a crash that ends only its own$/m);
    expect(result.stdout).not.toMatch(/^Chapter [1-8]:/m);
    expect(result.stdout).toMatch(/^End of the tour\.$/m);
    expect(result.stdout.split('\n').filter((line) => [...line].length > 100)).toEqual([]);
  });

  test('the browser, a child of the tour, starts three renderers whose ppid is its pid', () => {
    expect(browser).not.toBe(parent);
    expect([...renderers.keys()]).toEqual([1, 2, 3]);
    const pids = [...renderers.values()];
    expect(new Set([...pids, browser, parent]).size).toBe(5);
    // Each rendered its page, all three before the crash.
    const crash = result.stdout.indexOf('crashed on');
    for (const [tab, pid] of renderers) {
      const at = result.stdout.search(new RegExp(`^ +renderer ${tab} \\(pid ${pid}\\) rendered \\S+: \\d+ pixels painted$`, 'm'));
      expect(at).toBeGreaterThan(0);
      expect(at).toBeLessThan(crash);
    }
  });

  test('renderer 2 crashes with SIGSEGV; the browser and the other two run on and answer', () => {
    const crashed = new RegExp(`^ +renderer 2 \\(pid ${renderers.get(2)}\\) crashed on bug\\.example: killed by signal SIGSEGV, exit code null$`, 'm');
    expect(result.stdout).toMatch(crashed);
    expect(result.stdout).toContain(`the browser (pid ${browser}) runs on, and so do renderers 1 (pid ${renderers.get(1)}) and 3 (pid ${renderers.get(3)})`);
    const crash = result.stdout.search(crashed);
    for (const tab of [1, 3]) {
      const again = result.stdout.search(new RegExp(`^ +renderer ${tab} \\(pid ${renderers.get(tab)}, still there\\) rendered \\S+: \\d+ pixels painted$`, 'm'));
      expect(again).toBeGreaterThan(crash);
    }
  });

  test('the crashed renderer is replaced by a new pid, a child of the browser, which renders the page again', () => {
    const replaced = /^ +renderer 2 replaced: pid (\d+), ppid (\d+) \(the browser's pid\), in place of pid (\d+)$/m.exec(result.stdout);
    expect(replaced).not.toBeNull();
    const fresh = Number(replaced![1]);
    expect(Number(replaced![2])).toBe(browser);
    expect(Number(replaced![3])).toBe(renderers.get(2));
    expect([...renderers.values(), browser, parent]).not.toContain(fresh);
    expect(result.stdout).toMatch(new RegExp(`^ +renderer 2 \\(pid ${fresh}, the page reloaded\\) rendered mail\\.example: \\d+ pixels painted$`, 'm'));
    expect(result.stdout).toContain(`the browser closed its tabs: pids ${renderers.get(1)}, ${fresh} and ${renderers.get(3)} exited with code 0`);
    expect(result.stdout).toContain(`the browser (pid ${browser}) exited with code 0`);
  });

  test("shows the notes' Python example beside its Node form, and runs both", () => {
    expect(result.stdout).toContain("        p = Process(target=f, args=('bob',))");
    expect(result.stdout).toContain("    const p = new Process('browser-hello.js', { args: ['bob'] });");
    expect(result.stdout).toContain('    await p.join();');
    // python3 is on PATH here and in CI: it ran, and its child is its own.
    const python = /^ +python3 \(pid (\d+)\) ran it, and printed: hello bob - pid (\d+) ppid (\d+)$/m.exec(result.stdout);
    expect(python).not.toBeNull();
    expect(Number(python![3])).toBe(Number(python![1]));
    expect(Number(python![2])).not.toBe(Number(python![1]));
    const node = /^ +the tour \(pid (\d+)\) ran the Node form, which printed: hello bob - pid (\d+) ppid (\d+)$/m.exec(result.stdout);
    expect(node).not.toBeNull();
    expect(Number(node![1])).toBe(parent);
    expect(Number(node![3])).toBe(parent);
    expect(Number(node![2])).not.toBe(parent);
  });

  test('leaves no process behind, and nothing in /dev/shm or the temporary directory', () => {
    const pids = browserChapterPids(result.stdout).filter((pid) => pid !== parent && pid !== process.pid);
    // The browser, four renderers, python3 and its child, the Node form's child.
    expect(pids.length).toBeGreaterThanOrEqual(8);
    // Each was reaped by its own parent before that parent exited.
    expect(pids.filter((pid) => existsSync(`/proc/${pid}`))).toEqual([]);
    expect(leftBehind(parent)).toEqual([]);
  });

  test('where `ulimit -c` allows core files, the crash leaves none in the working directory', async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'pipc-tour-core-'));
    try {
      // As large a core as the hard limit allows, the way a developer's shell may have it.
      const script = `ulimit -c "$(ulimit -H -c)" && exec "${process.execPath}" "${cli}" tour browser`;
      const r = await run('sh', ['-c', script], { cwd });
      expect(r).toMatchObject({ code: 0, signal: null, stderr: '' });
      expect(r.stdout).toMatch(/crashed on bug\.example: killed by signal SIGSEGV/);
      expect(readdirSync(cwd)).toEqual([]);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  test('without python3 on PATH, says so and runs only the Node form', async () => {
    const r = await run(process.execPath, [cli, 'tour', 'browser'], { env: { ...process.env, PATH: '/nonexistent' } });
    expect(r).toMatchObject({ code: 0, signal: null, stderr: '' });
    const tour = parentPid(r.stdout);
    expect(r.stdout).toContain('python3 is not on PATH here, so only the Node form runs');
    expect(r.stdout).not.toMatch(/python3 \(pid/);
    expect(r.stdout).toMatch(new RegExp(`^ +the tour \\(pid ${tour}\\) ran the Node form, which printed: hello bob - pid \\d+ ppid ${tour}$`, 'm'));
    expect(leftBehind(tour)).toEqual([]);
  });

  test('interrupted with SIGINT while the renderers run: the browser and its renderers end, leaving nothing behind', async () => {
    const r = await runAndSignal(['tour', 'browser'], /^ +renderer 2 started for/m, 'SIGINT');
    expect(r.sent).toBe(true);
    const tour = parentPid(r.stdout);
    expect(r.code).toBe(130);
    expect(r.stderr).toBe('posix-ipc tour: interrupted (SIGINT) in chapter 9 (browser); removed what it had made.\n');
    expect(r.stdout).not.toMatch(stackFrame);
    const pids = browserChapterPids(r.stdout).filter((pid) => pid !== tour && pid !== process.pid);
    // The browser and the first two renderers at least.
    expect(pids.length).toBeGreaterThanOrEqual(3);
    // Renderers orphaned by the browser's death are reaped by init: dead, if maybe not yet reaped.
    expect(pids.filter(running)).toEqual([]);
    expect(leftBehind(tour)).toEqual([]);
  });
});

describe('posix-ipc tour, when a chapter meets a kernel limit', () => {
  test('RLIMIT_MSGQUEUE 0: one paragraph with the code, the call and the fix; the next chapter runs; exit 1', async () => {
    const r = await run('prlimit', ['--msgqueue=0', process.execPath, cli, 'tour', 'message-queue', 'pipe']);
    const parent = parentPid(r.stdout);
    expect(r.code).toBe(1);
    expect(`${r.stdout}\n${r.stderr}`).not.toMatch(stackFrame);
    const paragraph = /^Chapter 3 \(message-queue\) stopped: [^]*?\n\n/m.exec(r.stderr);
    expect(paragraph).not.toBeNull();
    expect(paragraph![0]).toContain('EMFILE');
    expect(paragraph![0]).toContain('mq_open');
    expect(paragraph![0]).toContain('RLIMIT_MSGQUEUE');
    expect(paragraph![0]).toContain('prlimit --msgqueue=');
    // The next chapter ran, whole.
    expect(r.stdout).toMatch(/^Chapter 4: Pipes: a one-way channel between parent and child$/m);
    expect(r.stdout).toMatch(new RegExp(`^ +pipe: child pid \\d+ \\(ppid ${parent}\\) wrote`, 'm'));
    expect(r.stdout).toMatch(/^End of the tour: 1 chapter failed \(message-queue\)\.$/m);
    expect(leftBehind(parent)).toEqual([]);
  });
});

describe('posix-ipc tour, interrupted with SIGINT', () => {
  test.each([
    // Waiting for the child that opens the named object: it is in /dev/shm.
    ['shared-memory', /created \/posix-ipc-tour-\d+, 4096 bytes/],
    // The process.send flood: its child's send() callbacks see the channel close.
    ['pipe', /^How fast\?$/m],
    // Three clients, each with a reply FIFO, and the request FIFO.
    ['fifo', /parent started 3 client processes/],
  ])('in the %s chapter: the tour and its children end quietly, leaving nothing behind', async (chapter, when) => {
    const r = await runAndSignal(['tour', chapter], when, 'SIGINT');
    expect(r.sent).toBe(true);
    const parent = parentPid(r.stdout);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/^posix-ipc tour: interrupted \(SIGINT\) in chapter \d+ \([a-z-]+\); removed what it had made\.\n$/);
    expect(r.stdout).not.toMatch(stackFrame);
    expect(r.stdout).not.toMatch(/^End of the tour/m);
    expect(leftBehind(parent)).toEqual([]);
  });
});

describe('posix-ipc tour, channel chapter on a busy CPU', () => {
  test('another process spinning on the same CPU: claims no slowdown; a comparison the hog turned around is called unreliable', async () => {
    // A busy process pinned to CPU 0, and the tour pinned there too.
    const hog = spawn('taskset', ['-c', '0', process.execPath, '-e', 'for (;;);'], { stdio: 'ignore' });
    try {
      await until(() => {
        try {
          return readFileSync(`/proc/${hog.pid}/cmdline`, 'utf8').startsWith(process.execPath);
        } catch {
          return false;
        }
      });
      const r = await run('taskset', ['-c', '0', process.execPath, cli, 'tour', 'channel']);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(r.stdout).toMatch(/^Chapter 8: Channel/m);
      expect(r.stdout).not.toMatch(/x slower/);
      // Whether the hog turns a comparison around depends on who gets the CPU (under the ASan
      // build, Channel stayed ahead): every row is either a true "faster" or said to be unreliable.
      const rows = r.stdout.split('\n').filter((line) => /^\s+Channel, (sync|async)/.test(line));
      expect(rows).toHaveLength(2);
      for (const row of rows) expect(row).toMatch(/x faster|unreliable/);
      if (/unreliable/.test(r.stdout)) {
        expect(r.stdout).toMatch(/measurement is unreliable/);
        expect(r.stdout).toMatch(/other processes used \d+% of the 1 CPU this tour may run on/);
      }
    } finally {
      hog.kill('SIGKILL');
    }
  });
});

describe('posix-ipc command line', () => {
  test('runs a single chapter', async () => {
    const { code, stdout, stderr } = await run(process.execPath, [cli, 'tour', 'processes']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toMatch(/^Chapter 1: Processes and threads$/m);
    expect(stdout).not.toMatch(/^Chapter 2/m);
  });

  test('runs several chapters, in tour order', async () => {
    const { code, stdout, stderr } = await run(process.execPath, [cli, 'tour', 'deadlock', 'processes']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout.indexOf('Chapter 1: ')).toBeGreaterThan(0);
    expect(stdout.indexOf('Chapter 7: ')).toBeGreaterThan(stdout.indexOf('Chapter 1: '));
  });

  test('--version prints the version of package.json', async () => {
    const { version } = JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-v']) {
      const r = await run(process.execPath, [cli, flag]);
      expect(r).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });

  test.each([[['tour', '--help']], [['tour', '-h']], [['help', 'tour']]])("prints the tour's usage for %j", async (args) => {
    const { code, stdout, stderr } = await run(process.execPath, [cli, ...args]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toMatch(/^Usage: posix-ipc tour \[options\] \[chapter\.\.\.\]/);
    expect(stdout).toContain('--no-pause');
    expect(stdout).toContain('message-queue');
  });

  test('pauses between chapters on a terminal, until Enter; --no-pause does not', async () => {
    // script(1) gives the tour a pseudo-terminal as stdin and stdout.
    const tty = (args: string) => new Promise<string>((resolve, reject) => {
      const child = spawn('script', ['-qefc', `${process.execPath} ${cli} tour ${args}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      let answered = 0;
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const prompts = out.split('Press Enter').length - 1;
        if (prompts > answered) {
          answered = prompts;
          child.stdin.write('\n');
        }
      });
      child.on('error', reject);
      child.on('close', () => {
        child.stdin.destroy();
        resolve(out);
      });
    });
    const paused = await tty('processes deadlock');
    expect(paused).toMatch(/Press Enter for chapter 7 \(deadlock\), Ctrl-C to stop/);
    expect(paused.indexOf('Press Enter')).toBeLessThan(paused.indexOf('Chapter 7: '));
    expect(paused).toMatch(/End of the tour\./);
    const straight = await tty('--no-pause processes deadlock');
    expect(straight).not.toMatch(/Press Enter/);
    expect(straight).toMatch(/End of the tour\./);
  });

  test.each([[[]], [['--help']], [['help']]])('prints usage for %j', async (args) => {
    const { code, stdout, stderr } = await run(process.execPath, [cli, ...args]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toMatch(/^Usage: posix-ipc <command>/);
    expect(stdout).toContain('processes, shared-memory, message-queue');
  });

  test.each([
    [['bogus'], "unknown command 'bogus'"],
    [['tour', 'bogus'], "unknown chapter 'bogus'"],
    [['tour', '--bogus'], "unknown option '--bogus'"],
    [['--version', 'tour'], "unexpected argument 'tour'"],
  ])('exits 2 with usage on stderr for %j', async (args, message) => {
    const { code, stdout, stderr } = await run(process.execPath, [cli, ...args]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(message);
    expect(stderr).toMatch(/^Usage: posix-ipc (<command>|tour \[options\])/m);
  });
});
