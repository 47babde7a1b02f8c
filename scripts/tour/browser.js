'use strict';
// Chapter 9: why a browser is made of processes. A "browser" process starts
// three "renderer" processes, one crashes with SIGSEGV, the others keep
// answering, and the crashed one is replaced; then the notes' Python
// multiprocessing example, run live beside its Node form.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Process } = require('../../dist');
const { explain, fact, heading, print, exited, withCleanup } = require('./util');

const BROWSER = path.join(__dirname, 'browser-process.js');
const HELLO = path.join(__dirname, 'browser-hello.js');

// The notes' example, with the pids printed, as the tour runs it.
const PYTHON = `import os
from multiprocessing import Process

def f(name):
    print('hello', name, '- pid', os.getpid(), 'ppid', os.getppid())

if __name__ == '__main__':
    p = Process(target=f, args=('bob',))
    p.start()
    p.join()
`;

// Its Node form: the module browser-hello.js is what runs in the child.
const NODE = `import { Process } from 'posix-ipc';

// browser-hello.js, the module the child runs:
// console.log('hello', process.argv[2], '- pid', process.pid, 'ppid', process.ppid);

const p = new Process('browser-hello.js', { args: ['bob'] });
p.start();
await p.join();
`;

const list = (numbers) => numbers.join(', ').replace(/, ([^,]*)$/, ' and $1');

/** Prints one event the browser told, as it arrives, with what it shows. */
function show(event, browser, state) {
  const parentIs = (ppid) => (ppid === browser.pid ? "the browser's pid" : `not the browser's pid ${browser.pid}!`);
  switch (event.what) {
    case 'browser':
      fact(`the tour (pid ${process.pid}) started the browser: child pid ${event.pid} (ppid ${event.ppid})`);
      break;
    case 'renderer':
      fact(`renderer ${event.tab} started for ${event.page}: pid ${event.pid}, ppid ${event.ppid} (${parentIs(event.ppid)})`);
      state.renderers.push(event.pid);
      if (state.renderers.length === 3) {
        console.log();
        explain(`Each new Process is fork + exec: the kernel copies the browser (fork), and the copy
          at once replaces its program with a fresh Node.js running browser-renderer.js (exec).
          Each renderer reports its own pid, and its ppid: ${browser.pid}, the browser, which is
          itself a child of the tour (pid ${process.pid}). The kernel keeps this tree of who
          started whom; \`pstree -p ${process.pid}\` would draw it. Now each tab renders its page,
          all three at the same time, on as many CPUs as the machine has:`);
      }
      break;
    case 'rendered': {
      const how = event.again ? ', still there' : event.reloaded ? ', the page reloaded' : '';
      fact(`renderer ${event.tab} (pid ${event.pid}${how}) rendered ${event.page}: ${event.result}`);
      break;
    }
    case 'crashed': {
      console.log();
      fact(`renderer ${event.tab} (pid ${event.pid}) crashed on ${event.page}: killed by signal ${event.signal},` +
        ` exit code ${event.exitCode}`);
      const alive = event.others.filter((o) => o.alive);
      fact(`the browser (pid ${browser.pid}) runs on, and so do renderers ${list(alive.map((o) => `${o.tab} (pid ${o.pid})`))}`);
      console.log();
      explain(`SIGSEGV, a segmentation fault, is what the kernel sends a process that touches memory
        it has no right to: the classic crash of a C++ renderer with a bad pointer. (This one sent
        it to itself, since V8 lets no JavaScript make a bad pointer; the signal and its default
        action are the same: the process ends at once, and a shell would report exit status 139
        = 128 + 11, the signal's number.) The browser learned it as any parent does, from the
        exit status: \`{ exitCode: ${event.exitCode}, signal: '${event.signal}' }\`. Nothing of the
        browser was touched, nor of the other renderers: each process has an address space of its
        own, so a crash ends only its owner. Chrome would show "Aw, Snap!" in that one tab. The
        other tabs answer as before, from the same pids:`);
      break;
    }
    case 'replaced':
      console.log();
      fact(`renderer ${event.tab} replaced: pid ${event.pid}, ppid ${event.ppid} (${parentIs(event.ppid)}),` +
        ` in place of pid ${event.old}`);
      break;
    case 'closed':
      console.log();
      fact(`the browser closed its tabs: pids ${list(event.renderers.map((r) => r.pid))} exited` +
        (event.renderers.every((r) => r.exitCode === 0) ? ' with code 0' : ''));
      break;
    default:
      throw new Error(`the browser told something unknown: ${JSON.stringify(event)}`);
  }
}

/** Runs the browser: its events printed live; resolves once it exited with code 0. */
async function runBrowser() {
  // dieWithParent: should the tour be killed, the browser goes too, and with it its renderers.
  const browser = new Process(BROWSER, { dieWithParent: true }).start();
  const exit = exited(browser);
  browser.channel.on('error', () => undefined);
  const state = { renderers: [] };
  try {
    for await (const event of browser.channel) show(event, browser, state);
  } catch (err) {
    await exit; // A browser that died says more than its link.
    throw err;
  }
  await exit;
  fact(`the browser (pid ${browser.pid}) exited with code ${browser.exitCode}`);
  console.log();
}

/** Runs `argv` with its output caught: { pid, out }, or null when the program is not on PATH. */
async function output(argv) {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d) => (out += d));
  try {
    await exited(child);
  } catch (err) {
    if (err.code === 'ENOENT') return null;
    throw err;
  }
  return { pid: child.pid, out: out.trim() };
}

/** Prints `code`, indented, under `title`. */
function listing(title, code) {
  print(`  ${title}`);
  for (const line of code.trimEnd().split('\n')) print(line ? `    ${line}` : '');
  console.log();
}

async function runPythonAndNode() {
  heading("The notes' Python example, and its Node form", '-');
  explain(`Python's multiprocessing.Process runs a function in a process of its own: start() starts
    it, join() waits for it to end. On Linux, Python forks: the child is a copy of the parent, f
    included, so it can call f at once (Python 3.14 forks a small server process instead, once,
    and has it fork the children). Node.js cannot fork itself while it runs (V8's threads
    would not come along), so a Process starts a fresh Node.js (fork + exec) that runs a module:
    in Node, what runs in the child is a file, not a function, and its arguments travel as
    strings, in process.argv (other values go through p.channel).`);
  listing('Python (multiprocessing):', PYTHON);
  listing('Node.js (posix-ipc), an ES module:', NODE);

  const script = path.join(os.tmpdir(), `posix-ipc-tour-${process.pid}-hello.py`);
  await withCleanup(async () => {
    fs.writeFileSync(script, PYTHON);
    const python = await output(['python3', script]);
    if (python === null) fact('python3 is not on PATH here, so only the Node form runs');
    else fact(`python3 (pid ${python.pid}) ran it, and printed: ${python.out}`);
  }, () => fs.rmSync(script, { force: true }));

  const p = new Process(HELLO, { args: ['bob'], stdio: ['ignore', 'pipe', 'inherit'] });
  p.start();
  let out = '';
  p.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  await exited(p);
  await new Promise((resolve) => (p.stdout.readableEnded ? resolve() : p.stdout.once('end', resolve)));
  fact(`the tour (pid ${process.pid}) ran the Node form, which printed: ${out.trim()}`);
  console.log();
  explain(`Both children print a pid of their own, and as their ppid the pid of the process that
    started them. Threads or processes? Threads start faster and share memory for free, but
    one crash, one runaway loop or one out-of-memory ends all of them, and a native library
    that is not thread-safe breaks. Processes cost more to start (chapter 1 measured it) and
    each holds its own memory, tens of megabytes for a Node.js, but they end alone, can be
    killed alone, and can be given a memory limit each. That is what browsers buy with their
    memory. A Pool from this package does what this browser did by hand: it keeps worker
    processes, and replaces one that dies.`);
}

async function run() {
  explain(`A web browser is the best-known program made of processes. Chrome and Firefox draw each
    tab's page in a "renderer" process of its own, started by the main "browser" process. A
    renderer runs millions of lines of C++ on pages from anywhere: sooner or later one crashes.
    A crash in a thread ends its whole process, every tab with it; a crash in a process ends
    only that process, because the kernel gives each process its own memory. (It is also a
    wall against attacks: a page that takes over its renderer still cannot read the other
    tabs.) Here the tour starts a browser, a Process of this package, and the browser starts
    three renderers, one per tab, with new Process() too.`);
  await runBrowser();
  await runPythonAndNode();
}

module.exports = { run };
