/**
 * The worker side's OpenTelemetry setup of the example: a tracer provider for this worker (a
 * thread, a child process, or a thread of an `rxpool worker`), whose finished spans are appended
 * as JSON lines to one file that the main process reads at the end. A real application would
 * export them to its collector (OTLP) instead; a file keeps the example self-contained.
 *
 * `register()` sets the global tracer provider, the context manager (AsyncLocalStorage) and the
 * W3C propagator of this worker. rxpool makes each item's trace context active while its task
 * runs: a span the task starts is then a child of the caller's span.
 *
 * Plain JavaScript, so that the workers need no TypeScript loader (types: telemetry.d.mts).
 */
import { appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

/** The file a run of main.ts collects its workers' spans in, by that process's pid. */
export function spansFile(mainPid) {
  return join(tmpdir(), `rxpool-tracing-example-${mainPid}.ndjson`);
}

/**
 * Where this worker writes: `RXPOOL_TRACING_SPANS` when its environment has it, else the file
 * of the main process (a worker thread runs in it, a child process is its child).
 */
function target() {
  if (process.env.RXPOOL_TRACING_SPANS) return process.env.RXPOOL_TRACING_SPANS;
  const child = isMainThread && typeof process.send === 'function';
  return spansFile(child ? process.ppid : process.pid);
}

/** A span as one line of JSON: what the example prints and its test checks. */
export function spanRecord(span) {
  const context = span.spanContext();
  return {
    name: span.name,
    traceId: context.traceId,
    spanId: context.spanId,
    parentSpanId: span.parentSpanContext?.spanId,
    attributes: span.attributes,
  };
}

/** An exporter that appends each finished span to the file, synchronously (nothing is lost). */
class FileSpanExporter {
  constructor(path) {
    this.path = path;
  }
  export(spans, done) {
    appendFileSync(
      this.path,
      spans.map((span) => `${JSON.stringify(spanRecord(span))}\n`).join(''),
    );
    done({ code: 0 });
  }
  shutdown() {
    return Promise.resolve();
  }
}

let registered = false;

/** Registers this worker's tracer provider, once (the pool's `setup`, or a module's import). */
export function setup() {
  if (registered) return;
  registered = true;
  const exporter = new FileSpanExporter(target());
  new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).register();
}
