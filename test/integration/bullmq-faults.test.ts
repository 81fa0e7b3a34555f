/**
 * Faults of the distributed mode (issue 20, points 13-21): `bullmqExecutor` and `rxpool worker`
 * (from the built CLI: build first) on real redis-servers, under the faults a chaos run found:
 * a frozen Redis, a lost Redis, hostile or oversized jobs, a launcher that goes away.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { serialize } from 'node:v8';
import { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createPool, type Pool, TaskError, task } from 'rxpool';
import { type BullmqExecutorOptions, bullmqExecutor } from 'rxpool/bullmq';
import { reapWith } from '../../scripts/reaper.js';
import { type RedisServer, startRedis } from '../../scripts/redis-server.js';
import { startWorker, type WorkerProcess } from '../../scripts/rxpool-worker.js';
import { encodeBatch, JOB_NAME } from '../../src/bullmq/job.js';
import { readResult } from '../../src/bullmq/result.js';
import type { WorkSpec } from '../../src/wire/work.js';
import { runNode, startNode } from '../support/child.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const MODULE = new URL('../fixtures/remote-task.mjs', import.meta.url);

let redis: RedisServer;
const servers: RedisServer[] = [];
const workers: WorkerProcess[] = [];
const pools: Pool[] = [];
const children: ChildProcess[] = [];
const temps: string[] = [];
/** Processes not started here (a worker under npx), killed by pid after. */
const pids: number[] = [];
const frozen: RedisServer[] = [];
const queues: Queue[] = [];

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
  // A server a test froze (SIGSTOP) must run again to be stopped.
  for (const server of frozen) {
    try {
      process.kill(server.pid, 'SIGCONT');
    } catch {}
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  await Promise.all(pools.map((p) => p.destroy()));
  await Promise.all(queues.map((q) => q.close()));
  await Promise.all(workers.map((w) => w.kill()));
  await Promise.all(servers.map((s) => s.close()));
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/**
 * A project of its own in a temporary folder, with rxpool installed as the packed tarball would
 * be (package.json and dist/, copied: a link would find this checkout's node_modules) and only
 * the given packages of this checkout beside it. Returns its folder.
 */
function project(packages: readonly string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'rxpool-project-'));
  temps.push(dir);
  const modules = join(dir, 'node_modules');
  mkdirSync(join(modules, 'rxpool'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(modules, 'rxpool/package.json'));
  cpSync(join(ROOT, 'dist'), join(modules, 'rxpool/dist'), { recursive: true });
  for (const name of packages) symlinkSync(join(ROOT, 'node_modules', name), join(modules, name));
  mkdirSync(join(modules, '.bin'));
  symlinkSync('../rxpool/dist/src/cli/main.js', join(modules, '.bin/rxpool'));
  // As npm installs a bin: executable.
  chmodSync(join(modules, 'rxpool/dist/src/cli/main.js'), 0o755);
  return dir;
}

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

/** Runs a fixture under tsx; resolves its output so far on demand, and its exit. */
function fixtureProcess(name: string, args: string[]) {
  const started = startNode(['--import', 'tsx', join(FIXTURES, name), ...args], {
    killAfterMs: 120_000,
  });
  const { child } = started;
  children.push(child);
  // Gone with this process, however it ends (scripts/reaper.ts).
  const reaper = reapWith(child.pid!);
  child.once('exit', () => reaper.release());
  const exited = started.outcome.then((outcome) => outcome.code);
  const output = () => `${started.stdout()}\n${started.stderr()}`;
  const said = async (text: string, ms = 60_000) => {
    const deadline = Date.now() + ms;
    while (!started.stdout().includes(text)) {
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`${name} did not say '${text}': ${output()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return { child, exited, said, output };
}

test('20: a producer closed after Redis is lost exits at once', async () => {
  const lost = await startRedis();
  servers.push(lost);
  await worker('lost', { server: lost });
  const producer = fixtureProcess('bullmq-lost.ts', [lost.url, 'lost']);
  await producer.said('mapped');
  await lost.stop();
  const closing = Date.now();
  producer.child.stdin.end('go\n');
  const code = await producer.exited;
  const took = Date.now() - closing;
  assert.equal(code, 0, producer.output());
  assert.match(producer.output(), /closed/);
  // Redis' loss is seen at once (the socket closes); nothing waits for a reconnect after close().
  assert.ok(took < 2000, `the producer exited ${took} ms after close() began`);
});

test('21: rxpool/bullmq without ioredis (or bullmq) installed says which packages to install', async () => {
  for (const [packages, missing] of [
    [['rxjs', 'tinypool', 'bullmq'], 'ioredis cannot be found'],
    [['rxjs', 'tinypool'], 'bullmq cannot be found'],
  ] as const) {
    const { stdout } = await runNode(
      [
        '--input-type=module',
        '-e',
        "import('rxpool/bullmq').then(() => console.log('loaded'), (e) => console.log(e.code + ': ' + e.message))",
      ],
      { cwd: project(packages), killAfterMs: 60_000 },
    );
    assert.match(
      stdout,
      new RegExp(
        `^ERR_MODULE_NOT_FOUND: rxpool/bullmq needs the packages bullmq and ioredis \\(optional peer dependencies of rxpool\\); ${missing}: npm install bullmq ioredis\n$`,
      ),
      packages.join(','),
    );
  }
  // With both, it loads.
  const { stdout } = await runNode(
    [
      '--input-type=module',
      '-e',
      "const m = await import('rxpool/bullmq'); console.log(typeof m.bullmqExecutor, typeof m.RedisUnreachableError)",
    ],
    { cwd: project(['rxjs', 'tinypool', 'bullmq', 'ioredis']), killAfterMs: 60_000 },
  );
  assert.equal(stdout, 'function function\n');
});

/** Whether a process of this pid is alive. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once `pid` is gone; rejects after `ms`. */
async function gone(pid: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} still running after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('15: SIGTERM stops a worker whose Redis went away, within seconds', async () => {
  const lost = await startRedis();
  servers.push(lost);
  const stranded = await worker('stranded', { server: lost });
  await lost.stop();
  // It has seen the loss: it reports a connection problem once.
  const deadline = Date.now() + 30_000;
  while (!/redis: /.test(stranded.stderr())) {
    assert.ok(Date.now() < deadline, stranded.stderr());
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  stranded.child.kill('SIGTERM');
  await gone(stranded.child.pid!, 10_000);
  assert.equal(await stranded.exited, 0, stranded.stderr());
  assert.match(stranded.stderr(), /SIGTERM: taking no new batches/);
});

test('16: `npx rxpool worker` stopped with SIGTERM: the worker process goes with its launcher', async () => {
  const dir = project(['rxjs', 'tinypool', 'bullmq', 'ioredis']);
  cpSync(join(FIXTURES, 'remote-task.mjs'), join(dir, 'remote-task.mjs'));
  await worker('npx');
  const launcher = spawn(
    'npx',
    [
      '--no-install',
      'rxpool',
      'worker',
      '--redis',
      redis.url,
      '--queue',
      'npx',
      '--threads',
      '1',
      'remote-task.mjs',
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(launcher);
  const launcherReaper = reapWith(launcher.pid!);
  launcher.once('exit', () => launcherReaper.release());
  let stderr = '';
  launcher.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  launcher.stdout.resume();
  const deadline = Date.now() + 60_000;
  while (!/ready: .*pid \d+/.test(stderr)) {
    assert.ok(Date.now() < deadline && launcher.exitCode === null, stderr);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const pid = Number(/ready: .*pid (\d+)/.exec(stderr)![1]);
  assert.notEqual(pid, launcher.pid, 'npx ran the worker in its own process');
  pids.push(pid);
  const workerReaper = reapWith(pid);
  launcher.kill('SIGTERM');
  await gone(pid, 15_000);
  workerReaper.release();
  // It stopped as on SIGTERM: no new batches, the running ones finished, exit.
  assert.match(stderr, /its launcher \(pid \d+\) has gone: taking no new batches/);
  assert.match(stderr, /rxpool worker: stopped\n/);
});

test('14: a frozen Redis (SIGSTOP) is reported as RedisUnreachableError within unreachableMs, as a dead one; the pool then serves again', async () => {
  const server = await startRedis();
  servers.push(server);
  await worker('frozen', { server });
  const executor = bullmqExecutor({ connection: server.url, queue: 'frozen', unreachableMs: 1000 });
  const pool = createPool({ executor });
  pools.push(pool);
  const quota = task<number, number>(MODULE, 'quota');
  const sleep = task<number, number>(MODULE, 'sleep');
  assert.deepEqual(await pool.map(quota, [1, 2]), [2, 4]);
  // A batch out when Redis freezes, and one sent while it is frozen.
  const out = pool.run(sleep, 1500).catch((error: unknown) => error);
  frozen.push(server);
  process.kill(server.pid, 'SIGSTOP');
  const frozenAt = Date.now();
  const outcome = await within(out, 20_000);
  const took = Date.now() - frozenAt;
  assert.ok(outcome instanceof TaskError, `the batch out settled with ${String(outcome)}`);
  assert.equal(outcome.cause.name, 'RedisUnreachableError');
  assert.match(outcome.cause.message, /cannot reach Redis .* for 1000 ms: Redis has not answered/);
  // unreachableMs, after at most one reconcile pass (1 s) to notice, with room for a busy host.
  assert.ok(took < 6000, `reported ${took} ms after the freeze`);
  const sent = await within(
    pool.map(quota, [3]).catch((error: unknown) => error),
    20_000,
  );
  assert.ok(sent instanceof TaskError && sent.cause.name === 'RedisUnreachableError', String(sent));
  process.kill(server.pid, 'SIGCONT');
  frozen.pop();
  // Once Redis answers again (ready() resolves when it does), the pool serves the next call.
  await within(executor.ready(), 10_000);
  assert.deepEqual(await within(pool.map(quota, [5, 6]), 30_000), [10, 12]);
});

/** `promise`'s outcome, or a rejection after `ms` (a hang fails the test rather than stalling it). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no outcome within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The bytes Redis holds for a queue's keys (`MEMORY USAGE` of each), and how many keys. */
async function queueBytes(url: string, queue: string): Promise<{ bytes: number; keys: string[] }> {
  const client = new Redis(url);
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await client.scan(cursor, 'MATCH', `bull:${queue}:*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    let bytes = 0;
    for (const key of keys) bytes += (await client.memory('USAGE', key, 'SAMPLES', '0')) ?? 0;
    return { bytes, keys: keys.sort() };
  } finally {
    client.disconnect();
  }
}

test('17: results do not pile up in Redis from run to run (the events stream holds no results)', async (t) => {
  await worker('growth');
  const kilobyte = task<number, string>(MODULE, 'kilobyte');
  const N = 5000;
  const after: number[] = [];
  for (let run = 0; run < 3; run++) {
    // A run as a program makes one: a pool of its own, closed at the end (jobs removed by then).
    const pool = createPool({
      executor: bullmqExecutor({ connection: redis.url, queue: 'growth' }),
    });
    const results = await pool.map(
      kilobyte,
      Array.from({ length: N }, (_, i) => i),
    );
    await pool.close();
    assert.equal(results.length, N);
    assert.equal(results[N - 1], String(N - 1).padStart(1024, '.'));
    const { bytes, keys } = await queueBytes(redis.url, 'growth');
    after.push(bytes);
    // Each run brought 5 MB of results through Redis; what stays is the queue's bookkeeping and
    // the events stream's small entries (capped by its maxLen), not the results.
    assert.ok(bytes < 512 * 1024, `after run ${run + 1}: ${bytes} bytes in ${keys.join(', ')}`);
  }
  t.diagnostic(`bytes of the queue's keys after each run: ${after.join(', ')}`);
  assert.ok(after[2]! - after[0]! < 128 * 1024, `grew ${after.join(' -> ')} bytes over three runs`);
});

/** The events of `jobId` in the queue's events stream so far: `[event, failedReason?]` each. */
async function eventsOf(url: string, queue: string, jobId: string): Promise<string[][]> {
  const client = new Redis(url);
  try {
    const entries = await client.xrange(`bull:${queue}:events`, '-', '+');
    const found: string[][] = [];
    for (const [, fields] of entries) {
      const record: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) record[fields[i]!] = fields[i + 1]!;
      if (record.jobId === jobId) {
        found.push(
          record.failedReason === undefined
            ? [record.event!]
            : [record.event!, record.failedReason],
        );
      }
    }
    return found;
  } finally {
    client.disconnect();
  }
}

/** Waits until `jobId` has a 'failed' event; returns its events then. */
async function failedEvent(
  url: string,
  queue: string,
  jobId: string,
  ms = 30_000,
): Promise<string[][]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const events = await eventsOf(url, queue, jobId);
    if (events.some(([event]) => event === 'failed')) return events;
    if (Date.now() > deadline)
      throw new Error(`job ${jobId} did not fail: ${JSON.stringify(events)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const REMOTE_WORK: WorkSpec = { kind: 'module', url: MODULE.href, name: 'quota' };

/** A good job, run by whichever worker is on the queue: its outcomes once completed. */
async function goodJob(queue: Queue, jobId: string): Promise<unknown[]> {
  await queue.add(
    JOB_NAME,
    encodeBatch({ stream: 's', work: REMOTE_WORK, timeout: undefined, inputs: [1, 2] }),
    { jobId },
  );
  const deadline = Date.now() + 30_000;
  for (;;) {
    const job = await Job.fromId(queue, jobId);
    if (job?.finishedOn) {
      assert.equal(job.failedReason, undefined, job.failedReason);
      return readResult(job.data, 2).values;
    }
    if (Date.now() > deadline) throw new Error(`job ${jobId} did not complete`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('18: a job whose count claims far more items than it holds fails alone, before any allocation', async () => {
  const q = new Queue('claims', { connection: { url: redis.url } });
  queues.push(q);
  const w = await worker('claims');
  const empty: unknown[] = [];
  empty.length = 200_000_000;
  const data = {
    ...encodeBatch({ stream: 's', work: REMOTE_WORK, timeout: undefined, inputs: [] }),
    count: 200_000_000,
    inputs: serialize(empty).toString('base64'),
  };
  assert.ok(JSON.stringify(data).length < 300);
  await q.add(JOB_NAME, data, { jobId: 'liar' });
  const events = await failedEvent(redis.url, 'claims', 'liar');
  const reason = events.find(([event]) => event === 'failed')![1]!;
  assert.match(
    reason,
    /the job's count says 200000000 items, more than its \d+ bytes of inputs can hold/,
  );
  assert.equal(events.filter(([event]) => event === 'active').length, 1, JSON.stringify(events));
  // The worker is alive and serves the next job.
  assert.deepEqual(await goodJob(q, 'after-liar'), [2, 4]);
  assert.equal(w.child.exitCode, null, w.stderr());
});

test('19: a job of raw bytes, or over the size limit, fails once, is removed, and its failure is in the events stream', async () => {
  const q = new Queue('hostile', { connection: { url: redis.url } });
  queues.push(q);
  // Jobs added while no worker is on the queue, so that one can be spoiled before it is taken.
  await q.add(JOB_NAME, { v: 3 }, { jobId: 'bytes' });
  const raw = new Redis(redis.url);
  try {
    await raw.hset('bull:hostile:bytes', 'data', Buffer.from([0xff, 0x00, 0x8b, 0x1f, 0x7b]));
  } finally {
    raw.disconnect();
  }
  const huge = {
    ...encodeBatch({ stream: 's', work: REMOTE_WORK, timeout: undefined, inputs: [] }),
    inputs: 'A'.repeat(48 * 1024 * 1024),
  };
  await q.add(JOB_NAME, huge, { jobId: 'huge' });
  const w = await worker('hostile');
  for (const [jobId, reason] of [
    ['bytes', /the job's data cannot be read \(not JSON\)/],
    ['huge', /the job's data is \d+ bytes, over rxpool worker's limit of 33554432/],
  ] as const) {
    const events = await failedEvent(redis.url, 'hostile', jobId);
    const failed = events.find(([event]) => event === 'failed')![1]!;
    assert.match(failed, reason, jobId);
    assert.equal(
      events.filter(([event]) => event === 'active').length,
      1,
      `${jobId}: ${JSON.stringify(events)}`,
    );
    // Removed: nobody would read it.
    const deadline = Date.now() + 10_000;
    while ((await Job.fromId(q, jobId)) !== undefined) {
      assert.ok(Date.now() < deadline, `${jobId} is still in Redis`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.match(w.stderr(), new RegExp(`refused job ${jobId}: `));
  }
  assert.deepEqual(await goodJob(q, 'after-hostile'), [2, 4]);
  // A producer's jobs stay under the limit: its maxBatchBytes is bounded.
  assert.throws(
    () =>
      bullmqExecutor({ connection: redis.url, queue: 'hostile', maxBatchBytes: 32 * 1024 * 1024 }),
    /Expected `maxBatchBytes` to be an integer from 1024 to 16777216, got `33554432` \(number\)/,
  );
  assert.equal(w.child.exitCode, null, w.stderr());
});
