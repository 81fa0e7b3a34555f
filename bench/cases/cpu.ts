/**
 * Case `cpu`: CPU-bound items (fib(27), a few ms each), where the workers should scale with the
 * cores. rxpool's parallelMap against the same RxJS pipeline on the main thread; the speedup's
 * ideal is the core count.
 */
import { from, lastValueFrom, map, type OperatorFunction, reduce } from 'rxjs';
import { createPool, task } from 'rxpool';
import { parallelMap } from 'rxpool/operators';
import {
  addToChecksum,
  type BenchCase,
  type Contender,
  cores,
  expectEqual,
  goal,
  interleave,
  median,
  type Sample,
  TASKS,
  throughputRow,
  timed,
} from '../harness.js';

const NAMES = {
  mainThread: 'main thread (RxJS map)',
  rxpool: 'rxpool parallelMap ordered',
} as const;

const N = 27;

export const cpu: BenchCase = {
  id: 'cpu',
  title: `CPU-bound items (fib(${N}))`,
  async run(settings) {
    const items = settings.quick ? 60 : 400;
    const rounds = settings.quick ? 3 : 15;
    // The very function the workers run, from the same module.
    const { fib } = (await import(TASKS.href)) as { fib: (n: number) => number };
    const inputs = new Array<number>(items).fill(N);
    const expected = addToChecksum(0, fib(N) * items);

    const pool = createPool();
    const pipeline = (name: string, operator: OperatorFunction<number, number>): Contender => ({
      name,
      async run(): Promise<Sample> {
        let result = 0;
        const ms = await timed(async () => {
          result = await lastValueFrom(
            from(inputs).pipe(
              operator,
              reduce((a, v) => a + v, 0),
            ),
          );
        });
        expectEqual(addToChecksum(0, result), expected, name);
        return { ms };
      },
    });
    const contenders = [
      pipeline(NAMES.mainThread, map(fib)),
      pipeline(NAMES.rxpool, parallelMap(task<number, number>(TASKS, 'fib'), { pool })),
    ];

    try {
      const samples = await interleave(contenders, rounds, settings, 'cpu');
      const one = samples.get(NAMES.mainThread)!;
      const many = samples.get(NAMES.rxpool)!;
      const speedup = median(one.map((s) => s.ms)) / median(many.map((s) => s.ms));
      const rxpoolRow = throughputRow(NAMES.rxpool, items, many);
      return {
        params: { items, n: N, rounds, workers: cores },
        rows: [
          throughputRow(NAMES.mainThread, items, one),
          { ...rxpoolRow, metrics: { ...rxpoolRow.metrics, speedup } },
        ],
        goals: [
          goal(
            'speedup of rxpool over one thread',
            speedup,
            '>=',
            0.925 * cores,
            `0.925 x ${cores} cores`,
          ),
        ],
        notes: [
          'speedup = median ms on the main thread / median ms with rxpool; the ideal is the core count.',
          'Both run the same fib() from bench/workers/tasks.mjs; the workers were warmed up first.',
        ],
      };
    } finally {
      await pool.close();
    }
  },
};
