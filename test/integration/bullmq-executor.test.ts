/**
 * `bullmqExecutor` through the public API, as a user runs it: `createPool({ executor:
 * bullmqExecutor(...) })` with `parallelMap`, `pool.map`, `pool.imap` and `pool.imapSettled`, on a
 * real redis-server with real `rxpool worker` processes (from the built CLI: build first).
 * Where a test must see what the executor reported (a crash, a batch cut short), it wraps the
 * executor in a pass-through one (`watch`): the pool takes any executor.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { from, lastValueFrom, take, tap, toArray } from 'rxjs';
import {
  type BatchOutcome,
  createPool,
  type Executor,
  type Pool,
  type Settled,
  TaskError,
  TaskTimeoutError,
  task,
  WorkerCrashedError,
} from 'rxpool';
import {
  type BullmqExecutor,
  type BullmqExecutorOptions,
  bullmqExecutor,
  RedisUnreachableError,
} from 'rxpool/bullmq';
import { parallelMap } from 'rxpool/operators';
import { type RedisServer, startRedis } from '../../scripts/redis-server.js';
import { startWorker, type WorkerProcess } from '../../scripts/rxpool-worker.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const MODULE = new URL('../fixtures/remote-task.mjs', import.meta.url);
const fn = <In, Out>(name: string) => task<In, Out>(MODULE, name);
const ECHO = fn<unknown, unknown>('default');
const QUOTA = fn<unknown, unknown>('quota');
const BURN = fn<number, number>('burn');
const SLEEP = fn<number, number>('sleep');
const SPIN = fn<string, string>('spinOn');
const EXIT = fn<string, string>('exitOn');

let redis: RedisServer;
const workers: WorkerProcess[] = [];
const pools: Pool[] = [];
const queues: Queue[] = [];
/** Other processes and servers a test starts, stopped by pid after (a failed test too). */
const children: ChildProcess[] = [];
const servers: RedisServer[] = [];

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

/** What the executor reported for each batch, and when. */
interface Seen {
  readonly type: BatchOutcome['type'];
  readonly at: number;
  readonly inputs: readonly unknown[];
  /** `done`: how many of the batch's items ran. */
  readonly count: number | undefined;
}

/** A pass-through executor that records every outcome of `inner`. */
function watch(inner: BullmqExecutor): { executor: Executor; seen: Seen[] } {
  const seen: Seen[] = [];
  const executor: Executor = {
    get size() {
      return inner.size;
    },
    traits: inner.traits,
    capacity: () => inner.capacity(),
    onCapacity: (listener) => inner.onCapacity(listener),
    stats: () => inner.stats(),
    run: (batch, report) =>
      inner.run(batch, (outcome) => {
        const count = outcome.type === 'done' ? outcome.count : undefined;
        seen.push({ type: outcome.type, at: Date.now(), inputs: batch.inputs, count });
        report(outcome);
      }),
    close: () => inner.close(),
    destroy: () => inner.destroy(),
  };
  return { executor, seen };
}

/** A pool on a new `bullmqExecutor` (redis's, unless `connection` is given). */
function remotePool(options: Partial<BullmqExecutorOptions> & { queue: string }) {
  const executor = bullmqExecutor({ connection: redis.url, ...options });
  const watched = watch(executor);
  const pool = createPool({ executor: watched.executor });
  pools.push(pool);
  return { pool, executor, seen: watched.seen };
}

function rawQueue(name: string): Queue {
  const queue = new Queue(name, { connection: { url: redis.url } });
  queues.push(queue);
  return queue;
}

/** Waits until `check` holds, polling. */
async function until(
  check: () => boolean | Promise<boolean>,
  ms: number,
  what: string | (() => string),
) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The queue's last counts read by {@link empty}, for the message when it is not. */
let lastCounts = '';

/** Whether the queue holds no job at all (none waiting, running, finished or delayed). */
async function empty(queue: Queue): Promise<boolean> {
  const counts = await queue.getJobCounts('wait', 'active', 'delayed', 'completed', 'failed');
  lastCounts = JSON.stringify(counts);
  return Object.values(counts).every((n) => n === 0);
}

before(async () => {
  redis = await startRedis();
  await Promise.all([worker('main'), worker('main')]);
});

after(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  await Promise.all(pools.map((p) => p.destroy()));
  await Promise.all(queues.map((q) => q.close()));
  await Promise.all(workers.map((w) => w.kill()));
  await redis?.close();
  await Promise.all(servers.map((s) => s.close()));
});

const N = 10_000;
const expected = Array.from({ length: N }, (_, i) => i * 3 + 1);

/**
 * 10,000 items over three workers of one thread; the first worker is SIGKILLed once 30% have
 * come out. Returns what came out, and the ms from the kill to each batch reported crashed.
 */
async function killMidStream(
  queue: string,
  run: (pool: Pool, onValue: () => void) => Promise<number[]>,
): Promise<{ values: number[]; crashedAfterMs: number[]; crashed: number }> {
  const [victim] = await Promise.all([0, 1, 2].map(() => worker(queue, { threads: 1 })));
  const { pool, executor, seen } = remotePool({ queue });
  let emitted = 0;
  let killedAt = 0;
  const values = await run(pool, () => {
    if (++emitted === N * 0.3) {
      killedAt = Date.now();
      void victim!.kill();
    }
  });
  await pool.close();
  const crashedAfterMs = seen.filter((s) => s.type === 'crashed').map((s) => s.at - killedAt);
  return { values, crashedAfterMs, crashed: executor.counters().crashed };
}

test('10,000 items in order, a worker SIGKILLed mid-stream: each once, right, in order', async (t) => {
  const { values, crashedAfterMs, crashed } = await killMidStream('kill-ordered', (pool, onValue) =>
    lastValueFrom(from(expected.keys()).pipe(parallelMap(BURN, { pool }), tap(onValue), toArray())),
  );
  assert.equal(values.length, N);
  assert.deepStrictEqual(values, expected);
  // The kill hit running batches (else the test showed nothing), found within seconds.
  assert.ok(crashed >= 1, 'no batch was reported crashed');
  t.diagnostic(`batches reported crashed ${crashedAfterMs.join(', ')} ms after the kill`);
  for (const ms of crashedAfterMs) assert.ok(ms <= 10_000, `reported after ${ms} ms`);
});

test('10,000 items unordered, a worker SIGKILLed mid-stream: each index once, values right', async (t) => {
  const { values, crashedAfterMs, crashed } = await killMidStream(
    'kill-unordered',
    async (pool, onValue) => {
      const out: number[] = [];
      for await (const value of pool.imap(BURN, expected.keys(), { ordered: false })) {
        out.push(value);
        onValue();
      }
      return out;
    },
  );
  assert.equal(values.length, N);
  // n * 3 + 1 is one value per index: sorted, they are every index exactly once.
  assert.deepStrictEqual(
    [...values].sort((a, b) => a - b),
    expected,
  );
  assert.ok(crashed >= 1, 'no batch was reported crashed');
  t.diagnostic(`batches reported crashed ${crashedAfterMs.join(', ')} ms after the kill`);
  for (const ms of crashedAfterMs) assert.ok(ms <= 10_000, `reported after ${ms} ms`);
});

test('values keep structured-clone semantics; errors keep class name, message, stack, code and own properties; jobs are removed once read', async () => {
  const { pool } = remotePool({ queue: 'main' });
  const odd: unknown[] = [new Date(5), new Map([[1, new Set(['a'])]]), -0, 2n ** 70n, undefined];
  assert.deepStrictEqual(await pool.map(ECHO, odd), structuredClone(odd));
  assert.deepStrictEqual(await pool.map(QUOTA, [1, 'x']), [2, 'xx']);
  await assert.rejects(pool.map(QUOTA, [1, 'bad', 3]), (error: Error) => {
    assert.ok(error instanceof TaskError);
    assert.ok(!(error instanceof WorkerCrashedError));
    assert.equal(error.index, 1);
    assert.equal(error.attempts, 1);
    const cause = error.cause as Error & Record<string, unknown>;
    assert.equal(cause.name, 'QuotaError');
    assert.equal(cause.message, 'over quota: bad');
    assert.match(
      cause.stack!,
      /^QuotaError: over quota: bad\n\s+at quota \(.*remote-task\.mjs:\d+/,
    );
    assert.equal(cause.code, 'E_QUOTA');
    assert.equal(cause.limit, 42);
    assert.deepStrictEqual(cause.when, new Date(0));
    assert.equal(error.message, 'Item 1 failed after 1 attempt: QuotaError: over quota: bad');
    return true;
  });
  await pool.close();
  const main = rawQueue('main');
  await until(
    () => empty(main),
    5000,
    () => `every job to be removed once read: ${lastCounts}`,
  );
});

test('a poison item (process.exit) ends as WorkerCrashedError after retry + 1 attempts; the others succeed', async () => {
  const { pool } = remotePool({ queue: 'main' });
  const inputs = ['a', 'exit', 'b', 'c', 'd', 'e'];
  const settled: Settled<string, string>[] = [];
  for await (const item of pool.imapSettled(EXIT, inputs, { retry: 2 })) settled.push(item);
  assert.equal(settled.length, inputs.length);
  settled.forEach((item, i) => {
    assert.equal(item.index, i);
    if (i === 1) return;
    assert.ok(item.ok, `item ${i}: ${item.ok ? '' : item.error.message}`);
    assert.equal(item.value, inputs[i]);
  });
  const poison = settled[1]!;
  assert.ok(!poison.ok);
  assert.ok(poison.error instanceof WorkerCrashedError, String(poison.error));
  assert.equal(poison.error.attempts, 3);
  assert.equal(poison.error.cause.name, 'WorkerExit');
  assert.match(poison.error.message, /^Item 1 lost its worker after 3 attempts: WorkerExit/);
  await assert.rejects(pool.map(EXIT, ['x', 'exit'], { retry: 1 }), (error: Error) => {
    assert.ok(error instanceof WorkerCrashedError);
    assert.equal(error.index, 1);
    assert.equal(error.attempts, 2);
    return true;
  });
  await pool.close();
});

test('a timeout stops a runaway item on the worker; its batch-mates succeed', async () => {
  const { pool, seen } = remotePool({ queue: 'main', capacity: 1 });
  const inputs = ['a', 'b', 'spin', 'c', 'd'];
  const settled: Settled<string, string>[] = [];
  for await (const item of pool.imapSettled(SPIN, inputs, { timeout: 500, batchSize: 4 })) {
    settled.push(item);
  }
  settled.forEach((item, i) => {
    if (i === 2) return;
    assert.ok(item.ok, `item ${i}: ${item.ok ? '' : item.error.message}`);
    assert.equal(item.value, inputs[i]);
  });
  const spin = settled[2]!;
  assert.ok(!spin.ok);
  assert.ok(spin.error instanceof TaskTimeoutError, String(spin.error));
  assert.equal(spin.error.timeout, 500);
  assert.equal(spin.error.attempts, 1);
  // The runaway item shared its job with others, and they ran in that same job.
  const its = seen.find((s) => s.inputs.includes('spin'));
  assert.ok(its && its.inputs.length > 1, `the batches: ${JSON.stringify(seen)}`);
  assert.equal(its.type, 'done');
  assert.equal(its.count, its.inputs.length);
  assert.equal(
    seen.filter((s) => s.inputs.includes('spin')).length,
    1,
    'the runaway item ran once',
  );
  await pool.close();
});

test('take(10) leaves no job in Redis: the waiting ones removed, the running ones stopped', async () => {
  const { pool } = remotePool({ queue: 'main', capacity: 10 });
  const main = rawQueue('main');
  // Ten short items, then items that would run for a minute.
  const inputs = Array.from({ length: 100 }, (_, i) => (i < 10 ? 300 : 60_000));
  let sawWaiting = false;
  const watching = until(
    async () => {
      sawWaiting ||= ((await main.getJobCounts('wait')).wait ?? 0) > 0;
      return sawWaiting;
    },
    20_000,
    'jobs to wait in Redis',
  );
  const values = await lastValueFrom(
    from(inputs).pipe(parallelMap(SLEEP, { pool, batchSize: 1 }), take(10), toArray()),
  );
  await watching;
  assert.deepStrictEqual(values, inputs.slice(0, 10));
  const stoppedAt = Date.now();
  await until(
    () => empty(main),
    10_000,
    () => `no job left of the stream: ${lastCounts}`,
  );
  // The running minute-long items were stopped, not waited for.
  assert.ok(Date.now() - stoppedAt < 10_000);
  await pool.close();
});

test('pool.close() right after an unsubscribe leaves no job in Redis (the stopped ones removed once they end)', async () => {
  const { pool } = remotePool({ queue: 'main' });
  const main = rawQueue('main');
  await lastValueFrom(
    from([50, 60_000, 60_000]).pipe(parallelMap(SLEEP, { pool, batchSize: 1 }), take(1)),
  );
  await pool.close();
  await until(
    () => empty(main),
    5000,
    () => `no job left once closed: ${lastCounts}`,
  );
});

test("two producers on one queue: unsubscribing a stream of one leaves the other's running", async () => {
  await worker('producers');
  const one = remotePool({ queue: 'producers' });
  const two = remotePool({ queue: 'producers' });
  // Each pool's first stream: the workers must not take one for the other.
  const running = two.pool.map(SLEEP, [700, 701, 702, 703], { batchSize: 1 });
  await until(() => two.executor.stats().busy >= 1, 20_000, 'the second stream to run');
  await lastValueFrom(
    from([50, 60_000]).pipe(parallelMap(SLEEP, { pool: one.pool, batchSize: 1 }), take(1)),
  );
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('the other stream did not end')), 20_000);
  });
  assert.deepStrictEqual(await Promise.race([running, late]), [700, 701, 702, 703]);
  clearTimeout(timer);
  const refused = two.seen.filter((s) => s.type === 'aborted').length;
  assert.equal(refused, 0, `${refused} of its batches were stopped`);
  await one.pool.close();
  await two.pool.close();
});

test('an events stream capped very small still completes (the reconcile pass); without events too', async () => {
  await Promise.all([worker('capped'), worker('capped')]);
  const inputs = Array.from({ length: 2000 }, (_, i) => i);
  const capped = remotePool({ queue: 'capped', streams: { events: { maxLen: 1 } } });
  assert.deepStrictEqual(
    await capped.pool.map(QUOTA, inputs, { batchSize: 5 }),
    inputs.map((i) => i + i),
  );
  await capped.pool.close();
  // Without events at all, the reconcile pass alone ends every batch.
  const quiet = remotePool({ queue: 'capped', events: false, reconcileMs: 50 });
  assert.deepStrictEqual(
    await quiet.pool.map(QUOTA, inputs.slice(0, 200), { batchSize: 20 }),
    inputs.slice(0, 200).map((i) => i + i),
  );
  await quiet.pool.close();
  const counters = quiet.executor.counters();
  assert.equal(counters.byEvent, 0);
  assert.equal(counters.byReconcile, quiet.seen.length);
  assert.ok(counters.byReconcile >= 10, `${counters.byReconcile} jobs`);
});

test('a batch over maxBatchBytes sends its first items that fit, the rest go again; an item over it fails alone', async () => {
  const { pool, seen } = remotePool({ queue: 'main', capacity: 1, maxBatchBytes: 4096 });
  const inputs = Array.from({ length: 20 }, (_, i) => `${i}:${'x'.repeat(500)}`);
  assert.deepStrictEqual(await pool.map(ECHO, inputs, { batchSize: 20 }), inputs);
  assert.ok(
    seen.some((s) => s.type === 'done' && s.count! < s.inputs.length),
    `no batch was cut: ${seen.map((s) => `${s.count}/${s.inputs.length}`)}`,
  );
  await assert.rejects(pool.run(ECHO, 'y'.repeat(10_000)), (error: Error) => {
    assert.ok(error instanceof TaskError);
    assert.equal(error.cause.name, 'RangeError');
    assert.match(error.cause.message, /over the executor's maxBatchBytes of 4096/);
    return true;
  });
  await pool.close();
});

test('Redis restarted mid-stream: the stream completes after reconnecting', async () => {
  const own = await startRedis();
  servers.push(own);
  try {
    await worker('restart', { server: own });
    const { pool, executor } = remotePool({ connection: own.url, queue: 'restart', capacity: 4 });
    const inputs = Array.from({ length: 60 }, (_, i) => 100 + i);
    const running = pool.map(SLEEP, inputs, { batchSize: 2 });
    await until(() => executor.stats().busy >= 1, 20_000, 'jobs to run');
    await own.restart();
    assert.deepStrictEqual(await running, inputs);
    assert.ok(executor.counters().lost >= 1, 'the restart lost no job: it did not test anything');
    await pool.close();
  } finally {
    await own.close();
  }
});

test('Redis unreachable from the start: a clear error, never a hang', async () => {
  const own = await startRedis();
  servers.push(own);
  const url = own.url;
  await own.close();
  const { pool, executor } = remotePool({ connection: url, queue: 'nowhere', unreachableMs: 1000 });
  const started = Date.now();
  await assert.rejects(executor.ready(), (error: Error) => {
    assert.ok(error instanceof RedisUnreachableError);
    assert.match(error.message, /cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+.*for 1000 ms/);
    return true;
  });
  await assert.rejects(pool.map(QUOTA, [1, 2, 3], { retry: 2 }), (error: Error) => {
    assert.ok(error instanceof TaskError);
    assert.ok(error.cause instanceof RedisUnreachableError, String(error.cause));
    assert.match(error.message, /RedisUnreachableError: cannot reach Redis at redis:\/\/127/);
    return true;
  });
  assert.ok(Date.now() - started < 8000, `took ${Date.now() - started} ms`);
  await pool.close();
});

test('a worker refuses a module it does not serve, and inline code without --allow-inline', async () => {
  const { pool } = remotePool({ queue: 'main' });
  const other = task<number, number>(new URL('../fixtures/square.mjs', import.meta.url));
  await assert.rejects(pool.map(other, [1, 2], { retry: 3 }), (error: Error) => {
    assert.ok(error instanceof TaskError);
    assert.equal(error.attempts, 1, 'refused work is not tried again');
    assert.equal(error.cause.name, 'ModuleNotServedError');
    assert.match(
      error.cause.message,
      /does not serve the task module 'file:\/\/.*\/square\.mjs': it serves remote-task\.mjs/,
    );
    return true;
  });
  const double = (n: number) => n * 2;
  await assert.rejects(pool.map(double, [21]), (error: Error) => {
    assert.ok(error instanceof TaskError);
    assert.equal(error.cause.name, 'InlineRefusedError');
    assert.match(error.cause.message, /does not run inline functions .*--allow-inline/);
    return true;
  });
  await pool.close();
  // With --allow-inline, the same function runs.
  await worker('inline', { extra: ['--allow-inline'] });
  const open = remotePool({ queue: 'inline' });
  assert.deepStrictEqual(await open.pool.map(double, [21, 1]), [42, 2]);
  await open.pool.close();
});

test('pool.close() and pool.destroy() release every connection: the process exits by itself', async () => {
  const script = fileURLToPath(new URL('../fixtures/bullmq-exit.ts', import.meta.url));
  const dead = await startRedis();
  servers.push(dead);
  const deadUrl = dead.url;
  await dead.close();
  for (const [url, mode, outcome] of [
    [redis.url, 'close', 'done'],
    [redis.url, 'destroy', 'AbortError'],
    [deadUrl, 'unreachable', 'RedisUnreachableError'],
  ] as const) {
    const child = spawn(process.execPath, ['--import', 'tsx', script, url, 'main', mode]);
    children.push(child);
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
    assert.match(stdout, new RegExp(`^${outcome}\\nclosed\\n$`), mode);
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

test('pool.broadcast rejects clearly: the remote workers cannot be named', async () => {
  const { pool } = remotePool({ queue: 'broadcast' });
  await assert.rejects(
    pool.broadcast(() => 1),
    /^TypeError: pool\.broadcast runs work on each of the pool's own workers; this pool's executor \(rxpool\/bullmq, or a custom one\)/,
  );
});
