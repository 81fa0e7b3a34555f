/**
 * Workers that die, hang or cannot start, held to every face of the pool (test/support/faces.ts):
 * each fault fails its items within a bound, with the error that names it, and the pool serves
 * the next call. Under both runtimes where a fault applies.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  createPool,
  type Pool,
  type PoolOptions,
  TaskTimeoutError,
  task,
  WorkerCrashedError,
} from 'rxpool';
import { FACES, through } from '../support/faces.js';
import { fixture, serves, within } from './_helpers.js';

const T = { timeout: 180_000 };
const RUNTIMES = ['thread', 'process'] as const;

const pools: Pool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.destroy()));
});

function pool(options: PoolOptions): Pool {
  const made = createPool(options);
  pools.push(made);
  return made;
}

const faults = fixture('faults.mjs');
const size = task<unknown, number>(faults, 'size');

describe('an input that kills its worker on arrival (maxHeapMb)', () => {
  // Far more than a 16 MB heap holds once read: the worker dies reading it, before it can say
  // that it took the batch.
  const huge = Array.from({ length: 40 }, (_, i) => String(i).repeat(1 << 20));
  const inputs = [['a'], huge, ['a', 'b']];
  for (const runtime of RUNTIMES) {
    for (const face of FACES) {
      it(
        `${runtime}, ${face}: WorkerCrashedError after the retry budget, never sent forever`,
        T,
        async () => {
          const target = pool({ size: 1, runtime, maxHeapMb: 16 });
          const { values, failures } = await within(
            through(face, target, size, inputs, { retry: 1, batchSize: 1 }),
            120_000,
            face,
          );
          assert.equal(failures.length, 1, `failures: ${failures.map((f) => f.message)}`);
          const [failure] = failures;
          assert.ok(failure instanceof WorkerCrashedError, `${failure!.name}: ${failure!.message}`);
          assert.equal(failure.input, huge);
          if (face !== 'run') assert.equal(failure.index, 1);
          assert.equal(failure.attempts, 2);
          if (face === 'run' || face.includes('Settled') || face === 'parallelSettle') {
            assert.deepEqual([...values].sort(), [1, 2]);
          }
          assert.equal(await serves(target), 42);
        },
      );
    }
  }
});

describe('destroy() while a worker runs out of memory (maxHeapMb)', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const script = fileURLToPath(fixture('destroy-oom.ts'));
  for (const runtime of RUNTIMES) {
    it(`${runtime}: destroy settles and the host lives, through every face`, T, () => {
      // In a child process: before the fix, the host died of it.
      const child = spawnSync(process.execPath, ['--import', 'tsx', script, runtime], {
        cwd: root,
        encoding: 'utf8',
        timeout: 120_000,
        killSignal: 'SIGKILL',
      });
      assert.equal(child.signal, null, `the script hung and was killed; stderr: ${child.stderr}`);
      assert.equal(
        child.status,
        0,
        `exit code ${child.status}; stderr: ${child.stderr.slice(-2000)}`,
      );
      const lines = child.stdout.trim().split('\n');
      assert.deepEqual(lines, [...FACES.map((face) => `${face}: AbortError`), 'alive']);
    });
  }
});

// The cases wait on hangs and timeouts, not on the CPU: four run at a time.
describe(
  'timeout covers a task module whose import hangs, and a setup that hangs',
  {
    concurrency: 4,
  },
  () => {
    const hangImport = task<number[], number>(fixture('hang-import.mjs'));
    const hangingSetup = task<void, void>(faults, 'hangingSetup');
    const half = task<number[], number>(faults, 'size');
    const cases = [
      { title: 'an import that hangs', work: hangImport, setup: undefined },
      { title: 'a setup that hangs', work: half, setup: hangingSetup },
    ];
    for (const c of cases) {
      for (const runtime of RUNTIMES) {
        for (const face of FACES) {
          it(`${runtime}, ${face}: ${c.title} fails with TaskTimeoutError`, T, async (t) => {
            // Its own pool, destroyed after it: the file's afterEach would also end the pools of
            // the cases running beside it.
            const target = createPool({ size: 1, runtime, setup: c.setup });
            t.after(() => target.destroy());
            const { values, failures } = await within(
              through(face, target, c.work, [[1], [2]], { timeout: 300, batchSize: 1 }),
              60_000,
              face,
            );
            assert.deepEqual(values, []);
            assert.ok(failures.length > 0);
            for (const failure of failures) {
              assert.ok(failure instanceof TaskTimeoutError, `${failure.name}: ${failure.message}`);
              assert.equal(failure.attempts, 1);
            }
            if (!c.setup) assert.equal(await serves(target), 42);
          });
        }
      }
    }
  },
);

// The cases wait on workers that take their time to exit, not on the CPU: four run at a time (a
// busy machine only makes the exits later still, which is the timing under test).
describe(
  'a worker that exits is a crash, not a timeout, whatever the timing',
  { concurrency: 4 },
  () => {
    const exitSlowly = task<{ n: number; exitAfter?: number }, number>(faults, 'exitSlowly');
    for (const runtime of RUNTIMES) {
      for (const face of FACES) {
        it(
          `${runtime}, ${face}: an exit seen after the timeout is due is WorkerCrashedError`,
          T,
          async (t) => {
            // Its own pool, destroyed after it: the file's afterEach would also end the pools of
            // the cases running beside it.
            const target = createPool({ size: 2, runtime });
            t.after(() => target.destroy());
            // Both workers have loaded the task module: an item runs at once once sent.
            assert.deepEqual(
              await target.map(exitSlowly, [{ n: 1 }, { n: 2 }], { batchSize: 1 }),
              [10, 20],
            );
            // Items 0 and 2 exit at once, but their workers take longer to go than the timeout: their
            // exits are seen here only after it is due.
            const inputs = [0, 1, 2, 3].map((n) => (n % 2 === 0 ? { n, exitAfter: 1_500 } : { n }));
            const { values, failures } = await within(
              through(face, target, exitSlowly, inputs, { timeout: 300, batchSize: 1 }),
              60_000,
              face,
            );
            assert.ok(failures.length > 0);
            for (const failure of failures) {
              assert.ok(
                failure instanceof WorkerCrashedError,
                `${failure.name}: ${failure.message}`,
              );
              assert.equal((failure.input as { n: number }).n % 2, 0);
            }
            for (const value of values) assert.equal((value as number) % 20, 10);
            if (face === 'run' || face === 'imapSettled' || face === 'parallelSettle') {
              assert.equal(failures.length, 2);
              assert.equal(values.length, 2);
            }
            assert.equal(await serves(target), 42);
          },
        );
      }
    }
  },
);

describe('workers that cannot start fail the pending work, loudly and soon', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const script = fileURLToPath(fixture('cannot-start.mjs'));
  const preload = fileURLToPath(fixture('preload-refuses-workers.mjs'));
  // A copy of the built package without the worker side's entry, as a bundled app that did not
  // ship it.
  let bundled: string;
  before(() => {
    bundled = mkdtempSync(join(tmpdir(), 'rxpool-no-entry-'));
    cpSync(join(root, 'dist'), join(bundled, 'dist'), { recursive: true });
    rmSync(join(bundled, 'dist/src/worker/host.js'));
    symlinkSync(join(root, 'node_modules'), join(bundled, 'node_modules'));
  });
  after(() => rmSync(bundled, { recursive: true, force: true }));

  interface Line {
    face: string;
    ms: number;
    hung?: boolean;
    name?: string;
    message?: string;
  }

  const cases = [
    {
      title: 'a --import preload that throws in workers',
      args: () => ['--import', preload, script, root],
      names: /this preload refuses to run in workers/,
    },
    {
      title: 'the worker entry file is missing',
      args: () => [script, bundled],
      names: /Cannot find module '[^']*dist\/src\/worker\/host\.js'/,
    },
  ];
  for (const c of cases) {
    for (const runtime of RUNTIMES) {
      it(`${runtime}, ${c.title}: every face fails within seconds, naming the cause`, T, () => {
        const child = spawnSync(process.execPath, [...c.args(), runtime], {
          cwd: root,
          encoding: 'utf8',
          timeout: 150_000,
          killSignal: 'SIGKILL',
        });
        assert.equal(child.signal, null, `the script hung and was killed; stdout: ${child.stdout}`);
        assert.equal(
          child.status,
          0,
          `exit code ${child.status}; stderr: ${child.stderr.slice(-2000)}`,
        );
        const lines = child.stdout
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as Line);
        assert.equal(lines.length, 2 * FACES.length);
        for (const [i, line] of lines.entries()) {
          const first = i % 2 === 0;
          assert.equal(line.face, first ? FACES[i / 2] : `${FACES[(i - 1) / 2]}, next call`);
          assert.ok(!line.hung, `${line.face} did not settle`);
          assert.equal(line.name, 'WorkerCrashedError', `${line.face}: ${line.message}`);
          assert.ok(line.ms < 10_000, `${line.face} took ${line.ms} ms`);
          assert.match(line.message!, c.names, line.face);
        }
      });
    }
  }
});

/** Resolves once `done()` holds, looking every 10 ms; rejects after `ms`. */
async function until(done: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('a worker that goes is replaced by a spare started before', () => {
  const faulty = task<{ n: number; fault?: 'exit'; clock?: SharedArrayBuffer | string }, number>(
    faults,
    'faulty',
  );
  const whoAmI = task<
    unknown,
    { thread: number; pid: number; startedAt: number; spawnedAt: number }
  >(faults, 'whoAmI');
  const markReady = fileURLToPath(fixture('mark-ready.mjs'));
  // A worker is a thread, or a child process (all of whose thread ids are 0).
  const worker = (me: { thread: number; pid: number }) => `${me.pid}/${me.thread}`;
  // Where a dying worker writes when it died: shared memory, or a file (a child process).
  const clocks = (runtime: string) => {
    if (runtime === 'thread') {
      const buffer = new SharedArrayBuffer(8);
      return { clock: buffer, diedAt: () => new Float64Array(buffer)[0]! };
    }
    const file = join(mkdtempSync(join(tmpdir(), 'rxpool-clock-')), 'died-at');
    writeFileSync(file, '0');
    return { clock: file, diedAt: () => Number(readFileSync(file, 'utf8')) };
  };
  for (const runtime of RUNTIMES) {
    for (const face of FACES) {
      it(
        `${runtime}, ${face}: after the first crash, the next crash's item goes to a worker started before it`,
        T,
        async () => {
          // Child processes say when they are ready (test/fixtures/mark-ready.mjs).
          const ready = mkdtempSync(join(tmpdir(), 'rxpool-ready-'));
          const env = {
            ...process.env,
            NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${markReady}`,
            RXPOOL_TEST_READY_DIR: ready,
          } as Record<string, string>;
          const target = pool({ size: 1, runtime, env: runtime === 'process' ? env : undefined });
          // The first crash makes the pool keep a spare.
          const first = await within(
            through(face, target, faulty, [{ n: 0, fault: 'exit', clock: clocks(runtime).clock }]),
            30_000,
            face,
          );
          assert.ok(first.failures[0] instanceof WorkerCrashedError);
          const before = await target.run(whoAmI, null);
          if (runtime === 'process') {
            // The first child, and the replacement and the spare started at its crash: a spare
            // started a moment before the next crash may still be loading, as here.
            await until(() => readdirSync(ready).length >= 3, 20_000, 'the spare is ready');
          }
          const { clock, diedAt: read } = clocks(runtime);
          // A child process cannot skip an item that a failing face then cancels: it is stopped,
          // and with it the spare that took that item. There, the crash is the last item.
          const inputs = [{ n: 1 }, { n: 2, fault: 'exit' as const, clock }, { n: 3 }];
          if (runtime === 'process') inputs.pop();
          const second = await within(
            through(face, target, faulty, inputs, { batchSize: 1 }),
            30_000,
            face,
          );
          assert.ok(second.failures.length > 0);
          for (const failure of second.failures) assert.ok(failure instanceof WorkerCrashedError);
          const diedAt = read();
          assert.ok(diedAt > 0);
          const after = await target.run(whoAmI, null);
          assert.notEqual(worker(after), worker(before), 'the worker that died was replaced');
          assert.ok(
            after.startedAt < diedAt,
            `the replacement started ${after.startedAt - diedAt} ms after the crash`,
          );
          rmSync(ready, { recursive: true, force: true });
        },
      );
    }
  }
});

describe('a child process that replaced one that died, and dies in its turn', () => {
  const faulty = task<{ n: number; fault?: 'exit'; clock?: string }, number>(faults, 'faulty');
  it('process: is a crash (retried), not a worker that could not start', T, async () => {
    // Children say when they are ready (test/fixtures/mark-ready.mjs).
    const ready = mkdtempSync(join(tmpdir(), 'rxpool-ready-'));
    const clock = join(ready, '..', `${ready.split('/').pop()}-clock`);
    const markReady = fileURLToPath(fixture('mark-ready.mjs'));
    const env = {
      ...process.env,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${markReady}`,
      RXPOOL_TEST_READY_DIR: ready,
    } as Record<string, string>;
    const target = pool({ size: 1, runtime: 'process', env });
    await assert.rejects(target.run(faulty, { n: 0, fault: 'exit', clock }), WorkerCrashedError);
    // Its replacements are ready before the next item comes (their ready message came first).
    await until(() => readdirSync(ready).length >= 3, 20_000, 'the replacements are ready');
    const failure = await within(
      target.run(faulty, { n: 1, fault: 'exit', clock }, { retry: 1 }).then(
        () => assert.fail('the item exits its worker'),
        (error: unknown) => error,
      ),
      30_000,
      'run',
    );
    assert.ok(failure instanceof WorkerCrashedError, String(failure));
    assert.equal(failure.attempts, 2, failure.message);
    assert.doesNotMatch(failure.message, /could not start/);
    assert.equal(await serves(target), 42);
    rmSync(ready, { recursive: true, force: true });
    rmSync(clock, { force: true });
  });
});
