/**
 * The RxJS glue shared by `parallelMap`, `parallelSettle` and their flat kin: a source subscription feeding an
 * engine, and the engine's hooks turned into a subscriber's calls. Not exported from the barrel.
 */
import type { OperatorFunction, Subscriber } from 'rxjs';
import type { Clock } from '../src/engine/clock.js';
import { Engine, type EngineHooks } from '../src/engine/engine.js';
import type { ParallelOptions } from '../src/option-types.js';
import { resolveParallel } from '../src/options.js';
import { defaultPool } from '../src/pool/default-pool.js';
import { rx } from './rx.js';

/** Engine time on RxJS's `asyncScheduler`, so that `TestScheduler.run` makes it virtual. */
export const rxClock: Clock = {
  now: () => rx().asyncScheduler.now(),
  setTimeout(fn, ms) {
    const subscription = rx().asyncScheduler.schedule(fn, ms);
    return () => subscription.unsubscribe();
  },
};

/**
 * Builds an operator that runs `work` on an engine. `hooks` turns the engine's value and failure
 * events into the output stream's values.
 */
export function engineOperator<In, Out, R>(
  name: string,
  work: unknown,
  options: ParallelOptions<In> | undefined,
  hooks: (subscriber: Subscriber<R>) => Pick<EngineHooks<In, Out>, 'value' | 'failure'>,
  /** The work gives many values per item (parallelFlatMap): `highWaterMark` is an option. */
  flat = false,
): OperatorFunction<In, R> {
  if (options?.signal !== undefined) {
    throw new TypeError(
      `Unknown option \`signal\` for ${name}: unsubscribe to stop it, or use takeUntil`,
    );
  }
  const resolved = resolveParallel<In>(work, options, name, flat);
  const { Observable, Subscriber } = rx();
  return (source) =>
    new Observable<R>((subscriber) => {
      const { dispatcher } = resolved.pool ?? defaultPool();
      const engine = new Engine<In, Out>(resolved.config, dispatcher, rxClock, {
        ...hooks(subscriber),
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
      const input = new Subscriber<In>({
        next: (value) => engine.push(value),
        error: (error: unknown) => subscriber.error(error),
        complete: () => engine.end(),
      });
      subscriber.add(input);
      subscriber.add(() => engine.cancel());
      source.subscribe(input);
    });
}
