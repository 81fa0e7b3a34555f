/**
 * Case `flat`: tasks whose item gives many values (a generator of small records), streamed back
 * by `parallelFlatMap` while they run, against what Python does instead (its Pool cannot stream a
 * generator: f returns a list, and the caller flattens `pool.imap`'s lists), the same lists through
 * `parallelMap` + `mergeAll`, and the loop on the main thread. Three weights of work per value:
 * ~1 us (moving the values dominates), ~5 us (measured, no goal), ~200 us (the work dominates).
 * Then memory: an endless generator through `take(200000)` with a slow consumer, in a child
 * process (flat-memory-child.ts).
 */
import { fileURLToPath } from 'node:url';
import { from, lastValueFrom, mergeAll, type OperatorFunction, reduce } from 'rxjs';
import { createPool, task } from 'rxpool';
import { parallelFlatMap, parallelMap } from 'rxpool/operators';
import {
  type BenchCase,
  type CaseOutcome,
  type Contender,
  capture,
  cores,
  expectEqual,
  type Goal,
  goal,
  hasPython,
  interleave,
  lastJsonLine,
  median,
  type Row,
  type Sample,
  type Settings,
  throughputRow,
  timed,
} from '../harness.js';

const WORKERS = new URL('../workers/flat.mjs', import.meta.url);
const PYTHON_SCRIPT = fileURLToPath(new URL('../python/flat.py', import.meta.url));
const CHILD = fileURLToPath(new URL('./flat-memory-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Python's best `chunksize` for 2,000 items on this machine (1, 4, 16 and 64 tried). */
const CHUNKSIZE = 4;

interface Input {
  readonly item: number;
  readonly count: number;
  readonly workUs: number;
}
interface Value {
  readonly v: number;
}

const NAMES = {
  ordered: 'rxpool parallelFlatMap ordered',
  unordered: 'rxpool parallelFlatMap unordered',
  arrays: 'rxpool parallelMap (arrays) + mergeAll',
  python: 'Python chain.from_iterable(pool.imap(f, chunksize=4))',
  main: 'main thread (a loop over the generators)',
} as const;

export const flat: BenchCase = {
  id: 'flat',
  title: 'flat tasks (a generator of small records per item)',
  async run(settings) {
    const { quick } = settings;
    const rounds = quick ? 2 : 7;
    const mod = (await import(WORKERS.href)) as {
      values(input: Input): Iterable<Value>;
    };
    const pool = createPool();
    const values = task<Input, Iterable<Value>>(WORKERS, 'values');
    const list = task<Input, Value[]>(WORKERS, 'list');
    const python = hasPython();
    const rows: Row[] = [];
    const goals: Goal[] = [];
    const params: Record<string, number | string> = { workers: cores, rounds };

    /** One weight of work: its contenders, run in interleaved rounds. */
    const weigh = async (
      label: string,
      items: number,
      count: number,
      workUs: number,
      names: readonly (keyof typeof NAMES)[],
    ): Promise<(name: keyof typeof NAMES) => number> => {
      const inputs = Array.from({ length: items }, (_, item): Input => ({ item, count, workUs }));
      let expected = 0;
      for (const input of inputs)
        for (const { v } of mod.values({ ...input, workUs: 0 })) expected += v;
      const total = items * count;
      const sum = reduce((s: number, value: Value) => s + value.v, 0);
      const pipeline = (name: string, operator: OperatorFunction<Input, number>): Contender => ({
        name: `${name} [${label}]`,
        items: total,
        async run(): Promise<Sample> {
          let got = 0;
          const ms = await timed(async () => {
            got = await lastValueFrom(from(inputs).pipe(operator));
          });
          expectEqual(got, expected, name);
          return { ms };
        },
      });
      const all: Record<keyof typeof NAMES, Contender> = {
        ordered: pipeline(NAMES.ordered, (s) => s.pipe(parallelFlatMap(values, { pool }), sum)),
        unordered: pipeline(NAMES.unordered, (s) =>
          s.pipe(parallelFlatMap(values, { pool, ordered: false }), sum),
        ),
        arrays: pipeline(NAMES.arrays, (s) => s.pipe(parallelMap(list, { pool }), mergeAll(), sum)),
        python: {
          name: `${NAMES.python} [${label}]`,
          items: total,
          async run(): Promise<Sample> {
            if (!python) return { ms: Number.NaN };
            const out = await capture('python3', [
              PYTHON_SCRIPT,
              ...['--items', String(items), '--values', String(count)],
              ...['--work-us', String(workUs), '--processes', String(cores)],
              ...['--chunksize', String(CHUNKSIZE)],
            ]);
            const result = lastJsonLine<{ seconds: number; checksum: number }>(out);
            expectEqual(result.checksum, expected, NAMES.python);
            return { ms: result.seconds * 1000 };
          },
          async warmUp() {},
        },
        main: {
          name: `${NAMES.main} [${label}]`,
          items: total,
          async run(): Promise<Sample> {
            let got = 0;
            const ms = await timed(() => {
              for (const input of inputs) for (const { v } of mod.values(input)) got += v;
            });
            expectEqual(got, expected, NAMES.main);
            return { ms };
          },
        },
      };
      const contenders = names.map((n) => all[n]);
      const samples = await interleave(contenders, rounds, settings, `flat ${label}`);
      for (const c of contenders) rows.push(throughputRow(c.name, total, samples.get(c.name)!));
      params[`${label}: items x values`] = `${items} x ${count}`;
      // Ratios of medians, and round by round (the two ran in the same round).
      return (name) => median(samples.get(all[name].name)!.map((s) => s.ms));
    };

    try {
      const light = await weigh('1 us', quick ? 400 : 2000, 200, 1, [
        'ordered',
        'unordered',
        'arrays',
        'python',
        'main',
      ]);
      goals.push(
        goal(
          'flat 1 us/value: parallelFlatMap ordered / Python chain(imap) (values/s)',
          light('python') / light('ordered'),
          '>=',
          1.5,
        ),
      );
      if (!quick) {
        const mid = await weigh('5 us', 2000, 200, 5, ['ordered', 'python']);
        params['5 us: parallelFlatMap ordered / Python (no goal)'] = mid('python') / mid('ordered');
      }
      const heavy = await weigh('200 us', quick ? 20 : 100, 50, 200, ['ordered', 'main']);
      goals.push(
        goal(
          'flat 200 us/value: parallelFlatMap ordered / main-thread loop (values/s)',
          heavy('main') / heavy('ordered'),
          '>=',
          1.7,
        ),
      );
      goals.push(...(await memoryRuns(settings, rows, quick)));
    } finally {
      await pool.close();
    }
    const outcome: CaseOutcome = {
      params,
      rows,
      goals,
      notes: [
        'Each value is a record { item, i, v } made after a spin of the stated time on the clock (bench/workers/flat.mjs; Python: bench/python/flat.py, the same).',
        "Python's Pool cannot stream a generator's values from a worker: its f returns the item's list, and the caller flattens imap's lists. Its time is taken inside the script around the loop alone, on a started and warmed-up Pool.",
        'The memory rows run in a child process each: the endless generator read through take(200000) by a consumer that spins 5 us per value (RxJS), or a loop that awaits a macrotask every 64 values (imapFlat); growth = peak RSS - baseline after warm-up and a full collection.',
        python ? '' : 'python3 was not found: the Python rows could not be measured.',
      ].filter((note) => note !== ''),
    };
    return outcome;
  },
};

/** The memory runs: peak RSS growth of an endless generator read slowly. */
async function memoryRuns(settings: Settings, rows: Row[], quick: boolean): Promise<Goal[]> {
  const runs = quick ? 1 : 3;
  const growth: number[] = [];
  for (const face of ['rxjs', 'imap'] as const) {
    const reports: { growthMb: number; valuesPerSec: number; baselineMb: number }[] = [];
    for (let i = 0; i < runs; i++) {
      settings.log(`flat memory: ${face}, run ${i + 1}/${runs} (child process)`);
      const out = await capture(
        process.execPath,
        ['--import', 'tsx', '--expose-gc', CHILD, '--face', face],
        { cwd: ROOT },
      );
      reports.push(lastJsonLine(out));
    }
    growth.push(...reports.map((r) => r.growthMb));
    rows.push({
      contender: `endless generator, take(200000), slow consumer (${face === 'rxjs' ? 'parallelFlatMap' : 'pool.imapFlat'})`,
      metrics: {
        values: 200_000,
        'values/s': median(reports.map((r) => r.valuesPerSec)),
        'baseline RSS MB': median(reports.map((r) => r.baselineMb)),
        'peak growth MB (median)': median(reports.map((r) => r.growthMb)),
        'peak growth MB (max)': Math.max(...reports.map((r) => r.growthMb)),
      },
      samples: reports.map((r): Sample => ({ ms: Number.NaN, ...r })),
    });
  }
  return [
    goal(
      'flat: endless generator, slow consumer: peak RSS growth MB (max)',
      Math.max(...growth),
      '<',
      100,
    ),
  ];
}
