/**
 * What a batch's end means for its items, whatever runtime ran it: a reply read into a
 * {@link BatchOutcome}, a failed task or a worker's death told apart (crash, lost, unsendable), and
 * which inputs of a batch that could not be sent are at fault.
 */
import type { BatchOutcome, ItemFailure } from '../executor/contract.js';
import { findUncloneable } from '../wire/clone.js';
import { reviveError, reviveLoose } from '../wire/error.js';
import type { BatchResponse, WireError } from '../wire/messages.js';
import { exitError, type InFlightBatch } from './in-flight.js';

/** Why a worker was stopped when it was retired (idle, or past `maxTasksPerWorker`). */
export const RETIRE = new Error('rxpool: worker retired');
RETIRE.name = 'WorkerRetired';
/** Why a worker was stopped under a batch that ran past its abort. */
export const STOPPED = new Error('rxpool: worker stopped');
STOPPED.name = 'WorkerStopped';

/** What the judgement of a failed batch asks of the executor's worker host. */
export interface FailureContext {
  /** Tinypool gave the task to a worker it was terminating: it never ran. */
  isTerminationError(error: unknown): boolean;
  /** No worker can start: trying again cannot help. */
  isStartError(error: unknown): boolean;
  /** Workers may run tasks (the executor is not being destroyed). */
  readonly open: boolean;
  /** Thread runtime: inputs share memory with the worker (a child process's pipe does not). */
  readonly threads: boolean;
}

/**
 * What became of a batch whose task failed, or whose worker went under it. `arriving`: its worker
 * died while it was on its way in (see `ThreadExecutor.unlink`).
 */
export function failure(
  batch: InFlightBatch,
  error: unknown,
  host: FailureContext,
  arriving = false,
): BatchOutcome {
  const { control, row } = batch;
  const exitCode = control?.exitCode(row);
  if (exitCode !== undefined && (!batch.aborted || batch.stopping)) {
    // Its worker called process.exit under it: a crash, even if a timeout stopped it since.
    const position = control!.position(row);
    return {
      type: 'crashed',
      error: exitError(exitCode),
      position: position < batch.count ? position : undefined,
    };
  }
  if (batch.aborted) return { type: 'aborted' };
  if (error === RETIRE || error === STOPPED) return { type: 'lost' };
  // Given to a worker that was being stopped: it never ran there, so it goes again.
  if (host.isTerminationError(error)) return host.open ? { type: 'lost' } : { type: 'aborted' };
  const { threads } = host;
  if (batch.unsent !== undefined) return unsendable(batch.unsent, batch.inputs, threads);
  const failed = error instanceof Error ? error : reviveLoose(error);
  if (isCloneError(failed)) return unsendable(failed, batch.inputs, threads);
  if (!threads && batch.child === undefined) {
    // Process runtime, never handed to a child: the host's own clone of the task (into the port
    // it relays from) may have thrown, a getter of an input say. Then an input is at fault.
    const blamed = culprits(batch.inputs, true);
    if (blamed.size > 0) return { type: 'unsendable', blamed };
  }
  // No worker can start: the batch fails, rather than waiting for a worker again and again.
  if (host.isStartError(failed)) return { type: 'crashed', error: failed, position: undefined };
  // Its worker died while it waited behind another batch: it never ran, so it goes again.
  if (control && control.thread(row) === 0 && !arriving) return { type: 'lost' };
  const position = control && control.startedAt(row) !== 0 ? control.position(row) : undefined;
  return {
    type: 'crashed',
    error: crashError(failed),
    position: position !== undefined && position < batch.count ? position : undefined,
  };
}

/**
 * The outcome of a batch that ran; a reply that cannot be read fails the batch as a crash.
 * `retire`: the worker asked to be replaced (past `maxTasksPerWorker` or `recycleMemoryMb`).
 */
export function done(
  response: BatchResponse,
  batch: InFlightBatch,
  retire: (workerId: number) => void,
): BatchOutcome {
  try {
    const outcome = read(response, retire);
    // It answered the abort of its timeout: the item that ran past it fails as timed out.
    return batch.abortedFor === 'timeout' && outcome.type === 'done'
      ? { ...outcome, stopped: true }
      : outcome;
  } catch (error) {
    return {
      type: 'crashed',
      error: error instanceof Error ? error : reviveLoose(error),
      position: undefined,
    };
  }
}

function read(response: BatchResponse, retire: (workerId: number) => void): BatchOutcome {
  if (response.teardownError) reportTeardown(reviveError(response.teardownError));
  if (response.retire) retire(response.workerId);
  let failures: (ItemFailure | undefined)[] | null = null;
  if (response.failures) {
    failures = new Array(response.count);
    for (let i = 0; i < response.count; i++) {
      const wire = response.failures[i];
      if (wire) failures[i] = toFailure(wire);
    }
  }
  return {
    type: 'done',
    values: response.json === undefined ? response.values : JSON.parse(response.json),
    failures,
    count: response.count,
    ms: response.ms,
    workerId: response.workerId,
  };
}

/** An item's failure as the worker sent it. */
export function toFailure(wire: WireError): ItemFailure {
  const failure = {
    error: reviveError(wire),
    kind: 'threw' as const,
    retryable: wire.fatal === undefined,
  };
  return wire.hint === undefined ? failure : { ...failure, hint: wire.hint };
}

function isCloneError(error: Error): boolean {
  return error.name === 'DataCloneError' || /could not be cloned/.test(error.message);
}

/**
 * A batch that could not be sent: the items at fault fail, with why. When none can be named, a
 * lone item is at fault with `error`; a batch of several goes again one item a batch, to find it.
 * So nothing is sent again unchanged.
 */
export function unsendable(error: unknown, inputs: unknown[], shared: boolean): BatchOutcome {
  const blamed = culprits(inputs, shared);
  if (blamed.size === 0 && inputs.length === 1) {
    blamed.set(
      0,
      isCloneError(asError(error)) ? cloneError(asError(error).message) : asError(error),
    );
  }
  return { type: 'unsendable', blamed: blamed.size > 0 ? blamed : undefined };
}

/**
 * The inputs that cannot be sent, and why: a part that cannot be cloned (a `DataCloneError` that
 * names it), or what reading it threw (a getter that throws). `shared: false` for a child process.
 */
function culprits(inputs: unknown[], shared: boolean): Map<number, Error> {
  const blamed = new Map<number, Error>();
  for (let i = 0; i < inputs.length; i++) {
    try {
      const problem = findUncloneable(inputs[i], 'the input', { shared });
      if (problem) blamed.set(i, cloneError(`${problem}, so it cannot be sent to a worker`));
    } catch (thrown) {
      blamed.set(i, asError(thrown));
    }
  }
  return blamed;
}

function asError(value: unknown): Error {
  if (value instanceof Error) return value;
  let text: string;
  try {
    text = String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return new Error(text);
}

function cloneError(message: string): Error {
  const error = new Error(message);
  error.name = 'DataCloneError';
  return error;
}

function crashError(error: Error): Error {
  if ((error as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY') {
    error.message = `The worker ran out of memory (maxHeapMb): ${error.message}`;
  }
  return error;
}

/**
 * A teardown failed (threw, or ran past its limit): reported as a process warning, since the
 * worker is going and no item is to blame; `close()` goes on.
 */
export function reportTeardown(error: Error): void {
  process.emitWarning(error.message, { type: 'RxpoolTeardownWarning', detail: error.stack });
}
