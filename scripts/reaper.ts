/**
 * Ties a process that a test starts (redis-server, rxpool worker) to the life of the test
 * process, whichever way that ends. A `process.on('exit')` handler does not run when the test
 * process is ended by a signal (node --test's SIGTERM on a file's timeout, Ctrl-C) or SIGKILL;
 * the kernel closes its pipes in every case. So each such process gets a watchdog: a small shell
 * in a process group of its own (a signal to the test's group does not reach it), reading a pipe
 * whose other end only the test process holds; when that end closes, the read ends and the shell
 * kills the process by its pid. {@link Reaper.release} stops the watchdog once the process has
 * exited by itself or been stopped, before its pid could be given to another process.
 */
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';

export interface Reaper {
  /** Stops the watchdog (call it once the process has exited). */
  release(): void;
}

/** Starts a watchdog that SIGKILLs `pid` when this process ends, however it ends. */
export function reapWith(pid: number): Reaper {
  const watchdog = spawn(
    '/bin/sh',
    ['-c', 'read _; kill -KILL "$1" 2>/dev/null', 'reaper', String(pid)],
    {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    },
  );
  watchdog.on('error', () => {});
  watchdog.stdin!.on('error', () => {});
  // Neither the watchdog nor its pipe keeps the test process alive.
  watchdog.unref();
  // A pipe's write end is a net.Socket, which has `unref` (typed as a plain Writable).
  (watchdog.stdin as unknown as Socket).unref();
  return {
    release() {
      if (watchdog.exitCode === null && watchdog.signalCode === null) watchdog.kill('SIGKILL');
    },
  };
}
