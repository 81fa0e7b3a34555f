/**
 * The task of the example: it starts a span of its own for each item, which the caller's trace
 * context (made active by rxpool while the task runs) makes a child of the caller's span. It
 * registers this worker's tracer provider when it is first imported, so that it also works where
 * no `setup` runs (an `rxpool worker`); with a pool, `setup: task(telemetry.mjs, 'setup')` does
 * the same before the first item.
 */
import { trace } from '@opentelemetry/api';
import { setup } from './telemetry.mjs';

setup();
const tracer = trace.getTracer('rxpool-example-worker');

/** Squares `n` inside a span named `square`. */
export default async function square(n) {
  return tracer.startActiveSpan('square', async (span) => {
    span.setAttribute('item.input', n);
    // Something asynchronous: the span stays the active one across the await.
    await new Promise((resolve) => setImmediate(resolve));
    trace.getActiveSpan()?.setAttribute('item.output', n * n);
    span.end();
    return n * n;
  });
}
