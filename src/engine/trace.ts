/**
 * Tracing of one stream's items: each attempt on the `rxpool:item` tracing channel, and the
 * OpenTelemetry contexts of its items, kept from their push to their batch
 * (`ExecutorBatch.traces`). The engine calls in at push, launch, settle and cancel.
 */
import { AbortError } from '../errors.js';
import type { TraceCarrier } from '../executor/contract.js';
import type { ItemTrace, itemChannel } from '../executor/item-channel.js';
import type { Chunk } from './chunk.js';

type Channel = typeof itemChannel;

export class ItemTraces<In> {
  /** Whether items may have trace contexts to keep (`keep` is called at each push). */
  readonly capturing: boolean;
  /** Trace contexts of the items of a page, by their place in it (pages that have some). */
  private traced: WeakMap<In[], (TraceCarrier | undefined)[]> | undefined;

  constructor(
    private readonly channel: Channel,
    /** The trace context of the item pushed `index`-th, when there may be one. */
    private readonly capture: ((index: number) => TraceCarrier | undefined) | undefined,
  ) {
    this.capturing = capture !== undefined;
  }

  /** Keeps the trace context of the input just pushed into `page`, the `index`-th pushed. */
  keep(page: In[], index: number): void {
    const carrier = this.capture!(index);
    let list = this.traced?.get(page);
    if (list === undefined) {
      if (carrier === undefined) return;
      list = [];
      this.traced ??= new WeakMap();
      this.traced.set(page, list);
    }
    list[page.length - 1] = carrier;
  }

  /** The trace contexts of a batch's items, by position; `undefined` when none has one. */
  of(chunks: readonly Chunk<In>[], count: number): (TraceCarrier | undefined)[] | undefined {
    if (this.traced === undefined) return undefined;
    let traces: (TraceCarrier | undefined)[] | undefined;
    let p = 0;
    for (const chunk of chunks) {
      const list = this.traced.get(chunk.inputs);
      if (list !== undefined) {
        for (let i = chunk.lo; i < chunk.hi; i++) {
          const carrier = list[i];
          if (carrier === undefined) continue;
          traces ??= new Array(count);
          traces[p + i - chunk.lo] = carrier;
        }
      }
      p += chunk.length;
    }
    return traces;
  }

  /** Publishes `start` for each item of a batch about to be launched; returns their traces. */
  start(chunks: readonly Chunk<In>[], count: number): ItemTrace[] {
    const { start } = this.channel;
    const traces: ItemTrace[] = new Array(count);
    let p = 0;
    for (const chunk of chunks) {
      const attempt = chunk.attempts + 1;
      for (let k = 0; k < chunk.length; k++) {
        const trace: ItemTrace = { index: chunk.first + k, attempt, workerId: undefined };
        traces[p++] = trace;
        start.publish(trace);
      }
    }
    return traces;
  }

  /** The batch was handed to the executor: `end` for each of its items. */
  launched(traces: readonly ItemTrace[]): void {
    for (const trace of traces) this.channel.end.publish(trace);
  }

  /** The items at positions `[p, p + k)` of a batch (their `traces`) succeeded. */
  results(traces: readonly ItemTrace[], p: number, k: number, values: ArrayLike<unknown>): void {
    for (let i = p; i < p + k; i++) {
      const trace = traces[i]!;
      trace.result = values[i];
      this.end(trace);
    }
  }

  /** An attempt is over: failed with `error`, succeeded (`result` set), or to go again. */
  end(trace: ItemTrace, error?: unknown): void {
    const { channel } = this;
    if (error !== undefined) {
      trace.error = error;
      channel.error.publish(trace);
    } else if (!('result' in trace)) {
      trace.again = true;
    }
    channel.asyncStart.publish(trace);
    channel.asyncEnd.publish(trace);
  }

  /** The attempts of a batch still out when the stream stopped. */
  stopped(traces: readonly ItemTrace[]): void {
    const error = new AbortError(
      'The attempt was stopped: its stream was unsubscribed, or its pool destroyed, while it was out',
    );
    for (const trace of traces) this.end(trace, error);
  }
}
