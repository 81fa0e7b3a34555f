/** How a failed line is told: on stderr (`--on-error fail` / `skip`) or in a settled record. */
import { TaskError, TaskTimeoutError, WorkerCrashedError } from '../../errors.js';
import { HOST_FRAMES, packagedWorkerFile } from '../../threads/worker-host.js';

/** `failed after 2 attempts: RangeError: too big`, or `not JSON: ...` for a line. */
export function describeFailure(error: Error): string {
  if (error instanceof SyntaxError) return `not JSON: ${error.message}`;
  if (!(error instanceof TaskError)) return `failed: ${error.message}`;
  const what =
    error instanceof TaskTimeoutError
      ? 'timed out'
      : error instanceof WorkerCrashedError
        ? 'lost its worker'
        : 'failed';
  const tries = error.attempts === 1 ? '1 attempt' : `${error.attempts} attempts`;
  return `${what} after ${tries}: ${error.cause.name}: ${error.cause.message}`;
}

/**
 * Where rxpool's own modules are (dist/, or the project's root when run from src/), found from the
 * worker side's file (a task's frames are the worker's): their frames say nothing about the task.
 * Not from this module's own URL: the command line runs bundled, one folder up from here.
 */
const OWN_CODE = new URL('../../', packagedWorkerFile).href;

/** The stack frames of the task's own code where it failed, indented, to print under a message. */
export function workerStack(error: Error): string {
  const stack = error instanceof TaskError ? error.cause.stack : undefined;
  const frames =
    stack
      ?.split('\n')
      .filter(
        (line) =>
          /^\s+at /.test(line) &&
          !line.includes(OWN_CODE) &&
          !line.includes(HOST_FRAMES) &&
          !line.includes('(node:'),
      ) ?? [];
  return frames.length > 0 ? `\n${frames.join('\n')}` : '';
}

/**
 * An error as JSON: `name`, `message`, its own enumerable properties (a `TaskError`'s `attempts`,
 * a cause's `code`...) and its `cause`, without stacks. `index` and `input` are left out of the
 * top level: the settled line has them already.
 */
export function errorJson(error: Error, top = true): Record<string, unknown> {
  const json: Record<string, unknown> = { name: error.name, message: error.message };
  for (const [key, value] of Object.entries(error)) {
    if (key === 'stack' || key === 'cause' || (top && (key === 'index' || key === 'input'))) {
      continue;
    }
    json[key] = value;
  }
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof Error) json.cause = errorJson(cause, false);
  else if (cause !== undefined) json.cause = cause;
  return json;
}

/** A JSON replacer for error properties: a bigint becomes its digits rather than a throw. */
export function safe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
