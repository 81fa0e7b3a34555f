/**
 * OpenTelemetry context across the worker boundary, both sides: the caller's side captures the
 * active context of each item as W3C Trace Context headers (a {@link TraceCarrier}), the worker
 * side makes it the active context while the item's task runs, so that a span the task starts is
 * a child of the caller's span.
 *
 * `@opentelemetry/api` is an optional peer dependency: it is looked for once, when the first
 * stream starts (caller's side) or the first item that carries a context runs (worker side), and
 * loaded only if it is installed. Without it, without a propagator or tracer provider registered
 * when a stream starts, or without an active span where an item is pushed, nothing is captured
 * and items carry nothing. The API keeps its registrations (context manager,
 * propagators, tracer provider) in one global per major version, so the copy loaded here sees
 * what the application registered through its own (ESM or CommonJS) copy.
 *
 * The headers are written from the span context itself when no propagator wrote them (a tracer
 * provider registered without one), and read back the same way: a context travels whatever the
 * propagators of either side. What other propagators add (`baggage`) travels too.
 */
import { createRequire } from 'node:module';
import type { TraceCarrier } from './work.js';

/** An OpenTelemetry `Context` (opaque here). */
type Context = object;

interface SpanContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceFlags: number;
  readonly isRemote?: boolean;
  readonly traceState?: { serialize(): string };
}

/** The part of `@opentelemetry/api` used here (typed here: the package is optional). */
interface OtelApi {
  readonly ROOT_CONTEXT: Context;
  readonly context: {
    active(): Context;
    with<R>(context: Context, fn: () => R): R;
  };
  readonly propagation: {
    inject(context: Context, carrier: Record<string, string>): void;
    extract(context: Context, carrier: TraceCarrier): Context;
    fields(): string[];
  };
  readonly trace: {
    getSpanContext(context: Context): SpanContext | undefined;
    setSpanContext(context: Context, spanContext: SpanContext): Context;
    getTracerProvider(): { getDelegate?(): object };
  };
  readonly ProxyTracerProvider: new () => { getDelegate(): object };
  isSpanContextValid(spanContext: SpanContext): boolean;
  createTraceState(raw?: string): { serialize(): string };
}

/** `undefined`: not looked for yet; `null`: not installed (or it failed to load). */
let api: OtelApi | null | undefined;

function loadApi(): OtelApi | null {
  if (api === undefined) {
    try {
      api = createRequire(import.meta.url)('@opentelemetry/api') as OtelApi;
    } catch {
      api = null;
    }
  }
  return api;
}

// --- the caller's side ------------------------------------------------------------------------

/** The tracer provider of an API with none registered (the API's no-op one). */
let noopProvider: object | undefined;
/**
 * The last context an item was pushed in, and what it carries: items are pushed in runs from one
 * context (a loop, a source's burst), so one comparison spares the headers' making.
 */
let lastContext: Context | undefined;
let lastCarrier: TraceCarrier | undefined;

/**
 * The capture of the active trace context, for an engine to call on each item it is given (it
 * asks when its stream starts); or `undefined` when there is nothing to capture:
 * `@opentelemetry/api` is not installed, or nothing is registered with it yet (no propagator,
 * no tracer provider).
 */
export function traceCapture(): (() => TraceCarrier | undefined) | undefined {
  const otel = loadApi();
  if (otel === null) return undefined;
  if (otel.propagation.fields().length > 0) return capture;
  noopProvider ??= new otel.ProxyTracerProvider().getDelegate();
  return otel.trace.getTracerProvider().getDelegate?.() !== noopProvider ? capture : undefined;
}

function capture(): TraceCarrier | undefined {
  const otel = api!;
  const active = otel.context.active();
  if (active === lastContext) return lastCarrier;
  lastContext = active;
  lastCarrier = active === otel.ROOT_CONTEXT ? undefined : inject(otel, active);
  return lastCarrier;
}

function inject(otel: OtelApi, active: Context): TraceCarrier | undefined {
  const span = otel.trace.getSpanContext(active);
  if (span === undefined || !otel.isSpanContextValid(span)) return undefined;
  const carrier: Record<string, string> = {};
  otel.propagation.inject(active, carrier);
  if (carrier.traceparent === undefined) {
    const flags = (span.traceFlags & 0xff).toString(16).padStart(2, '0');
    carrier.traceparent = `00-${span.traceId}-${span.spanId}-${flags}`;
    const state = span.traceState?.serialize();
    if (state) carrier.tracestate = state;
  }
  return Object.freeze(carrier);
}

// --- the worker side --------------------------------------------------------------------------

/** The context of each carrier received: a batch's items share their carrier object. */
const contexts = new WeakMap<TraceCarrier, Context>();

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * Runs `call` with the context of `carrier` active (worker side), so that a span started in the
 * task is a child of the caller's span; runs it as it is without a carrier, or without
 * `@opentelemetry/api` installed in the worker.
 */
export function inTraceContext<R>(carrier: TraceCarrier | undefined, call: () => R): R {
  if (carrier == null) return call();
  const otel = loadApi();
  if (otel === null) return call();
  let context = contexts.get(carrier);
  if (context === undefined) {
    context = extract(otel, carrier);
    contexts.set(carrier, context);
  }
  return otel.context.with(context, call);
}

function extract(otel: OtelApi, carrier: TraceCarrier): Context {
  const context = otel.propagation.extract(otel.ROOT_CONTEXT, carrier);
  if (otel.trace.getSpanContext(context) !== undefined) return context;
  // No propagator registered in this worker: read the W3C headers here.
  const match = TRACEPARENT.exec(carrier.traceparent ?? '');
  if (match === null || match[1] === 'ff' || (match[1] === '00' && match[5] !== undefined)) {
    return context;
  }
  const span: SpanContext = {
    traceId: match[2]!,
    spanId: match[3]!,
    traceFlags: Number.parseInt(match[4]!, 16),
    isRemote: true,
    ...(carrier.tracestate ? { traceState: otel.createTraceState(carrier.tracestate) } : {}),
  };
  return otel.isSpanContextValid(span) ? otel.trace.setSpanContext(context, span) : context;
}
