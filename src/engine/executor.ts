/**
 * What the engine needs from whatever runs items: slots, batches, and honest outcomes. The pool's
 * tinypool executor and the tests' in-thread fake both extend `SlotExecutor`.
 */
import type { Transferable } from '../types.js';
import { Samples } from './samples.js';

/** One item's failure, as an executor reports it. */
export interface ItemFailure {
  readonly error: Error;
  /** `false` when trying again cannot help (a result that cannot be cloned, a failed setup). */
  readonly retryable: boolean;
  readonly hint?: string | undefined;
}

/** How a batch ended. */
export type BatchOutcome =
  /** The first `count` items ran (the rest did not, and go again). */
  | {
      readonly type: 'done';
      readonly values: ArrayLike<unknown>;
      readonly failures: readonly (ItemFailure | undefined)[] | null;
      readonly count: number;
      /** Time the items took to run, in ms, for batch sizing. */
      readonly ms: number;
      /** When the worker started the batch, on the engine's clock (for `stats().waitTime`). */
      readonly startedAt: number;
    }
  /** The worker died. `position` is the item it died under, when known. */
  | { readonly type: 'crashed'; readonly error: Error; readonly position: number | undefined }
  /** The batch could not be sent. `blamed`: the items at fault and why, when known. */
  | { readonly type: 'unsendable'; readonly blamed: ReadonlyMap<number, Error> | undefined }
  /** Stopped by `abort()`; or lost without running (its worker was retired): all go again. */
  | { readonly type: 'aborted' }
  | { readonly type: 'lost' };

/** What the engine knows of a batch that may help the executor run it. */
export interface BatchHints {
  /** How long the batch should run, by the engine's measurements, if it has any. */
  readonly expectedMs?: number | undefined;
  /** The items have a timeout: `Attempt.current()` must know when each item started. */
  readonly timed?: boolean;
}

/** A batch on its way or running. Its outcome goes to the callback given to `submit`, once. */
export interface Attempt {
  /** The item running now (its position in the batch) and when it started; unknown before. */
  current(): { position: number; startedAt: number } | undefined;
  /** Stops the batch now; the worker running it is stopped and replaced. */
  abort(): void;
}

/** An engine, as an executor sees it: it asks for slots and fills them one batch at a time. */
export interface ExecutorClient {
  /** Items waiting for a worker. */
  queued(): number;
  /** A slot is yours: submit one batch. Returns whether more items still wait. */
  dispatch(): boolean;
  /** The executor is going away: fail everything with `error`. */
  kill(error: Error): void;
}

/**
 * Slots and fair turns: clients that have work wait in a ring and get one batch a turn while
 * slots are free, so one busy stream cannot starve another on the same pool.
 */
export abstract class SlotExecutor {
  /** The pool's worker count. */
  abstract readonly size: number;
  /**
   * How many batches are out at once: `size`, or more when a worker takes its next batch while it
   * runs one (so that it never waits for the main thread between batches).
   */
  get slots(): number {
    return this.size;
  }
  /** Whether `Attempt.current()` knows which item of a batch runs (for timeouts in batches). */
  abstract readonly knowsPosition: boolean;
  /** Batches running now. */
  protected busy = 0;
  /** Run time per item (a batch's time over its items), in ms. */
  readonly runTimes = new Samples();
  /** Time from an item's queueing to its batch's start in a worker, in ms (see `Engine.settle`). */
  readonly waitTimes = new Samples();
  /**
   * Attempts of items that failed (threw, timed out, crashed their worker, could not be sent), as
   * the engines charge them: only an engine knows which item of a stopped batch ran past its
   * timeout.
   */
  failedAttempts = 0;
  private readonly waiting = new Set<ExecutorClient>();
  private readonly clients = new Set<ExecutorClient>();
  private draining = false;

  /**
   * Starts a batch. Called only when a slot is free; calls `done` once with the outcome (never
   * synchronously), which frees the slot. `hints` may help (an executor may let a short batch
   * wait behind another, and time items only when they have a timeout).
   */
  protected abstract launch(
    work: unknown,
    inputs: unknown[],
    transferList: Transferable[] | undefined,
    done: (outcome: BatchOutcome) => void,
    hints: BatchHints,
  ): Attempt;

  /** Called when a batch ends or a client leaves. */
  protected changed(): void {}

  /** Refuses new clients with this error (or `undefined` while open). */
  protected refusal(): Error | undefined {
    return undefined;
  }

  attach(client: ExecutorClient): () => void {
    const refused = this.refusal();
    if (refused) throw refused;
    this.clients.add(client);
    return () => {
      this.clients.delete(client);
      this.waiting.delete(client);
      this.changed();
    };
  }

  /** The client has items waiting; it will be called back through `dispatch()`. */
  schedule(client: ExecutorClient): void {
    this.waiting.add(client);
    this.drain();
  }

  /** Starts a batch in a free slot; `done` receives its outcome. */
  submit(
    work: unknown,
    inputs: unknown[],
    transferList: Transferable[] | undefined,
    done: (outcome: BatchOutcome) => void,
    hints: BatchHints = {},
  ): Attempt {
    this.busy++;
    return this.launch(
      work,
      inputs,
      transferList,
      (outcome) => {
        this.busy--;
        if (outcome.type === 'done' && outcome.count > 0) {
          this.runTimes.add(outcome.ms / outcome.count);
        }
        done(outcome);
        this.drain();
        this.changed();
      },
      hints,
    );
  }

  /** Items waiting for a worker, over all clients. */
  queued(): number {
    let total = 0;
    for (const client of this.clients) total += client.queued();
    return total;
  }

  /** Clients attached now. */
  protected attached(): number {
    return this.clients.size;
  }

  /** Fails every attached client with `error`. */
  protected killAll(error: Error): void {
    for (const client of [...this.clients]) client.kill(error);
    this.clients.clear();
    this.waiting.clear();
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.busy < this.slots && this.waiting.size > 0) {
        const client = this.waiting.values().next().value as ExecutorClient;
        this.waiting.delete(client);
        if (client.dispatch()) this.waiting.add(client);
      }
    } finally {
      this.draining = false;
    }
  }
}
