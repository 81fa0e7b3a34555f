/**
 * Tracing, as a user subscribes to it: the `rxpool:item` TracingChannel on threads and processes
 * (every attempt, its events in order, its context; failures, retries, unsubscribing), and what
 * OpenTelemetry context each item carries to its worker (through a pass-through executor that
 * records the batches), and that without the API installed nothing of it loads. The spans a task starts are checked in example-tracing.test.ts (threads,
 * processes) and bullmq-tracing.test.ts (BullMQ).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { tracingChannel } from 'node:diagnostics_channel';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { from, lastValueFrom, Subject, toArray } from 'rxjs';
import {
  AbortError,
  createPool,
  type ExecutorBatch,
  ITEM_CHANNEL,
  type ItemTrace,
  type Pool,
  TaskError,
  task,
} from 'rxpool';
import { parallelFlatMap, parallelMap } from 'rxpool/operators';

const T = { timeout: 60_000 };
const EVENTS = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const;
type Event = (typeof EVENTS)[number];

new NodeTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(new InMemorySpanExporter())],
}).register();
const tracer = trace.getTracer('rxpool-test');

const pools: Pool[] = [];

/**
 * Pushes items 0-5 into `source` and completes it: 0 and 1 inside span `a`, 2 and 3 inside `b`,
 * 4 outside any span, 5 inside `a` again; returns the spans' ids, the spans ended once pushed
 * (what matters is the context each item was pushed in).
 */
function pushAcrossSpans(source: Subject<number>): [string, string] {
  const spans = ['a', 'b'].map((s) => tracer.startSpan(s));
  const pushIn = (span: (typeof spans)[number], items: number[]) =>
    context.with(trace.setSpan(context.active(), span), () => {
      for (const n of items) source.next(n);
    });
  pushIn(spans[0]!, [0, 1]);
  pushIn(spans[1]!, [2, 3]);
  source.next(4);
  pushIn(spans[0]!, [5]);
  source.complete();
  for (const span of spans) span.end();
  const [a, b] = spans.map((span) => span.spanContext().spanId);
  return [a!, b!];
}
after(() => Promise.all(pools.map((pool) => pool.destroy())));

/** Records every event of the channel, per attempt (its context object), until `stop()`. */
function record() {
  const channel = tracingChannel(ITEM_CHANNEL);
  const events = new Map<ItemTrace, Event[]>();
  const handlers = Object.fromEntries(
    EVENTS.map((event) => [
      event,
      (message: unknown) => {
        const attempt = message as ItemTrace;
        const list = events.get(attempt) ?? [];
        list.push(event);
        events.set(attempt, list);
      },
    ]),
  ) as Record<Event, (message: unknown) => void>;
  channel.subscribe(handlers);
  return { events, stop: () => channel.unsubscribe(handlers) };
}

const ok = ['start', 'end', 'asyncStart', 'asyncEnd'];
const failed = ['start', 'end', 'error', 'asyncStart', 'asyncEnd'];

for (const runtime of ['thread', 'process'] as const) {
  describe(`rxpool:item on ${runtime}s`, () => {
    const pool = createPool({ size: 2, runtime });
    pools.push(pool);

    it(
      'traces every attempt: start, end, asyncStart, asyncEnd, with index, attempt, workerId and result',
      T,
      async () => {
        const { events, stop } = record();
        const results = await pool.map(
          (n: number) => n * 2,
          Array.from({ length: 50 }, (_, i) => i),
        );
        stop();
        assert.equal(results.length, 50);
        const attempts = [...events.keys()];
        assert.deepEqual(
          attempts.map((a) => a.index).sort((x, y) => x - y),
          Array.from({ length: 50 }, (_, i) => i),
        );
        const workers = new Set<unknown>();
        for (const attempt of attempts) {
          assert.deepEqual(events.get(attempt), ok, `events of item ${attempt.index}`);
          assert.equal(attempt.attempt, 1);
          assert.equal(attempt.result, attempt.index * 2);
          assert.equal(attempt.error, undefined);
          assert.equal(typeof attempt.workerId, 'number');
          workers.add(attempt.workerId);
        }
        assert.ok(workers.size >= 1 && workers.size <= 2);
        if (runtime === 'process') assert.ok(!workers.has(process.pid));
      },
    );

    it(
      'a failed attempt publishes error (the TaskError) before asyncStart; its retry is attempt 2',
      T,
      async () => {
        const { events, stop } = record();
        const error = await pool
          .map(
            (n: number) => {
              if (n === 3) throw new RangeError('three');
              return n;
            },
            [1, 2, 3, 4],
            { retry: 1 },
          )
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        stop();
        assert.ok(error instanceof TaskError);
        const three = [...events.keys()].filter((a) => a.index === 2);
        assert.deepEqual(
          three.map((a) => a.attempt),
          [1, 2],
        );
        for (const attempt of three) {
          assert.deepEqual(events.get(attempt), failed);
          assert.ok(attempt.error instanceof TaskError);
          assert.equal((attempt.error as TaskError).cause instanceof Error, true);
          assert.equal(((attempt.error as TaskError).cause as Error).name, 'RangeError');
          assert.equal((attempt.error as TaskError).attempts, attempt.attempt);
        }
        // The last attempt's error is the one the stream failed with.
        assert.equal(three[1]!.error, error);
      },
    );

    it('an attempt out when its stream is unsubscribed ends with an AbortError', T, async () => {
      const { events, stop } = record();
      const source = new Subject<number>();
      const subscription = source
        .pipe(parallelMap((_: number) => new Promise<never>(() => {}), { pool }))
        .subscribe({ error() {} });
      source.next(1);
      // Out once its start was published (its batch went to the executor).
      while (events.size === 0) await new Promise((resolve) => setImmediate(resolve));
      subscription.unsubscribe();
      stop();
      const [attempt, ...others] = [...events.keys()];
      assert.equal(others.length, 0);
      assert.deepEqual(events.get(attempt!), failed);
      assert.ok(attempt!.error instanceof AbortError);
      // The pool serves the next call.
      assert.deepEqual(await pool.map((n: number) => n + 1, [1]), [2]);
    });
  });
}

describe('trace context of items', () => {
  /** A pool on an executor that runs nothing in workers and keeps every batch it is given. */
  function recordingPool() {
    const batches: ExecutorBatch[] = [];
    const pool = createPool({
      executor: {
        size: 1,
        traits: { targetBatchMs: 8, enforcesTimeouts: false, knowsPosition: false },
        capacity: () => 1,
        run(batch, report) {
          batches.push(batch);
          setImmediate(() =>
            report({
              type: 'done',
              values: batch.inputs,
              failures: null,
              count: batch.inputs.length,
              ms: 0,
              workerId: 'here',
            }),
          );
          return { abort() {} };
        },
        close: async () => {},
        destroy: async () => {},
      },
    });
    pools.push(pool);
    return { pool, batches };
  }

  it('carries none when no span is active', T, async () => {
    const { pool, batches } = recordingPool();
    await pool.map((n: number) => n, [1, 2, 3]);
    assert.ok(batches.length > 0);
    for (const batch of batches) assert.equal(batch.traces, undefined);
  });

  it(
    "carries the active span's W3C traceparent with each item, one object for the items of one context",
    T,
    async () => {
      const { pool, batches } = recordingPool();
      const ids = await tracer.startActiveSpan('caller', async (span) => {
        await pool.map((n: number) => n, [1, 2, 3, 4], { batchSize: 4 });
        span.end();
        return span.spanContext();
      });
      const traces = batches.flatMap((batch) => batch.traces ?? []);
      assert.equal(traces.length, 4);
      assert.equal(new Set(traces).size, 1);
      assert.equal(traces[0]!.traceparent, `00-${ids.traceId}-${ids.spanId}-01`);
    },
  );

  it(
    "takes each item's context where it was pushed: items of two spans carry theirs",
    T,
    async () => {
      const { pool, batches } = recordingPool();
      const source = new Subject<number>();
      const done = new Promise<void>((resolve) =>
        source.pipe(parallelMap((n: number) => n, { pool, batchSize: 4 })).subscribe({
          complete: resolve,
        }),
      );
      const spans = ['a', 'b'].map((name) => tracer.startSpan(name));
      for (const [i, span] of spans.entries()) {
        context.with(trace.setSpan(context.active(), span), () => {
          source.next(2 * i);
          source.next(2 * i + 1);
        });
      }
      // An item pushed outside any span carries nothing.
      source.next(4);
      source.complete();
      await done;
      for (const span of spans) span.end();
      const traces = batches.flatMap((batch) => Array.from(batch.traces ?? [], (t) => t));
      const parents = traces.map((t) => t?.traceparent?.split('-')[2]);
      const [a, b] = spans.map((span) => span.spanContext().spanId);
      assert.deepEqual(parents, [a, a, b, b, undefined]);
    },
  );

  it('keeps carrying nothing for a stream from() outside a span', T, async () => {
    const { pool, batches } = recordingPool();
    await new Promise<void>((resolve) =>
      from([1, 2])
        .pipe(parallelMap((n: number) => n, { pool }))
        .subscribe({ complete: resolve }),
    );
    for (const batch of batches) assert.equal(batch.traces, undefined);
  });
});

for (const runtime of ['thread', 'process'] as const) {
  describe(`the active context in the task (${runtime}s)`, () => {
    const otel = new URL('../fixtures/otel-active.mjs', import.meta.url);
    const pool = createPool({ size: 1, runtime, setup: task(otel, 'setup') });
    pools.push(pool);

    for (const name of ['activeSpan', 'activeSpanLater'] as const) {
      it(
        `${name}: each item runs in the context of its own push, in one batch too`,
        T,
        async () => {
          const work = task<number, { n: number; span: string | null }>(otel, name);
          const source = new Subject<number>();
          const results = lastValueFrom(
            source.pipe(parallelMap(work, { pool, batchSize: 6 }), toArray()),
          );
          const [a, b] = pushAcrossSpans(source);
          const got = await results;
          assert.deepEqual(
            got.map((r) => r.span),
            [a, a, b, b, null, a],
          );
        },
      );
    }
  });
  describe(`the active context in a flat task (${runtime}s)`, () => {
    const otel = new URL('../fixtures/otel-active.mjs', import.meta.url);
    const pool = createPool({ size: 1, runtime, setup: task(otel, 'setup') });
    pools.push(pool);

    for (const name of ['activeSpans', 'activeSpansLater'] as const) {
      it(
        `${name}: each item's generator is pulled in the context of its own push, in one batch too`,
        T,
        async () => {
          const work = task<number, Iterable<{ n: number; i: number; span: string | null }>>(
            otel,
            name,
          );
          const source = new Subject<number>();
          const results = lastValueFrom(
            source.pipe(parallelFlatMap(work, { pool, batchSize: 6 }), toArray()),
          );
          const [a, b] = pushAcrossSpans(source);
          const got = await results;
          const each = [a, a, b, b, null, a];
          assert.deepEqual(
            got.map((r) => [r.n, r.i, r.span]),
            each.flatMap((span, n) => [0, 1, 2].map((i) => [n, i, span])),
          );
        },
      );
    }

    it(
      'a span started in a flat task is a child of the span the item was pushed in',
      T,
      async () => {
        const work = task<number, Iterable<{ n: number; parent: string | null; traceId: string }>>(
          otel,
          'startedSpan',
        );
        const caller = tracer.startSpan('caller');
        const got = await context.with(trace.setSpan(context.active(), caller), () =>
          lastValueFrom(from([0, 1]).pipe(parallelFlatMap(work, { pool }), toArray())),
        );
        caller.end();
        const { spanId, traceId } = caller.spanContext();
        assert.deepEqual(got, [
          { n: 0, parent: spanId, traceId },
          { n: 1, parent: spanId, traceId },
        ]);
      },
    );
  });
}

describe('without @opentelemetry/api installed', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'rxpool-no-otel-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /**
   * A project with rxpool (a copy of the build: a link would resolve from this repository, which
   * has the API) and its dependencies; with the API too when `withApi`. Runs a script there that
   * maps on threads and processes, and says which modules of the API it loaded.
   */
  async function project(name: string, withApi: boolean) {
    const modules = join(dir, name, 'node_modules');
    mkdirSync(join(modules, 'rxpool'), { recursive: true });
    cpSync(join(root, 'dist'), join(modules, 'rxpool', 'dist'), { recursive: true });
    cpSync(join(root, 'package.json'), join(modules, 'rxpool', 'package.json'));
    const link = (pkg: string) => {
      mkdirSync(dirname(join(modules, pkg)), { recursive: true });
      symlinkSync(join(root, 'node_modules', pkg), join(modules, pkg), 'dir');
    };
    link('rxjs');
    link('tinypool');
    if (withApi) link('@opentelemetry/api');
    const script = join(dir, name, 'main.mjs');
    writeFileSync(
      script,
      `import { createRequire } from 'node:module';
import { createPool } from 'rxpool';
const results = [];
for (const runtime of ['thread', 'process']) {
  const pool = createPool({ size: 1, runtime });
  results.push(await pool.map((n) => n + 1, [1, 2, 3]));
  await pool.close();
}
const loaded = Object.keys(createRequire(import.meta.url).cache).filter((p) => p.includes('@opentelemetry'));
console.log(JSON.stringify({ results, loaded: loaded.length }));
`,
    );
    const { stdout } = await promisify(execFile)(process.execPath, [script], {
      cwd: dirname(script),
      timeout: 60_000,
    });
    return JSON.parse(stdout) as { results: number[][]; loaded: number };
  }

  it('works, and loads nothing of it', T, async () => {
    const { results, loaded } = await project('without', false);
    assert.deepEqual(results, [
      [2, 3, 4],
      [2, 3, 4],
    ]);
    assert.equal(loaded, 0);
  });

  it(
    '(with it installed, the same script finds it loaded: the check above can see it)',
    T,
    async () => {
      const { results, loaded } = await project('with', true);
      assert.deepEqual(results, [
        [2, 3, 4],
        [2, 3, 4],
      ]);
      assert.ok(loaded > 0);
    },
  );
});
