/**
 * Case `imap`: `pool.imap` over an endless synchronous generator, as a user starts and stops it:
 * the time to the first result, with a trivial input and with one that
 * costs 2 µs of this thread per item (a parser, say: 33 ms to read the 16,384 items of the
 * window), how much was read by then, and how long `break` (the iterator's `return()`) takes;
 * against `pool.run` of one item on the same pool, in the same rounds. And the steady state: a
 * long generator through `pool.imap` against the same items through `parallelMap`.
 */
import { from, lastValueFrom, reduce } from 'rxjs';
import { createPool, type Pool } from 'rxpool';
import { parallelMap } from 'rxpool/operators';
import {
  type BenchCase,
  type Contender,
  checksum,
  cores,
  expectEqual,
  goal,
  interleave,
  median,
  numbers,
  percentile,
  type Row,
  type Sample,
  throughputRow,
  timed,
} from '../harness.js';

const NAMES = {
  run: 'pool.run, one item (baseline)',
  trivial: 'pool.imap first result, endless generator',
  costly: 'pool.imap first result, endless generator, 2 us/item',
  imap: 'pool.imap, generator (steady state)',
  parallelMap: 'parallelMap, from(array) (steady state)',
} as const;

const square = (x: number) => x * x;

/** Counts up for ever; each item costs `us` µs of this thread first. */
function* endless(state: { reads: number }, us: number): Generator<number> {
  for (let i = 0; ; i++) {
    if (us > 0) {
      const until = performance.now() + us / 1000;
      while (performance.now() < until);
    }
    state.reads++;
    yield i;
  }
}

/** The first result of an endless stream, then a break: ms to the result, reads, ms of the break. */
async function firstThenBreak(pool: Pool, us: number): Promise<Sample> {
  const state = { reads: 0 };
  const started = performance.now();
  const iterator = pool.imap(square, endless(state, us));
  const first = await iterator.next();
  const gotFirst = performance.now();
  const reads = state.reads;
  await iterator.return!();
  const broke = performance.now();
  expectEqual(first.value as number, 0, 'first result');
  return { ms: gotFirst - started, reads, breakMs: broke - gotFirst };
}

export const imap: BenchCase = {
  id: 'imap',
  title: 'pool.imap: first result, break, steady state',
  async run(settings) {
    const { quick } = settings;
    const rounds = quick ? 5 : 21;
    const items = quick ? 100_000 : 300_000;
    const expected = checksum(Array.from(numbers(items), square));
    const pool = createPool();
    const sum = (values: Iterable<number>) => {
      let total = 0;
      for (const v of values) total = (total + v) % 1_000_000_007;
      return total;
    };
    const contenders: Contender[] = [
      {
        name: NAMES.run,
        async run() {
          let result = 0;
          const ms = await timed(async () => {
            result = await pool.run(square, 3);
          });
          expectEqual(result, 9, NAMES.run);
          return { ms };
        },
      },
      { name: NAMES.trivial, run: () => firstThenBreak(pool, 0) },
      { name: NAMES.costly, run: () => firstThenBreak(pool, 2) },
      {
        name: NAMES.imap,
        items,
        async run() {
          const results: number[] = [];
          const ms = await timed(async () => {
            for await (const v of pool.imap(square, numbers(items))) results.push(v);
          });
          expectEqual(checksum(results), expected, NAMES.imap);
          return { ms };
        },
      },
      {
        name: NAMES.parallelMap,
        items,
        async run() {
          const input = Array.from(numbers(items));
          let total = 0;
          const ms = await timed(async () => {
            total = await lastValueFrom(
              from(input).pipe(
                parallelMap(square, { pool }),
                reduce((acc, v) => (acc + v) % 1_000_000_007, 0),
              ),
            );
          });
          expectEqual(total, sum(input.map(square)), NAMES.parallelMap);
          return { ms };
        },
      },
    ];
    try {
      const samples = await interleave(contenders, rounds, settings, 'imap');
      const latencyRow = (name: string): Row => {
        const all = samples.get(name)!;
        const ms = all.map((s) => s.ms);
        const metrics: Record<string, number> = {
          rounds,
          'p50 ms': percentile(ms, 50),
          'p90 ms': percentile(ms, 90),
          'max ms': Math.max(...ms),
        };
        if (name !== NAMES.run) {
          metrics['items read (median)'] = median(all.map((s) => s.reads!));
          metrics['break p50 ms'] = percentile(
            all.map((s) => s.breakMs!),
            50,
          );
          metrics['break max ms'] = Math.max(...all.map((s) => s.breakMs!));
        }
        return { contender: name, metrics, samples: all };
      };
      const rows = [
        latencyRow(NAMES.run),
        latencyRow(NAMES.trivial),
        latencyRow(NAMES.costly),
        throughputRow(NAMES.imap, items, samples.get(NAMES.imap)!),
        throughputRow(NAMES.parallelMap, items, samples.get(NAMES.parallelMap)!),
      ];
      const p50 = (i: number) => rows[i]!.metrics['p50 ms']!;
      return {
        params: { rounds, 'steady-state items': items, workers: cores, task: 'x*x (inline)' },
        rows,
        goals: [
          goal('first result, 2 us/item input: p50 ms', p50(2), '<', 5),
          goal('first result, 2 us/item input: p50 / pool.run p50', p50(2) / p50(0), '<=', 25),
          goal(
            'break (return()) p50 ms, 2 us/item input',
            rows[2]!.metrics['break p50 ms']!,
            '<',
            2,
          ),
        ],
        notes: [
          'First result: from the pool.imap call to the first value, on a warm pool; then the loop breaks (the iterator is returned), and the next round starts.',
          'items read: how many items the generator gave by the first result (the window is 16,384). A sync generator is read in short slices, so results come back while it is still being read.',
          'Steady state: the same x*x over the same items, pulled from a generator by pool.imap and pushed from an array through parallelMap; rounds interleaved. No goal: the ratio swings widely between runs on a shared machine; compare versions with an in-process A/B (bench/RESULTS.md).',
        ],
      };
    } finally {
      await pool.close();
    }
  },
};
