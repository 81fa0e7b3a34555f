/**
 * The one door to tinypool, main side (src/threads/worker-host.ts) and worker side
 * (src/worker/host.ts): each workaround of tinypool's behaviour, tested against the installed
 * tinypool directly, so that an upgrade that changes what it relies on fails here, by name.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { WorkerHostEvents } from '../../dist/src/threads/host-contract.js';
import {
  BUNDLED_WORKER,
  bundledWorkerFiles,
  WorkerHost,
} from '../../dist/src/threads/worker-host.js';
import type { BatchRequest, BatchResponse } from '../../dist/src/wire/messages.js';
import { ControlBlock } from '../../dist/src/wire/messages.js';

const T = { timeout: 30_000 };

function batch(source: string, inputs: unknown[], extra: Partial<BatchRequest> = {}) {
  return {
    work: { kind: 'inline', source },
    inputs,
    setup: undefined,
    maxItems: 0,
    control: undefined,
    timed: false,
    ...extra,
  } as BatchRequest & { id?: number };
}

function host(
  runtime: 'thread' | 'process',
  events: Partial<WorkerHostEvents> = {},
  workerData: unknown = undefined,
  env: Record<string, string> | undefined = undefined,
) {
  return new WorkerHost(
    { size: 1, runtime, idleTimeout: Infinity, maxHeapMb: undefined, env, workerData },
    { exited: () => {}, sent: () => {}, unsent: () => false, startFailed: () => {}, ...events },
  );
}

describe('the main-side door (WorkerHost)', () => {
  it(
    '1. a thread worker that calls process.exit is noticed: its task fails, it is replaced (tinypool never notices)',
    T,
    async () => {
      const exits: { threadId: number; reason: Error }[] = [];
      const h = host('thread', { exited: (threadId, reason) => exits.push({ threadId, reason }) });
      try {
        const first = (await h.run(batch('(n) => n', [1]))) as BatchResponse;
        await assert.rejects(h.run(batch('() => process.exit(3)', [1])), /exited with code 3/);
        assert.equal(exits.length, 1);
        assert.equal(exits[0]!.threadId, first.workerId);
        assert.equal((exits[0]!.reason as { exitCode?: number }).exitCode, 3);
        const after = (await h.run(batch('(n) => n', [1]))) as BatchResponse;
        assert.notEqual(after.workerId, first.workerId, 'a new worker took over');
      } finally {
        await h.destroy();
      }
    },
  );

  it(
    "2. stop(workerId): the worker record's error event fails its task with the reason and replaces it",
    T,
    async () => {
      const exits: Error[] = [];
      const h = host('thread', { exited: (_, reason) => exits.push(reason) });
      try {
        const first = (await h.run(batch('(n) => n', [1]))) as BatchResponse;
        const spinning = h.run(batch('() => { for (;;); }', [1]));
        await new Promise((resolve) => setTimeout(resolve, 50));
        const reason = new Error('stopped by the test');
        h.stop(first.workerId, reason);
        await assert.rejects(spinning, (error) => error === reason);
        const after = (await h.run(batch('(n) => n', [1]))) as BatchResponse;
        assert.notEqual(after.workerId, first.workerId);
        assert.deepEqual(exits, [reason]);
      } finally {
        await h.destroy();
      }
    },
  );

  it("3. tinypool still fails a task given to a terminating worker with 'Terminating worker thread'", async () => {
    const entry = fileURLToPath(import.meta.resolve('tinypool'));
    assert.match(await readFile(entry, 'utf8'), /new Error\("Terminating worker thread"\)/);
    const h = host('thread');
    assert.equal(h.isTerminationError(new Error('Terminating worker thread')), true);
    assert.equal(h.isTerminationError(new Error('something else')), false);
  });

  it(
    '4. process runtime: a task its child cannot take is answered here, not thrown uncaught; a sent one names its child',
    T,
    async () => {
      const unsent: { id: number; error: unknown }[] = [];
      const sent: { id: number; child: ChildProcess }[] = [];
      const h = host('process', {
        unsent: (id, error) => {
          unsent.push({ id, error });
          return true;
        },
        sent: (id, child) => sent.push({ id, child }),
      });
      try {
        const ok = (await h.run({ ...batch('(n) => n + 1', [1]), id: 1 })) as BatchResponse;
        assert.deepEqual(Array.from(ok.values as ArrayLike<unknown>), [2]);
        assert.equal(sent.length, 1);
        assert.equal(sent[0]!.id, 1);
        // 5 (worker side): the child knows it is one (`__tinypool_state__`): its id is its pid.
        assert.equal(ok.workerId, sent[0]!.child.pid);
        await assert.rejects(
          h.run({ ...batch('(n) => n', [new SharedArrayBuffer(8)]), id: 2 }),
          (error: { message?: string }) => /could not be sent/.test(String(error.message)),
        );
        assert.equal(unsent.length, 1);
        assert.equal(unsent[0]!.id, 2);
        const again = (await h.run({ ...batch('(n) => n * 2', [4]), id: 3 })) as BatchResponse;
        assert.deepEqual(Array.from(again.values as ArrayLike<unknown>), [8], 'the worker stayed');
      } finally {
        await h.destroy();
      }
    },
  );

  it(
    "8. process runtime: a child inherits this process's environment (tinypool gives it only TINYPOOL_WORKER_ID), and `env` replaces it",
    T,
    async () => {
      const entry = fileURLToPath(import.meta.resolve('tinypool'));
      assert.match(await readFile(entry, 'utf8'), /env: \{\s*\.\.\.options\.env,/);
      process.env.RXPOOL_DOOR_TEST = 'inherited';
      const read = '() => [process.env.RXPOOL_DOOR_TEST ?? null, process.env.PATH ?? null]';
      const inherits = host('process');
      const replaced = host('process', {}, undefined, { ONLY: 'this' });
      try {
        const got = (await inherits.run(batch(read, [1]))) as BatchResponse;
        assert.deepEqual(got.values, [['inherited', process.env.PATH ?? null]]);
        const only = (await replaced.run(
          batch('() => Object.keys(process.env).filter((k) => k !== "TINYPOOL_WORKER_ID")', [1]),
        )) as BatchResponse;
        assert.deepEqual(only.values, [['ONLY']]);
      } finally {
        delete process.env.RXPOOL_DOOR_TEST;
        await Promise.all([inherits.destroy(), replaced.destroy()]);
      }
    },
  );

  it(
    "11. destroy settles, and this process lives, when a worker's out-of-memory error lands during tinypool's destroy",
    T,
    async () => {
      const entry = fileURLToPath(import.meta.resolve('tinypool'));
      assert.match(await readFile(entry, 'utf8'), /once\(workerInfo\.worker, "exit"\)/);
      const h = new WorkerHost(
        {
          size: 1,
          runtime: 'thread',
          idleTimeout: Infinity,
          maxHeapMb: 16,
          env: undefined,
          workerData: undefined,
        },
        { exited: () => {}, sent: () => {}, unsent: () => false, startFailed: () => {} },
      );
      const shared = new SharedArrayBuffer(4);
      const cells = new Int32Array(shared);
      const running = h.run(
        batch(
          `(shared) => {
            const cells = new Int32Array(shared);
            Atomics.store(cells, 0, 1);
            Atomics.notify(cells, 0);
            const kept = [];
            for (;;) kept.push(new Array(100_000).fill(1));
          }`,
          [shared],
        ),
      );
      running.catch(() => {});
      // The worker runs out of memory while this thread neither turns its event loop nor has
      // begun destroy: its error is read after destroy has begun.
      Atomics.wait(cells, 0, 0, 10_000);
      const until = Date.now() + 1_000;
      while (Date.now() < until);
      await h.destroy();
      assert.equal(h.open, false);
    },
  );

  it(
    "9. process runtime: rxpool's own message on tinypool's IPC channel reaches the child (tinypool's entry ignores it) and aborts its batch's signal",
    T,
    async () => {
      const entry = fileURLToPath(new URL('./entry/process.js', import.meta.resolve('tinypool')));
      const source = await readFile(entry, 'utf8');
      assert.match(source, /if \(!message \|\| !message\.__tinypool_worker_message__\) return;/);
      let child: ChildProcess | undefined;
      let runs!: () => void;
      const ran = new Promise<void>((resolve) => {
        runs = resolve;
      });
      const h = host('process', {
        sent: (_, c) => {
          child = c;
          c.on('message', (message: { doorTest?: string } | null) => {
            if (message?.doorTest === 'running') runs();
          });
        },
      });
      try {
        // The task says when it runs (a message of its own on the channel, which tinypool and
        // rxpool ignore): an abort told before its batch began would skip the batch instead.
        const running = h.run({
          ...batch(
            '(n, { signal }) => { process.send({ doorTest: "running" }); return new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))); }',
            [1],
          ),
          id: 5,
        });
        await ran;
        assert.equal(h.tell(child!, { __rxpool__: 'abort', abort: 5, reason: 'cancel' }), true);
        const response = (await running) as BatchResponse;
        assert.equal(response.count, 1);
        assert.equal(response.failures?.[0]?.name, 'AbortError');
      } finally {
        await h.destroy();
      }
    },
  );

  it(
    '12. process runtime: the notice of a child that calls process.exit is read from the child',
    T,
    async () => {
      const sent: ChildProcess[] = [];
      const h = host('process', { sent: (_, child) => sent.push(child) });
      try {
        await assert.rejects(
          h.run({
            ...batch(
              `() => {
              process.on('exit', () => {
                const until = Date.now() + 300;
                while (Date.now() < until);
              });
              process.exit(7);
            }`,
              [1],
            ),
            id: 1,
          }),
        );
        assert.equal(sent.length, 1);
        assert.equal(h.exitCodeOf(sent[0]!), 7);
      } finally {
        await h.destroy();
      }
    },
  );

  it(
    "13. tinypool's workers still say { ready: true } once ready, and a ready one is seen so",
    T,
    async () => {
      const entries = ['worker.js', 'process.js'].map((name) =>
        fileURLToPath(new URL(`./entry/${name}`, import.meta.resolve('tinypool'))),
      );
      for (const entry of entries) {
        assert.match(await readFile(entry, 'utf8'), /ready: true/, entry);
      }
      for (const runtime of ['thread', 'process'] as const) {
        const failed: Error[] = [];
        const h = host(runtime, { startFailed: (error) => failed.push(error) });
        try {
          const response = (await h.run({ ...batch('(n) => n', [1]), id: 1 })) as BatchResponse;
          assert.equal(response.count, 1);
          // A ready worker that then exits on its own is not a failure to start.
          await assert.rejects(h.run({ ...batch('() => process.exit(3)', [1]), id: 2 }));
          assert.deepEqual(failed, [], runtime);
        } finally {
          await h.destroy();
        }
      }
    },
  );

  it(
    '15. tinypool starts child processes up to its options.minThreads when a ready one dies: a spare is kept from the first death',
    T,
    async () => {
      // Children say when they are ready (test/fixtures/mark-ready.mjs).
      const ready = mkdtempSync(join(tmpdir(), 'rxpool-ready-'));
      const markReady = fileURLToPath(new URL('../fixtures/mark-ready.mjs', import.meta.url));
      const env = {
        ...process.env,
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${markReady}`,
        RXPOOL_TEST_READY_DIR: ready,
      } as Record<string, string>;
      const h = new WorkerHost(
        {
          size: 1,
          extra: 1,
          runtime: 'process',
          idleTimeout: Infinity,
          maxHeapMb: undefined,
          env,
          workerData: undefined,
        },
        { exited: () => {}, sent: () => {}, unsent: () => false, startFailed: () => {} },
      );
      const pidOf = async (id: number) => {
        const response = (await h.run({ ...batch('() => process.pid', [1]), id })) as BatchResponse;
        return Array.from(response.values as ArrayLike<number>)[0]!;
      };
      try {
        const first = await pidOf(1);
        assert.deepEqual(
          h.children().map((c) => c.pid),
          [first],
          'no spare before a death',
        );
        await assert.rejects(h.run({ ...batch('() => process.exit(3)', [1]), id: 2 }));
        // Tinypool started them in its handler of the death, before it failed the task.
        const started = h.children().map((c) => c.pid);
        assert.equal(started.length, 2, 'a replacement and a spare');
        assert.ok(!started.includes(first));
        // The first child and both started at its death.
        for (const end = Date.now() + 20_000; readdirSync(ready).length < 3; ) {
          assert.ok(Date.now() < end, 'the spare is ready within 20 s');
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        await assert.rejects(h.run({ ...batch('() => process.exit(3)', [1]), id: 3 }));
        assert.equal(h.children().length, 2, 'the one that died is replaced at once');
        // The next task goes to the child that was started before that death.
        assert.ok(started.includes(await pidOf(4)));
      } finally {
        await h.destroy();
        rmSync(ready, { recursive: true, force: true });
      }
    },
  );

  it(
    '16. a task that waits for a worker that then dies gets a worker started for it (tinypool starts none)',
    T,
    async () => {
      // Tinypool keeps 2 threads (its minThreads) and may start a third (its maxThreads).
      const h = new WorkerHost(
        {
          size: 2,
          extra: 1,
          runtime: 'thread',
          idleTimeout: Infinity,
          maxHeapMb: undefined,
          env: undefined,
          workerData: undefined,
        },
        { exited: () => {}, sent: () => {}, unsent: () => false, startFailed: () => {} },
      );
      const sleep = (ms: number) => `await new Promise((resolve) => setTimeout(resolve, ${ms}))`;
      try {
        // Two workers are held for 8 s, and a third takes a task that exits it after 0.5 s.
        const held = [1, 2].map((id) =>
          h.run({ ...batch(`async () => { ${sleep(8000)}; return 1; }`, [1]), id }),
        );
        for (const run of held) run.catch(() => {});
        const dies = h.run({
          ...batch(`async () => { ${sleep(500)}; process.exit(3); }`, [1]),
          id: 3,
        });
        // This one waits in tinypool's queue: no worker is free, and it has its most.
        const started = Date.now();
        const waits = h.run({ ...batch('(n) => n * 2', [21]), id: 4 });
        await assert.rejects(dies, /exited with code 3/);
        const response = (await waits) as BatchResponse;
        assert.deepEqual(Array.from(response.values as ArrayLike<number>), [42]);
        const waited = Date.now() - started;
        assert.ok(waited < 5000, `it waited ${waited} ms: for a held worker to be free`);
      } finally {
        await h.destroy();
      }
    },
  );
});

describe('the worker files of a bundled app (workaround 14)', () => {
  it('14. tinypool starts its workers from entry/worker.js and entry/process.js next to its module', async () => {
    const files = bundledWorkerFiles();
    const tinypool = fileURLToPath(import.meta.resolve('tinypool'));
    const source = await readFile(tinypool, 'utf8');
    for (const { from, to } of files) {
      assert.ok(existsSync(from), `${from} is not there`);
      if (to.startsWith('entry/')) {
        assert.ok(
          source.includes(`import.meta.url + "/../${to}"`),
          `tinypool looks for ${to} elsewhere`,
        );
      }
    }
    assert.deepEqual(
      files.map(({ to }) => to),
      [BUNDLED_WORKER, 'entry/worker.js', 'entry/process.js'],
    );
    // The build bundled each into dist/src/bundled/, which rxpool/esbuild copies.
    for (const { to } of files) {
      assert.ok(existsSync(new URL(`../../dist/src/bundled/${to}`, import.meta.url)), to);
    }
  });
});

describe('the worker-side door (src/worker/host.ts)', () => {
  it('10. tinypool stops a child process with SIGTERM, and SIGKILLs it a second later (the teardown fits in between)', async () => {
    const source = await readFile(fileURLToPath(import.meta.resolve('tinypool')), 'utf8');
    assert.match(source, /const SIGKILL_TIMEOUT = 1e3;/);
    assert.match(
      source,
      /setTimeout\(\(\) => this\.process\.kill\("SIGKILL"\), SIGKILL_TIMEOUT\);\s*this\.process\.kill\(\);/,
    );
    const { TEARDOWN_MS } = await import('../../dist/src/wire/messages.js');
    assert.ok(TEARDOWN_MS < 1000);
  });

  it(
    "6. a thread worker finds the shared control block in tinypool's workerData[1]",
    T,
    async () => {
      const control = ControlBlock.create(2);
      const h = host('thread', {}, { control: control.buffer, rows: control.rows });
      try {
        const response = (await h.run(
          batch('(n) => n', [1, 2], { control: { row: 1 } }),
        )) as BatchResponse;
        assert.equal(control.thread(1), response.workerId, 'the worker marked the batch as taken');
        assert.equal(control.position(1), 2, 'and moved past its last item');
      } finally {
        await h.destroy();
      }
    },
  );

  it(
    "7. a child process's reply that its channel would refuse is answered item by item; the child lives",
    T,
    async () => {
      // Tinypool's child entry still sends a result outside any try: a refused one is uncaught.
      const entry = fileURLToPath(new URL('./entry/process.js', import.meta.resolve('tinypool')));
      assert.match(await readFile(entry, 'utf8'), /\n\tsend\(response\);\n\}/);
      const h = host('process');
      try {
        // A getter that gives a value to the checks and throws when the channel reads it.
        const late = `(n) => {
          if (n !== 1) return n * 10;
          let reads = 0;
          return Object.defineProperty({ n }, 'late', {
            enumerable: true,
            get() { if (++reads > 1) throw new Error('broke on the way out'); return 1; },
          });
        }`;
        const response = (await h.run(batch(late, [0, 1, 2]))) as BatchResponse;
        assert.equal(response.count, 3);
        assert.deepEqual([response.values[0], response.values[2]], [0, 20]);
        assert.equal(response.failures?.[1]?.message, 'broke on the way out');
        assert.equal(response.failures?.[1]?.fatal, 'clone');
        const again = (await h.run(batch('(n) => n', [5]))) as BatchResponse;
        assert.equal(again.workerId, response.workerId, 'the same child answered');
      } finally {
        await h.destroy();
      }
    },
  );
});
