/**
 * Case `remote`: many machines through BullMQ, all co-located here: a real redis-server (started
 * by the case, scripts/redis-server.ts) and two `rxpool worker` processes of `cores / 2` threads
 * each, used as a user would: `createPool({ executor: bullmqExecutor(...) })` and its `map` and
 * `run`. Side by side in the same run: raw BullMQ, one job per item, through two plain BullMQ
 * worker processes (bench/workers/bullmq-raw.mjs).
 * - trivial items (x*x): items/s, rxpool's `pool.map` (with the default `concurrency`, which
 *   `bullmqExecutor` widens, and with the threads' default) against raw BullMQ; the CPU time of each process
 *   (the producer, Redis, each worker) per million items, to see where the time goes;
 * - CPU-bound items (fib(27)): the two workers against one thread (this process, RxJS `map`);
 * - an idle round trip (`pool.run` of one item, sequentially): p50, against raw BullMQ's
 *   `job.waitUntilFinished`;
 * - a worker SIGKILLed mid-batch: time until its batch is reported crashed, and until the stream
 *   has ended, with the defaults.
 * Needs `npm run build` first (the workers run the built CLI; `rxpool` resolves to dist/).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Queue, QueueEvents } from 'bullmq';
import { createPool, DEFAULT_CONCURRENCY, type Pool, task } from 'rxpool';
import { type BullmqExecutor, bullmqExecutor } from 'rxpool/bullmq';
import { startRedis } from '../../scripts/redis-server.js';
import { startWorker, type WorkerProcess } from '../../scripts/rxpool-worker.js';
import {
  type BenchCase,
  cores,
  expectEqual,
  goal,
  median,
  percentile,
  type Row,
  TASKS,
} from '../harness.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RAW = fileURLToPath(new URL('../workers/bullmq-raw.mjs', import.meta.url));
const SLEEP = task<number, number>(
  new URL('../../test/fixtures/remote-task.mjs', import.meta.url),
  'sleep',
);
const SQUARE = task<number, number>(TASKS, 'default');
const FIB = task<number, number>(TASKS, 'fib');
const FIB_N = 27;
/**
 * The threads' default window, given explicitly to compare with `bullmqExecutor`'s own default
 * (its `traits.concurrency`, 262,144): a batch is at most `concurrency / capacity` items
 * (capacity: 2 jobs per worker), so 16,384 makes jobs of ~4,000 trivial items, and the per-job
 * cost (Redis round trips, BullMQ's scripts) dominates.
 */
const NARROW = DEFAULT_CONCURRENCY;

function rawWorker(url: string, queue: string, concurrency: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [RAW, url, queue, String(concurrency)], { cwd: ROOT });
  child.stderr!.resume();
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`raw BullMQ worker exited ${code}`)));
  });
}

/** CPU time (user + system, ms) a process has used so far; NaN where /proc is not there. */
function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10; // clock ticks of 10 ms (USER_HZ 100)
  } catch {
    return Number.NaN;
  }
}

export const remote: BenchCase = {
  id: 'remote',
  title: 'many machines: bullmqExecutor through createPool vs raw BullMQ, co-located',
  async run(settings) {
    const threads = Math.max(1, Math.floor(cores / 2));
    const items = settings.quick ? 50_000 : 2_000_000;
    const rawItems = settings.quick ? 500 : 10_000;
    // About 4 s of fib on one thread a round: a few 200 ms batches per worker, so that one batch more
    // on one worker at the end (the tail) is not a third of the run.
    const fibItems = settings.quick ? 20 : 2000;
    const rounds = settings.quick ? 2 : 5;
    const trips = settings.quick ? 20 : 200;
    const redis = await startRedis();
    const workers: WorkerProcess[] = [];
    const raws: ChildProcess[] = [];
    const pools: Pool[] = [];
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
    const remotePool = (executor: BullmqExecutor) => {
      const pool = createPool({ executor });
      pools.push(pool);
      return pool;
    };
    const exec = bullmqExecutor({ connection: redis.url, queue: 'remote' });
    const pool = remotePool(exec);
    const rawQueue = new Queue('raw', { connection: { url: redis.url } });
    const rawEvents = new QueueEvents('raw', { connection: { url: redis.url } });
    try {
      settings.log('remote: starting two rxpool workers and two raw BullMQ workers');
      const served = await Promise.all([serve('remote'), serve('remote')]);
      raws.push(...(await Promise.all([1, 2].map(() => rawWorker(redis.url, 'raw', threads)))));
      await exec.ready();
      await rawEvents.waitUntilReady();
      // The executor learns the workers from Redis on its first pass (within a second).
      while (exec.counters().workers < 2) await new Promise((r) => setTimeout(r, 50));
      const inputs = Array.from({ length: items }, (_, i) => i % 1000);
      const rawInputs = Array.from({ length: rawItems }, (_, i) => i % 1000);
      const pids = [process.pid, redis.pid, ...served.map((w) => w.child.pid!)];
      let rawDone = 0;

      const cpu = { wide: [0, 0, 0, 0], items: 0 };
      const runRxpool = async (concurrency: number | undefined) => {
        const before = pids.map(cpuMs);
        const mine = process.cpuUsage();
        const started = performance.now();
        const results = await pool.map(SQUARE, inputs, { concurrency });
        const ms = performance.now() - started;
        if (concurrency === undefined) {
          const own = process.cpuUsage(mine);
          const used = pids.map((pid, i) => cpuMs(pid) - before[i]!);
          used[0] = (own.user + own.system) / 1000;
          used.forEach((v, i) => {
            cpu.wide[i]! += v;
          });
          cpu.items += items;
        }
        expectEqual(results.length, items, 'rxpool results');
        expectEqual(results[999]!, 999 * 999, 'rxpool value');
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
      const fibInputs = new Array<number>(fibItems).fill(FIB_N);
      const { fib } = (await import(TASKS.href)) as { fib: (n: number) => number };
      const runFibRemote = async () => {
        const started = performance.now();
        const results = await pool.map(FIB, fibInputs);
        expectEqual(results[fibItems - 1]!, fib(FIB_N), 'fib');
        return performance.now() - started;
      };
      // What the machine gives two CPU-bound threads in this round (other work on it takes its
      // share): the same items on a local pool of two threads.
      const threadsPool = createPool({ size: 2 });
      pools.push(threadsPool);
      const runFibThreads = async () => {
        const started = performance.now();
        const results = await threadsPool.map(FIB, fibInputs);
        expectEqual(results[fibItems - 1]!, fib(FIB_N), 'fib on threads');
        return performance.now() - started;
      };
      const runFibLocal = async () => {
        const started = performance.now();
        let sum = 0;
        for (const n of fibInputs) sum += fib(n);
        expectEqual(sum, fib(FIB_N) * fibItems, 'fib locally');
        return performance.now() - started;
      };

      settings.log('remote: warm-up');
      await pool.map(SQUARE, inputs.slice(0, 200_000));
      await pool.map(SQUARE, inputs.slice(0, 50_000), { concurrency: NARROW });
      await pool.map(FIB, fibInputs.slice(0, 20));
      await threadsPool.map(FIB, fibInputs.slice(0, 20));
      await runRaw();
      const contenders: Record<string, () => Promise<number>> = {
        wide: () => runRxpool(undefined),
        default: () => runRxpool(NARROW),
        raw: runRaw,
        fibRemote: runFibRemote,
        fibLocal: runFibLocal,
        fibThreads: runFibThreads,
      };
      const ms: Record<string, number[]> = Object.fromEntries(
        Object.keys(contenders).map((name) => [name, []]),
      );
      for (let round = 0; round < rounds; round++) {
        settings.log(`remote: round ${round + 1}/${rounds}`);
        const order = Object.keys(contenders);
        if (round % 2 === 1) order.reverse();
        for (const name of order) ms[name]!.push(await contenders[name]!());
      }

      settings.log(`remote: ${trips} idle round trips each, alternating`);
      const rxTrips: number[] = [];
      const rawTrips: number[] = [];
      for (let i = 0; i < trips; i++) {
        for (const which of i % 2 === 0 ? ['rx', 'raw'] : ['raw', 'rx']) {
          const started = performance.now();
          if (which === 'rx') {
            expectEqual(await pool.run(SQUARE, i), i * i, 'round trip');
            rxTrips.push(performance.now() - started);
          } else {
            const job = await rawQueue.add('sq', i);
            expectEqual(await job.waitUntilFinished(rawEvents), i * i, 'raw round trip');
            rawTrips.push(performance.now() - started);
          }
        }
      }

      settings.log('remote: a worker killed mid-batch');
      await serve('kill');
      const victim = await serve('kill');
      const killExec = bullmqExecutor({ connection: redis.url, queue: 'kill', capacity: 4 });
      const killPool = remotePool(killExec);
      // retry 1: the first jobs are one item each (items go alone while there is room), and a job of
      // one item whose worker died is charged to that item, as with threads.
      const running = killPool.map(SLEEP, new Array<number>(8).fill(1000), {
        batchSize: 2,
        retry: 1,
      });
      while (killExec.stats().busy < 2) await new Promise((resolve) => setTimeout(resolve, 20));
      await new Promise((resolve) => setTimeout(resolve, 200));
      const killedAt = performance.now();
      await victim.kill();
      let crashedMs = Number.NaN;
      void (async () => {
        while (killExec.counters().crashed === 0 && performance.now() - killedAt < 60_000) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        crashedMs = performance.now() - killedAt;
      })();
      const slept = await running;
      const rerunMs = performance.now() - killedAt;
      expectEqual(slept.length, 8, 'killed worker stream');
      expectEqual(killExec.counters().crashed, 1, 'crashed batches');

      const rate = (n: number, list: number[]) => list.map((t) => n / (t / 1000));
      const stats = (rates: number[]) => ({
        'median items/s': median(rates),
        'min items/s': Math.min(...rates),
        'max items/s': Math.max(...rates),
      });
      const wideRates = rate(items, ms.wide!);
      const perM = (i: number) => (cpu.wide[i]! / cpu.items) * 1e6;
      const speedups = ms.fibLocal!.map((local, i) => local / ms.fibRemote![i]!);
      const threadSpeedups = ms.fibLocal!.map((local, i) => local / ms.fibThreads![i]!);
      const rows: Row[] = [
        {
          contender: 'rxpool pool.map, default concurrency',
          metrics: {
            ...stats(wideRates),
            'producer CPU ms/M items': perM(0),
            'redis CPU ms/M': perM(1),
            'worker 1 CPU ms/M': perM(2),
            'worker 2 CPU ms/M': perM(3),
          },
        },
        {
          contender: `rxpool pool.map, concurrency ${NARROW}`,
          metrics: stats(rate(items, ms.default!)),
        },
        { contender: 'raw BullMQ, one job per item', metrics: stats(rate(rawItems, ms.raw!)) },
        {
          contender: `fib(${FIB_N}): one thread (this process)`,
          metrics: stats(rate(fibItems, ms.fibLocal!)),
        },
        {
          contender: `fib(${FIB_N}): rxpool pool.map, 2 workers`,
          metrics: {
            ...stats(rate(fibItems, ms.fibRemote!)),
            'speedup (median of rounds)': median(speedups),
            'min speedup': Math.min(...speedups),
          },
        },
        {
          contender: `fib(${FIB_N}): local pool of 2 threads (what the machine allows now)`,
          metrics: {
            ...stats(rate(fibItems, ms.fibThreads!)),
            'speedup (median of rounds)': median(threadSpeedups),
            'min speedup': Math.min(...threadSpeedups),
          },
        },
        {
          contender: 'rxpool idle round trip (pool.run)',
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
        params: {
          items,
          'narrow concurrency': NARROW,
          'raw items': rawItems,
          'fib items': fibItems,
          rounds,
          trips,
          workers: 2,
          threads,
        },
        rows,
        goals: [
          goal('rxpool items/s (median)', median(wideRates), '>=', 1_000_000),
          goal(
            `fib(${FIB_N}) speedup, 2 workers of ${threads} thread over one thread`,
            median(speedups),
            '>=',
            1.6,
          ),
          goal('rxpool idle round trip p50 ms', percentile(rxTrips, 50), '<=', 3),
          goal('killed worker batch reported crashed, ms', crashedMs, '<=', 5000),
        ],
        notes: [
          'All co-located on this machine: Redis, the producer and the workers share its cores.',
          'CPU ms/M items: CPU time of each process over the default-concurrency pool.map rounds, per million',
          'items (the producer is this process: its own CPU, not the workers).',
          'Round trip: one item from pool.run() to its result, through Redis and a worker and back.',
          "Killed worker: 1 s sleeps, 8 items, 4 jobs out, retry 1; 'all done' is until the",
          'stream has ended, on the surviving worker.',
        ],
      };
    } finally {
      await Promise.all(pools.map((p) => p.destroy().catch(() => {})));
      await rawEvents.close();
      await rawQueue.close();
      for (const raw of raws) raw.kill('SIGKILL');
      await Promise.all(workers.map((w) => w.kill()));
      await redis.close();
    }
  },
};
