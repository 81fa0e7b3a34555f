/**
 * Ties a process that a test starts (redis-server, rxpool worker) to the life of the test
 * process, whichever way that ends. A `process.on('exit')` handler does not run when the test
 * process is ended by a signal (node --test's SIGTERM on a file's timeout, Ctrl-C) or SIGKILL;
 * the kernel closes its pipes in every case. So each such process gets a watchdog: a small shell
 * in a process group of its own (a signal to the test's group does not reach it), reading a pipe
 * whose other end only the test process holds; when that end closes, the read ends and the shell
 * kills the process by its pid. On a normal exit the process is killed at once, by the one
 * `process.on('exit')` listener of this module (one listener for all of them: a listener per
 * process made a file that starts more than ten of them warn of a listener leak).
 * {@link Reaper.release} stops both once the process has exited by itself or been stopped, before
 * its pid could be given to another process.
 */
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';

export interface Reaper {
  /** Stops the watchdog (call it once the process has exited). */
  release(): void;
}

/** The pids to kill when this process exits normally: those not released yet. */
const live = new Set<number>();

function killLive(): void {
  for (const pid of live) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
}

/** Starts a watchdog that SIGKILLs `pid` when this process ends, however it ends. */
export function reapWith(pid: number): Reaper {
  if (live.size === 0) process.on('exit', killLive);
  live.add(pid);
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
      if (live.delete(pid) && live.size === 0) process.removeListener('exit', killLive);
      if (watchdog.exitCode === null && watchdog.signalCode === null) watchdog.kill('SIGKILL');
    },
  };
}
