'use strict';
// A "renderer" of the browser chapter, started by the browser
// (browser-process.js) with new Process(): it says who it is, then renders
// every page it is sent, until the browser hangs up. A page with a bug in it
// crashes it with SIGSEGV, as a bad pointer in a real renderer would.

const { Process } = require('../../dist');
const { runChild } = require('./util');

/** A stand-in for layout and paint: some work whose result depends on the page. */
function render(page) {
  let hash = 0;
  for (let i = 0; i < 200000; i++) hash = (hash * 31 + page.charCodeAt(i % page.length)) >>> 0;
  return `${page.length * 1000 + (hash % 1000)} pixels painted`;
}

function main() {
  const link = Process.parent?.channel;
  if (!link) {
    console.error('This is a renderer of the tour; run `posix-ipc tour browser` instead.');
    process.exitCode = 2;
    return;
  }
  link.send({ pid: process.pid, ppid: process.ppid });
  link.on('message', ({ page }) => {
    // The kernel ends a process that touches memory it does not own with
    // SIGSEGV. JavaScript cannot do that (V8 checks every access), so this
    // renderer sends itself the very signal, whose default action is the same:
    // the process ends at once, nothing of it runs any more.
    if (page.includes('bug')) {
      process.kill(process.pid, 'SIGSEGV');
      return;
    }
    link.send({ page, pid: process.pid, result: render(page) });
  });
  // When the browser closes its end, nothing keeps this process alive: it exits, code 0.
}

runChild(module, main);
