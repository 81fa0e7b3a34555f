/**
 * Smoke test of examples/tracing: on threads and on processes, every span a task starts in a
 * worker is a child of the span that was active where the caller gave the item (same trace id,
 * parent span id = the caller's span id), for `pool.map` and for `parallelMap`; and every attempt
 * was seen on the `rxpool:item` channel with its index, attempt and worker.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { SpanRecord } from '../../examples/tracing/telemetry.mjs';

const exec = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const ITEMS = 5;

interface Output {
  squares: number[];
  streamed: number[];
  callers: SpanRecord[];
  tasks: SpanRecord[];
  attempts: { index: number; attempt: number; workerId: unknown; ok: boolean }[];
}

for (const runtime of ['thread', 'process'] as const) {
  test(`${runtime}s: each task's span is a child of its caller's span`, async () => {
    const { stdout } = await exec(
      process.execPath,
      [
        '--import',
        'tsx',
        'examples/tracing/main.ts',
        '--runtime',
        runtime,
        '--items',
        `${ITEMS}`,
        '--json',
      ],
      { cwd: root, timeout: 60_000 },
    );
    const out = JSON.parse(stdout) as Output;
    const squares = Array.from({ length: ITEMS }, (_, i) => (i + 1) ** 2);
    assert.deepEqual(out.squares, squares);
    assert.deepEqual(out.streamed, squares);

    assert.deepEqual(out.callers.map((c) => c.name).sort(), [
      'squares with parallelMap',
      'squares with pool.map',
    ]);
    // Two traces, one per caller span, each with its own children.
    assert.notEqual(out.callers[0]!.traceId, out.callers[1]!.traceId);
    assert.equal(out.tasks.length, 2 * ITEMS);
    for (const caller of out.callers) {
      assert.equal(caller.parentSpanId, undefined);
      const children = out.tasks.filter((t) => t.parentSpanId === caller.spanId);
      assert.deepEqual(
        children.map((c) => c.attributes['item.input']).sort(),
        [1, 2, 3, 4, 5],
        `children of ${caller.name}`,
      );
      for (const child of children) {
        assert.equal(child.name, 'square');
        assert.equal(child.traceId, caller.traceId);
        assert.notEqual(child.spanId, caller.spanId);
        assert.equal(
          child.attributes['item.output'],
          (child.attributes['item.input'] as number) ** 2,
        );
      }
    }

    // Each item ran once per call: two attempts of each index, attempt 1, on a worker of the pool.
    assert.equal(out.attempts.length, 2 * ITEMS);
    assert.deepEqual(out.attempts.map((a) => a.index).sort(), [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
    for (const attempt of out.attempts) {
      assert.equal(attempt.attempt, 1);
      assert.equal(attempt.ok, true);
      assert.equal(typeof attempt.workerId, 'number');
    }
    assert.ok(new Set(out.attempts.map((a) => a.workerId)).size <= 2);
  });
}
