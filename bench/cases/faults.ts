/**
 * Case `faults`: CPU-bound items of which 1% exit their worker, against the same items with none,
 * on one pool, rounds interleaved; and the faulty items on a pool made without a spare worker
 * (the executor's `spare` off: each replacement starts when its worker dies). Each exit costs a
 * worker replacement (a new thread, the worker runtime and the task module loaded again); the
 * other workers must keep running meanwhile, so the faulty run should lose about the
 * replacements' time over the pool's width, not stall on each.
 */
import { from, tap } from 'rxjs';
import { createPool, task } from 'rxpool';
import { parallelSettle } from 'rxpool/operators';
// The same module instances as rxpool's own (the package resolves to dist/ too): the executor, whose
// `spare` switch no user sets.
import { defaultSize } from '../../dist/src/threads/executor.js';
import { threadExecutor } from '../../dist/src/threads/thread-executor.js';
import {
  type BenchCase,
  type Contender,
  cores,
  expectEqual,
  interleave,
  median,
  random,
  type Sample,
  TASKS,
  throughputRow,
  timed,
} from '../harness.js';

const NAMES = {
  clean: 'rxpool parallelSettle, no faults',
  faulty: 'rxpool parallelSettle, 1% exit their worker',
  noSpare: 'rxpool parallelSettle, 1% exit their worker, no spare worker',
} as const;

/** Each item spins this long, in ms. */
const SPIN_MS = 0.5;
/** The share of items that exit their worker. */
const EXIT_RATE = 0.01;

interface FaultInput {
  readonly ms: number;
  readonly exit: boolean;
}

export const faults: BenchCase = {
  id: 'faults',
  title: 'faults (1% of items exit their worker)',
  async run(settings) {
    const items = settings.quick ? 400 : 5_000;
    const rounds = settings.quick ? 2 : 7;
    const next = random(11);
    const faulty = Array.from({ length: items }, () => ({
      ms: SPIN_MS,
      exit: next() < EXIT_RATE,
    }));
    const exits = faulty.filter((input) => input.exit).length;
    const clean = faulty.map(({ ms }) => ({ ms, exit: false }));
    const work = task<FaultInput, number>(TASKS, 'spinOrExit');
    const pool = createPool();
    const withoutSpare = createPool({
      executor: threadExecutor({ size: defaultSize(), spare: false }),
    });

    const contender = (
      name: string,
      inputs: readonly FaultInput[],
      on: ReturnType<typeof createPool> = pool,
    ): Contender => ({
      name,
      async run(): Promise<Sample> {
        let ok = 0;
        let failed = 0;
        const ms = await timed(() =>
          from(inputs)
            .pipe(
              parallelSettle(work, { pool: on }),
              tap((settled) => {
                if (settled.ok) ok++;
                else failed++;
              }),
            )
            .forEach(() => {}),
        );
        const expectedFailed = inputs.filter((input) => input.exit).length;
        expectEqual(failed, expectedFailed, `${name}: items failed`);
        expectEqual(ok, items - expectedFailed, `${name}: items succeeded`);
        return { ms };
      },
    });

    try {
      const samples = await interleave(
        [
          contender(NAMES.clean, clean),
          contender(NAMES.faulty, faulty),
          contender(NAMES.noSpare, faulty, withoutSpare),
        ],
        rounds,
        settings,
        'faults',
      );
      const cleanMs = median(samples.get(NAMES.clean)!.map((s) => s.ms));
      const faultyMs = median(samples.get(NAMES.faulty)!.map((s) => s.ms));
      const noSpareMs = median(samples.get(NAMES.noSpare)!.map((s) => s.ms));
      // Each round's run with a spare against the one without, of the same round.
      const spareRatios = samples
        .get(NAMES.noSpare)!
        .map((s, i) => s.ms / samples.get(NAMES.faulty)![i]!.ms);
      // Each round's faulty run against the clean run of the same round: the ratio's spread.
      const ratios = samples
        .get(NAMES.clean)!
        .map((s, i) => s.ms / samples.get(NAMES.faulty)![i]!.ms);
      return {
        params: {
          items,
          rounds,
          workers: cores,
          'spin ms': SPIN_MS,
          'items that exit': exits,
        },
        rows: [
          throughputRow(NAMES.clean, items, samples.get(NAMES.clean)!),
          throughputRow(NAMES.faulty, items, samples.get(NAMES.faulty)!),
          throughputRow(NAMES.noSpare, items, samples.get(NAMES.noSpare)!),
          {
            contender: 'faulty / clean items/s',
            metrics: {
              'ratio (median)': cleanMs / faultyMs,
              'ratio (min)': Math.min(...ratios),
              'ratio (max)': Math.max(...ratios),
              'ms per exit': (faultyMs - cleanMs) / exits,
            },
          },
          {
            contender: 'with a spare / without, items/s',
            metrics: {
              'ratio (median)': noSpareMs / faultyMs,
              'ratio (min)': Math.min(...spareRatios),
              'ratio (max)': Math.max(...spareRatios),
              'ms per exit without': (noSpareMs - cleanMs) / exits,
            },
          },
        ],
        goals: [],
        notes: [
          "'ms per exit' is the median faulty run's extra time over the median clean run's, per item that exited: what one worker replacement costs the whole pool. A stall of every worker during each replacement would cost about a replacement's full time (30-50 ms on a 2-core machine); a replacement that overlaps the other workers' work, about that over the pool's width, less what the dead worker's share of the work was.",
          'ratio (min) and (max) are over the rounds, each faulty run against the clean run of the same round.',
        ],
      };
    } finally {
      await Promise.all([pool.close(), withoutSpare.close()]);
    }
  },
};
