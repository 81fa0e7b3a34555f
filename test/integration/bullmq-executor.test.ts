/**
 * `bullmqExecutor` on a real redis-server with real `rxpool worker` processes (from the built CLI:
 * build first), driven through the executor seam's `run(batch, report)` by a small stand-in for
 * the engine (test/support/drive.ts) until the pool takes any executor (feat/seam).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { from, lastValueFrom, take } from 'rxjs';
import { createPool, task } from 'rxpool';
import { parallelMap } from 'rxpool/operators';
import { type RedisServer, startRedis } from '../../scripts/redis-server.js';
import { startWorker, type WorkerProcess } from '../../scripts/rxpool-worker.js';
import {
  type BullmqExecutor,
  bullmqExecutor,
  RedisUnreachableError,
} from '../../src/bullmq/index.js';
import type { BatchOutcome, WorkSpec } from '../../src/executor/contract.js';
import { drive } from '../support/drive.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
/** The task module as a producer on another machine names it. */
const REMOTE = 'file:///home/producer/app/fixtures/remote-task.mjs';
const fn = (name: string): WorkSpec => ({ kind: 'module', url: REMOTE, name });

let redis: RedisServer;
const workers: WorkerProcess[] = [];
const executors: BullmqExecutor[] = [];
const queues: Queue[] = [];

async function worker(queue: string, server: RedisServer = redis): Promise<WorkerProcess> {
  const started = await startWorker({
    redis: server.url,
    queue,
    modules: ['remote-task.mjs'],
    cwd: FIXTURES,
  });
  workers.push(started);
  return started;
}

function executor(options: Partial<Parameters<typeof bullmqExecutor>[0]> & { queue: string }) {
  const made = bullmqExecutor({ connection: redis.url, ...options });
  executors.push(made);
  return made;
}

function rawQueue(name: string, server: RedisServer = redis): Queue {
  const queue = new Queue(name, { connection: { url: server.url } });
  queues.push(queue);
  return queue;
}

/** Waits until `check` holds, polling. */
async function until(check: () => boolean | Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

before(async () => {
  redis = await startRedis();
  await Promise.all([worker('main'), worker('main')]);
});

after(async () => {
  await Promise.all(executors.map((e) => e.destroy()));
  await Promise.all(queues.map((q) => q.close()));
  await Promise.all(workers.map((w) => w.kill()));
  await redis?.close();
});

test('values come back right, per item, with structured-clone semantics; jobs are removed once read', async () => {
  const exec = executor({ queue: 'main' });
  await exec.ready();
  const inputs = Array.from({ length: 3000 }, (_, i) => i);
  inputs[1234] = 'bad' as unknown as number;
  const results = await drive(exec, fn('quota'), inputs, { batch: 100 });
  results.forEach((result, i) => {
    if (i === 1234) {
      assert.ok(!result.ok);
      assert.equal(result.kind, 'threw');
      assert.equal(result.error.name, 'QuotaError');
      assert.equal(result.error.message, 'over quota: bad');
      assert.equal((result.error as { code?: string }).code, 'E_QUOTA');
      assert.equal((result.error as { limit?: number }).limit, 42);
    } else {
      assert.deepEqual(result, { ok: true, value: i + i, attempts: 1 }, `item ${i}`);
    }
  });
  const odd: unknown[] = [new Date(5), new Map([[1, new Set(['a'])]]), -0, 2n ** 70n, undefined];
  const echoed = await drive(exec, fn('default'), odd, { batch: 5 });
  assert.deepStrictEqual(
    echoed.map((r) => (r.ok ? r.value : r)),
    structuredClone(odd),
  );
  // Both workers took jobs, and every job was removed once read.
  assert.ok(exec.size >= 2, `size ${exec.size}`);
  assert.ok(exec.capacity() >= 4, `capacity ${exec.capacity()}`);
  await until(
    async () => {
      const counts = await rawQueue('main').getJobCounts('completed', 'failed', 'wait', 'active');
      return Object.values(counts).every((n) => n === 0);
    },
    5000,
    'the jobs to be removed',
  );
});

test('a worker SIGKILLed mid-job: its batch is reported crashed within 5 s and runs again elsewhere', async () => {
  await Promise.all([worker('crash'), worker('crash')]);
  const [victim] = workers.slice(-2);
  const exec = executor({ queue: 'crash', capacity: 4 });
  await exec.ready();
  let killedAt = 0;
  const crashes: number[] = [];
  const inputs = Array.from({ length: 16 }, () => 1500);
  const running = drive(exec, fn('sleep'), inputs, {
    batch: 2,
    onOutcome: (outcome) => {
      if (outcome.type === 'crashed') crashes.push(Date.now() - killedAt);
    },
  });
  await until(() => exec.stats().busy >= 3, 20_000, 'jobs to run on both workers');
  await new Promise((resolve) => setTimeout(resolve, 300));
  killedAt = Date.now();
  await victim!.kill();
  const results = await running;
  for (const result of results) assert.deepEqual(result, { ok: true, value: 1500, attempts: 1 });
  assert.ok(crashes.length >= 1, 'no batch was reported crashed');
  for (const ms of crashes) assert.ok(ms <= 5000, `a crashed batch reported after ${ms} ms`);
  assert.ok(exec.counters().crashed >= 1);
});

test('a timeout stops a runaway item on the worker; its batch-mates succeed', async () => {
  const exec = executor({ queue: 'main' });
  const results = await drive(exec, fn('spinOn'), ['a', 'spin', 'b'], { batch: 3, timeout: 500 });
  assert.deepEqual(results[0], { ok: true, value: 'a', attempts: 1 });
  assert.deepEqual(results[2], { ok: true, value: 'b', attempts: 1 });
  assert.ok(!results[1]!.ok);
  assert.equal(results[1]!.kind, 'timeout');
});

test('a poison item (process.exit) is a crash of that item, tried retry + 1 times; the others succeed', async () => {
  const exec = executor({ queue: 'main' });
  const inputs = ['a', 'exit', 'b', 'c'];
  const results = await drive(exec, fn('exitOn'), inputs, { batch: 4, retry: 2 });
  for (const i of [0, 2, 3])
    assert.deepEqual(results[i], { ok: true, value: inputs[i], attempts: 1 });
  const poison = results[1]!;
  assert.ok(!poison.ok);
  assert.equal(poison.kind, 'crashed');
  assert.equal(poison.attempts, 3);
});

test('refused work (a module the workers do not serve) fails at once, not retried', async () => {
  const exec = executor({ queue: 'main' });
  const results = await drive(
    exec,
    { kind: 'module', url: 'file:///elsewhere/other.mjs', name: 'x' },
    [1, 2],
    { batch: 2, retry: 3 },
  );
  for (const result of results) {
    assert.ok(!result.ok);
    assert.equal(result.attempts, 1);
    assert.match(result.error.message, /does not serve the task module/);
  }
});

test("abort('cancel') removes the stream's waiting jobs and stops its running ones", async () => {
  const exec = executor({ queue: 'main', capacity: 10 });
  const runs: { abort(reason: 'cancel'): void }[] = [];
  const outcomes: BatchOutcome['type'][] = [];
  const reported = new Promise<void>((resolve) => {
    const inputs = Array.from({ length: 10 }, () => 10_000);
    for (let i = 0; i < inputs.length; i++) {
      runs.push(
        exec.run(
          {
            work: fn('sleep'),
            inputs: [inputs[i]],
            transferList: undefined,
            timeout: undefined,
            expectedMs: undefined,
            stream: `cancel-${process.pid}`,
          },
          (outcome) => {
            outcomes.push(outcome.type);
            if (outcomes.length === inputs.length) resolve();
          },
        ),
      );
    }
  });
  await until(() => exec.stats().busy >= 2, 20_000, 'jobs to run');
  const q = rawQueue('main');
  assert.ok(((await q.getJobCounts('wait')).wait ?? 0) >= 1, 'no job was waiting');
  for (const run of runs) run.abort('cancel');
  await reported;
  assert.deepEqual(outcomes, Array(10).fill('aborted'));
  await until(
    async () => {
      const counts = await q.getJobCounts('wait', 'active', 'failed', 'completed', 'delayed');
      return Object.values(counts).every((n) => n === 0);
    },
    10_000,
    'no job of the stream left (waiting removed, running stopped and removed)',
  );
});

test("two producers on one queue: unsubscribing a stream of one leaves the other's running", async () => {
  await worker('producers');
  const SLEEP = task<number, number>(
    new URL('../fixtures/remote-task.mjs', import.meta.url),
    'sleep',
  );
  const one = createPool({ executor: executor({ queue: 'producers' }) });
  const other = executor({ queue: 'producers' });
  const two = createPool({ executor: other });
  // Each pool's first stream: the workers must not take one for the other.
  const running = two.map(SLEEP, [700, 701, 702, 703], { batchSize: 1 });
  await until(() => other.stats().busy >= 1, 20_000, 'the second stream to run');
  await lastValueFrom(
    from([50, 60_000]).pipe(parallelMap(SLEEP, { pool: one, batchSize: 1 }), take(1)),
  );
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('the other stream did not end')), 20_000);
  });
  try {
    assert.deepStrictEqual(await Promise.race([running, late]), [700, 701, 702, 703]);
  } finally {
    clearTimeout(timer);
  }
  await one.close();
  await two.close();
});

test('an events stream capped very small: every batch still ends, through the reconcile pass', async () => {
  await Promise.all([worker('capped'), worker('capped')]);
  const exec = executor({ queue: 'capped', streams: { events: { maxLen: 1 } }, capacity: 8 });
  const inputs = Array.from({ length: 2000 }, (_, i) => i);
  const results = await drive(exec, fn('quota'), inputs, { batch: 5 });
  results.forEach((result, i) => {
    assert.deepEqual(result, { ok: true, value: i + i, attempts: 1 });
  });
  // Without events at all, the reconcile pass alone ends every batch.
  const quiet = executor({ queue: 'capped', events: false, reconcileMs: 50 });
  const alone = await drive(quiet, fn('quota'), inputs.slice(0, 200), { batch: 20 });
  alone.forEach((result, i) => {
    assert.deepEqual(result, { ok: true, value: i + i, attempts: 1 });
  });
  assert.equal(quiet.counters().byEvent, 0);
  assert.equal(quiet.counters().byReconcile, 10);
});

test('a batch over maxBatchBytes runs the first items that fit; the rest go again', async () => {
  const exec = executor({ queue: 'main', maxBatchBytes: 4096 });
  const sizes: number[] = [];
  const inputs = Array.from({ length: 20 }, (_, i) => `${i}:${'x'.repeat(500)}`);
  const results = await drive(exec, fn('default'), inputs, {
    batch: 20,
    onOutcome: (outcome) => {
      if (outcome.type === 'done') sizes.push(outcome.count);
    },
  });
  results.forEach((result, i) => {
    assert.deepEqual(result, { ok: true, value: inputs[i], attempts: 1 });
  });
  assert.ok(sizes.length > 1 && Math.max(...sizes) < 20, `batch sizes ${sizes}`);
  const huge = await drive(exec, fn('default'), ['y'.repeat(10_000)], { batch: 1 });
  assert.ok(!huge[0]!.ok);
  assert.equal(huge[0]!.kind, 'unsendable');
  assert.match(huge[0]!.error.message, /over the executor's maxBatchBytes of 4096/);
});

test('Redis restarted mid-run: the stream completes after reconnecting', async () => {
  const own = await startRedis();
  try {
    await worker('restart', own);
    const exec = bullmqExecutor({ connection: own.url, queue: 'restart', capacity: 4 });
    executors.push(exec);
    const inputs = Array.from({ length: 60 }, () => 100);
    const running = drive(exec, fn('sleep'), inputs, { batch: 2, deadlineMs: 60_000 });
    await until(() => exec.stats().busy >= 1, 20_000, 'jobs to run');
    await own.restart();
    const results = await running;
    for (const result of results) assert.deepEqual(result, { ok: true, value: 100, attempts: 1 });
    assert.ok(exec.counters().lost >= 1, 'the restart lost no job: it did not test anything');
    await exec.close();
  } finally {
    await own.close();
  }
});

test('Redis unreachable from the start: a clear error for ready() and every item, never a hang', async () => {
  const own = await startRedis();
  const url = own.url;
  await own.close();
  const exec = bullmqExecutor({ connection: url, queue: 'nowhere', unreachableMs: 1000 });
  executors.push(exec);
  const started = Date.now();
  await assert.rejects(exec.ready(), (error: Error) => {
    assert.ok(error instanceof RedisUnreachableError);
    assert.match(error.message, /cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+.*for 1000 ms/);
    return true;
  });
  const results = await drive(exec, fn('quota'), [1, 2, 3], { batch: 3, deadlineMs: 10_000 });
  for (const result of results) {
    assert.ok(!result.ok);
    assert.ok(result.error instanceof RedisUnreachableError, String(result.error));
  }
  assert.ok(Date.now() - started < 8000, `took ${Date.now() - started} ms`);
  await exec.close();
});

test('close() and destroy() release every connection: the process exits by itself', async () => {
  const script = fileURLToPath(new URL('../fixtures/bullmq-exit.ts', import.meta.url));
  const dead = await startRedis();
  const deadUrl = dead.url;
  await dead.close();
  for (const [url, mode, outcome] of [
    [redis.url, 'close', 'done'],
    [redis.url, 'destroy', 'aborted'],
    [deadUrl, 'unreachable', 'unsendable'],
  ] as const) {
    const child = spawn(process.execPath, ['--import', 'tsx', script, url, 'main', mode]);
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.resume();
    let closedAt = 0;
    child.stdout.on('data', () => {
      if (closedAt === 0 && stdout.includes('closed')) closedAt = Date.now();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    clearTimeout(timer);
    assert.equal(code, 0, `${mode}: the process did not exit by itself (${stdout})`);
    assert.match(stdout, new RegExp(`"${outcome}"\\nclosed`), mode);
    assert.ok(
      Date.now() - closedAt < 3000,
      `${mode}: exited ${Date.now() - closedAt} ms after close`,
    );
  }
});

test('options are validated with a clear message', () => {
  assert.throws(
    () => bullmqExecutor({ connection: 'http://x', queue: 'q' }),
    /Expected `connection` to be a redis:\/\/ or rediss:\/\/ URL, or ioredis options, got/,
  );
  assert.throws(
    () => bullmqExecutor({ connection: redis.url, queue: '' }),
    /Expected `queue` to be a non-empty string/,
  );
  assert.throws(
    () => bullmqExecutor({ connection: redis.url, queue: 'q', capacity: 0 }),
    /Expected `capacity` to be an integer >= 1, got `0` \(number\)/,
  );
  assert.throws(
    () =>
      bullmqExecutor({ connection: redis.url, queue: 'q', streams: { events: { maxLen: -1 } } }),
    /Expected `streams.events.maxLen` to be an integer >= 1/,
  );
});
