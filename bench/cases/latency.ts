/**
 * Case `latency`: one item through an idle pool, sequentially, many times: what rxpool's
 * `pool.run` adds over calling tinypool (which it runs on) directly with an equivalent worker.
 * Both run the same x*x from bench/workers/tasks.mjs on pools of the same size.
 */
import { createPool, task } from 'rxpool';
import { Tinypool } from 'tinypool';
import {
  type BenchCase,
  cores,
  expectEqual,
  goal,
  percentile,
  type Row,
  TASKS,
  timed,
} from '../harness.js';

const NAMES = {
  rxpool: 'rxpool pool.run',
  tinypool: 'tinypool.run (direct)',
} as const;

export const latency: BenchCase = {
  id: 'latency',
  title: 'one-item latency on an idle pool',
  async run(settings) {
    const runs = settings.quick ? 50 : 200;
    const warmUps = 20;
    const square = task<number, number>(TASKS);
    const pool = createPool();
    const tiny = new Tinypool({ filename: TASKS.href, minThreads: cores, maxThreads: cores });
    const contenders = [
      { name: NAMES.rxpool, run: (x: number) => pool.run(square, x) },
      { name: NAMES.tinypool, run: (x: number) => tiny.run(x) as Promise<number> },
    ];

    try {
      settings.log('latency: warm-up');
      for (const { run } of contenders) {
        // Every worker loads the module (as many items at once as workers), then a few in a row.
        await Promise.all(Array.from({ length: cores }, (_, i) => run(i)));
        for (let i = 0; i < warmUps; i++) await run(i);
      }
      settings.log(`latency: ${runs} runs of each, alternating`);
      const micros = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
      for (let i = 0; i < runs; i++) {
        // Alternate which goes first, so neither always follows the other.
        const order = i % 2 === 0 ? contenders : [...contenders].reverse();
        for (const { name, run } of order) {
          let result = 0;
          const ms = await timed(async () => {
            result = await run(i);
          });
          expectEqual(result, i * i, name);
          micros.get(name)!.push(ms * 1000);
        }
      }

      const row = (name: string): Row => {
        const all = micros.get(name)!;
        return {
          contender: name,
          metrics: {
            runs,
            'p50 us': percentile(all, 50),
            'p99 us': percentile(all, 99),
            'min us': Math.min(...all),
          },
          samples: all.map((us) => ({ ms: us / 1000 })),
        };
      };
      const rows = [row(NAMES.rxpool), row(NAMES.tinypool)];
      const p50 = (r: Row) => r.metrics['p50 us']!;
      return {
        params: { runs, 'warm-up runs': warmUps, workers: cores },
        rows,
        goals: [goal('rxpool p50 / tinypool p50', p50(rows[0]!) / p50(rows[1]!), '<=', 1.2)],
        notes: [
          'Sequential: each run starts when the previous one has returned, so the pool is idle.',
          'Time from the call to the resolved result, on this thread.',
        ],
      };
    } finally {
      await Promise.all([pool.close(), tiny.destroy()]);
    }
  },
};
