/**
 * Results and errors that cannot be copied back to the main side (issue 20, points 3 and 6): a
 * SharedArrayBuffer in a result or in a thrown error under `runtime: 'process'` (a child process
 * shares no memory), and a result whose copy fails only on the worker's way out (a getter that
 * gives a value when checked and throws when the copy reads it). Each fails its item alone with a
 * `TaskError` that says why, never a crash; its batch-mates' results stand and none runs again;
 * through every face, and the pool serves the next call.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createPool, TaskError, task, WorkerCrashedError } from 'rxpool';
import { FACES, runFace } from '../support/faces.js';
import { fixture, serves } from './_helpers.js';

const T = { timeout: 60_000 };

type Kind = 'sab-result' | 'sab-view' | 'sab-thrown' | 'late-getter' | 'late-getter-date';

interface Input {
  readonly n: number;
  readonly bad: number;
  readonly kind: Kind;
  readonly log: string;
}

const wayOut = task<Input, number>(fixture('way-out.mjs'), 'wayOut');

interface Case {
  readonly kind: Kind;
  readonly title: string;
  readonly runtimes: readonly ('thread' | 'process')[];
  readonly retry: number;
  /** Attempts the culprit gets. */
  readonly attempts: number;
  readonly check: (cause: Error) => void;
}

const cases: readonly Case[] = [
  {
    kind: 'sab-result',
    title: 'a SharedArrayBuffer in a result',
    runtimes: ['process'],
    retry: 2,
    attempts: 1,
    check(cause) {
      assert.equal(cause.name, 'DataCloneError');
      assert.match(cause.message, /^the result\.sab is a SharedArrayBuffer, and a child process/);
      assert.match(cause.message, /cannot be sent back/);
    },
  },
  {
    kind: 'sab-thrown',
    title: 'a SharedArrayBuffer in a thrown Error',
    runtimes: ['process'],
    // What failed is the throw, tried again as any throw is; the buffer is not copied.
    retry: 1,
    attempts: 2,
    check(cause) {
      assert.equal(cause.name, 'Error');
      assert.equal(cause.message, 'item 1 failed');
      assert.match(cause.stack!, /way-out\.mjs/);
      const sab = (cause as Error & { sab?: unknown }).sab;
      assert.equal(typeof sab, 'string');
      assert.match(
        sab as string,
        /SharedArrayBuffer.*cannot be copied|cannot be copied.*SharedArrayBuffer/,
      );
    },
  },
  {
    kind: 'late-getter',
    title: 'a result whose getter throws only when the copy reads it',
    runtimes: ['thread', 'process'],
    retry: 2,
    attempts: 1,
    check(cause) {
      assert.equal(cause.name, 'Error');
      assert.equal(cause.message, 'the getter of item 1 broke');
      assert.match(cause.stack!, /way-out\.mjs/);
    },
  },
  {
    kind: 'late-getter-date',
    title: 'a result (not JSON-exact) whose getter throws only when the copy reads it',
    runtimes: ['thread', 'process'],
    retry: 2,
    attempts: 1,
    check(cause) {
      assert.equal(cause.name, 'Error');
      assert.equal(cause.message, 'the getter of item 1 broke');
    },
  },
];

const BAD = 1;
const dir = mkdtempSync(join(tmpdir(), 'rxpool-way-out-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let logs = 0;

/** How many times each item ran, from the log. */
function runs(log: string): Map<number, number> {
  const counts = new Map<number, number>();
  let text = '';
  try {
    text = readFileSync(log, 'utf8');
  } catch {}
  for (const line of text.split('\n')) {
    if (line) counts.set(Number(line), (counts.get(Number(line)) ?? 0) + 1);
  }
  return counts;
}

for (const runtime of ['thread', 'process'] as const) {
  describe(`runtime: '${runtime}'`, () => {
    // One worker: the four items of a stream go to it as one batch.
    const pool = createPool({ size: 1, runtime });
    after(() => pool.destroy());

    for (const c of cases.filter((c) => c.runtimes.includes(runtime))) {
      for (const face of FACES) {
        it(`${c.title}: ${face} fails that item alone, with why`, T, async () => {
          const log = join(dir, `${logs++}.log`);
          const inputs = [0, 1, 2, 3].map((n): Input => ({ n, bad: BAD, kind: c.kind, log }));
          const run = await runFace(face, pool, wayOut, inputs, {
            batchSize: 4,
            retry: c.retry,
          });
          assert.equal(run.errors.length, 1, `errors: ${run.errors.map(String).join('; ')}`);
          const error = run.errors[0];
          assert.ok(error instanceof TaskError, String(error));
          assert.ok(!(error instanceof WorkerCrashedError), error.message);
          assert.equal(error.index, face === 'run' ? 0 : BAD);
          assert.deepEqual(error.input, inputs[BAD]);
          assert.equal(error.attempts, c.attempts);
          assert.ok(error.cause instanceof Error);
          c.check(error.cause);
          if (run.settles)
            assert.deepEqual(
              [...run.values].sort((a, b) => a - b),
              [0, 20, 30],
            );
          else if (run.all) assert.deepEqual(run.values, []);
          else if (run.ordered) assert.deepEqual(run.values, [0]);
          else for (const value of run.values) assert.ok([0, 20, 30].includes(value));
          // Its batch-mates ran once each; it ran once an attempt.
          const counts = runs(log);
          assert.equal(counts.get(BAD), c.attempts, `item ${BAD} ran ${counts.get(BAD)} times`);
          for (const n of [0, 2, 3]) {
            const times = counts.get(n) ?? 0;
            assert.ok(run.settles ? times === 1 : times <= 1, `item ${n} ran ${times} times`);
          }
          assert.equal(await serves(pool), 42);
        });
      }
    }
  });
}
