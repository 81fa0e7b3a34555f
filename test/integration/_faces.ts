/**
 * Every face of the pool, behind one signature, so that a test can check one behaviour through
 * all of them: `run` (one call per item), `map`, `imap` ordered and not, `imapSettled`,
 * `parallelMap` ordered and not, `parallelSettle`. Each run is bounded by `within`, so a hang
 * fails the test.
 */
import { from, lastValueFrom, toArray } from 'rxjs';
import type { ParallelOptions, Pool, Settled, Work } from 'rxpool';
import { parallelMap, parallelSettle } from 'rxpool/operators';
import { within } from './_helpers.js';

export type FaceName =
  | 'run'
  | 'map'
  | 'imap'
  | 'imap unordered'
  | 'imapSettled'
  | 'parallelMap'
  | 'parallelMap unordered'
  | 'parallelSettle';

export const FACES: readonly FaceName[] = [
  'run',
  'map',
  'imap',
  'imap unordered',
  'imapSettled',
  'parallelMap',
  'parallelMap unordered',
  'parallelSettle',
];

/** What a face gave. */
export interface FaceResult<Out> {
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

type Options = Omit<ParallelOptions<unknown>, 'pool' | 'ordered'>;

/** Runs `inputs` through `work` on `pool` by `face`, within `ms`. */
export function runFace<In, Out>(
  face: FaceName,
  pool: Pool,
  work: Work<In, Out>,
  inputs: readonly In[],
  options: Options = {},
  ms = 30_000,
): Promise<FaceResult<Out>> {
  return within(collect(face, pool, work, inputs, options as never), ms, face);
}

async function collect<In, Out>(
  face: FaceName,
  pool: Pool,
  work: Work<In, Out>,
  inputs: readonly In[],
  options: ParallelOptions<In>,
): Promise<FaceResult<Out>> {
  const values: Out[] = [];
  const errors: unknown[] = [];
  const unordered = face.endsWith('unordered');
  const result = (settles: boolean) => ({
    values,
    errors,
    settles,
    ordered: !unordered,
    all: face === 'map',
  });
  const fromSettled = (all: Settled<In, Out>[]) => {
    for (const s of all) {
      if (s.ok) values.push(s.value);
      else errors.push(s.error);
    }
    return result(true);
  };
  switch (face) {
    case 'run': {
      // One call after the other, as a program that runs items one at a time would.
      const { signal, timeout, retry, transfer } = options;
      const runOptions = { signal, timeout, retry, transfer } as never;
      for (const input of inputs) {
        try {
          values.push((await pool.run(work, input, runOptions)) as Out);
        } catch (error) {
          errors.push(error);
        }
      }
      return result(true);
    }
    case 'map':
      try {
        values.push(...((await pool.map(work, inputs, options as never)) as Out[]));
      } catch (error) {
        errors.push(error);
      }
      return result(false);
    case 'imap':
    case 'imap unordered':
      try {
        for await (const value of pool.imap(work, inputs, { ...options, ordered: !unordered })) {
          values.push(value as Out);
        }
      } catch (error) {
        errors.push(error);
      }
      return result(false);
    case 'imapSettled': {
      const all: Settled<In, Out>[] = [];
      for await (const s of pool.imapSettled(work, inputs, options)) {
        all.push(s as Settled<In, Out>);
      }
      return fromSettled(all);
    }
    case 'parallelMap':
    case 'parallelMap unordered':
      await new Promise<void>((resolve) => {
        from(inputs)
          .pipe(parallelMap(work, { ...options, pool, ordered: !unordered }))
          .subscribe({
            next: (value) => values.push(value as Out),
            error: (error: unknown) => {
              errors.push(error);
              resolve();
            },
            complete: resolve,
          });
      });
      return result(false);
    case 'parallelSettle':
      return fromSettled(
        (await lastValueFrom(
          from(inputs).pipe(parallelSettle(work, { ...options, pool }), toArray()),
        )) as Settled<In, Out>[],
      );
  }
}
