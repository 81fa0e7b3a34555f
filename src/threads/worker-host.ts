/**
 * The one main-side door to tinypool: the only main-side file that imports it or knows its
 * internals (the worker side's is src/worker/host.ts). Tinypool starts, replaces and stops the
 * workers; {@link WorkerHost} adds what tinypool does not do, each workaround naming the upstream
 * behaviour it works around, each with a test in test/integration/tinypool-door.test.ts that fails
 * if an upgrade of tinypool breaks it:
 *
 * 1. A thread worker that calls `process.exit` is never noticed by tinypool 2.2.0 (its task would
 *    hang): every thread worker's `exit` is watched here (through the worker record's `thread`),
 *    and a silent exit becomes an `error` event on the record, which tinypool handles by failing
 *    the worker's task and replacing the worker, before the executor hears of the exit (else a
 *    hello it sends then could go to the dead worker). Its own `terminate` (wrapped) is told apart.
 * 2. Tinypool has no public way to stop one worker: `stop` emits `error` on the worker record
 *    (the same handling: its task fails with the reason, and it is replaced).
 * 3. Tinypool can hand a task to a worker it is already terminating (a late reply marks the dying
 *    worker available again); the task then fails with the text 'Terminating worker thread'
 *    (`isTerminationError`), and never ran.
 * 4. Tinypool's `ProcessWorker` takes each task from a port in this process and passes it to its
 *    child with `process.send`, in the port's 'message' listener: a message that the child's
 *    serialization refuses (a `SharedArrayBuffer`, which the port cloned) throws there, uncaught,
 *    and takes this process down. Its `send` is wrapped (`relay`): a task it cannot send is
 *    answered in the child's place on that port (the task settles, the worker stays) and the
 *    executor is told what was thrown; a task it sends is reported with its child.
 *
 * (5, 6, 7 and 10 are the worker side's, in src/worker/host.ts.)
 * 8. Tinypool 2.2.0 forks a child process with `env: { ...options.env, TINYPOOL_WORKER_ID }`: with
 *    no `env` option the child gets nothing of this process's environment (where
 *    `child_process.fork` inherits it). `env` is always given, `process.env` by default.
 * 9. A child process's IPC channel is tinypool's; its child entry (`entry/process.js`) ignores a
 *    message without `__tinypool_worker_message__`, and its `ProcessWorker` hands such a message
 *    from the child to a channel it does not have here. rxpool's own messages (an abort of a
 *    batch, `tell`) travel on it, marked `__rxpool__`; the worker side listens for them.
 * 11. Tinypool 2.2.0's `destroy` waits for each worker with `events.once(record, 'exit')`, whose
 *     `error` handler calls `record.removeListener`, which its worker records lack: a worker's
 *     error during `destroy` (running out of memory) threw there, uncaught, and took this process
 *     down. Every record gets a `removeListener` (its thread's or child's), and `destroy` settles
 *     once every worker has exited, whatever tinypool's `destroy` threw.
 * 12. Tinypool 2.2.0 drops a child process's messages that are not its own (its `ProcessWorker`
 *     hands them to a channel it does not have): the notice a child sends when it calls
 *     `process.exit` (src/worker/host.ts) is read from the child process itself (`exitCodeOf`).
 * 13. A worker that dies before it is ready (its entry file is missing, as in a bundled app; a
 *     `--import` preload that throws) makes tinypool 2.2.0 start no replacement and emit a pool
 *     `error`, while the tasks that wait for a worker wait forever. A worker is ready when
 *     tinypool's `{ ready: true }` message comes from it; one that dies on its own before is
 *     reported (`startFailed`) with why: its error (thread), or the end of its stderr (child).
 * 14. Tinypool 2.2.0 starts its workers from files next to its own module (`import.meta.url +
 *     "/../entry/worker.js"`, and `entry/process.js` for child processes): in an app's bundle that
 *     holds tinypool, next to the bundle. {@link bundledWorkerFiles} names them, with rxpool's
 *     worker side, for the build to bundle into dist/src/bundled/ (scripts/bundle.mjs) and for
 *     `rxpool/esbuild` to copy next to an app's bundle; {@link workerFile} finds rxpool's there.
 * 15. Tinypool 2.2.0 has no public way to start a worker ahead of a task: a child process that
 *     died is replaced only once it is gone, so after each crash the next batch waits for a child
 *     to start. Tinypool starts workers up to its `options.minThreads` when a ready worker dies;
 *     at the first such death the host raises that number by `extra` (through the public
 *     `options` getter, whose object tinypool reads), in an `exit` listener that runs before
 *     tinypool's: a spare child stays started and takes the next batch at once. Only for a pool
 *     that keeps its workers (a spare would look idle and be stopped). `options.maxThreads` is
 *     held at `size` until then (tinypool is made with `size + extra`, as it numbers workers up
 *     to it), else a task that comes while every child is busy would start one. A child counts if
 *     it was ready or had a task (one started with the pool gets tasks before it is ready).
 * 16. Tinypool 2.2.0 starts a worker for a task when the task comes (below `maxThreads`) or, when
 *     a ready worker dies, up to `minThreads`: a task queued for a worker that then died waited
 *     until another was free; a hello (src/threads/hellos.ts: workers hold theirs until all are
 *     answered) waited for ever, and so did the process. While tinypool handles a death (the
 *     `error` of workarounds 1 and 2, or a thread's own), `minThreads` covers the waiting tasks.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { MessagePort, Worker } from 'node:worker_threads';
import { Tinypool } from 'tinypool';
import type { ExitNotice, ParentMessage } from '../wire/messages.js';
import { workerExecArgv } from './exec-argv.js';
import type { WorkerHostEvents, WorkerHostOptions } from './host-contract.js';
import { exitError } from './in-flight.js';

/** rxpool's worker side in its package (its folder depth is kept where it is bundled). */
export const packagedWorkerFile = new URL('../worker/host.js', import.meta.url);

/** rxpool's worker side next to an app's bundle that holds rxpool (written by `rxpool/esbuild`). */
export const BUNDLED_WORKER = 'rxpool-worker.mjs';

/**
 * The files that workers start from, for an app's bundle: `from` (a file of rxpool's or
 * tinypool's package) is bundled into `to`, a path relative to the bundle's folder (workaround 14).
 */
export function bundledWorkerFiles(): { from: URL; to: string }[] {
  const tinypool = new URL(import.meta.resolve('tinypool'));
  return [
    { from: packagedWorkerFile, to: BUNDLED_WORKER },
    { from: new URL('./entry/worker.js', tinypool), to: 'entry/worker.js' },
    { from: new URL('./entry/process.js', tinypool), to: 'entry/process.js' },
  ];
}

/** No worker can start: the worker side's file is missing (an app bundled without it). */
class WorkerFileMissing extends Error {
  override name = 'WorkerFileMissing';
}

/**
 * The worker side's file: next to this module when an app's bundle holds rxpool (where
 * `rxpool/esbuild` writes it), else in rxpool's package. Neither there: an app bundled without
 * the worker files, which would otherwise wait for workers that never start.
 */
function workerFile(): URL {
  const bundled = new URL(`./${BUNDLED_WORKER}`, import.meta.url);
  const found = [bundled, packagedWorkerFile].find((file) => existsSync(file));
  if (found) return found;
  throw new WorkerFileMissing(
    `rxpool cannot start workers: Cannot find module '${packagedWorkerFile.pathname}' ` +
      `(nor '${bundled.pathname}'). An app that bundles rxpool must ship the worker files next ` +
      `to its bundle: build with rxpoolEsbuildPlugin() from 'rxpool/esbuild', or call ` +
      `copyWorkerFiles(dir) from it after another bundler (README: Bundling)`,
  );
}

/** Stack frames in tinypool's own code (for the CLI, which hides them under a task's error). */
export const HOST_FRAMES = '/tinypool/';

/** How much of a child's stderr is kept until it is ready, to say why it died if it does. */
const STDERR_KEPT = 2_000;

/** The longest timer delay: "never", where tinypool takes a number of ms. */
const NEVER_MS = 2 ** 31 - 1;

type TinypoolWorker = Tinypool['threads'][number];

export class WorkerHost {
  private pool: Tinypool | undefined;
  private destroyed = false;
  private readonly watched = new WeakSet<object>();
  /** Messages for child processes whose worker side has not said it listens yet (workaround 9). */
  private readonly unready = new WeakMap<ChildProcess, object[]>();
  /** Why a thread worker that is being stopped is stopped, by thread id. */
  private readonly stopping = new Map<number, Error>();
  /** Child processes that said they are exiting on their own, with their exit codes. */
  private readonly exits = new WeakMap<ChildProcess, number>();
  /** Workers that said they are ready, and their child processes (workaround 13). */
  private readonly ready = new WeakSet<object>();
  /** Why a child process that died before it was ready could not start (workaround 13). */
  private readonly startErrors = new WeakMap<ChildProcess, Error>();

  constructor(
    private readonly options: WorkerHostOptions,
    private readonly events: WorkerHostEvents,
  ) {}

  /** Runs a task on a worker (starting the workers on first use). */
  run(
    task: object,
    options: {
      signal?: AbortSignal;
      transferList?: unknown[];
      /** Process runtime: messages of the task's own with its child (tinypool's `channel`). */
      channel?: {
        onMessage(listener: (message: unknown) => void): void;
        postMessage(message: unknown): void;
      };
    } = {},
  ): Promise<unknown> {
    if (this.destroyed)
      return Promise.reject(new Error('The pool is closed: it takes no new work'));
    let pool: Tinypool;
    try {
      pool = this.ensurePool();
    } catch (error) {
      return Promise.reject(error);
    }
    const result = pool.run(task, options as never) as Promise<unknown>;
    this.watchNewWorkers();
    return result;
  }

  /** Stops a worker the way tinypool handles: its task fails with `reason`, and it is replaced. */
  stop(workerId: number, reason: Error): void {
    const worker = this.pool?.threads.find((w: TinypoolWorker) => w.threadId === workerId);
    if (!worker) return;
    if ((worker as { thread?: Worker }).thread) this.stopping.set(workerId, reason);
    this.dies(worker, reason);
    this.watchNewWorkers();
  }

  /**
   * Workaround 9: sends a message of rxpool's own to a child process; `false` if it cannot. A
   * message to a child whose worker side has not loaded yet waits until it says it has (its
   * listener would not be there: the message would be lost).
   */
  tell(child: ChildProcess, message: object): boolean {
    if (!child.connected) return false;
    const waiting = this.unready.get(child);
    if (waiting) {
      waiting.push(message);
      return true;
    }
    try {
      child.send(message);
      return true;
    } catch {
      return false;
    }
  }

  /** The child processes alive now (process runtime). */
  children(): ChildProcess[] {
    const children: ChildProcess[] = [];
    for (const worker of this.pool?.threads ?? []) {
      const child = (worker as { process?: ChildProcess }).process;
      if (child) children.push(child);
    }
    return children;
  }

  /** A task failed because tinypool gave it to a worker it was terminating: it never ran. */
  isTerminationError(error: unknown): boolean {
    return error instanceof Error && error.message === 'Terminating worker thread';
  }

  /** No worker can start (see {@link workerFile}): trying again cannot help. */
  isStartError(error: unknown): boolean {
    return error instanceof WorkerFileMissing;
  }

  /** Why `child` could not start, if it died before it was ready. */
  startErrorOf(child: ChildProcess): Error | undefined {
    return this.startErrors.get(child);
  }

  /**
   * Whether `child` is alive and not ready yet (workaround 13): a task handed to it that fails
   * now failed for its death on the way (a closed channel, a broken pipe), whose cause its exit
   * tells (`startErrorOf`).
   */
  isStarting(child: ChildProcess): boolean {
    return !this.ready.has(child) && child.exitCode === null && child.signalCode === null;
  }

  /** The code a child process said it exits with on its own (`process.exit`), if it did. */
  exitCodeOf(child: ChildProcess): number | undefined {
    return this.exits.get(child);
  }

  /** Whether workers may run tasks (they start on first use): `false` once destroyed. */
  get open(): boolean {
    return !this.destroyed;
  }

  /** Stops every worker; the host runs nothing more. */
  async destroy(): Promise<void> {
    this.destroyed = true;
    const pool = this.pool;
    this.pool = undefined;
    if (!pool) return;
    this.watchNewWorkers(pool);
    const exits = pool.threads.map(exited);
    // Workaround 11: a worker's error during tinypool's destroy rejects it (the error is the
    // worker's, already reported to its batch); every worker is still waited for.
    await pool.destroy().catch(() => {});
    await Promise.all(exits);
  }

  private ensurePool(): Tinypool {
    if (this.pool) return this.pool;
    const { size, runtime, idleTimeout, maxHeapMb, env, workerData } = this.options;
    const keep = idleTimeout === Infinity;
    const threads = runtime === 'thread';
    const filename = workerFile().href;
    const pool = new Tinypool({
      filename,
      runtime: threads ? 'worker_threads' : 'child_process',
      minThreads: keep ? size : 0,
      maxThreads: size + (this.options.extra ?? 0),
      // With `keep`, `size` workers stay (tinypool's `minThreads`); one more (a spare) must not be
      // stopped by tinypool for looking idle, as a linked worker always does.
      idleTimeout: keep ? NEVER_MS : (idleTimeout ?? NEVER_MS),
      // A linked thread worker must listen to its link while it holds no task, not sleep in
      // Atomics.wait.
      useAtomics: !threads,
      workerData,
      // Workaround 8: tinypool spreads it when it forks, so a child sees `process.env` as it is
      // then (a thread worker copies it when it starts, Node's default).
      env: (env ?? process.env) as Record<string, string>,
      serialization: 'advanced',
      resourceLimits:
        threads && maxHeapMb !== undefined ? { maxOldGenerationSizeMb: maxHeapMb } : undefined,
      execArgv: workerExecArgv(runtime, maxHeapMb),
    });
    // Tinypool reports a worker that failed while idle (or that was stopped) as a pool error.
    pool.on('error', () => this.watchNewWorkers());
    // Workaround 15: a child beyond `size` (the spare) may start only once one has died.
    if (!threads) (pool.options as { maxThreads: number }).maxThreads = size;
    this.pool = pool;
    this.watchNewWorkers();
    return pool;
  }

  /**
   * Watches every worker tinypool started since the last look (workarounds 1 and 4). Tinypool
   * starts workers when it likes (a replacement, a worker for a waiting task): the executor calls
   * this too when a worker it did not know answers (a new link), before giving it a batch.
   */
  watchNewWorkers(pool = this.pool): void {
    if (!pool) return;
    for (const worker of pool.threads) {
      if (this.watched.has(worker)) continue;
      this.watched.add(worker);
      // Workaround 11.
      const emitter = hostOf(worker);
      (worker as { removeListener?: unknown }).removeListener ??= (
        event: string,
        listener: (...args: unknown[]) => void,
      ) => emitter?.removeListener(event, listener);
      const thread = (worker as { thread?: Worker }).thread;
      if (!thread) {
        this.relay(worker);
        continue;
      }
      const threadId = thread.threadId;
      thread.on('message', (message: { ready?: unknown } | null) => {
        if (message?.ready === true) this.ready.add(worker);
      });
      let terminated = false;
      let lastError: Error | undefined;
      const terminate = worker.terminate.bind(worker);
      worker.terminate = () => {
        terminated = true;
        return terminate();
      };
      // Workaround 16, for an error tinypool hears itself: raised before its listener, back after.
      let putBack: (() => void) | undefined;
      thread.prependListener('error', () => {
        putBack = this.raiseLeast();
      });
      thread.on('error', (error: Error) => {
        lastError ??= error;
        putBack?.();
        putBack = undefined;
      });
      thread.once('exit', (code) => {
        const stopped = this.stopping.get(threadId);
        this.stopping.delete(threadId);
        const error = exitError(code);
        const reason = stopped ?? lastError ?? error;
        const silent = !terminated;
        const cause = lastError ?? (silent ? error : undefined);
        if (!this.ready.has(worker) && !stopped && cause && !this.destroyed) {
          this.startFailed(cause, threadId);
        }
        // Tinypool forgets a silent exit's worker first: what the executor starts on hearing of
        // it (a round of hellos) must not be given to that worker.
        if (silent) this.dies(worker, error);
        this.events.exited(threadId, reason);
        if (silent) this.watchNewWorkers();
      });
    }
  }

  /** Tinypool handles `worker`'s death as its own error (workarounds 1 and 2; 16 around it). */
  private dies(worker: TinypoolWorker, error: Error): void {
    const putBack = this.raiseLeast();
    worker.emit('error', error);
    putBack();
  }

  /**
   * Workaround 16: raises tinypool's `minThreads` so that the tasks waiting with no starting worker
   * for them get one when it replaces a dying worker (still counted); returns what puts it back
   * (unless something else changed it meanwhile, as workaround 15 does).
   */
  private raiseLeast(): () => void {
    const pool = this.pool;
    if (!pool || pool.queueSize === 0) return () => {};
    const options = pool.options as { minThreads: number; maxThreads: number };
    const least = options.minThreads;
    const raised = Math.min(options.maxThreads, pool.threads.length - 1 + pool.queueSize);
    if (raised <= least) return () => {};
    options.minThreads = raised;
    return () => {
      if (options.minThreads === raised) options.minThreads = least;
    };
  }

  /** Workaround 15: child processes stay started up to `size + extra` from now on. */
  private keepSpare(): void {
    const { size, extra = 0, idleTimeout } = this.options;
    const options = this.pool?.options as { minThreads: number; maxThreads: number } | undefined;
    if (!options || extra === 0 || idleTimeout !== Infinity) return;
    options.minThreads = Math.max(options.minThreads, size + extra);
    options.maxThreads = options.minThreads;
  }

  /** Workaround 13: a worker died before it was ready, for `cause`. */
  private startFailed(cause: Error, threadId?: number): Error {
    const error = new Error(`A worker could not start: ${cause.message}`, { cause });
    error.name = 'WorkerStartError';
    const anyReady = this.pool?.threads.some((w: TinypoolWorker) => this.ready.has(w)) ?? false;
    this.events.startFailed(error, anyReady, threadId);
    return error;
  }

  /** Workaround 4: the process runtime's `send`, wrapped. */
  private relay(worker: TinypoolWorker): void {
    const processWorker = worker as unknown as {
      process?: ChildProcess;
      port?: MessagePort;
      send?: (message: { taskId?: number; task?: { id?: number } }) => void;
    };
    const send = processWorker.send;
    const child = processWorker.process;
    if (typeof send !== 'function' || !child) return;
    // Workaround 15: a child that dies on its own once it was ready or had a task makes the pool
    // keep a spare; this runs before tinypool's listener, which starts the missing workers.
    let handed = false;
    let terminated = false;
    const terminate = worker.terminate.bind(worker);
    worker.terminate = () => {
      terminated = true;
      return terminate();
    };
    child.prependListener('exit', () => {
      if (terminated || this.destroyed || !(handed || this.ready.has(worker))) return;
      this.keepSpare();
    });
    // Workaround 9: the worker side says when it listens to rxpool's messages.
    this.unready.set(child, []);
    child.on('message', (message: ParentMessage | undefined) => {
      if (message?.__rxpool__ === 'listening') {
        const waiting = this.unready.get(child) ?? [];
        this.unready.delete(child);
        for (const queued of waiting) this.tell(child, queued);
      } else if (message?.__rxpool__ !== undefined) {
        this.events.heard?.(message);
      }
    });
    // Workaround 13: what the child wrote to stderr until it was ready says why it died, if it did.
    let said = '';
    const heard = (chunk: Buffer) => {
      said = (said + chunk.toString()).slice(-STDERR_KEPT);
    };
    child.stderr?.on('data', heard);
    child.on('message', (message: { ready?: unknown; __tinypool_worker_message__?: unknown }) => {
      if (message?.ready !== true || !message.__tinypool_worker_message__) return;
      this.ready.add(worker);
      this.ready.add(child);
      child.stderr?.off('data', heard);
    });
    child.once('exit', (code, signal) => {
      // Tinypool has just started what replaces it (its listener comes first): watched now, before
      // their ready message, else a replacement that dies later would be taken for one that could
      // not start (and its batch not retried).
      this.watchNewWorkers();
      if (this.ready.has(worker) || signal !== null || this.destroyed) return;
      const error = new Error(
        `The worker process exited with code ${code} before it was ready${said.trim() ? `; its stderr ended with:\n${said.trim()}` : ''}`,
      );
      error.name = 'WorkerExit';
      this.startErrors.set(child, this.startFailed(error));
    });
    // Not tinypool's: the child's own word that it exits (src/worker/host.ts).
    child.on('message', (message: Partial<ExitNotice> | null) => {
      if (typeof message?.rxpoolExit === 'number') this.exits.set(child, message.rxpoolExit);
    });
    processWorker.send = (message) => {
      const taskId = message?.task?.id;
      try {
        send.call(worker, message);
      } catch (error) {
        if (typeof taskId !== 'number' || !processWorker.port) throw error;
        if (!this.events.unsent(taskId, error)) throw error;
        processWorker.port.postMessage({
          taskId: message.taskId,
          result: null,
          error: { name: 'Unsent', message: 'rxpool: the batch could not be sent' },
          usedMemory: 0,
        });
        return;
      }
      handed = true;
      if (typeof taskId === 'number') this.events.sent(taskId, child);
    };
  }
}

/** The thread or child process behind a tinypool worker record. */
function hostOf(worker: TinypoolWorker): Worker | ChildProcess | undefined {
  const record = worker as { thread?: Worker; process?: ChildProcess };
  return record.thread ?? record.process;
}

/** Resolves once the worker behind `worker` has exited (at once if it has). */
function exited(worker: TinypoolWorker): Promise<void> {
  const host = hostOf(worker);
  if (!host) return Promise.resolve();
  const gone =
    'threadId' in host && !('pid' in host)
      ? host.threadId === -1
      : (host as ChildProcess).exitCode !== null || (host as ChildProcess).signalCode !== null;
  if (gone) return Promise.resolve();
  return new Promise((resolve) => host.once('exit', () => resolve()));
}
