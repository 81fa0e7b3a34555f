/**
 * Case `skewed`: items of heavy-tailed durations (Pareto-distributed spin times), where ordered
 * mode must hold finished results behind a slow one. Ordered against unordered throughput, the
 * ideal (all spin time spread evenly over the cores), and the largest reorder buffer seen.
 */
import { from, tap } from 'rxjs';
import { createPool, DEFAULT_CONCURRENCY, task } from 'rxpool';
import { parallelMap } from 'rxpool/operators';
import {
  type BenchCase,
  type Contender,
  cores,
  expectEqual,
  interleave,
  type Row,
  random,
  type Sample,
  TASKS,
  throughputRow,
  timed,
} from '../harness.js';

const NAMES = {
  ordered: 'rxpool parallelMap ordered',
  unordered: 'rxpool parallelMap unordered',
  ideal: 'ideal (total spin time / cores)',
} as const;

/** Pareto shape: a heavy tail (infinite variance) with a finite mean of 3 x the minimum. */
const ALPHA = 1.5;
/** The shortest item, in ms. */
const MIN_MS = 0.25;
/** The longest item, in ms: the tail is cut here so that one round stays bounded. */
const MAX_MS = 50;

interface SpinInput {
  readonly ms: number;
  readonly shared: SharedArrayBuffer;
}

/** `count` Pareto-distributed durations in ms, cut at {@link MAX_MS} (the same every run). */
function durations(count: number): number[] {
  const next = random(4);
  return Array.from({ length: count }, () =>
    Math.min(MAX_MS, MIN_MS / (1 - next()) ** (1 / ALPHA)),
  );
}

export const skewed: BenchCase = {
  id: 'skewed',
  title: 'skewed durations (Pareto spin times)',
  async run(settings) {
    const items = settings.quick ? 400 : 2_000;
    const rounds = settings.quick ? 3 : 5;
    const spins = durations(items);
    const totalMs = spins.reduce((a, b) => a + b, 0);
    const spin = task<SpinInput, number>(TASKS, 'spin');
    const pool = createPool();

    /**
     * One run. `finished[0]` counts the items the workers have finished (spin() adds 1 as it
     * returns); at each emission, finished - emitted is how many results are done but not yet out:
     * in ordered mode mostly the reorder buffer, in unordered mode only what is in transit.
     */
    const contender = (name: string, ordered: boolean): Contender => ({
      name,
      async run(): Promise<Sample> {
        const shared = new SharedArrayBuffer(4);
        const finished = new Int32Array(shared);
        const inputs = spins.map((ms) => ({ ms, shared }));
        let emitted = 0;
        let waiting = 0;
        let total = 0;
        const ms = await timed(() =>
          from(inputs)
            .pipe(
              parallelMap(spin, { pool, ordered }),
              tap(() => {
                waiting = Math.max(waiting, Atomics.load(finished, 0) - emitted);
                emitted++;
              }),
            )
            .forEach((value) => {
              total += value;
            }),
        );
        expectEqual(emitted, items, `${name}: items out`);
        expectEqual(Math.round(total * 1000), Math.round(totalMs * 1000), `${name}: spin total`);
        return { ms, 'max finished, not emitted': waiting };
      },
    });
    const contenders = [contender(NAMES.ordered, true), contender(NAMES.unordered, false)];

    try {
      const samples = await interleave(contenders, rounds, settings, 'skewed');
      const row = (name: string): Row => {
        const all = samples.get(name)!;
        const base = throughputRow(name, items, all);
        const waiting = Math.max(...all.map((s) => s['max finished, not emitted']!));
        return { ...base, metrics: { ...base.metrics, 'max finished, not emitted': waiting } };
      };
      const idealMs = totalMs / cores;
      return {
        params: {
          items,
          rounds,
          workers: cores,
          'spin ms': `Pareto(alpha ${ALPHA}, min ${MIN_MS}) cut at ${MAX_MS}`,
          'mean spin ms': Number((totalMs / items).toFixed(3)),
          'longest spin ms': Number(Math.max(...spins).toFixed(3)),
          concurrency: DEFAULT_CONCURRENCY,
        },
        rows: [
          row(NAMES.ordered),
          row(NAMES.unordered),
          {
            contender: NAMES.ideal,
            metrics: { items, 'ms (median)': idealMs, 'items/s': items / (idealMs / 1000) },
          },
        ],
        goals: [],
        notes: [
          'ordered / unordered items/s shows what waiting for a slow head costs.',
          "'max finished, not emitted' (the largest over the rounds) counts results that a worker had finished and the stream had not emitted yet, read at each emission from a counter the workers bump in shared memory. In ordered mode it is the reorder buffer (plus results in transit); unordered mode shows the in-transit part alone. Taken - emitted would say less here: with the default concurrency the whole source is taken at once.",
        ],
      };
    } finally {
      await pool.close();
    }
  },
};
