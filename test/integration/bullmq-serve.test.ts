/**
 * What `rxpool worker` sends back for a failed item (src/bullmq/serve.ts): the advice its local
 * pool gave (a `TaskError`'s hint) travels as a field of the item's error, so the producer's
 * error says it once, as with threads, and a failure without advice gets none. A real
 * redis-server and a real worker from the built CLI (build first).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createPool, type Pool, TaskError, task } from 'rxpool';
import { bullmqExecutor } from 'rxpool/bullmq';
import { type RedisServer, startRedis } from '../../scripts/redis-server.js';
import { startWorker, type WorkerProcess } from '../../scripts/rxpool-worker.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const QUOTA = task<string, string>(
  new URL('../fixtures/remote-task.mjs', import.meta.url),
  'quota',
);

let redis: RedisServer;
let worker: WorkerProcess;
let pool: Pool;
let local: Pool;
/** Declared here, defined nowhere: what an inline function must not read. */
declare const missing: unknown;

before(async () => {
  redis = await startRedis();
  worker = await startWorker({
    redis: redis.url,
    queue: 'hints',
    modules: ['remote-task.mjs'],
    cwd: FIXTURES,
    threads: 1,
    extra: ['--allow-inline'],
  });
  pool = createPool({ executor: bullmqExecutor({ connection: redis.url, queue: 'hints' }) });
  local = createPool({ size: 1 });
});

after(async () => {
  await pool?.destroy();
  await local?.destroy();
  await worker?.kill();
  await redis?.close();
});

/** The error an item fails with. */
async function failure(run: () => Promise<unknown>): Promise<TaskError> {
  try {
    await run();
  } catch (error) {
    assert.ok(error instanceof TaskError, String(error));
    return error;
  }
  throw new Error('the item did not fail');
}

test("an inline function's advice comes back from the worker once, as on threads", async () => {
  const reads = (n: number) => n + (missing as number);
  const remote = await failure(() => pool.run(reads, 1));
  const threads = await failure(() => local.run(reads, 1));
  assert.equal(remote.cause.name, 'ReferenceError');
  assert.match(remote.message, /\n`missing` does not exist in the worker\. An inline function/);
  assert.equal(remote.message, threads.message);
  assert.equal(remote.message.split('does not exist in the worker').length, 2);
  assert.equal(remote.hint, threads.hint);
  // The field does not show among the error's own enumerable properties (serialized errors).
  assert.equal(Object.keys(remote).includes('hint'), false);
});

test("a module task's failure has no advice: one line, the worker's error", async () => {
  const error = await failure(() => pool.run(QUOTA, 'bad'));
  assert.equal(error.message, 'Item 0 failed after 1 attempt: QuotaError: over quota: bad');
  assert.equal(error.hint, undefined);
});
