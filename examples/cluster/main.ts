/**
 * Many machines, on one: starts a local redis-server and two `rxpool worker` processes (as you
 * would on each host: `rxpool worker --redis URL --queue cluster fib.mjs`), then runs a real
 * workload across them through `createPool({ executor: bullmqExecutor(...) })` and the
 * `parallelMap` operator, and prints the speedup over one thread.
 *
 *   npm run example:cluster -- [--items 2000] [--n 27]
 *
 * redis-server and the workers are started on this machine by scripts/redis-server.ts and
 * scripts/rxpool-worker.ts (the helpers the tests use too).
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { from, lastValueFrom, toArray } from 'rxjs';
import { createPool, task } from 'rxpool';
import { bullmqExecutor } from 'rxpool/bullmq';
import { parallelMap } from 'rxpool/operators';
import { startRedis } from '../../scripts/redis-server.js';
import { startWorker, type WorkerProcess } from '../../scripts/rxpool-worker.js';
import { plural } from '../plural.js';
import { fib } from './fib.mjs';

const { values } = parseArgs({
  options: { items: { type: 'string', default: '2000' }, n: { type: 'string', default: '27' } },
});
const items = Number(values.items);
const n = Number(values.n);
const here = fileURLToPath(new URL('.', import.meta.url));
const threads = Math.max(1, Math.floor(availableParallelism() / 2));

const redis = await startRedis();
const workers: WorkerProcess[] = [];
const pool = createPool({ executor: bullmqExecutor({ connection: redis.url, queue: 'cluster' }) });
try {
  console.log(
    `redis-server on ${redis.url}; starting two workers of ${plural(threads, 'thread')} each`,
  );
  for (let i = 0; i < 2; i++) {
    workers.push(
      await startWorker({
        redis: redis.url,
        queue: 'cluster',
        modules: ['fib.mjs'],
        cwd: here,
        threads,
      }),
    );
  }
  const inputs = Array.from({ length: items }, () => n);
  const fibTask = task<number, number>(new URL('./fib.mjs', import.meta.url), 'fib');

  let started = performance.now();
  const local = inputs.map((x) => fib(x));
  const oneThreadMs = performance.now() - started;

  started = performance.now();
  const remote = await lastValueFrom(from(inputs).pipe(parallelMap(fibTask, { pool }), toArray()));
  const clusterMs = performance.now() - started;

  if (remote.some((value, i) => value !== local[i]))
    throw new Error('the workers got other results');
  console.log(
    `${items} x fib(${n}): one thread ${oneThreadMs.toFixed(0)} ms, two workers ${clusterMs.toFixed(0)} ms`,
  );
  console.log(`speedup over one thread: ${(oneThreadMs / clusterMs).toFixed(2)}x`);
} finally {
  await pool.close();
  await Promise.all(workers.map((w) => w.kill()));
  await redis.close();
}
