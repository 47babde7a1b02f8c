/**
 * Shared test helpers: unique object names, descriptor and /dev/shm snapshots,
 * and running real child processes.
 */
import { spawn, type SpawnOptions } from 'node:child_process';
import { readdirSync } from 'node:fs';
import * as path from 'node:path';

let counter = 0;

/** A name no other jest worker uses: `/pipc-<pid>-<n>`. */
export function uniqueName(): string {
  return `/pipc-${process.pid}-${counter++}`;
}

/** The descriptors this process has open, from /proc/self/fd. */
export function openFds(): string[] {
  return readdirSync('/proc/self/fd').sort();
}

/** Entries in /dev/shm that this jest worker made and did not remove. */
export function leftoverObjects(): string[] {
  return readdirSync('/dev/shm').filter((n) => n.startsWith(`pipc-${process.pid}-`));
}

/** The addon file the suite runs against (the sanitizer build under test:asan). */
export function addonPath(): string {
  return process.env.POSIX_IPC_ADDON ?? path.join(__dirname, '..', 'build', 'Release', 'posix_ipc.node');
}

/** Path of a child-process script in test/fixtures. */
export function fixture(name: string): string {
  return path.join(__dirname, 'fixtures', name);
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a real process to completion and collects its output. */
export function run(command: string, args: string[], options: SpawnOptions & { input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...options });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    child.stdin?.end(options.input ?? '');
  });
}

/** Runs a Node fixture script with the current Node binary. */
export function runNode(script: string, args: string[] = [], options: SpawnOptions & { input?: string } = {}): Promise<RunResult> {
  return run(process.execPath, [fixture(script), ...args], options);
}
