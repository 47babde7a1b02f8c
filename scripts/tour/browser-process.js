'use strict';
// The "browser" of the browser chapter, started by the tour with new
// Process(): it starts one renderer process per tab (browser-renderer.js),
// has each render its page, sends one tab a page that crashes its renderer,
// asks the others again, and replaces the crashed renderer with a new one.
// It tells the tour what happens, as it happens, over Process.parent.channel.

const { spawnSync } = require('node:child_process');
const { once } = require('node:events');
const path = require('node:path');
const { Process } = require('../../dist');
const { runChild } = require('./util');

const RENDERER = path.join(__dirname, 'browser-renderer.js');
const PAGES = ['news.example', 'mail.example', 'maps.example'];
// The page of tab CRASHING that makes its renderer crash.
const CRASHING = 2;
const BUGGY_PAGE = 'bug.example';

/**
 * Starts the renderer of tab `n`: a process of its own, dying with this one
 * (dieWithParent) should the browser die first. Resolves once it said hello.
 */
async function openTab(n, page) {
  const renderer = new Process(RENDERER, { dieWithParent: true }).start();
  // A renderer that crashes is an 'error' of its link too; its exit says more.
  renderer.channel.on('error', () => undefined);
  const tab = { n, page, renderer, exit: renderer.join() };
  tab.hello = await reply(tab);
  return tab;
}

/** The next message from the tab's renderer; rejects if it ends first. */
async function reply(tab) {
  const ended = tab.exit.then(({ exitCode, signal }) => {
    throw new Error(`renderer ${tab.n} (pid ${tab.renderer.pid}) ended: ${signal ?? `exit code ${exitCode}`}`);
  });
  const [message] = await Promise.race([once(tab.renderer.channel, 'message'), ended]);
  return message;
}

/** Has the tab's renderer render `page`; resolves with its answer. */
async function render(tab, page) {
  await tab.renderer.channel.send({ page });
  return reply(tab);
}

async function main() {
  const tour = Process.parent?.channel;
  if (!tour) {
    console.error('This is the browser of the tour; run `posix-ipc tour browser` instead.');
    process.exitCode = 2;
    return;
  }
  // Where `ulimit -c` allows it, a crash leaves a core file (`core`, in the
  // working directory, by default): the renderers inherit this process's
  // limits, so a core size of 0 here makes their crash leave nothing behind.
  spawnSync('prlimit', [`--pid=${process.pid}`, '--core=0:0'], { stdio: 'ignore' });
  const tell = (event) => tour.send(event);
  await tell({ what: 'browser', pid: process.pid, ppid: process.ppid });

  const tabs = [];
  for (const [i, page] of PAGES.entries()) {
    const tab = await openTab(i + 1, page);
    tabs.push(tab);
    await tell({ what: 'renderer', tab: tab.n, page, pid: tab.hello.pid, ppid: tab.hello.ppid, known: tab.renderer.pid });
  }
  // Every tab renders its page, all at the same time, each in its own process.
  const answers = await Promise.all(tabs.map((tab) => render(tab, tab.page)));
  for (const [i, answer] of answers.entries()) await tell({ what: 'rendered', tab: i + 1, ...answer });

  // One tab opens a page that crashes its renderer.
  const crashing = tabs[CRASHING - 1];
  await crashing.renderer.channel.send({ page: BUGGY_PAGE });
  const { exitCode, signal } = await crashing.exit;
  const others = tabs.filter((tab) => tab !== crashing);
  await tell({
    what: 'crashed', tab: crashing.n, page: BUGGY_PAGE, pid: crashing.renderer.pid, exitCode, signal,
    others: others.map((tab) => ({ tab: tab.n, pid: tab.renderer.pid, alive: tab.renderer.alive })),
  });

  // The other tabs go on as if nothing happened.
  for (const tab of others) await tell({ what: 'rendered', tab: tab.n, again: true, ...(await render(tab, tab.page)) });

  // The crashed tab gets a new renderer, and reloads its page.
  const fresh = await openTab(crashing.n, crashing.page);
  tabs[CRASHING - 1] = fresh;
  await tell({ what: 'replaced', tab: fresh.n, pid: fresh.hello.pid, ppid: fresh.hello.ppid, old: crashing.renderer.pid });
  await tell({ what: 'rendered', tab: fresh.n, reloaded: true, ...(await render(fresh, fresh.page)) });

  // Closing the browser: each renderer's link closes, and each renderer exits.
  for (const tab of tabs) tab.renderer.channel.close();
  const exits = await Promise.all(tabs.map((tab) => tab.exit));
  await tell({ what: 'closed', renderers: tabs.map((tab, i) => ({ pid: tab.renderer.pid, ...exits[i] })) });
}

runChild(module, main);
