/**
 * Case `records`: plain objects (orders of about 170 bytes of JSON) already in memory, mapped by a
 * task that picks four fields and computes one: the shape of real data, where moving a record
 * costs more than the work on it. rxpool's parallelMap (ordered) and pool.map against Python's
 * `multiprocessing.Pool.map` on the same records as dicts, and the same map on the main thread.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { from, lastValueFrom, map, type OperatorFunction, toArray } from 'rxjs';
import { createPool, task } from 'rxpool';
import { parallelMap } from 'rxpool/operators';
// The same module instances as rxpool's own (the package resolves to dist/ too): the executor, whose
// `jsonResults` switch no user sets.
import { defaultSize } from '../../dist/src/threads/executor.js';
import { threadExecutor } from '../../dist/src/threads/thread-executor.js';
import {
  type BenchCase,
  type Contender,
  capture,
  cores,
  expectEqual,
  goal,
  hasPython,
  interleave,
  lastJsonLine,
  median,
  type Sample,
  throughputRow,
  timed,
} from '../harness.js';

const PYTHON_SCRIPT = fileURLToPath(new URL('../python/records.py', import.meta.url));
export const RECORDS = new URL('../workers/records.mjs', import.meta.url);

/** A record, and what the task makes of it (bench/workers/records.mjs). */
export interface Order {
  readonly id: number;
  readonly user: { readonly name: string; readonly country: string };
  readonly amount: number;
  readonly currency: string;
}
export interface Summary {
  readonly id: number;
  readonly eur: number;
}
export interface RecordsModule {
  records(count: number, seed?: number): Generator<Order>;
  summarize(order: Order): Summary;
  summaryChecksum(summaries: Iterable<Summary>): number;
}

const NAMES = {
  ordered: 'rxpool parallelMap ordered',
  orderedClone: 'rxpool parallelMap ordered, results by structured clone',
  poolMap: 'rxpool pool.map',
  pyMap: 'Python Pool.map',
  mainThread: 'main thread (RxJS map)',
} as const;

export const records: BenchCase = {
  id: 'records',
  title: 'records (plain objects, a light task)',
  async run(settings) {
    const { quick } = settings;
    const items = quick ? 20_000 : 200_000;
    const rounds = quick ? 3 : 11;
    const mod = (await import(RECORDS.href)) as RecordsModule;
    const inputs = [...mod.records(items)];
    const expected = mod.summaryChecksum(inputs.map(mod.summarize));
    const dir = mkdtempSync(join(tmpdir(), 'rxpool-bench-records-'));
    const file = join(dir, 'records.ndjson');
    writeFileSync(file, `${inputs.map((r) => JSON.stringify(r)).join('\n')}\n`);
    const python = hasPython();

    const pool = createPool();
    /** The same pool with the JSON path for results turned off. */
    const plain = createPool({
      executor: threadExecutor({ size: defaultSize(), jsonResults: false }),
    });
    const summarize = task<Order, Summary>(RECORDS, 'summarize');
    /** Timed until the results are in an array, checked after the clock stops. */
    const contender = (name: string, run: () => Promise<Summary[]>): Contender => ({
      name,
      items,
      async run(): Promise<Sample> {
        let results: Summary[] = [];
        const ms = await timed(async () => {
          results = await run();
        });
        expectEqual(mod.summaryChecksum(results), expected, name);
        return { ms };
      },
    });
    const pipeline = (name: string, operator: OperatorFunction<Order, Summary>) =>
      contender(name, () => lastValueFrom(from(inputs).pipe(operator, toArray())));

    const contenders: Contender[] = [
      pipeline(NAMES.ordered, parallelMap(summarize, { pool })),
      pipeline(NAMES.orderedClone, parallelMap(summarize, { pool: plain })),
      contender(NAMES.poolMap, () => pool.map(summarize, inputs)),
      {
        name: NAMES.pyMap,
        items,
        async run(): Promise<Sample> {
          if (!python) return { ms: Number.NaN };
          const out = await capture('python3', [
            PYTHON_SCRIPT,
            ...['--input', file, '--processes', String(cores)],
          ]);
          const result = lastJsonLine<{ seconds: number; checksum: number }>(out);
          expectEqual(result.checksum, expected, NAMES.pyMap);
          return { ms: result.seconds * 1000 };
        },
        async warmUp() {},
      },
      pipeline(NAMES.mainThread, map(mod.summarize)),
    ];

    try {
      const samples = await interleave(contenders, rounds, settings, 'records');
      const rows = contenders.map((c) => throughputRow(c.name, items, samples.get(c.name)!));
      const rate = (name: string) => rows.find((r) => r.contender === name)!.metrics['items/s']!;
      // Round by round (the two ran in the same round, in shuffled order): time off / time on.
      const on = samples.get(NAMES.ordered)!;
      const off = samples.get(NAMES.orderedClone)!;
      const gains = on.map((sample, i) => off[i]!.ms / sample.ms);
      const gain = median(gains);
      return {
        params: {
          items,
          rounds,
          workers: cores,
          'bytes per record (JSON)': 170,
          'JSON results on / off, items/s (median of rounds)': gain,
          'JSON results on / off, min': Math.min(...gains),
          'JSON results on / off, max': Math.max(...gains),
        },
        rows,
        goals: [
          goal(
            'rxpool ordered / Python Pool.map (items/s)',
            rate(NAMES.ordered) / rate(NAMES.pyMap),
            '>=',
            2.5,
          ),
        ],

        notes: [
          'Every contender runs summarize() of bench/workers/records.mjs (Python: the same function in bench/python/records.py) on the same records, in memory before the clock starts.',
          "Python's time is taken inside the script around `pool.map` alone, on a started and warmed-up Pool.",
          `"results by structured clone" is the same parallelMap with the JSON path for results off (src/wire/exact-json.ts): on / off ${gain.toFixed(3)} (rounds ${Math.min(...gains).toFixed(3)}-${Math.max(...gains).toFixed(3)}).`,
          'The main-thread row is the limit a parallel map must beat to be worth it for this task.',
          python ? '' : 'python3 was not found: the Python row could not be measured.',
        ].filter((note) => note !== ''),
      };
    } finally {
      await Promise.all([pool.close(), plain.close()]);
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
