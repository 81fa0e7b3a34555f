/**
 * Flat tasks over `rxpool/bullmq`: values come back per job, with the same order and
 * exactly-once guarantees; an item that gives more than a job carries fails with a clear
 * TaskError; failures after values keep their values first.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { from, lastValueFrom, toArray } from 'rxjs';
import { createPool, type Pool, TaskError, task } from 'rxpool';
import { bullmqExecutor } from 'rxpool/bullmq';
import { parallelFlatMap, parallelFlatSettle } from 'rxpool/operators';
import { type RedisServer, startRedis } from '../../scripts/redis-server.js';
import { startWorker, type WorkerProcess } from '../../scripts/rxpool-worker.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const MODULE = new URL('../fixtures/remote-flat.mjs', import.meta.url);
const T = { timeout: 120_000 };

let redis: RedisServer;
let pool: Pool;
const workers: WorkerProcess[] = [];

before(async () => {
  redis = await startRedis();
  for (let i = 0; i < 2; i++) {
    workers.push(
      await startWorker({
        redis: redis.url,
        queue: 'flat',
        modules: ['remote-flat.mjs'],
        cwd: FIXTURES,
        threads: 2,
        extra: [],
      }),
    );
  }
  pool = createPool({ executor: bullmqExecutor({ connection: redis.url, queue: 'flat' }) });
});

after(async () => {
  await pool?.destroy();
  await Promise.all(workers.map((w) => w.kill()));
  await redis?.close();
});

test('ordered and unordered, every value once, each item in its order', T, async () => {
  const ns = Array.from({ length: 200 }, (_, i) => i % 7);
  const expected = ns.flatMap((n) => Array.from({ length: n }, (_, i) => ({ n, i })));
  const repeat = task<number, Iterable<{ n: number; i: number }>>(MODULE, 'repeat');
  const ordered = await lastValueFrom(from(ns).pipe(parallelFlatMap(repeat, { pool }), toArray()));
  assert.deepEqual(ordered, expected);
  const unordered = await lastValueFrom(
    from(ns).pipe(parallelFlatMap(repeat, { pool, ordered: false }), toArray()),
  );
  const key = (v: { n: number; i: number }) => `${v.n}:${v.i}`;
  assert.deepEqual(unordered.map(key).sort(), expected.map(key).sort());
});

test('a failure after values: the values first, then the TaskError, in its place', T, async () => {
  const breaks = task<number, Iterable<number>>(MODULE, 'breaks');
  const records = await lastValueFrom(
    from([2, 1]).pipe(parallelFlatSettle(breaks, { pool }), toArray()),
  );
  assert.deepEqual(
    records.map((s) => (s.ok ? `${s.index}:${s.value}` : `${s.index}:failed:${s.error.emitted}`)),
    ['0:0', '0:1', '0:failed:2', '1:0', '1:failed:1'],
  );
});

test(
  'an item that gives more values than a job carries fails with a TaskError that says so',
  T,
  async () => {
    const endless = task<number, Iterable<number>>(MODULE, 'endless');
    let count = 0;
    const error = await new Promise<unknown>((resolve) => {
      from([0])
        .pipe(parallelFlatMap(endless, { pool }))
        .subscribe({ next: () => count++, error: resolve, complete: () => resolve(undefined) });
    });
    assert.ok(error instanceof TaskError, String(error));
    assert.match(error.message, /more than 100000 values, the most one job carries/);
    assert.equal(count, 100_000);
    assert.equal(error.emitted, 100_000);
  },
);
