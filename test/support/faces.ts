/**
 * Every face of a pool, run the same way: `run`, `map`, `imap` (ordered and not), `imapSettled`,
 * `parallelMap` (ordered and not) and `parallelSettle`, each over the same inputs, with what came
 * out in one shape, so that a table-driven test can hold a fault to every face. A face that fails
 * fast gives the results it emitted before its error and that error; a settling face gives every
 * failure. Anything thrown that is not a `TaskError` rejects.
 */
import { from, lastValueFrom, tap, toArray } from 'rxjs';
import { type ParallelOptions, type Pool, type Task, TaskError } from 'rxpool';
import { parallelMap, parallelSettle } from 'rxpool/operators';

export const FACES = [
  'run',
  'map',
  'imap',
  'imap unordered',
  'imapSettled',
  'parallelMap',
  'parallelMap unordered',
  'parallelSettle',
] as const;

export type Face = (typeof FACES)[number];

export interface FaceResult {
  /** The values that came out, in the order they came (for `run`: those that resolved). */
  readonly values: unknown[];
  /** The failures: the one that ended a fast-failing face, or every failed item. */
  readonly failures: TaskError[];
}

type Options = Omit<ParallelOptions<unknown>, 'pool' | 'ordered'>;

function asTaskError(error: unknown): TaskError {
  if (error instanceof TaskError) return error;
  throw error;
}

/** Runs `inputs` through `work` on `pool` by way of `face`. */
export async function through<In>(
  face: Face,
  pool: Pool,
  work: Task<In, unknown> | ((input: In) => unknown),
  inputs: readonly In[],
  options: Options = {},
): Promise<FaceResult> {
  const values: unknown[] = [];
  const failures: TaskError[] = [];
  const settled = (s: { ok: boolean; value?: unknown; error?: unknown }) => {
    if (s.ok) values.push(s.value);
    else failures.push(asTaskError(s.error));
  };
  const w = work as Task<unknown, unknown>;
  switch (face) {
    case 'run': {
      const { timeout, retry } = options;
      const runs = await Promise.allSettled(
        inputs.map((input) => pool.run(w, input, { timeout, retry } as never)),
      );
      for (const r of runs)
        settled(
          r.status === 'fulfilled' ? { ok: true, value: r.value } : { ok: false, error: r.reason },
        );
      break;
    }
    case 'map':
      try {
        values.push(...(await pool.map(w, inputs, options)));
      } catch (error) {
        failures.push(asTaskError(error));
      }
      break;
    case 'imap':
    case 'imap unordered':
      try {
        for await (const value of pool.imap(w, inputs, { ...options, ordered: face === 'imap' })) {
          values.push(value);
        }
      } catch (error) {
        failures.push(asTaskError(error));
      }
      break;
    case 'imapSettled':
      for await (const s of pool.imapSettled(w, inputs, options)) settled(s);
      break;
    case 'parallelMap':
    case 'parallelMap unordered':
      try {
        await lastValueFrom(
          from(inputs).pipe(
            parallelMap(w, { ...options, pool, ordered: face === 'parallelMap' }),
            tap((value) => values.push(value)),
            toArray(),
          ),
        );
      } catch (error) {
        failures.push(asTaskError(error));
      }
      break;
    case 'parallelSettle':
      await lastValueFrom(
        from(inputs).pipe(parallelSettle(w, { ...options, pool }), tap(settled), toArray()),
      );
      break;
  }
  return { values, failures };
}
