/**
 * Case `trivial`: x*x per item, where per-item messaging is all the cost. rxpool's parallelMap
 * (ordered and unordered, default options) against the naive `mergeMap(x => pool.run(x), 64)` on
 * tinypool and on piscina, Python's `multiprocessing.Pool.map` and `Pool.imap(chunksize=1)`, and
 * the same RxJS pipeline on the main thread (the limit: every result crosses this thread anyway).
 */
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { lastValueFrom, map, mergeMap, type OperatorFunction, range, toArray } from 'rxjs';
import { createPool } from 'rxpool';
import { parallelMap } from 'rxpool/operators';
import { Tinypool } from 'tinypool';
import {
  type BenchCase,
  type Contender,
  capture,
  checksum,
  cores,
  expectEqual,
  goal,
  hasPython,
  interleave,
  lastJsonLine,
  numbers,
  type Sample,
  TASKS,
  throughputRow,
  timed,
} from '../harness.js';

const PYTHON_SCRIPT = fileURLToPath(new URL('../python/pool_map.py', import.meta.url));

const NAMES = {
  ordered: 'rxpool parallelMap ordered',
  unordered: 'rxpool parallelMap unordered',
  tinypool: 'mergeMap + tinypool.run (64)',
  piscina: 'mergeMap + piscina.run (64)',
  pyMap: 'Python Pool.map',
  pyImap: 'Python Pool.imap chunksize=1',
  mainThread: 'main thread (RxJS map)',
} as const;

export const trivial: BenchCase = {
  id: 'trivial',
  title: 'trivial items (x*x)',
  async run(settings) {
    const { quick } = settings;
    const items = quick ? 100_000 : 300_000;
    // The per-item contenders move ~25k items/s: they get fewer items, and are compared by items/s.
    const few = quick ? 2_000 : 10_000;
    const rounds = quick ? 3 : 21;
    const expected = new Map(
      [items, few].map((n) => [n, checksum(Array.from(numbers(n), (x) => x * x))]),
    );

    const pool = createPool();
    const tiny = new Tinypool({ filename: TASKS.href, minThreads: cores, maxThreads: cores });
    const pisc = new Piscina({ filename: TASKS.href, minThreads: cores, maxThreads: cores });
    const python = hasPython();

    /**
     * Times `range(0, n)` through `operator` into an array, as `Pool.map` makes a list; what came
     * out is checked after the clock stops, as the Python script sums its list untimed.
     */
    const pipeline = (
      name: string,
      n: number,
      operator: OperatorFunction<number, number>,
    ): Contender => ({
      name,
      items: n,
      async run(): Promise<Sample> {
        let results: number[] = [];
        const ms = await timed(async () => {
          results = await lastValueFrom(range(0, n).pipe(operator, toArray()));
        });
        expectEqual(checksum(results), expected.get(n)!, name);
        return { ms };
      },
    });
    const pythonAnchor = (name: string, mode: 'map' | 'imap', n: number): Contender => ({
      name,
      items: n,
      async run(): Promise<Sample> {
        if (!python) return { ms: Number.NaN };
        const out = await capture('python3', [
          PYTHON_SCRIPT,
          ...['--mode', mode, '--items', String(n), '--processes', String(cores)],
        ]);
        // The script times only the map, on a started and warmed-up Pool.
        return { ms: lastJsonLine<{ seconds: number }>(out).seconds * 1000 };
      },
      // Each run starts its own Pool and warms it up before timing.
      async warmUp() {},
    });

    const square = (x: number) => x * x;
    const contenders: Contender[] = [
      pipeline(NAMES.ordered, items, parallelMap(square, { pool })),
      pipeline(NAMES.unordered, items, parallelMap(square, { pool, ordered: false })),
      pipeline(
        NAMES.tinypool,
        few,
        mergeMap((x) => tiny.run(x) as Promise<number>, 64),
      ),
      pipeline(
        NAMES.piscina,
        few,
        mergeMap((x) => pisc.run(x) as Promise<number>, 64),
      ),
      pythonAnchor(NAMES.pyMap, 'map', items),
      pythonAnchor(NAMES.pyImap, 'imap', few),
      pipeline(NAMES.mainThread, items, map(square)),
    ];

    try {
      const samples = await interleave(contenders, rounds, settings, 'trivial');
      const rows = contenders.map((c) => throughputRow(c.name, c.items!, samples.get(c.name)!));
      const rate = (name: string) => rows.find((r) => r.contender === name)!.metrics['items/s']!;
      return {
        params: { items, 'items (per-item contenders)': few, rounds, workers: cores },
        rows,
        goals: [
          goal(
            'rxpool ordered / Python Pool.map (items/s)',
            rate(NAMES.ordered) / rate(NAMES.pyMap),
            '>=',
            1.5,
          ),
          goal(
            'rxpool ordered / mergeMap + tinypool (items/s)',
            rate(NAMES.ordered) / rate(NAMES.tinypool),
            '>=',
            100,
          ),
          goal(
            'rxpool ordered / unordered (items/s)',
            rate(NAMES.ordered) / rate(NAMES.unordered),
            '>=',
            0.9,
          ),
        ],
        notes: [
          `Every pool has ${cores} workers, started and warmed up before the rounds (start-up is not timed).`,
          'The per-item contenders (tinypool, piscina, Python imap) run on fewer items; compare items/s.',
          "Python's times are taken inside the script, around the map alone; the Pool is started and warmed up first.",
          'Every contender is timed until its results are in a list (`toArray()` here, the list `Pool.map` returns in Python); the results are checked after the clock stops, on both sides.',
          python ? '' : 'python3 was not found: the Python rows could not be measured.',
        ].filter((note) => note !== ''),
      };
    } finally {
      await Promise.all([pool.close(), tiny.destroy(), pisc.destroy()]);
    }
  },
};
