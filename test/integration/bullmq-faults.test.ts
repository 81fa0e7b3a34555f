/**
 * Faults of the distributed mode (issue 20, points 13-21): `bullmqExecutor` and `rxpool worker`
 * (from the built CLI: build first) on real redis-servers, under the faults a chaos run found:
 * a frozen Redis, a lost Redis, hostile or oversized jobs, a launcher that goes away.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createPool, type Pool, TaskError, task } from 'rxpool';
import { type BullmqExecutorOptions, bullmqExecutor } from 'rxpool/bullmq';
import { type RedisServer, startRedis } from '../../scripts/redis-server.js';
import { startWorker, type WorkerProcess } from '../../scripts/rxpool-worker.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const MODULE = new URL('../fixtures/remote-task.mjs', import.meta.url);

let redis: RedisServer;
const servers: RedisServer[] = [];
const workers: WorkerProcess[] = [];
const pools: Pool[] = [];

async function worker(
  queue: string,
  { server = redis, threads = 2, extra = [] as string[] } = {},
): Promise<WorkerProcess> {
  const started = await startWorker({
    redis: server.url,
    queue,
    modules: ['remote-task.mjs'],
    cwd: FIXTURES,
    threads,
    extra,
  });
  workers.push(started);
  return started;
}

function remotePool(options: Partial<BullmqExecutorOptions> & { queue: string }): Pool {
  const pool = createPool({
    executor: bullmqExecutor({ connection: redis.url, ...options }),
  });
  pools.push(pool);
  return pool;
}

before(async () => {
  redis = await startRedis();
  servers.push(redis);
});

after(async () => {
  await Promise.all(pools.map((p) => p.destroy()));
  await Promise.all(workers.map((w) => w.kill()));
  await Promise.all(servers.map((s) => s.close()));
});

test('13: pool.starmap spreads each argument list into the call on an rxpool worker, as on threads', async () => {
  await worker('star', { extra: ['--allow-inline'] });
  const pool = remotePool({ queue: 'star' });
  const power = task<[number, number], number>(MODULE, 'power');
  assert.deepEqual(
    await pool.starmap(power, [
      [2, 3],
      [10, 2],
      [3, 0],
    ]),
    [8, 100, 1],
  );
  assert.deepEqual(
    await pool.starmap(
      (a: number, b: string) => `${b}${a}`,
      [
        [1, 'x'],
        [2, 'y'],
      ],
    ),
    ['x1', 'y2'],
  );
  // As on threads: an item that is not an array fails alone with a TypeError, not retried.
  const settled = await pool
    .starmap(power, [[2, 2], 5 as unknown as [number, number]])
    .catch((error: unknown) => error);
  assert.ok(settled instanceof TaskError, String(settled));
  assert.equal(settled.index, 1);
  assert.equal(settled.cause.name, 'TypeError');
  assert.match(settled.cause.message, /pool\.starmap to be an array of arguments/);
  assert.equal(settled.attempts, 1);
  // The same pool and worker then serve plain map as before.
  assert.deepEqual(await pool.map(task<number, number>(MODULE, 'burn'), [1, 2]), [4, 7]);
});
