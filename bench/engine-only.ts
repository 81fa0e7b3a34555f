/**
 * The engine's hot path alone: 1M trivial items through an Engine and its Dispatcher onto an
 * executor that answers every batch at once on the main thread (no workers, no messages), so what
 * is measured is the engine's and the Dispatcher's own work per item (push, admit, batch, settle,
 * emit). Prints items/s per round, the median and the spread.
 *
 *   node --import tsx --expose-gc bench/engine-only.ts [rounds]
 */
import { realClock } from '../src/engine/clock.js';
import { Engine } from '../src/engine/engine.js';
import { noRetry } from '../src/engine/retry.js';
import type { BatchOutcome, Executor, ExecutorBatch } from '../src/executor/contract.js';
import { Dispatcher } from '../src/executor/dispatcher.js';

const ITEMS = 1_000_000;
const rounds = Number(process.argv[2] ?? 9);

/** Answers each batch in a microtask with its inputs as the values: the engine's cost only. */
class InstantExecutor implements Executor {
  readonly size = 2;
  readonly traits = { targetBatchMs: 8, enforcesTimeouts: false, knowsPosition: true };
  capacity() {
    return 4;
  }
  run(batch: ExecutorBatch, report: (outcome: BatchOutcome) => void) {
    const values = batch.inputs;
    queueMicrotask(() =>
      report({
        type: 'done',
        values,
        failures: null,
        count: values.length,
        ms: values.length * 1e-4,
      }),
    );
    return { abort() {} };
  }
  async close() {}
  async destroy() {}
}

function once(dispatcher: Dispatcher): Promise<number> {
  return new Promise((resolve, reject) => {
    let sum = 0;
    const started = performance.now();
    const engine = new Engine<number, number>(
      {
        work: { kind: 'inline', source: '(x) => x' },
        concurrency: 16_384,
        ordered: true,
        batchSize: 'auto',
        timeout: undefined,
        retry: noRetry,
        transfer: undefined,
      },
      dispatcher,
      realClock,
      {
        value: (value) => {
          sum += value;
        },
        failure: reject,
        error: reject,
        complete: () => {
          if (sum !== (ITEMS * (ITEMS - 1)) / 2) reject(new Error(`wrong sum ${sum}`));
          resolve(ITEMS / ((performance.now() - started) / 1000));
        },
      },
    );
    for (let i = 0; i < ITEMS; i++) engine.push(i);
    engine.end();
  });
}

const dispatcher = new Dispatcher(new InstantExecutor());
await once(dispatcher); // warm-up
const rates: number[] = [];
for (let r = 0; r < rounds; r++) {
  globalThis.gc?.();
  rates.push(await once(dispatcher));
}
rates.sort((a, b) => a - b);
const median = rates[Math.floor(rates.length / 2)]!;
console.log(
  JSON.stringify({
    rounds,
    itemsPerSecond: rates.map(Math.round),
    median: Math.round(median),
    spreadPct: Math.round(((rates.at(-1)! - rates[0]!) / median) * 1000) / 10,
  }),
);
