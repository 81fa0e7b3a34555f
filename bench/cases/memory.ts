/**
 * Case `memory`: a long stream (1,000,000 items from a generator) through `pool.imap` with a
 * trivial task; the peak RSS growth over the baseline must stay small, because imap pulls its
 * input only while its window has room. Each run is a fresh child process (memory-child.ts).
 */
import { fileURLToPath } from 'node:url';
import {
  type BenchCase,
  capture,
  cores,
  goal,
  lastJsonLine,
  median,
  type Sample,
} from '../harness.js';

const NAMES = { rxpool: 'rxpool pool.imap (generator)' } as const;

const CHILD = fileURLToPath(new URL('./memory-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface ChildReport {
  readonly ms: number;
  readonly itemsPerSec: number;
  readonly baselineMb: number;
  readonly peakMb: number;
  readonly growthMb: number;
}

export const memory: BenchCase = {
  id: 'memory',
  title: 'memory of a long pool.imap stream',
  async run(settings) {
    const items = settings.quick ? 200_000 : 1_000_000;
    const runs = settings.quick ? 1 : 3;
    const reports: ChildReport[] = [];
    for (let i = 0; i < runs; i++) {
      settings.log(`memory: run ${i + 1}/${runs} (child process)`);
      const out = await capture(
        process.execPath,
        ['--import', 'tsx', '--expose-gc', CHILD, '--items', String(items)],
        { cwd: ROOT },
      );
      reports.push(lastJsonLine<ChildReport>(out));
    }
    const of = (key: keyof ChildReport) => reports.map((r) => r[key]);
    const worst = Math.max(...of('growthMb'));
    return {
      params: { items, runs, workers: cores, task: 'x*x (inline)' },
      rows: [
        {
          contender: NAMES.rxpool,
          metrics: {
            items,
            'items/s': median(of('itemsPerSec')),
            'baseline RSS MB': median(of('baselineMb')),
            'peak RSS MB': median(of('peakMb')),
            'peak growth MB (median)': median(of('growthMb')),
            'peak growth MB (max)': worst,
          },
          samples: reports.map((r): Sample => ({ ...r })),
        },
      ],
      goals: [goal('peak RSS growth, MB (max over runs)', worst, '<', 50)],
      notes: [
        'Each run is a fresh node process: the pool is started and warmed up, garbage is collected, then the baseline RSS is read; RSS is sampled every 10 ms and every 4096 items while the stream runs.',
        'growth = peak RSS during the stream - baseline; the goal is checked on the worst run.',
      ],
    };
  },
};
