/**
 * What the two runtimes of the default executor share (tinypool's layout: one file per runtime,
 * ./thread-executor.ts and ./process-executor.ts, behind one seam, the `Executor` contract): the
 * settings, the worker host that starts and stops the workers (./worker-host.ts), the batches out,
 * and how a batch's end is read (./outcomes.ts). A runtime decides how a batch reaches a worker,
 * how it is stopped, and how a broadcast reaches every worker.
 */
import { availableParallelism } from 'node:os';
import type {
  BatchOutcome,
  Executor,
  ExecutorBatch,
  ExecutorTraits,
  RunningBatch,
  ValuesListener,
} from '../executor/contract.js';
import { TARGET_BATCH_MS } from '../executor/targets.js';
import type { TransferListItem } from '../types.js';
import { unpackValues } from '../wire/flat-pack.js';
import type {
  BatchResponse,
  BroadcastReply,
  ControlRef,
  FlatPart,
  FlatValues,
  Packed,
} from '../wire/messages.js';
import type { WorkSpec } from '../wire/work.js';
import type { WorkerHostEvents, WorkerHostOptions } from './host-contract.js';
import { finish, type InFlightBatch } from './in-flight.js';
import { done, failure, RETIRE, toFailure } from './outcomes.js';
import { WorkerHost } from './worker-host.js';

/** The executor's settings, already validated (`createPool` checks them). */
export interface WorkersOptions {
  readonly size: number;
  /** ms an idle worker lives; `Infinity` (the default) keeps `size` workers. */
  readonly idleTimeout?: number;
  /** Items a worker runs before it is replaced; `Infinity` (the default) for never. */
  readonly maxTasksPerWorker?: number;
  readonly setup?: WorkSpec | undefined;
  readonly maxHeapMb?: number | undefined;
  /** The workers' environment; `undefined`: this process's. */
  readonly env?: Readonly<Record<string, string>> | undefined;
  /** ms an aborted task has to settle before its worker is stopped. */
  readonly abortGrace?: number;
  /** Run in each worker, with its state, before it stops (not after a crash). */
  readonly teardown?: WorkSpec | undefined;
  /** A worker whose heap is above this many MB after a batch is replaced. */
  readonly recycleMemoryMb?: number | undefined;
  /**
   * A batch whose results are all JSON-exact comes back as JSON text (src/wire/exact-json.ts),
   * which the main thread parses faster than it reads a structured clone. No user sets it: off
   * only to measure what it gains, or to tell whether a difference comes from it. Default `true`.
   */
  readonly jsonResults?: boolean;
  /**
   * Once a worker has died or been stopped under a batch, one more is kept started that takes no
   * batch, and replaces the next one to go at once (thread runtime: with its link; process
   * runtime: the host's workaround 15). A pool that never loses a worker never starts one. No
   * user sets it: off only to measure what it gains. Default `true`.
   */
  readonly spare?: boolean;
}

/** The default of the `abortGrace` pool option, in ms. */
export const DEFAULT_ABORT_GRACE_MS = 1000;

/**
 * How long a running flat batch that was told to stop has to answer before its worker is
 * stopped: its iterator's `return()` runs in the worker (a generator's `finally` blocks with it).
 */
export const FLAT_CANCEL_GRACE_MS = 1_000;

/** The default worker count: `os.availableParallelism()`. */
export function defaultSize(): number {
  return availableParallelism();
}

/** The executor on tinypool's workers; {@link threadExecutor} or {@link processExecutor} makes one. */
export abstract class TinypoolExecutor implements Executor {
  readonly size: number;
  readonly traits: ExecutorTraits;
  /** Starts, replaces and stops the workers. */
  protected readonly host: WorkerHost;
  /** Batches out, by id, until their worker is done with them (after their outcome, maybe). */
  protected readonly inFlight = new Map<number, InFlightBatch>();
  private nextId = 0;
  /** ms an aborted task has to settle before its worker is stopped (`abortGrace`). */
  protected readonly abortGrace: number;
  protected readonly idleTimeout: number;
  protected readonly spare: boolean;
  private readonly jsonResults: boolean;

  constructor(
    protected readonly options: WorkersOptions,
    host: Pick<WorkerHostOptions, 'runtime' | 'idleTimeout' | 'workerData'>,
  ) {
    this.size = options.size;
    this.abortGrace = options.abortGrace ?? DEFAULT_ABORT_GRACE_MS;
    this.idleTimeout = options.idleTimeout ?? Infinity;
    this.spare = options.spare ?? true;
    this.jsonResults = options.jsonResults ?? true;
    this.traits = {
      targetBatchMs: TARGET_BATCH_MS,
      enforcesTimeouts: false,
      knowsPosition: host.runtime === 'thread',
      streams: true,
    };
    this.host = new WorkerHost(
      {
        ...host,
        size: options.size,
        extra: this.spare ? 1 : 0,
        maxHeapMb: options.maxHeapMb,
        env: options.env,
      },
      this.hostEvents(),
    );
  }

  /** What the worker host tells this runtime (called once, by the constructor). */
  protected abstract hostEvents(): WorkerHostEvents;
  abstract capacity(): number;
  abstract stats(): { busy?: number; queued: number };
  abstract run(
    given: ExecutorBatch,
    report: (outcome: BatchOutcome) => void,
    values?: ValuesListener,
  ): RunningBatch;
  abstract close(): Promise<void>;
  abstract destroy(): Promise<void>;
  protected abstract broadcastOn(work: WorkSpec, input: unknown): Promise<BroadcastReply[]>;

  /**
   * Runs `work` once on every worker, starting workers up to `size` first (`pool.broadcast`); a
   * worker runs it after the batches it holds. Resolves with the replies, in `workerId`
   * order; rejects when a task of the host fails (the pool is closed, a worker cannot start).
   */
  async broadcast(work: WorkSpec, input: unknown): Promise<BroadcastReply[]> {
    // The links and the workers hold nothing open: the process stays alive until it is done.
    const hold = setInterval(() => {}, 2 ** 30);
    try {
      return await this.broadcastOn(work, input);
    } finally {
      clearInterval(hold);
    }
  }

  /** A new batch out, with what goes to the worker; `ref`: its control row (thread runtime). */
  protected newBatch(
    given: ExecutorBatch,
    report: (outcome: BatchOutcome) => void,
    values: ValuesListener | undefined,
    ref: ControlRef | undefined,
    packed: Packed | undefined,
    short: boolean,
  ): InFlightBatch {
    const inputs = given.inputs as unknown[];
    const id = this.nextId++;
    const { maxTasksPerWorker = Infinity, setup, teardown, recycleMemoryMb } = this.options;
    const batch: InFlightBatch = {
      id,
      request: {
        id,
        work: given.work,
        spans: given.spans,
        inputs: packed ?? inputs,
        setup,
        maxItems: Number.isFinite(maxTasksPerWorker) ? maxTasksPerWorker : 0,
        teardown,
        maxHeapBytes: (recycleMemoryMb ?? 0) * 1024 * 1024,
        control: ref,
        // The engine times items that have a timeout: the worker then records each one's start.
        timed: given.timeout !== undefined,
        jsonResults: this.jsonResults,
        traces: given.traces,
        flat: given.flat && { key: id, highWaterMark: given.flat.highWaterMark },
      },
      inputs,
      transferList: given.transferList as TransferListItem[] | undefined,
      count: inputs.length,
      control: undefined,
      row: ref?.row ?? 0,
      ref,
      short,
      // A flat batch's credit goes to the link it was posted to.
      movable: (given.transferList?.length ?? 0) === 0 && given.flat === undefined,
      postedAt: 0,
      child: undefined,
      handedAt: 0,
      unsent: undefined,
      values: given.flat ? values : undefined,
      cancel: undefined,
      report,
      finished: false,
      aborted: false,
      stopping: false,
    };
    this.inFlight.set(id, batch);
    return batch;
  }

  /**
   * A flat batch's values came: they go to the engine, unless the batch is over. The parts of
   * items that ended earlier ride in `before`, first.
   */
  protected flatValues(message: FlatValues): void {
    const batch = this.inFlight.get(message.flatKey);
    if (message.before) for (const part of message.before) this.flatPart(batch, part);
    this.flatPart(batch, message);
  }

  private flatPart(batch: InFlightBatch | undefined, part: FlatPart): void {
    if (!batch || batch.finished || batch.aborted) return;
    const { failure } = part;
    batch.values?.(
      part.position,
      unpackValues(part.values),
      part.end && { failure: failure === undefined ? undefined : toFailure(failure) },
    );
  }

  /**
   * A batch is over: what it held is free again (its worker is done with it), and its outcome
   * goes to the engine unless an abort already settled it.
   */
  protected settle(batch: InFlightBatch, outcome: BatchOutcome): void {
    if (!this.inFlight.delete(batch.id)) return;
    this.released(batch);
    finish(batch, outcome);
  }

  /** A batch's worker is done with it (thread runtime: its control row is free). */
  protected released(_batch: InFlightBatch): void {}

  /** What became of a batch whose task failed, or whose worker went under it. */
  protected failure(batch: InFlightBatch, error: unknown, arriving = false): BatchOutcome {
    const { host } = this;
    return failure(
      batch,
      error,
      {
        isTerminationError: (e) => host.isTerminationError(e),
        isStartError: (e) => host.isStartError(e),
        open: host.open,
        threads: this.traits.knowsPosition,
      },
      arriving,
    );
  }

  /** The outcome of a batch that ran (a worker that asks to be replaced is retired). */
  protected done(response: BatchResponse, batch: InFlightBatch): BatchOutcome {
    return done(response, batch, (workerId) => this.host.stop(workerId, RETIRE));
  }
}
