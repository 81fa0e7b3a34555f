/**
 * The engine: the one place where rxpool schedules items. One `Engine` per stream keeps the
 * in-flight window, sends items to an executor in batches, times each attempt, retries, and
 * emits results in source order or in completion order. It knows nothing of RxJS or of workers:
 * the faces (operators, `pool.imap`, `pool.map`, `pool.run`) feed it and listen to it, and an
 * executor runs the items, through the Dispatcher.
 *
 * As RxJS's `mergeInternals` sits behind its operators, the engine sits behind the faces, and its
 * policies are units of their own: the window and its backlog (./window.ts), the order of
 * emission (./order.ts), the batch size (./batching.ts), what becomes of a returned batch
 * (./route.ts), a failed attempt's error and retry (./attempt.ts, ./retry.ts), timeouts
 * (./timeout.ts), moved buffers (./transfer.ts), per-key turns (./keys.ts), flat items
 * (./flat.ts), tracing (./trace.ts), progress (./progress.ts). Items travel as chunks
 * (./chunk.ts). The path to the executor (admission, batches, launch, retries) is
 * ./scheduler.ts; this file is the stream's side: push and cancel, what comes back, emission.
 */

import type { TaskError } from '../errors.js';
import type { BatchOutcome, FlatEnd } from '../executor/contract.js';
import type { DispatchClient, Dispatcher } from '../executor/dispatcher.js';
import type { ItemTrace } from '../executor/item-channel.js';
import { stoppedError } from './attempt.js';
import type { Batch, Chunk } from './chunk.js';
import type { Clock } from './clock.js';
import { closedHooks, type EngineConfig, type EngineHooks } from './config.js';
import type { Outlet } from './order.js';
import type { ProgressMeter } from './progress.js';
import { AGAIN, ALONE, FAIL, KEEP, type Route, routeOf } from './route.js';
import { Scheduler } from './scheduler.js';
import type { Transfers } from './transfer.js';
import type { Window } from './window.js';

export type { EngineConfig, EngineHooks } from './config.js';

export class Engine<In, Out> extends Scheduler<In> implements DispatchClient {
  /** Where emitted items go (the hooks), and what their leaving changes. */
  private readonly outlet: StreamOutlet<In, Out>;
  private readonly detach: () => void;
  /** Admits a run of the backlog (`Window.release`). */
  private readonly admitRun: (page: In[], from: number, to: number) => void;
  /** The traces of the batch being settled, while it is. */
  private ending: ItemTrace[] | undefined;
  private ended = false;
  /** What the source failed with (`fail`): the engine ends with it instead of completing. */
  private sourceFailure: { readonly error: unknown } | undefined;
  private paused = false;
  private pumping = false;
  private again = false;

  constructor(
    config: EngineConfig<In>,
    dispatcher: Dispatcher,
    clock: Clock,
    private hooks: EngineHooks<In, Out>,
  ) {
    super(config, dispatcher, clock);
    this.admitRun = (page, from, to) => this.admit(page, from, to);
    this.outlet = new StreamOutlet(this.window, this.transfers, this.meter, hooks);
    this.detach = dispatcher.attach(this);
  }

  /** Items admitted and not yet emitted: never more than `concurrency`. */
  get inFlight(): number {
    return this.window.held;
  }

  /** How many more items the window takes now. */
  get room(): number {
    return this.closed ? 0 : this.window.room;
  }

  /** Adds the next input of the source. Beyond the window it waits in a backlog. */
  push(input: In): void {
    if (this.closed || this.ended) return;
    const { window } = this;
    const page = window.store(input);
    if (this.trace.capturing) this.trace.keep(page, this.nextIndex + window.backlog);
    if (window.open) {
      this.admit(page, page.length - 1, page.length);
      // The hot path of a fast push source: when the queue already waited for a slot, every slot
      // is busy (the executor fills free slots at once), so nothing can move until one frees.
      if (this.queuedItems > 1 && !this.pumping && !this.hooks.pull) return;
    } else {
      window.defer(page);
      // The window is full: only an emission makes room, and that pumps.
      if (!this.pumping && !this.hooks.pull) return;
    }
    this.pump();
  }

  /** The source has no more inputs. */
  end(): void {
    if (this.closed || this.ended) return;
    this.ended = true;
    this.pump();
  }

  /**
   * The source failed after the inputs pushed so far. They still run and are emitted (in order
   * when `ordered`), as the items before a failed one are; then the `error` hook gets `error`
   * instead of `complete` (Python's `imap` does the same with an input that raises).
   */
  fail(error: unknown): void {
    if (this.closed || this.ended) return;
    this.sourceFailure = { error };
    this.end();
  }

  /** Stops emitting (results are held, and keep their place in the window) until `resume()`. */
  pause(): void {
    this.paused = true;
    this.outlet.halted = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.outlet.halted = this.closed;
    this.pump();
  }

  /** Stops everything: queued items never run, running ones are stopped, timers are cleared. */
  cancel(): void {
    if (this.closed) return;
    this.closed = true;
    this.outlet.halted = true;
    this.detach();
    const { flat } = this.config;
    for (const batch of this.running) {
      batch.cancelTimer?.();
      // A flat batch whose items all ended is only answering: stopping it could stop its worker.
      if (!flat || batch.chunks.some((chunk) => chunk.flat!.runsIn(batch))) {
        batch.running.abort('cancel');
      }
      if (batch.traces) {
        // A flat item that ended is traced already (`flatValues`).
        const { chunks } = batch;
        this.trace.stopped(
          flat ? batch.traces.filter((_, p) => chunks[p]!.flat!.runsIn(batch)) : batch.traces,
        );
      }
    }
    for (const cancelDelay of this.delayed.values()) cancelDelay();
    this.running.clear();
    this.delayed.clear();
    this.window.clear();
    this.queue.clear();
    this.order.clear();
    this.transfers?.clear();
    this.keys?.clear();
    this.open = undefined;
    this.queuedItems = 0;
    this.out = 0;
    this.sourceFailure = undefined;
    this.hooks = closedHooks;
    this.outlet.hooks = closedHooks;
  }

  // DispatchClient (with `Scheduler.queued` and `Scheduler.dispatch`)

  kill(error: Error): void {
    if (this.closed) return;
    const hooks = this.hooks;
    this.cancel();
    hooks.error(error);
  }

  // Returns: what the executor gave back

  protected settle(batch: Batch<In>, outcome: BatchOutcome): void {
    if (this.closed) return;
    this.running.delete(batch);
    this.out -= batch.count;
    batch.cancelTimer?.();
    this.ending = batch.traces;
    if (outcome.type === 'done') this.measure(batch, outcome);
    const route = routeOf(outcome, batch, this.config.flat !== undefined);
    if (route !== undefined) {
      this.routeReturned(batch, route);
    } else if (outcome.type === 'done') {
      // Every item ran and succeeded.
      const { values, count } = outcome;
      if (this.ending) this.trace.results(this.ending, 0, count, values);
      let at = 0;
      for (const chunk of batch.chunks) {
        this.succeeded(chunk, values, at);
        at += chunk.length;
      }
    }
    this.ending = undefined;
    this.pump();
  }

  /** Feeds a batch that ran to the batch sizer, the wait-time histogram and its traces. */
  private measure(batch: Batch<In>, outcome: Extract<BatchOutcome, { type: 'done' }>): void {
    this.sizer.observe(outcome.ms, outcome.count);
    // Durations only: the batch started when it was sent plus what it waited there, or (not
    // known) its run time before now.
    const startedAt =
      outcome.waitedMs !== undefined
        ? batch.sentAt + outcome.waitedMs
        : this.clock.now() - outcome.ms;
    // Each chunk's items that ran waited from when it was queued (sent again: anew).
    const { chunks } = batch;
    const { waitTimes } = this.dispatcher;
    let ran = outcome.count;
    for (let i = 0; i < chunks.length && ran > 0; i++) {
      const chunk = chunks[i]!;
      const k = Math.min(ran, chunk.length);
      waitTimes.add(Math.max(0, startedAt - chunk.queuedAt), k);
      ran -= k;
    }
    if (this.ending) for (const trace of this.ending) trace.workerId = outcome.workerId;
  }

  /**
   * Deals with the items of a batch that came back, by what the route (./route.ts) says of each:
   * splits the chunks where the marks change, keeps the results of the items that succeeded, fails
   * an attempt of each FAIL item, and puts the rest back at the head of the queue in source order:
   * they did not count as run.
   */
  private routeReturned(batch: Batch<In>, { mark, failure, values, cap }: Route): void {
    const again: Chunk<In>[] = [];
    const { ending } = this;
    let p = 0;
    for (let chunk of batch.chunks) {
      if (chunk.flat) {
        if (!chunk.flat.runsIn(batch)) {
          // A flat item that ended already (its `end` came with its values).
          p += chunk.length;
          continue;
        }
        chunk.flat.stop();
      }
      for (;;) {
        const length = chunk.length;
        const what = mark(p);
        // FAIL and ALONE items are split off one by one; runs of the others stay together.
        let k = 1;
        if (what === KEEP || what === AGAIN) while (k < length && mark(p + k) === what) k++;
        const rest = k < length ? this.split(chunk, k) : undefined;
        if (what === KEEP) {
          this.succeeded(chunk, values!, p);
          if (ending) this.trace.results(ending, p, k, values!);
        } else if (what === FAIL) {
          const error = this.failItem(chunk, failure?.(p), again);
          if (ending) this.trace.end(ending[p]!, error);
        } else if (chunk.flat && chunk.flat.emitted > 0) {
          // Its values were emitted: running it again would emit them twice.
          const stopped = { error: stoppedError(), kind: 'threw', retryable: false } as const;
          const error = this.failItem(chunk, stopped, again);
          if (ending) this.trace.end(ending[p]!, error);
        } else {
          if (ending) for (let i = p; i < p + k; i++) this.trace.end(ending[i]!);
          if (what === ALONE) chunk.cap = 1;
          else if (cap !== undefined) chunk.cap = Math.min(chunk.cap, cap);
          again.push(chunk);
        }
        p += k;
        if (!rest) break;
        chunk = rest;
      }
    }
    this.requeue(again);
  }

  /** Values of a running flat item came, and maybe its end. */
  protected flatValues(
    batch: Batch<In>,
    position: number,
    values: ArrayLike<unknown>,
    end: FlatEnd | undefined,
  ): void {
    if (this.closed || !this.running.has(batch)) return;
    // Chunks of one: the item at `position` is the chunk there.
    const chunk = batch.chunks[position];
    const flat = chunk?.flat;
    if (!flat?.runsIn(batch)) return;
    if (values.length > 0) {
      flat.add(values, this.clock.now());
      this.order.ready(chunk!);
      // Out first, where they can go: whether the item may run again depends on it.
      if (end) this.pump();
      if (this.closed || !flat.runsIn(batch)) return;
    }
    if (end) {
      flat.stop();
      // Its attempt ends here, not with its batch (see `routeReturned`): so does its trace.
      const trace = batch.traces?.[position];
      if (end.failure) {
        const error = this.failItem(chunk!, end.failure, undefined);
        if (trace) this.trace.end(trace, error);
      } else {
        this.succeeded(chunk!, NO_VALUES, 0);
        if (trace) {
          trace.result = undefined;
          this.trace.end(trace);
        }
      }
    }
    this.pump();
  }

  // Moving

  /**
   * Moves everything that can move: admits from the backlog, asks for slots, emits, asks the face
   * for more input, completes. Re-entrant calls (a hook that pushes or cancels) fold into a rerun.
   */
  protected pump(): void {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    const { window } = this;
    try {
      do {
        this.again = false;
        if (window.backlog > 0) window.release(this.admitRun);
        if (this.queuedItems > 0) this.dispatcher.schedule(this);
        if (this.closed) return;
        // Emitting frees room in the window for what waits in the backlog: go round again.
        const emitted = this.config.flat
          ? this.order.emitFlat(this.outlet, this.clock)
          : this.order.emit(this.outlet);
        if (emitted) {
          if (window.backlog > 0) this.again = true;
          if (this.meter) this.report(false);
        }
        if (this.closed) return;
        if (this.ended) {
          if (window.held === 0 && window.backlog === 0) {
            if (this.meter) this.report(true);
            if (this.closed) return;
            const hooks = this.hooks;
            const failure = this.sourceFailure;
            this.cancel();
            if (failure) hooks.error(failure.error);
            else hooks.complete();
            return;
          }
        } else if (window.backlog === 0 && window.held < window.concurrency) {
          this.hooks.pull?.();
        }
      } while (this.again && !this.closed);
    } finally {
      this.pumping = false;
    }
  }

  /** Calls the progress callback; when it throws, the stream errors with what it threw. */
  private report(final: boolean): void {
    try {
      this.meter!.flush(this.window.held, final);
    } catch (error) {
      this.kill(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

const NO_VALUES: readonly unknown[] = [];

/**
 * The engine's {@link Outlet}: a class, not an object of closures, so that the emission loops'
 * calls, once per item, stay monomorphic and are inlined.
 */
class StreamOutlet<In, Out> implements Outlet<In> {
  halted = false;

  constructor(
    private readonly window: Window<In>,
    private readonly transfers: Transfers<In> | undefined,
    private readonly meter: ProgressMeter | undefined,
    public hooks: EngineHooks<In, Out>,
  ) {}

  done(value: unknown, index: number, input: In): void {
    this.window.held--;
    this.transfers?.delete(index);
    this.meter?.emitted(false);
    this.hooks.value(value as Out, index, input);
  }

  left(index: number, error: TaskError<In> | undefined): void {
    this.window.held--;
    this.transfers?.delete(index);
    if (error === undefined) {
      this.meter?.emitted(false);
    } else {
      this.meter?.emitted(true);
      this.hooks.failure(error);
    }
  }

  value(value: unknown, index: number, input: In): void {
    this.hooks.value(value as Out, index, input);
  }
}
