/**
 * Every face of a pool, run the same way: `run`, `map`, `imap` (ordered and not), `imapSettled`,
 * `parallelMap` (ordered and not) and `parallelSettle`, each over the same inputs, with what came
 * out in one shape, so that a table-driven test can hold one behaviour (or one fault) to every
 * face. A face that fails fast gives the values it emitted before its error and that error; a
 * settling face gives every failure.
 *
 * Two ways in: {@link runFace} (the `run` face makes one call after the other, as a program that
 * runs items one at a time would; bounded by a time, so a hang fails the test; any error kept),
 * and {@link through} (the `run` face makes every call at once; anything thrown that is not a
 * `TaskError` rejects).
 */
import { from, lastValueFrom, toArray } from 'rxjs';
import {
  type ParallelOptions,
  type Pool,
  type Settled,
  type Task,
  TaskError,
  type Work,
} from 'rxpool';
import { parallelMap, parallelSettle } from 'rxpool/operators';
import { within } from './within.js';

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
/** The same as {@link Face}. */
export type FaceName = Face;

type Options = Omit<ParallelOptions<unknown>, 'pool' | 'ordered'>;

/** What a face gave, as {@link runFace} says it. */
export interface FaceOutcome<Out> {
  /** The values, in the order they came. */
  readonly values: Out[];
  /**
   * What failed: the stream's error for a face that stops at the first failure (`map`, `imap`,
   * `parallelMap`), every failed item's error for one that goes on (`run`, `imapSettled`,
   * `parallelSettle`).
   */
  readonly errors: unknown[];
  /** Whether the face goes on past a failure: every item that did not fail is in `values`. */
  readonly settles: boolean;
  /** Whether `values` come in input order. */
  readonly ordered: boolean;
  /** Whether a failure loses the values that came before it (`map` rejects with no values). */
  readonly all: boolean;
}

/** What a face gave, as {@link through} says it. */
export interface FaceResult {
  /** The values that came out, in the order they came (for `run`: those that resolved). */
  readonly values: unknown[];
  /** The failures: the one that ended a fast-failing face, or every failed item. */
  readonly failures: TaskError[];
}

/** Runs `inputs` through `work` on `pool` by `face`, within `ms`; `run` calls one at a time. */
export function runFace<In, Out>(
  face: Face,
  pool: Pool,
  work: Work<In, Out>,
  inputs: readonly In[],
  options: Options = {},
  ms = 30_000,
): Promise<FaceOutcome<Out>> {
  const unordered = face.endsWith('unordered');
  return within(
    collect(face, pool, work as Work<unknown, unknown>, inputs, options, false).then(
      ({ values, errors }) => ({
        values: values as Out[],
        errors,
        settles: face === 'run' || face === 'imapSettled' || face === 'parallelSettle',
        ordered: !unordered,
        all: face === 'map',
      }),
    ),
    ms,
    face,
  );
}

/** Runs `inputs` through `work` on `pool` by way of `face`; `run` makes every call at once. */
export async function through<In>(
  face: Face,
  pool: Pool,
  work: Task<In, unknown> | ((input: In) => unknown),
  inputs: readonly In[],
  options: Options = {},
): Promise<FaceResult> {
  const { values, errors } = await collect(
    face,
    pool,
    work as Work<unknown, unknown>,
    inputs,
    options,
    true,
  );
  return { values, failures: errors.map(asTaskError) };
}

function asTaskError(error: unknown): TaskError {
  if (error instanceof TaskError) return error;
  throw error;
}

async function collect(
  face: Face,
  pool: Pool,
  work: Work<unknown, unknown>,
  inputs: readonly unknown[],
  options: Options,
  together: boolean,
): Promise<{ values: unknown[]; errors: unknown[] }> {
  const values: unknown[] = [];
  const errors: unknown[] = [];
  const fromSettled = (all: readonly Settled<unknown, unknown>[]) => {
    for (const s of all) {
      if (s.ok) values.push(s.value);
      else errors.push(s.error);
    }
  };
  const ordered = !face.endsWith('unordered');
  switch (face) {
    case 'run': {
      const { signal, timeout, retry, transfer } = options;
      const runOptions = { signal, timeout, retry, transfer } as never;
      if (together) {
        const runs = await Promise.allSettled(
          inputs.map((input) => pool.run(work, input, runOptions)),
        );
        for (const r of runs) {
          if (r.status === 'fulfilled') values.push(r.value);
          else errors.push(r.reason);
        }
      } else {
        for (const input of inputs) {
          try {
            values.push(await pool.run(work, input, runOptions));
          } catch (error) {
            errors.push(error);
          }
        }
      }
      break;
    }
    case 'map':
      try {
        values.push(...(await pool.map(work, inputs, options as never)));
      } catch (error) {
        errors.push(error);
      }
      break;
    case 'imap':
    case 'imap unordered':
      try {
        for await (const value of pool.imap(work, inputs, { ...options, ordered })) {
          values.push(value);
        }
      } catch (error) {
        errors.push(error);
      }
      break;
    case 'imapSettled': {
      const all: Settled<unknown, unknown>[] = [];
      for await (const s of pool.imapSettled(work, inputs, options)) all.push(s);
      fromSettled(all);
      break;
    }
    case 'parallelMap':
    case 'parallelMap unordered':
      await new Promise<void>((resolve) => {
        from(inputs)
          .pipe(parallelMap(work, { ...options, pool, ordered }))
          .subscribe({
            next: (value) => values.push(value),
            error: (error: unknown) => {
              errors.push(error);
              resolve();
            },
            complete: resolve,
          });
      });
      break;
    case 'parallelSettle':
      fromSettled(
        await lastValueFrom(
          from(inputs).pipe(parallelSettle(work, { ...options, pool }), toArray()),
        ),
      );
      break;
  }
  return { values, errors };
}
