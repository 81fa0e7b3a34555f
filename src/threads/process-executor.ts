/**
 * The process runtime of the default executor: each batch is one task of the worker host, on a
 * child process (./runtime/process-worker.ts); a broadcast is one held task per child, answered
 * on tinypool's IPC channel. A child runs the pool's teardown when tinypool stops it
 * (src/worker/host.ts).
 */
import type {
  BatchOutcome,
  ExecutorBatch,
  RunningBatch,
  ValuesListener,
} from '../executor/contract.js';
import type { TransferListItem } from '../types.js';
import { reviveError } from '../wire/error.js';
import {
  type Broadcast,
  type BroadcastReply,
  type ChildMessage,
  packNumbers,
} from '../wire/messages.js';
import type { WorkSpec } from '../wire/work.js';
import { TinypoolExecutor, type WorkersOptions } from './executor.js';
import type { WorkerHostEvents } from './host-contract.js';
import { cannotStart } from './in-flight.js';
import { reportTeardown } from './outcomes.js';
import { runInChild } from './runtime/process-worker.js';

/** The default executor on child processes (`createPool({ runtime: 'process' })`). */
export function processExecutor(options: WorkersOptions): TinypoolExecutor {
  return new ProcessExecutor(options);
}

class ProcessExecutor extends TinypoolExecutor {
  /** Broadcasts out: what takes each worker's reply, by broadcast id. */
  private readonly broadcasts = new Map<number, (reply: BroadcastReply) => void>();
  private nextBroadcast = 0;

  constructor(options: WorkersOptions) {
    const { idleTimeout = Infinity } = options;
    super(options, {
      runtime: 'process',
      idleTimeout: Number.isFinite(idleTimeout) ? idleTimeout : Infinity,
      workerData: undefined,
    });
  }

  protected hostEvents(): WorkerHostEvents {
    return {
      exited: () => {},
      startFailed: (error, anyReady) => this.cannotStart(error, anyReady),
      sent: (id, child) => {
        const batch = this.inFlight.get(id);
        if (!batch) return;
        batch.child = child;
        batch.handedAt = performance.now();
      },
      unsent: (id, error) => {
        const batch = this.inFlight.get(id);
        if (!batch) return false;
        batch.unsent = error;
        return true;
      },
      heard: (message) => {
        if (message.__rxpool__ === 'broadcast') this.broadcasts.get(message.broadcast)?.(message);
        else if (message.__rxpool__ === 'tornDown') reportTeardown(reviveError(message.error));
      },
    };
  }

  /** One batch a worker. */
  capacity(): number {
    return this.size;
  }

  /** A child's batch is not read before it runs: none waits there. */
  stats(): { busy?: number; queued: number } {
    return { queued: 0 };
  }

  run(
    given: ExecutorBatch,
    report: (outcome: BatchOutcome) => void,
    values?: ValuesListener,
  ): RunningBatch {
    const packed = packNumbers(given.inputs as unknown[]);
    const batch = this.newBatch(given, report, values, undefined, packed, false);
    batch.transferList = given.transferList as TransferListItem[] | undefined;
    return runInChild(this.host, batch, this.abortGrace, {
      settle: (b, outcome) => this.settle(b, outcome),
      done: (response, b) => this.done(response, b),
      failure: (b, error) => this.failure(b, error),
      values: (message) => this.flatValues(message),
    });
  }

  /**
   * One host task a worker, each held until all have answered, so that each worker takes one (and
   * missing ones start); answers come on tinypool's IPC channel.
   */
  protected broadcastOn(work: WorkSpec, input: unknown): Promise<BroadcastReply[]> {
    const id = this.nextBroadcast++;
    const { size } = this;
    const { setup, teardown } = this.options;
    return new Promise((resolve, reject) => {
      const replies: BroadcastReply[] = [];
      let failed = false;
      const release = () => {
        this.broadcasts.delete(id);
        for (const child of this.host.children()) {
          this.host.tell(child, { __rxpool__: 'release', broadcast: id } satisfies ChildMessage);
        }
      };
      const take = (reply: BroadcastReply) => {
        replies.push(reply);
        if (replies.length < size || failed) return;
        release();
        resolve(replies.sort((a, b) => a.workerId - b.workerId));
      };
      this.broadcasts.set(id, take);
      const request = { id, work, input, setup, teardown };
      for (let i = 0; i < size; i++) {
        this.host.run({ broadcast: request } satisfies Broadcast).catch((error: unknown) => {
          if (failed) return;
          failed = true;
          release();
          reject(error);
        });
      }
    });
  }

  /** No new batches come: the children are stopped (each runs its teardown on the way). */
  async close(): Promise<void> {
    await this.host.destroy();
  }

  /** Stops now: the running tasks' signals fire first (their children stop right after). */
  async destroy(): Promise<void> {
    for (const batch of this.inFlight.values()) {
      if (batch.child) {
        this.host.tell(batch.child, { __rxpool__: 'abort', abort: batch.id, reason: 'cancel' });
      }
    }
    await this.host.destroy();
  }

  /**
   * A child died before it was ready (its entry file is missing, a preload throws): with no
   * worker ready, the batches not handed to a child fail with `error`.
   */
  private cannotStart(error: Error, anyReady: boolean): void {
    if (anyReady) return;
    for (const batch of [...this.inFlight.values()]) {
      if (batch.child !== undefined || batch.finished) continue;
      batch.aborted = true;
      this.settle(batch, cannotStart(batch, error));
      batch.cancel?.();
    }
  }
}
