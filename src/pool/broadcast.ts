/**
 * `pool.broadcast`: work run once on each of the pool's own workers, beside the engine (no items,
 * no window), so only an executor that has workers to name can do it: the default one.
 */
import { TaskError } from '../errors.js';
import type { Dispatcher } from '../executor/dispatcher.js';
import { TinypoolExecutor } from '../threads/executor.js';
import { reviveError } from '../wire/error.js';
import { toWorkSpec } from './task.js';

/** One result per worker, in `workerId` order; the first worker's failure as a `TaskError`. */
export async function broadcast<Out>(
  dispatcher: Dispatcher,
  work: unknown,
  input: unknown,
): Promise<Out[]> {
  const { executor, closed } = dispatcher;
  if (!(executor instanceof TinypoolExecutor)) {
    throw new TypeError(
      "pool.broadcast runs work on each of the pool's own workers; this pool's executor " +
        '(rxpool/bullmq, or a custom one) has no workers it can name: run the work as items instead',
    );
  }
  if (closed) throw closed;
  const spec = toWorkSpec(work);
  const replies = await executor.broadcast(spec, input);
  const failed = replies.findIndex((reply) => reply.error !== undefined);
  if (failed >= 0) {
    throw new TaskError({
      index: failed,
      input,
      attempts: 1,
      cause: reviveError(replies[failed]!.error!),
    });
  }
  return replies.map((reply) => reply.value as Out);
}
