/**
 * Tracing through BullMQ, on a real redis-server with a real `rxpool worker` (from the built CLI:
 * build first) serving examples/tracing/work.mjs: each item's trace context travels in its job
 * to the worker's threads, and the span the task starts there is a child of the producer's
 * active span; the producer's `rxpool:item` channel sees every attempt, with the remote worker's
 * `<hostname>:<pid>`.
 */
import assert from 'node:assert/strict';
import { tracingChannel } from 'node:diagnostics_channel';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { createPool, ITEM_CHANNEL, type ItemTrace, type Pool, task } from 'rxpool';
import { bullmqExecutor } from 'rxpool/bullmq';
import type { SpanRecord } from '../../examples/tracing/telemetry.mjs';
import { type RedisServer, startRedis } from '../../scripts/redis-server.js';
import { startWorker, type WorkerProcess } from '../../scripts/rxpool-worker.js';

const EXAMPLE = new URL('../../examples/tracing/', import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'rxpool-bullmq-tracing-'));
const spansFile = join(dir, 'spans.ndjson');

let redis: RedisServer;
let worker: WorkerProcess | undefined;
let pool: Pool | undefined;

before(async () => {
  redis = await startRedis();
  worker = await startWorker({
    redis: redis.url,
    queue: 'traced',
    modules: ['work.mjs'],
    cwd: fileURLToPath(EXAMPLE),
    threads: 2,
    env: { ...process.env, RXPOOL_TRACING_SPANS: spansFile },
  });
});

after(async () => {
  await pool?.destroy();
  await worker?.kill();
  await redis?.close();
  rmSync(dir, { recursive: true, force: true });
});

test(
  "a task's span on a remote worker is a child of the producer's active span",
  { timeout: 60_000 },
  async () => {
    const exporter = new InMemorySpanExporter();
    new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).register();
    const tracer = trace.getTracer('rxpool-test');
    const attempts: ItemTrace[] = [];
    const onEnd = (message: unknown) => attempts.push(message as ItemTrace);
    tracingChannel(ITEM_CHANNEL).asyncEnd.subscribe(onEnd);

    pool = createPool({ executor: bullmqExecutor({ connection: redis.url, queue: 'traced' }) });
    const square = task<number, number>(new URL('work.mjs', EXAMPLE));
    const items = [1, 2, 3, 4, 5, 6];
    const results = await tracer.startActiveSpan('producer', async (span) => {
      try {
        return await pool!.map(square, items);
      } finally {
        span.end();
      }
    });
    tracingChannel(ITEM_CHANNEL).asyncEnd.unsubscribe(onEnd);
    assert.deepEqual(results, [1, 4, 9, 16, 25, 36]);

    const [producer] = exporter.getFinishedSpans();
    const caller = producer!.spanContext();
    const spans: SpanRecord[] = readFileSync(spansFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line));
    assert.deepEqual(spans.map((s) => s.attributes['item.input']).sort(), items);
    for (const span of spans) {
      assert.equal(span.name, 'square');
      assert.equal(span.traceId, caller.traceId);
      assert.equal(span.parentSpanId, caller.spanId);
    }

    assert.deepEqual(attempts.map((a) => a.index).sort(), [0, 1, 2, 3, 4, 5]);
    for (const attempt of attempts) {
      assert.equal(attempt.attempt, 1);
      assert.equal(attempt.workerId, `${hostname()}:${worker!.child.pid}`);
      assert.equal(attempt.result, (attempt.index + 1) ** 2);
    }
  },
);
