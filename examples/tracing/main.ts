/**
 * Traces work across rxpool's workers with OpenTelemetry: the main process opens a span, runs
 * items on a pool inside it (`pool.map`, then `parallelMap`), and each item's task opens a span of
 * its own in a worker, which is a child of the caller's span. Prints the spans as a tree, and the
 * attempts seen on rxpool's `rxpool:item` diagnostics channel.
 *
 *   node --import tsx examples/tracing/main.ts [--runtime thread|process] [--items 4] [--json]
 */
import { tracingChannel } from 'node:diagnostics_channel';
import { readFileSync, rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { from, lastValueFrom, toArray } from 'rxjs';
import { createPool, type ItemTrace, task } from 'rxpool';
import { parallelMap } from 'rxpool/operators';
import { type SpanRecord, spanRecord, spansFile } from './telemetry.mjs';

const { values } = parseArgs({
  options: {
    runtime: { type: 'string', default: 'thread' },
    items: { type: 'string', default: '4' },
    json: { type: 'boolean', default: false },
  },
});
const runtime = values.runtime === 'process' ? 'process' : 'thread';
const items = Array.from({ length: Number(values.items) }, (_, i) => i + 1);

// The workers' spans come back through a file (see telemetry.mjs); a thread shares this
// environment, a child process finds the file by this process's pid.
const file = spansFile(process.pid);
rmSync(file, { force: true });
process.env.RXPOOL_TRACING_SPANS = file;

// This process's tracer provider: context manager, W3C propagator, spans kept in memory.
const exporter = new InMemorySpanExporter();
new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).register();
const tracer = trace.getTracer('rxpool-example');

// Every attempt of every item, as rxpool's diagnostics channel reports it on this side.
const attempts: ItemTrace[] = [];
tracingChannel('rxpool:item').asyncEnd.subscribe((attempt) => attempts.push(attempt as ItemTrace));

const telemetry = new URL('./telemetry.mjs', import.meta.url);
const square = task<number, number>(new URL('./work.mjs', import.meta.url));
const pool = createPool({ size: 2, runtime, setup: task(telemetry, 'setup') });

const squares = await tracer.startActiveSpan('squares with pool.map', async (span) => {
  const result = await pool.map(square, items);
  span.end();
  return result;
});
const streamed = await tracer.startActiveSpan('squares with parallelMap', (span) =>
  lastValueFrom(from(items).pipe(parallelMap(square, { pool }), toArray())).finally(() =>
    span.end(),
  ),
);
await pool.close();

const callers = exporter.getFinishedSpans().map(spanRecord);
const tasks: SpanRecord[] = readFileSync(file, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((line) => JSON.parse(line));
rmSync(file, { force: true });
const seen = attempts.map(({ index, attempt, workerId, error }) => ({
  index,
  attempt,
  workerId,
  ok: error === undefined,
}));

if (values.json) {
  console.log(JSON.stringify({ squares, streamed, callers, tasks, attempts: seen }));
} else {
  console.log(`runtime: ${runtime}, ${items.length} items, results ${squares.join(' ')}`);
  for (const caller of callers) {
    console.log(`${caller.name}  trace ${caller.traceId} span ${caller.spanId}`);
    for (const child of tasks.filter((t) => t.parentSpanId === caller.spanId)) {
      const { 'item.input': input, 'item.output': output } = child.attributes;
      console.log(`  └ ${child.name} ${input} -> ${output}  span ${child.spanId}`);
    }
  }
  const linked = tasks.filter((t) => callers.some((c) => c.spanId === t.parentSpanId)).length;
  console.log(`task spans that are children of their caller's span: ${linked} of ${tasks.length}`);
  const workers = new Set(seen.map((a) => a.workerId));
  console.log(`attempts on rxpool:item: ${seen.length}, on ${workers.size} workers`);
}
