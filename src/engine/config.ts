/**
 * What a face gives the engine (its settings, already validated) and how the engine answers it
 * (the hooks). The faces import these through engine.ts.
 */

import type { TaskError } from '../errors.js';
import type { ItemSpan, TraceCarrier, WorkSpec } from '../executor/contract.js';
import type { Transferable } from '../types.js';
import type { Key } from './keys.js';
import type { Progress } from './progress.js';
import type { RetryPolicy } from './retry.js';

/** The engine's settings, already validated. */
export interface EngineConfig<In> {
  /** What to run. */
  readonly work: WorkSpec;
  /**
   * The most items admitted and not yet emitted; `undefined`: the executor's default
   * (`ExecutorTraits.concurrency`), else `DEFAULT_CONCURRENCY` (./defaults.ts).
   */
  readonly concurrency: number | undefined;
  readonly ordered: boolean;
  readonly batchSize: number | 'auto';
  /** Per attempt, in ms; `undefined` for none. */
  readonly timeout: number | undefined;
  readonly retry: RetryPolicy;
  readonly transfer: ((input: In) => readonly Transferable[]) | undefined;
  /** Called with the counts, throttled, and once more on completion. */
  readonly progress?: ((progress: Progress) => void) | undefined;
  /** How many items the source will give, when known (for the progress ETA). */
  readonly total?: number | undefined;
  /** Per-key order (src/engine/keys.ts): throws for an input whose key cannot be had. */
  readonly key?: ((input: In) => Key) | undefined;
  /**
   * The source's items are themselves items of another stream, in these spans (a remote batch
   * that `rxpool worker` runs): a task's `context.index` and `context.attempt` are theirs.
   */
  readonly origin?: readonly ItemSpan[] | undefined;
  /**
   * The trace context of the item pushed `i`-th at `traces[i]`, given with the items (a remote
   * worker passes on its job's), instead of the OpenTelemetry context active at each push.
   */
  readonly traces?: readonly (TraceCarrier | undefined)[] | undefined;
  /**
   * Flat items (./flat.ts): each item's work gives many values, which come while it runs; the
   * most of one item's values held here and not emitted.
   */
  readonly flat?: { readonly highWaterMark: number } | undefined;
}

/** How the engine talks to its face. */
export interface EngineHooks<In, Out> {
  /**
   * An item succeeded (in source order when `ordered`); a flat item's values, one call each, as
   * they come (all of an item's before the next item's when `ordered`).
   */
  value(value: Out, index: number, input: In): void;
  /** An item failed for good (after its retries). */
  failure(error: TaskError<In>): void;
  /** The input ended and every item was emitted. */
  complete(): void;
  /**
   * The engine stopped for a reason that is no item's: the pool was destroyed, or the source
   * failed (`fail`, after the items it gave were emitted).
   */
  error(error: unknown): void;
  /** There is room in the window: a pulling face may `push` more. */
  pull?(): void;
}

const noop = () => {};

/** The hooks of a stopped engine: whatever still comes back goes nowhere. */
export const closedHooks: EngineHooks<any, any> = {
  value: noop,
  failure: noop,
  complete: noop,
  error: noop,
};
