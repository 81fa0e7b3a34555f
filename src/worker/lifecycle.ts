/**
 * The pool's setup and teardown in one worker: the setup runs once, before the worker's first
 * item, and what it returns becomes the tasks' `context.state`; the teardown runs once, with that
 * state, before the worker stops (retired, idle, or the pool closing), bounded in time. The
 * runner owns one per worker (./runner.ts); the host glue asks it for the teardown when the main
 * side stops the worker (./host.ts).
 */

import { serializeError } from '../wire/error.js';
import type { WireError } from '../wire/messages.js';
import { TEARDOWN_MS } from '../wire/messages.js';
import type { WorkSpec } from '../wire/work.js';
import type { WorkerContext } from './context.js';
import { load } from './load.js';

export class WorkerLifecycle {
  private setupRun: Promise<void> | undefined;
  /** Why the setup failed in this worker, once it did: then it runs no items. */
  private setupFailure: WireError | undefined;
  /** The teardown to run before this worker stops (the latest a request named). */
  private teardownSpec: WorkSpec | undefined;
  private tornDown: Promise<WireError | undefined> | undefined;

  constructor(private readonly context: WorkerContext) {}

  /**
   * Runs the pool's setup once in this worker: what it returns (or resolves to) becomes
   * `context.state`. Resolves with its failure, if it failed.
   */
  async setupOnce(spec: WorkSpec): Promise<WireError | undefined> {
    this.setupRun ??= this.runSetup(spec);
    await this.setupRun;
    return this.setupFailure;
  }

  private async runSetup(spec: WorkSpec): Promise<void> {
    try {
      const setup = await load(spec);
      this.context.state = await setup(undefined, this.context);
    } catch (error) {
      const cause = serializeError(error, spec);
      this.setupFailure = {
        ...cause,
        name: 'SetupError',
        message: `The pool's setup task failed in this worker, so it runs no items: ${cause.name}: ${cause.message}`,
        cause,
        fatal: 'setup',
      };
    }
  }

  /** Remembers the pool's teardown (every request names it). */
  knowTeardown(spec: WorkSpec | undefined): void {
    this.teardownSpec = spec;
  }

  /** Whether a teardown is to run before this worker stops. */
  hasTeardown(): boolean {
    return this.teardownSpec !== undefined;
  }

  /**
   * Runs the pool's teardown once, with the worker's state, bounded by {@link TEARDOWN_MS};
   * resolves with why it failed, if it did. Not after a setup that failed (there is no state).
   */
  teardownOnce(): Promise<WireError | undefined> {
    this.tornDown ??= this.runTeardown();
    return this.tornDown;
  }

  private async runTeardown(): Promise<WireError | undefined> {
    const { context, teardownSpec: spec } = this;
    if (spec === undefined || this.setupFailure !== undefined) return undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new Error(`The pool's teardown did not finish within ${TEARDOWN_MS} ms`);
        error.name = 'TeardownTimeout';
        reject(error);
      }, TEARDOWN_MS);
    });
    try {
      await Promise.race([
        (async () => {
          const teardown = await load(spec);
          await teardown(context.state, context);
        })(),
        late,
      ]);
      return undefined;
    } catch (error) {
      const cause = serializeError(error, spec);
      return {
        ...cause,
        name: 'TeardownError',
        message: `The pool's teardown failed in worker ${context.workerId}: ${cause.name}: ${cause.message}`,
        cause,
      };
    } finally {
      clearTimeout(timer);
    }
  }
}
