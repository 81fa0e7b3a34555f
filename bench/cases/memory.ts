/**
 * Case `memory`: a long stream (1,000,000 items from a generator) through `pool.imap` with a
 * trivial task, of numbers and of small records; the peak RSS growth over the baseline must stay
 * small, because imap pulls its input only while its window has room. Each run is a fresh child
 * process (memory-child.ts).
 */
import { fileURLToPath } from 'node:url';
import {
  type BenchCase,
  capture,
  cores,
  goal,
  lastJsonLine,
  median,
  type Row,
  type Sample,
} from '../harness.js';

const NAMES = {
  numbers: 'rxpool pool.imap (generator of numbers)',
  objects: 'rxpool pool.imap (generator of { id, name })',
} as const;

const CHILD = fileURLToPath(new URL('./memory-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface ChildReport {
  readonly ms: number;
  readonly itemsPerSec: number;
  readonly baselineMb: number;
  readonly peakMb: number;
  readonly growthMb: number;
  readonly peakHeapMb: number;
  readonly baselineHeapMb: number;
  readonly leftHeapMb: number;
}

export const memory: BenchCase = {
  id: 'memory',
  title: 'memory of a long pool.imap stream',
  async run(settings) {
    const items = settings.quick ? 200_000 : 1_000_000;
    const runs = settings.quick ? 1 : 3;
    const reports = new Map<keyof typeof NAMES, ChildReport[]>([
      ['numbers', []],
      ['objects', []],
    ]);
    for (let i = 0; i < runs; i++) {
      for (const shape of reports.keys()) {
        settings.log(`memory: ${shape}, run ${i + 1}/${runs} (child process)`);
        const out = await capture(
          process.execPath,
          ['--import', 'tsx', '--expose-gc', CHILD, '--items', String(items), '--shape', shape],
          { cwd: ROOT },
        );
        reports.get(shape)!.push(lastJsonLine<ChildReport>(out));
      }
    }
    const row = (shape: keyof typeof NAMES): Row => {
      const all = reports.get(shape)!;
      const of = (f: (r: ChildReport) => number) => all.map(f);
      return {
        contender: NAMES[shape],
        metrics: {
          items,
          'items/s': median(of((r) => r.itemsPerSec)),
          'baseline RSS MB': median(of((r) => r.baselineMb)),
          'peak growth MB (median)': median(of((r) => r.growthMb)),
          'peak growth MB (max)': Math.max(...of((r) => r.growthMb)),
          'heap growth MB (median)': median(of((r) => r.peakHeapMb - r.baselineHeapMb)),
          'heap left MB (max)': Math.max(...of((r) => r.leftHeapMb)),
        },
        samples: all.map((r): Sample => ({ ...r })),
      };
    };
    const rows = [row('numbers'), row('objects')];
    const worst = rows[0]!.metrics['peak growth MB (max)']!;
    return {
      params: { items, runs, workers: cores, task: 'x*x (inline); { id, name } -> { id, square }' },
      rows,
      goals: [goal('peak RSS growth, numbers, MB (max over runs)', worst, '<', 50)],
      notes: [
        'Each run is a fresh node process: the pool is started and warmed up, garbage is collected, then the baseline RSS is read; RSS is sampled every 10 ms and every 4096 items while the stream runs.',
        'growth = peak RSS during the stream - baseline; the goal is checked on the worst run of numbers.',
        "heap growth: this thread's peak heapUsed - its baseline; heap left: heapUsed after the stream and a full collection - baseline (0 when the stream keeps nothing).",
        'Most of the growth is garbage not yet collected (V8 collects its young generation, 16 MB semi-spaces by default, and the old one when it has grown): it depends on what each item allocates on this thread, not on the number of items; see README, Benchmarks.',
      ],
    };
  },
};
