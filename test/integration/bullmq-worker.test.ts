/**
 * `rxpool worker` on a real redis-server: two worker processes spawned from the built CLI
 * (`dist/src/cli/main.js`; build first) take batch jobs that the test adds with BullMQ's own
 * `Queue`, as a producer would, in the job format of src/bullmq/job.ts. The producer's module
 * URL is on another "host" (another path) to show the matching by file name.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type ConnectionOptions, Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { type RedisServer, startRedis } from '../../scripts/redis-server.js';
import {
  CLI,
  startWorker as startRxpoolWorker,
  type WorkerProcess,
} from '../../scripts/rxpool-worker.js';
import {
  CANCELLED,
  cancelChannel,
  decodeValues,
  encodeBatch,
  encodeCancel,
  JOB_NAME,
} from '../../src/bullmq/job.js';
import type { ItemSpan } from '../../src/executor/contract.js';
import { reviveError } from '../../src/wire/error.js';
import type { WorkSpec } from '../../src/wire/work.js';
import { decodeResult, type ItemOutcome } from '../support/bullmq-outcomes.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
/** The task module as a producer on another machine names it. */
const REMOTE = 'file:///home/producer/app/fixtures/remote-task.mjs';
const SAFETY_MS = 120_000;

let redis: RedisServer;
const workers: WorkerProcess[] = [];
const queues: Queue[] = [];
/** Other processes and servers a test starts, stopped by pid after (a failed test too). */
const children: ChildProcess[] = [];
const servers: RedisServer[] = [];

/** Spawns `rxpool worker` on `queue` in test/fixtures (2 threads) and waits until it is ready. */
async function startWorker(
  queue: string,
  {
    modules = ['remote-task.mjs'],
    extra = [],
    url = redis.url,
    env,
  }: { modules?: string[]; extra?: string[]; url?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<WorkerProcess> {
  const worker = await startRxpoolWorker({ redis: url, queue, modules, cwd: FIXTURES, extra, env });
  workers.push(worker);
  return worker;
}

function queue(name: string, connection: ConnectionOptions = { url: redis.url }): Queue {
  const q = new Queue(name, { connection });
  queues.push(q);
  return q;
}

let nextId = 0;

/** Adds a batch job as a producer would; resolves with its id. */
async function add(
  q: Queue,
  work: WorkSpec,
  inputs: unknown[],
  {
    stream = 'stream',
    timeout,
    spans = [{ index: 0, count: inputs.length, attempt: 1 }],
  }: { stream?: string; timeout?: number; spans?: ItemSpan[] } = {},
): Promise<string> {
  const jobId = `${stream}.${nextId++}.0`;
  await q.add(JOB_NAME, encodeBatch({ stream, work, timeout, spans, inputs }), { jobId });
  return jobId;
}

/**
 * The job's end, read from its state (not from the events stream, which can drop them):
 * `{ outcomes }` when it completed, `{ failed }` with the reason when it failed.
 */
async function finished(
  q: Queue,
  id: string,
  ms = 30_000,
): Promise<{ outcomes: ItemOutcome[]; worker: string } | { failed: string }> {
  const deadline = Date.now() + ms;
  for (;;) {
    const state = await q.getJobState(id);
    // Read after the state: a job read before it completed has no return value yet.
    const job = await Job.fromId(q, id);
    assert.ok(job, `job ${id} is gone`);
    if (state === 'completed') {
      // The outcomes are in the job's data once it ran (src/bullmq/job.ts).
      const [values] = decodeValues((job.data as { outcomes: string }).outcomes) as [unknown[]];
      return { outcomes: decodeResult(job.data, values.length), worker: job.returnvalue.worker };
    }
    if (state === 'failed') return { failed: job.failedReason };
    if (Date.now() > deadline) throw new Error(`job ${id} still ${state} after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function outcomes(q: Queue, id: string): Promise<ItemOutcome[]> {
  const end = await finished(q, id);
  assert.ok('outcomes' in end, `job ${id} failed: ${'failed' in end ? end.failed : ''}`);
  return end.outcomes;
}

async function waitActive(q: Queue, id: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while ((await (await Job.fromId(q, id))?.getState()) !== 'active') {
    if (Date.now() > deadline) throw new Error(`job ${id} never became active`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const fn = (name: string): WorkSpec => ({ kind: 'module', url: REMOTE, name });

let main: Queue;

before(async () => {
  redis = await startRedis();
  main = queue('main');
  await Promise.all([startWorker('main'), startWorker('main')]);
});

after(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  await Promise.all(workers.map((w) => w.kill()));
  await Promise.all(queues.map((q) => q.close()));
  await redis?.close();
  await Promise.all(servers.map((s) => s.close()));
});

test("the ready line counts the worker's threads: '1 thread', '2 threads'", async () => {
  for (const [threads, said] of [
    [1, '1 thread,'],
    [2, '2 threads,'],
  ] as const) {
    const worker = await startRxpoolWorker({
      redis: redis.url,
      queue: `ready-${threads}`,
      modules: ['remote-task.mjs'],
      cwd: FIXTURES,
      threads,
    });
    workers.push(worker);
    assert.match(worker.stderr(), new RegExp(`ready: queue 'ready-${threads}', pid \\d+, ${said}`));
    await worker.kill();
  }
});

test('odd values arrive and come back as with threads (structured clone, not JSON)', async () => {
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  const inputs: unknown[] = [
    new Date(86_400_000),
    new Map<unknown, unknown>([[1, new Set(['a'])]]),
    new Uint8Array([0, 7, 255]),
    new Float64Array([-0, Number.NaN]),
    -0,
    2n ** 70n,
    undefined,
    { nested: [undefined, new Date(0)], regex: /x+/g },
    cycle,
  ];
  const echoed = await outcomes(main, await add(main, fn('default'), inputs));
  assert.deepStrictEqual(
    echoed,
    structuredClone(inputs).map((value) => ({ ok: true, value })),
  );
  const described = await outcomes(main, await add(main, fn('describe'), inputs.slice(0, 7)));
  const seen = described.map((o) => (o.ok ? o.value : o)) as Record<string, unknown>[];
  assert.equal(seen[0]!.date, true);
  assert.equal(seen[1]!.map, true);
  assert.equal(seen[2]!.bytes, true);
  assert.equal(seen[4]!.negativeZero, true);
  assert.equal(seen[5]!.bigint, true);
  assert.equal(seen[6]!.undefined, true);
});

test('both workers take jobs', async () => {
  const ids = await Promise.all(
    Array.from({ length: 8 }, () => add(main, fn('sleep'), [300, 300])),
  );
  const ends = await Promise.all(ids.map((id) => finished(main, id)));
  const by = new Set(ends.map((end) => ('worker' in end ? end.worker : end.failed)));
  assert.equal(by.size, 2, `jobs ran on ${[...by].join(', ')}`);
});

test('a thrown error keeps its class name, message, stack, code and own properties', async () => {
  const [a, bad, c] = await outcomes(main, await add(main, fn('quota'), ['a', 'bad', 'c']));
  assert.deepStrictEqual(a, { ok: true, value: 'aa' });
  assert.deepStrictEqual(c, { ok: true, value: 'cc' });
  assert.ok(bad && !bad.ok);
  assert.equal(bad.kind, 'threw');
  const error = reviveError(bad.error) as Error & Record<string, unknown>;
  assert.equal(error.name, 'QuotaError');
  assert.equal(error.message, 'over quota: bad');
  assert.match(error.stack!, /^QuotaError: over quota: bad\n\s+at quota \(.*remote-task\.mjs:\d+/);
  assert.equal(error.code, 'E_QUOTA');
  assert.equal(error.limit, 42);
  assert.deepStrictEqual(error.when, new Date(0));
});

test('a timeout stops a runaway item; its batch-mates succeed', async () => {
  const started = Date.now();
  const [a, spin, c] = await outcomes(
    main,
    await add(main, fn('spinOn'), ['a', 'spin', 'c'], { timeout: 500 }),
  );
  assert.deepStrictEqual(a, { ok: true, value: 'a' });
  assert.deepStrictEqual(c, { ok: true, value: 'c' });
  assert.ok(spin && !spin.ok);
  assert.equal(spin.kind, 'timeout');
  assert.equal(spin.error.name, 'TimeoutError');
  assert.match(spin.error.message, /timeout of 500 ms/);
  assert.ok(Date.now() - started < 20_000);
  // The worker is still well: the spinning thread was stopped and replaced.
  const [again] = await outcomes(main, await add(main, fn('spinOn'), ['ok']));
  assert.deepStrictEqual(again, { ok: true, value: 'ok' });
});

test('an item that ends its thread is a crash of that item; its batch-mates succeed', async () => {
  const results = await outcomes(main, await add(main, fn('exitOn'), ['a', 'exit', 'c', 'd']));
  assert.deepStrictEqual(results[0], { ok: true, value: 'a' });
  assert.deepStrictEqual(results.slice(2), [
    { ok: true, value: 'c' },
    { ok: true, value: 'd' },
  ]);
  const crashed = results[1]!;
  assert.ok(!crashed.ok);
  assert.equal(crashed.kind, 'crashed');
  assert.equal(crashed.error.name, 'WorkerExit');
  assert.equal(crashed.error.props.exitCode, 7);
});

test('a module not served, an unknown export and inline code are refused clearly', async () => {
  const notServed = await outcomes(
    main,
    await add(
      main,
      { kind: 'module', url: 'file:///home/producer/app/cube.mjs', name: 'default' },
      [1, 2],
    ),
  );
  assert.equal(notServed.length, 2);
  for (const outcome of notServed) {
    assert.ok(!outcome.ok);
    assert.equal(outcome.kind, 'refused');
    assert.equal(outcome.error.name, 'ModuleNotServedError');
    assert.match(
      outcome.error.message,
      /does not serve the task module 'file:\/\/\/home\/producer\/app\/cube\.mjs': it serves remote-task\.mjs/,
    );
  }
  const [noExport] = await outcomes(main, await add(main, fn('nothing'), [1]));
  assert.ok(noExport && !noExport.ok);
  assert.equal(noExport.kind, 'refused');
  assert.match(
    noExport.error.message,
    /has no function export named 'nothing'; its function exports are: .*quota/,
  );

  const inline: WorkSpec = { kind: 'inline', source: '(n) => n * 2' };
  const [refused] = await outcomes(main, await add(main, inline, [21]));
  assert.ok(refused && !refused.ok);
  assert.equal(refused.kind, 'refused');
  assert.equal(refused.error.name, 'InlineRefusedError');
  assert.match(refused.error.message, /does not run inline functions .*--allow-inline/);

  const open = queue('inline');
  await startWorker('inline', { modules: [], extra: ['--allow-inline'] });
  assert.deepStrictEqual(await outcomes(open, await add(open, inline, [21])), [
    { ok: true, value: 42 },
  ]);
});

test("--setup MODULE#export: its value is every task's context.state; index and attempt are the producer's", async () => {
  const q = queue('setup');
  await startWorker('setup', {
    modules: ['lifecycle.mjs'],
    extra: ['--setup', 'lifecycle.mjs#setup'],
  });
  const work: WorkSpec = {
    kind: 'module',
    url: 'file:///home/producer/app/fixtures/lifecycle.mjs',
    name: 'seeContext',
  };
  const spans = [
    { index: 40, count: 1, attempt: 1 },
    { index: 57, count: 1, attempt: 3 },
  ];
  const seen = await outcomes(q, await add(q, work, [1, 2], { spans }));
  const values = seen.map((s) => {
    assert.ok(s.ok);
    const { input, index, attempt, signal, state } = s.value as Record<string, unknown>;
    return { input, index, attempt, signal, greeting: (state as { greeting: string }).greeting };
  });
  assert.deepEqual(values, [
    { input: 1, index: 40, attempt: 1, signal: true, greeting: 'hello' },
    { input: 2, index: 57, attempt: 3, signal: true, greeting: 'hello' },
  ]);
});

test('--setup: a setup that fails stops the worker at start, with why', async () => {
  const child = spawn(
    process.execPath,
    [
      CLI,
      'worker',
      '--redis',
      redis.url,
      '--queue',
      'bad-setup',
      '--setup',
      'faults.mjs#nope',
      'remote-task.mjs',
    ],
    { cwd: FIXTURES, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.notEqual(code, 0);
  assert.match(stderr, /the --setup task 'faults\.mjs#nope' failed: .*nope/);
});

test('SIGTERM waits for the running job, then exits 0', async () => {
  const q = queue('term');
  const worker = await startWorker('term');
  const id = await add(q, fn('sleep'), [1500]);
  await waitActive(q, id);
  worker.child.kill('SIGTERM');
  assert.equal(await worker.exited, 0, worker.stderr());
  const exitedAt = Date.now();
  const job = await Job.fromId(q, id);
  assert.equal(await job!.getState(), 'completed', worker.stderr());
  assert.ok(job!.finishedOn! <= exitedAt);
  assert.deepStrictEqual(decodeResult(job!.data, 1), [{ ok: true, value: 1500 }]);
  // Redis may show the job active a moment before the worker's processor has it: the count said
  // at SIGTERM can be 0 or 1; that the job completed before the exit is what shows the wait.
  assert.match(worker.stderr(), /SIGTERM: taking no new batches; finishing the [01] running/);
});

test("a cancel message stops a stream's running job and refuses its waiting ones", async () => {
  const publisher = new Redis(redis.url);
  try {
    const running = await add(main, fn('sleep'), [60_000, 60_000], { stream: 'doomed' });
    await waitActive(main, running);
    const other = await add(main, fn('sleep'), [50], { stream: 'kept' });
    const started = Date.now();
    await publisher.publish(cancelChannel('main'), encodeCancel('doomed'));
    assert.deepStrictEqual(await finished(main, running), { failed: CANCELLED });
    assert.ok(Date.now() - started < 10_000);
    assert.deepStrictEqual(await outcomes(main, other), [{ ok: true, value: 50 }]);
    const late = await add(main, fn('sleep'), [60_000], { stream: 'doomed' });
    assert.deepStrictEqual(await finished(main, late), { failed: CANCELLED });
  } finally {
    publisher.disconnect();
  }
});

/** Runs `rxpool ...args` in test/fixtures to its end. */
function rxpool(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: FIXTURES });
  children.push(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), SAFETY_MS);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  child.stdout.resume();
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    }),
  );
}

test('rxpool worker: command-line mistakes exit 2 with a message; bad modules exit 3', async () => {
  const url = 'redis://127.0.0.1:6379';
  const usage: [string[], RegExp][] = [
    [['worker', 'remote-task.mjs'], /missing --redis URL/],
    [
      ['worker', '--redis', 'http://h', '--queue', 'q', 'remote-task.mjs'],
      /expected --redis to be a redis:\/\/ or rediss:\/\/ URL, got 'http:\/\/h'/,
    ],
    [
      ['worker', '--redis', 'nonsense', '--queue', 'q', 'x.mjs'],
      /expected --redis .* got 'nonsense'/,
    ],
    [['worker', '--redis', url, 'remote-task.mjs'], /missing --queue NAME/],
    [
      ['worker', '--redis', url, '--queue', 'a:b', 'remote-task.mjs'],
      /expected --queue to be a queue name, not empty and without ':', got 'a:b'/,
    ],
    [
      ['worker', '--redis', url, '--queue', 'q', '--threads', '0', 'remote-task.mjs'],
      /expected --threads to be an integer from 1 up, got '0'/,
    ],
    [['worker', '--redis', url, '--queue', 'q'], /missing the task modules to serve/],
    [['worker', '--redis', url, '--queue', 'q', '--frob', 'x.mjs'], /unknown option '--frob'/],
    [
      ['worker', '--redis', url, '--queue', 'q', '--allow-inline=yes'],
      /'--allow-inline' takes no value/,
    ],
    [['mop'], /unknown command 'mop'; the commands are 'map' and 'worker'/],
  ];
  const modules: [string[], RegExp][] = [
    [['nowhere.mjs'], /cannot find the task module 'nowhere.mjs' \(looked at .*nowhere\.mjs\)/],
    [['cli-broken.mjs'], /cannot load the task module 'cli-broken.mjs': /],
  ];
  const results = await Promise.all([
    ...usage.map(([args]) => rxpool(args)),
    ...modules.map(([args]) => rxpool(['worker', '--redis', url, '--queue', 'q', ...args])),
  ]);
  for (const [i, [args, message]] of [...usage, ...modules].entries()) {
    const { code, stderr } = results[i]!;
    assert.match(stderr, message, `rxpool ${args.join(' ')}`);
    if (i < usage.length) assert.equal(code, 2, `rxpool ${args.join(' ')} exits 2`);
    if (i >= usage.length) assert.equal(code, 3, `rxpool worker ${args.join(' ')} exits 3`);
  }
});

test('a Redis it cannot reach: exit 1 with a clear message, the password hidden', async () => {
  const { port } = redis;
  const closed = `redis://rx:secret-pw@127.0.0.1:${port + 1 === 65536 ? 1 : port + 1}`;
  const { code, stderr } = await rxpool([
    'worker',
    '--redis',
    closed,
    '--queue',
    'q',
    'remote-task.mjs',
  ]);
  assert.equal(code, 1);
  assert.match(
    stderr,
    /rxpool: cannot connect to Redis at redis:\/\/rx:\*\*\*@127\.0\.0\.1:\d+\/?: .*ECONNREFUSED/,
  );
  assert.doesNotMatch(stderr, /secret-pw/);
});

test('an ACL user in the URL works; a wrong password is refused clearly', async () => {
  const admin = new Redis(redis.url);
  try {
    await admin.call('ACL', 'SETUSER', 'rxworker', 'on', '>s3cret', '~*', '&*', '+@all');
    const port = redis.port;
    await startWorker('acl', { url: `redis://rxworker:s3cret@127.0.0.1:${port}` });
    const q = queue('acl');
    assert.deepStrictEqual(await outcomes(q, await add(q, fn('quota'), [2])), [
      { ok: true, value: 4 },
    ]);
    const wrong = await rxpool([
      'worker',
      '--redis',
      `redis://rxworker:wrong@127.0.0.1:${port}`,
      '--queue',
      'q',
      'remote-task.mjs',
    ]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /cannot connect to Redis at redis:\/\/rxworker:\*\*\*@.*WRONGPASS/);
  } finally {
    admin.disconnect();
  }
});

test('a worker killed mid-job: its job fails as stalled within seconds, never run again by BullMQ', async (t) => {
  const q = queue('stall');
  const doomed = await startWorker('stall');
  const id = await add(q, fn('sleep'), [60_000]);
  await waitActive(q, id);
  const job = await Job.fromId(q, id);
  assert.match(job!.processedBy ?? '', new RegExp(`:${doomed.child.pid}$`));
  doomed.child.kill('SIGKILL');
  await doomed.exited;
  const killedAt = Date.now();
  // Another worker's stalled check finds it; with maxStalledCount 0 it goes to `failed` (the
  // producer launches the batch again as a new job), not back to `wait`.
  const survivor = await startWorker('stall');
  assert.deepStrictEqual(await finished(q, id), {
    failed: 'job stalled more than allowable limit',
  });
  const seconds = (Date.now() - killedAt) / 1000;
  t.diagnostic(`the stalled job failed ${seconds.toFixed(1)} s after the kill`);
  assert.ok(seconds < 15, `found after ${seconds} s`);
  // BullMQ 6.7 puts it back in `wait` with a deferred failure; the survivor takes it and fails it
  // without running it (a run would hold it for the item's 60 s).
  const after = await Job.fromId(q, id);
  assert.equal(after!.stalledCounter, 1);
  assert.doesNotMatch(survivor.stderr(), /error/i);
});

test('rediss:// (TLS) works through the URL', async () => {
  const secure = await startRedis({ tls: true });
  servers.push(secure);
  try {
    assert.match(secure.url, /^rediss:/);
    const ca = readFileSync(secure.caFile!, 'utf8');
    const q = queue('tls', { host: '127.0.0.1', port: secure.port, tls: { ca } });
    // The worker trusts the test's CA the way a host would trust a private one.
    const worker = await startWorker('tls', {
      url: secure.url,
      env: { ...process.env, NODE_EXTRA_CA_CERTS: secure.caFile },
    });
    assert.deepStrictEqual(await outcomes(q, await add(q, fn('quota'), [21])), [
      { ok: true, value: 42 },
    ]);
    // Without trusting the CA, the start fails and says why.
    const untrusted = await rxpool([
      'worker',
      '--redis',
      secure.url,
      '--queue',
      'tls',
      'remote-task.mjs',
    ]);
    assert.equal(untrusted.code, 1);
    assert.match(
      untrusted.stderr,
      /cannot connect to Redis at rediss:\/\/127\.0\.0\.1:\d+\/?: .*certificate/i,
    );
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0);
    await q.close();
  } finally {
    await secure.close();
  }
});

test('Redis restarted (empty, no persistence): the running workers reconnect and take new jobs', async () => {
  await redis.restart();
  const id = await add(main, fn('quota'), ['x', 'y']);
  assert.deepStrictEqual(await outcomes(main, id), [
    { ok: true, value: 'xx' },
    { ok: true, value: 'yy' },
  ]);
  // The cancel channel is subscribed again too.
  const publisher = new Redis(redis.url);
  try {
    const running = await add(main, fn('sleep'), [60_000], { stream: 'after-restart' });
    await waitActive(main, running);
    await publisher.publish(cancelChannel('main'), encodeCancel('after-restart'));
    assert.deepStrictEqual(await finished(main, running), { failed: CANCELLED });
  } finally {
    publisher.disconnect();
  }
});
