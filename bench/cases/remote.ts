/**
 * Case `remote`: many machines through BullMQ, all co-located here: a real redis-server (started
 * by the case, scripts/redis-server.ts) and two `rxpool worker` processes of `cores / 2` threads
 * each, fed by `bullmqExecutor` driven through the executor seam (test/support/drive.ts stands in
 * for the pool until the pool takes any executor). Side by side in the same run: raw BullMQ, one
 * job per item, through two plain BullMQ worker processes (bench/workers/bullmq-raw.mjs).
 * - trivial items (x*x): items/s, rxpool with large batches against raw BullMQ;
 * - an idle round trip (one item, sequentially): p50, rxpool against raw BullMQ's
 *   `job.waitUntilFinished`;
 * - a worker SIGKILLed mid-batch: time until its batch is reported crashed, and until it has run
 *   again on the other worker, with the defaults.
 * Needs `npm run build` first (the workers run the built CLI).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Queue, QueueEvents } from 'bullmq';
import { startRedis } from '../../scripts/redis-server.js';
import { startWorker, type WorkerProcess } from '../../scripts/rxpool-worker.js';
import { bullmqExecutor } from '../../src/bullmq/index.js';
import type { WorkSpec } from '../../src/executor/contract.js';
import { drive } from '../../test/support/drive.js';
import {
  type BenchCase,
  cores,
  expectEqual,
  goal,
  percentile,
  type Row,
  TASKS,
} from '../harness.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RAW = fileURLToPath(new URL('../workers/bullmq-raw.mjs', import.meta.url));
const SLEEP: WorkSpec = {
  kind: 'module',
  url: new URL('../../test/fixtures/remote-task.mjs', import.meta.url).href,
  name: 'sleep',
};
const SQUARE: WorkSpec = { kind: 'module', url: TASKS.href, name: 'default' };

function rawWorker(url: string, queue: string, concurrency: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [RAW, url, queue, String(concurrency)], { cwd: ROOT });
  child.stderr!.resume();
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`raw BullMQ worker exited ${code}`)));
  });
}

export const remote: BenchCase = {
  id: 'remote',
  title: 'many machines: BullMQ executor vs raw BullMQ, co-located',
  async run(settings) {
    const threads = Math.max(1, Math.floor(cores / 2));
    const items = settings.quick ? 200_000 : 2_000_000;
    const batch = 50_000;
    const rawItems = settings.quick ? 2_000 : 10_000;
    const rounds = settings.quick ? 2 : 5;
    const trips = settings.quick ? 50 : 200;
    const redis = await startRedis();
    const workers: WorkerProcess[] = [];
    const raws: ChildProcess[] = [];
    const serve = (queue: string) =>
      startWorker({
        redis: redis.url,
        queue,
        modules: ['bench/workers/tasks.mjs', 'test/fixtures/remote-task.mjs'],
        cwd: ROOT,
        threads,
      }).then((w) => {
        workers.push(w);
        return w;
      });
    const exec = bullmqExecutor({ connection: redis.url, queue: 'remote' });
    const rawQueue = new Queue('raw', { connection: { url: redis.url } });
    const rawEvents = new QueueEvents('raw', { connection: { url: redis.url } });
    try {
      settings.log('remote: starting two rxpool workers and two raw BullMQ workers');
      await Promise.all([serve('remote'), serve('remote')]);
      raws.push(...(await Promise.all([1, 2].map(() => rawWorker(redis.url, 'raw', threads)))));
      await exec.ready();
      await rawEvents.waitUntilReady();
      const inputs = Array.from({ length: items }, (_, i) => i % 1000);
      const rawInputs = Array.from({ length: rawItems }, (_, i) => i % 1000);
      let rawDone = 0;

      const runRxpool = async () => {
        const started = performance.now();
        const results = await drive(exec, SQUARE, inputs, { batch });
        const ms = performance.now() - started;
        expectEqual(results.length, items, 'rxpool results');
        expectEqual((results[999] as { value: number }).value, 999 * 999, 'rxpool value');
        return ms;
      };
      const runRaw = async () => {
        const started = performance.now();
        await rawQueue.addBulk(rawInputs.map((x) => ({ name: 'sq', data: x })));
        rawDone += rawItems;
        for (;;) {
          const { completed } = await rawQueue.getJobCounts('completed');
          if ((completed ?? 0) >= rawDone) break;
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        return performance.now() - started;
      };
      settings.log('remote: warm-up');
      await drive(exec, SQUARE, inputs.slice(0, batch * 2), { batch });
      await runRaw();
      const rxRates: number[] = [];
      const rawRates: number[] = [];
      for (let round = 0; round < rounds; round++) {
        settings.log(`remote: throughput round ${round + 1}/${rounds}`);
        for (const which of round % 2 === 0 ? ['rx', 'raw'] : ['raw', 'rx']) {
          if (which === 'rx') rxRates.push(items / ((await runRxpool()) / 1000));
          else rawRates.push(rawItems / ((await runRaw()) / 1000));
        }
      }

      settings.log(`remote: ${trips} idle round trips each, alternating`);
      const rxTrips: number[] = [];
      const rawTrips: number[] = [];
      for (let i = 0; i < trips; i++) {
        for (const which of i % 2 === 0 ? ['rx', 'raw'] : ['raw', 'rx']) {
          const started = performance.now();
          if (which === 'rx') {
            const [result] = await drive(exec, SQUARE, [i], { batch: 1 });
            expectEqual((result as { value: number }).value, i * i, 'round trip');
            rxTrips.push(performance.now() - started);
          } else {
            const job = await rawQueue.add('sq', i);
            expectEqual(await job.waitUntilFinished(rawEvents), i * i, 'raw round trip');
            rawTrips.push(performance.now() - started);
          }
        }
      }

      settings.log('remote: a worker killed mid-batch');
      const survivor = await serve('kill');
      const victim = await serve('kill');
      const killExec = bullmqExecutor({ connection: redis.url, queue: 'kill', capacity: 4 });
      let killedAt = 0;
      let crashedMs = Number.NaN;
      const running = drive(killExec, SLEEP, Array(8).fill(1000), {
        batch: 2,
        onOutcome: (outcome) => {
          if (outcome.type === 'crashed' && Number.isNaN(crashedMs)) {
            crashedMs = performance.now() - killedAt;
          }
        },
      });
      while (killExec.stats().busy < 2) await new Promise((resolve) => setTimeout(resolve, 20));
      await new Promise((resolve) => setTimeout(resolve, 200));
      killedAt = performance.now();
      await victim.kill();
      await running;
      const rerunMs = performance.now() - killedAt;
      await killExec.close();
      void survivor;

      const stats = (rates: number[]) => ({
        'median items/s': percentile(rates, 50),
        'min items/s': Math.min(...rates),
        'max items/s': Math.max(...rates),
      });
      const rows: Row[] = [
        { contender: `rxpool bullmqExecutor (batches of ${batch})`, metrics: stats(rxRates) },
        { contender: 'raw BullMQ, one job per item', metrics: stats(rawRates) },
        {
          contender: 'rxpool idle round trip',
          metrics: { 'p50 ms': percentile(rxTrips, 50), 'p99 ms': percentile(rxTrips, 99) },
        },
        {
          contender: 'raw BullMQ waitUntilFinished round trip',
          metrics: { 'p50 ms': percentile(rawTrips, 50), 'p99 ms': percentile(rawTrips, 99) },
        },
        {
          contender: 'worker SIGKILLed mid-batch',
          metrics: { 'reported crashed ms': crashedMs, 'all done ms': rerunMs },
        },
      ];
      return {
        params: { items, batch, 'raw items': rawItems, rounds, trips, workers: 2, threads },
        rows,
        goals: [
          goal('rxpool items/s (median)', percentile(rxRates, 50), '>=', 1_000_000),
          goal('rxpool idle round trip p50 ms', percentile(rxTrips, 50), '<=', 3),
          goal('killed worker batch reported crashed, ms', crashedMs, '<=', 5000),
        ],
        notes: [
          'All co-located on this machine: Redis, the producer and the workers share its cores.',
          'Round trip: one item from run() to its outcome, through Redis and a worker and back.',
          "Killed worker: a batch of two 1 s sleeps on it; 'all done' is until every batch of the",
          'stream (8 items, 4 batches out) has ended, on the surviving worker.',
        ],
      };
    } finally {
      await exec.destroy();
      await rawEvents.close();
      await rawQueue.close();
      for (const raw of raws) raw.kill('SIGKILL');
      await Promise.all(workers.map((w) => w.kill()));
      await redis.close();
    }
  },
};
