/**
 * A small stand-in for the pool's engine, to drive an executor through the seam's `run(batch,
 * report)` alone (until the pool takes any executor): it cuts the inputs into batches, keeps at
 * most `capacity()` out, and deals with each outcome as the seam says: `done` keeps the first
 * `count` items' outcomes and sends the rest again; `crashed` charges its position (or the only
 * item) and sends its batch-mates again, or sends every item again alone when the position is
 * unknown; `unsendable` fails the blamed items for good; `aborted` and `lost` send all again.
 * An item's failure is tried again while it is retryable and attempts remain.
 */
import type {
  BatchOutcome,
  Executor,
  ItemFailure,
  RunningBatch,
  WorkSpec,
} from '../../src/executor/contract.js';

export type Result =
  | { readonly ok: true; readonly value: unknown; readonly attempts: number }
  | {
      readonly ok: false;
      readonly error: Error;
      readonly kind: ItemFailure['kind'] | 'unsendable';
      readonly attempts: number;
    };

export interface DriveOptions {
  readonly batch: number;
  readonly retry?: number;
  readonly timeout?: number;
  readonly stream?: string;
  /** Every outcome, with the input indices of its batch, as it arrives. */
  readonly onOutcome?: (outcome: BatchOutcome, indices: readonly number[]) => void;
  /** Every batch started, with its handle (to abort it). */
  readonly onRun?: (running: RunningBatch, indices: readonly number[]) => void;
  /** Fails the drive when it has not ended by then (default 120 s). */
  readonly deadlineMs?: number;
}

let streams = 0;

export function drive(
  executor: Executor,
  work: WorkSpec,
  inputs: readonly unknown[],
  options: DriveOptions,
): Promise<Result[]> {
  const retry = options.retry ?? 0;
  const stream = options.stream ?? `drive-${process.pid}-${streams++}`;
  const results: (Result | undefined)[] = new Array(inputs.length);
  const attempts: number[] = new Array(inputs.length).fill(0);
  const pending: number[][] = [];
  for (let i = 0; i < inputs.length; i += options.batch) {
    pending.push(
      Array.from({ length: Math.min(options.batch, inputs.length - i) }, (_, k) => i + k),
    );
  }
  let out = 0;
  let left = inputs.length;
  return new Promise<Result[]>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`drive: ${left} items still unsettled, ${out} batches out`)),
      options.deadlineMs ?? 120_000,
    );
    const settle = (i: number, result: Result) => {
      if (results[i] !== undefined) {
        reject(new Error(`drive: item ${i} settled twice`));
        return;
      }
      results[i] = result;
      left--;
    };
    const charge = (i: number, failure: ItemFailure, again: number[][]) => {
      attempts[i]!++;
      if (failure.retryable && attempts[i]! <= retry) again.push([i]);
      else
        settle(i, { ok: false, error: failure.error, kind: failure.kind, attempts: attempts[i]! });
    };
    const handle = (indices: number[], outcome: BatchOutcome) => {
      const again: number[][] = [];
      switch (outcome.type) {
        case 'done':
          indices.forEach((i, p) => {
            if (p >= outcome.count) return;
            const failure = outcome.failures?.[p];
            if (failure) charge(i, failure, again);
            else settle(i, { ok: true, value: outcome.values[p], attempts: attempts[i]! + 1 });
          });
          if (outcome.count < indices.length) again.push(indices.slice(outcome.count));
          break;
        case 'crashed': {
          const { position } = outcome;
          if (position !== undefined || indices.length === 1) {
            const culprit = position ?? 0;
            indices.forEach((i, p) => {
              if (p === culprit) {
                charge(i, { error: outcome.error, kind: 'crashed', retryable: true }, again);
              } else {
                again.push([i]);
              }
            });
          } else {
            for (const i of indices) again.push([i]);
          }
          break;
        }
        case 'unsendable':
          indices.forEach((i, p) => {
            const error = outcome.blamed?.get(p);
            if (outcome.blamed === undefined) again.push([i]);
            else if (error)
              settle(i, { ok: false, error, kind: 'unsendable', attempts: attempts[i]! + 1 });
            else again.push([i]);
          });
          break;
        case 'aborted':
        case 'lost':
          again.push(indices);
          break;
      }
      pending.unshift(...again);
    };
    const pump = () => {
      while (out < executor.capacity() && pending.length > 0) {
        const indices = pending.shift()!;
        out++;
        let reported = false;
        let synchronous = true;
        const running = executor.run(
          {
            work,
            inputs: indices.map((i) => inputs[i]),
            transferList: undefined,
            timeout: options.timeout,
            expectedMs: undefined,
            stream,
          },
          (outcome) => {
            if (synchronous) reject(new Error('drive: report called synchronously'));
            if (reported) reject(new Error('drive: report called twice'));
            reported = true;
            out--;
            options.onOutcome?.(outcome, indices);
            handle(indices, outcome);
            if (left === 0 && out === 0) {
              clearTimeout(timer);
              resolve(results as Result[]);
            } else {
              pump();
            }
          },
        );
        synchronous = false;
        options.onRun?.(running, indices);
      }
    };
    executor.onCapacity?.(pump);
    if (left === 0) {
      clearTimeout(timer);
      resolve([]);
      return;
    }
    pump();
  });
}
