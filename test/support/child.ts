/**
 * Node scripts run in child processes by the tests that check how a process ends (it exits by
 * itself, with which code, after printing what): one runner, so that each such test says only
 * what it runs and what it expects.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository's root, where the scripts run unless told otherwise. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Outcome {
  readonly code: number | null;
  /** The signal that ended it: `SIGKILL` when it hung past the time it had. */
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** `Date.now()` when it exited (before its pipes were drained). */
  readonly exitedAt: number;
}

export interface RunOptions {
  /** Killed (SIGKILL) if it has not exited by then: a hang fails the test, never stalls it. */
  readonly killAfterMs: number;
  /** Where it runs (default: the repository's root). */
  readonly cwd?: string;
  /** Its environment (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
}

/** A node process running `args` (a script and its arguments, after node's own options). */
export interface NodeProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** Everything it wrote so far. */
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves once it has exited and its output is all read. */
  readonly outcome: Promise<Outcome>;
}

/**
 * Starts `node ...args`, collecting its output; killed with SIGKILL after `killAfterMs`. The
 * caller stops it by its pid (`child.kill`) in an `after` hook if the test may leave it running.
 */
export function startNode(args: readonly string[], options: RunOptions): NodeProcess {
  const child = spawn(process.execPath, args, {
    cwd: options.cwd ?? ROOT,
    env: options.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const output = collectOutput(child);
  const killer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
  const outcome = new Promise<Outcome>((resolve, reject) => {
    child.on('error', (error) => {
      clearTimeout(killer);
      reject(error);
    });
    child.on('exit', (code, signal) => {
      const exitedAt = Date.now();
      clearTimeout(killer);
      // 'exit' may come before the pipes are drained; 'close' follows once they are.
      child.on('close', () =>
        resolve({ code, signal, stdout: output.stdout(), stderr: output.stderr(), exitedAt }),
      );
    });
  });
  return { child, stdout: output.stdout, stderr: output.stderr, outcome };
}

/** Runs `node ...args` to its end, with no input; killed with SIGKILL after `killAfterMs`. */
export function runNode(args: readonly string[], options: RunOptions): Promise<Outcome> {
  const started = startNode(args, options);
  started.child.stdin.end();
  return started.outcome;
}

/** What a child process writes to its stdout and stderr, as text so far. */
export function collectOutput(child: {
  stdout: NodeJS.ReadableStream | null;
  stderr: NodeJS.ReadableStream | null;
}): { stdout: () => string; stderr: () => string } {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return { stdout: () => stdout, stderr: () => stderr };
}
