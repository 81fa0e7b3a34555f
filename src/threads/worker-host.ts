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
 *    the worker's task and replacing the worker. Its own `terminate` (wrapped) is told apart.
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
 */
import type { ChildProcess } from 'node:child_process';
import type { MessagePort, Worker } from 'node:worker_threads';
import { Tinypool } from 'tinypool';

/**
 * The worker-side entry (src/worker/host.ts, built). This module's folder depth is kept where it is
 * bundled (scripts/bundle.mjs), so the path holds there too.
 */
export const workerFile = new URL('../worker/host.js', import.meta.url);

/** Stack frames in tinypool's own code (for the CLI, which hides them under a task's error). */
export const HOST_FRAMES = '/tinypool/';

/** The longest timer delay: "never", where tinypool takes a number of ms. */
const NEVER_MS = 2 ** 31 - 1;

export interface WorkerHostOptions {
  readonly size: number;
  readonly runtime: 'thread' | 'process';
  /** ms an idle worker lives (`Infinity`: keep `size` workers); `undefined`: never stopped here. */
  readonly idleTimeout: number | undefined;
  readonly maxHeapMb: number | undefined;
  /** Given to every worker (src/worker/host.ts reads it). */
  readonly workerData: unknown;
}

/** What the host tells its executor. */
export interface WorkerHostEvents {
  /** A thread worker exited, for `reason` (what stopped it, its last error, or its exit code). */
  exited(threadId: number, reason: Error): void;
  /** Process runtime: the task `taskId` was handed to the child process `child`. */
  sent(taskId: number, child: ChildProcess): void;
  /**
   * Process runtime: the task `taskId` could not be passed to its child (`error`, what was thrown).
   * Returns whether the task is the executor's (then it is answered in the child's place).
   */
  unsent(taskId: number, error: unknown): boolean;
}

type TinypoolWorker = Tinypool['threads'][number];

export class WorkerHost {
  private pool: Tinypool | undefined;
  private destroyed = false;
  private readonly watched = new WeakSet<object>();
  /** Why a thread worker that is being stopped is stopped, by thread id. */
  private readonly stopping = new Map<number, Error>();

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
    const pool = this.ensurePool();
    const result = pool.run(task, options as never) as Promise<unknown>;
    this.watchNewWorkers();
    return result;
  }

  /** Stops a worker the way tinypool handles: its task fails with `reason`, and it is replaced. */
  stop(workerId: number, reason: Error): void {
    const worker = this.pool?.threads.find((w: TinypoolWorker) => w.threadId === workerId);
    if (!worker) return;
    if ((worker as { thread?: Worker }).thread) this.stopping.set(workerId, reason);
    worker.emit('error', reason);
    this.watchNewWorkers();
  }

  /** A task failed because tinypool gave it to a worker it was terminating: it never ran. */
  isTerminationError(error: unknown): boolean {
    return error instanceof Error && error.message === 'Terminating worker thread';
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
    await pool?.destroy();
  }

  private ensurePool(): Tinypool {
    if (this.pool) return this.pool;
    const { size, runtime, idleTimeout, maxHeapMb, workerData } = this.options;
    const keep = idleTimeout === Infinity;
    const threads = runtime === 'thread';
    const pool = new Tinypool({
      filename: workerFile.href,
      runtime: threads ? 'worker_threads' : 'child_process',
      minThreads: keep ? size : 0,
      maxThreads: size,
      idleTimeout: keep ? 0 : (idleTimeout ?? NEVER_MS),
      // A linked thread worker must listen to its link while it holds no task, not sleep in
      // Atomics.wait.
      useAtomics: !threads,
      workerData,
      serialization: 'advanced',
      resourceLimits:
        threads && maxHeapMb !== undefined ? { maxOldGenerationSizeMb: maxHeapMb } : undefined,
      execArgv:
        !threads && maxHeapMb !== undefined
          ? [...process.execArgv, `--max-old-space-size=${maxHeapMb}`]
          : undefined,
    });
    // Tinypool reports a worker that failed while idle (or that was stopped) as a pool error.
    pool.on('error', () => this.watchNewWorkers());
    this.pool = pool;
    this.watchNewWorkers();
    return pool;
  }

  /**
   * Watches every worker tinypool started since the last look (workarounds 1 and 4). Tinypool
   * starts workers when it likes (a replacement, a worker for a waiting task): the executor calls
   * this too when a worker it did not know answers (a new link), before giving it a batch.
   */
  watchNewWorkers(): void {
    if (!this.pool) return;
    for (const worker of this.pool.threads) {
      if (this.watched.has(worker)) continue;
      this.watched.add(worker);
      const thread = (worker as { thread?: Worker }).thread;
      if (!thread) {
        this.relay(worker);
        continue;
      }
      const threadId = thread.threadId;
      let terminated = false;
      let lastError: Error | undefined;
      const terminate = worker.terminate.bind(worker);
      worker.terminate = () => {
        terminated = true;
        return terminate();
      };
      thread.on('error', (error: Error) => {
        lastError ??= error;
      });
      thread.once('exit', (code) => {
        const stopped = this.stopping.get(threadId);
        this.stopping.delete(threadId);
        const error = new Error(`The worker exited with code ${code} while running this item`);
        error.name = 'WorkerExit';
        Object.assign(error, { exitCode: code });
        this.events.exited(threadId, stopped ?? lastError ?? error);
        if (terminated) return;
        worker.emit('error', error);
        this.watchNewWorkers();
      });
    }
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
      if (typeof taskId === 'number') this.events.sent(taskId, child);
    };
  }
}
