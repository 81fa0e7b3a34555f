/** The types of `telemetry.mjs`, the worker side's OpenTelemetry setup of the example. */
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

/** A finished span as the example writes and reads it. */
export interface SpanRecord {
  readonly name: string;
  readonly traceId: string;
  readonly spanId: string;
  /** The parent's span id; `undefined` for a root span. */
  readonly parentSpanId: string | undefined;
  readonly attributes: Readonly<Record<string, unknown>>;
}

/** The file a run of main.ts collects its workers' spans in, by that process's pid. */
export declare function spansFile(mainPid: number): string;

/** A span as one line of JSON. */
export declare function spanRecord(span: ReadableSpan): SpanRecord;

/** Registers this worker's tracer provider, once. */
export declare function setup(): void;
