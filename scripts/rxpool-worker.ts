/**
 * `rxpool worker` processes on this machine, for the BullMQ tests, the `remote` bench case and the
 * cluster example: spawned from the built CLI (`dist/src/cli/main.js`; build first) in a folder
 * whose modules they serve, and stopped by their pid.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { reapWith } from './reaper.js';

export const CLI = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const SAFETY_MS = 300_000;

export interface WorkerProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** Everything it wrote on stderr so far. */
  readonly stderr: () => string;
  /** Resolves with its exit code (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  /** SIGKILL, and wait until it is gone. */
  kill(): Promise<void>;
}

export interface WorkerSpec {
  /** Its `--redis` URL. */
  readonly redis: string;
  /** Its `--queue`. */
  readonly queue: string;
  /** The modules it serves, as given on its command line (relative to `cwd`). */
  readonly modules: readonly string[];
  /** Where it runs (the modules are read from there). */
  readonly cwd: string;
  /** Its `--threads` (default 2). */
  readonly threads?: number;
  /** More options, before the modules (`--allow-inline`). */
  readonly extra?: readonly string[];
  /** Its environment (default: this process's), e.g. with `NODE_EXTRA_CA_CERTS`. */
  readonly env?: NodeJS.ProcessEnv;
}

/** Spawns `rxpool worker` and waits until it says it is ready. */
export async function startWorker(spec: WorkerSpec): Promise<WorkerProcess> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build`);
  const child = spawn(
    process.execPath,
    [
      CLI,
      'worker',
      '--redis',
      spec.redis,
      '--queue',
      spec.queue,
      '--threads',
      String(spec.threads ?? 2),
      ...(spec.extra ?? []),
      ...spec.modules,
    ],
    { cwd: spec.cwd, env: spec.env ?? process.env },
  );
  const timer = setTimeout(() => child.kill('SIGKILL'), SAFETY_MS);
  timer.unref();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  child.stdout.resume();
  // A process that ends without killing it (an uncaught failure, a signal, SIGKILL) takes it
  // along, as with redis-server (scripts/redis-server.ts); by its pid.
  const reaper = reapWith(child.pid!);
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      reaper.release();
      resolve(code);
    }),
  );
  const deadline = Date.now() + 20_000;
  while (!stderr.includes('ready:') && child.exitCode === null) {
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`rxpool worker did not get ready:\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (!/ready: queue/.test(stderr)) throw new Error(`rxpool worker did not start:\n${stderr}`);
  return {
    child,
    stderr: () => stderr,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
