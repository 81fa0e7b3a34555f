/**
 * Shared pieces of the integration tests: fixture URLs, and the main-thread half of the
 * SharedArrayBuffer + Atomics handshakes whose worker half is test/fixtures/sync.mjs.
 */
import assert from 'node:assert/strict';
import { afterEach } from 'node:test';
import { createPool, type Pool, TaskError, task } from 'rxpool';
import { within } from '../support/within.js';

/** Cells of the shared Int32Array. */
export const STARTED = 0;
export const RELEASE = 1;
export const ARRIVED = 2;
export const PULSE = 3;

export function fixture(name: string): URL {
  return new URL(`../fixtures/${name}`, import.meta.url);
}

export interface Hold {
  readonly shared: SharedArrayBuffer;
  readonly value: unknown;
}

export const hold = task<Hold, any>(fixture('sync.mjs'), 'hold');
export const spinForever = task<SharedArrayBuffer, never>(fixture('sync.mjs'), 'spinForever');
export const barrier = task<{ shared: SharedArrayBuffer; parties: number }, boolean>(
  fixture('sync.mjs'),
  'barrier',
);

/** A fresh block of shared cells, all 0. */
export function shared(): { shared: SharedArrayBuffer; cells: Int32Array } {
  const buffer = new SharedArrayBuffer(8 * Int32Array.BYTES_PER_ELEMENT);
  return { shared: buffer, cells: new Int32Array(buffer) };
}

type WaitAsync = (
  cells: Int32Array,
  index: number,
  value: number,
  timeout: number,
) => { async: boolean; value: Promise<string> | string };

/**
 * Resolves once `cells[index] >= atLeast`, woken by the worker's `Atomics.notify`; rejects after
 * `ms` so that a broken handshake fails the test instead of hanging it.
 */
export async function waitForCell(
  cells: Int32Array,
  index: number,
  atLeast: number,
  ms = 10_000,
): Promise<void> {
  const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;
  const deadline = Date.now() + ms;
  for (;;) {
    const current = Atomics.load(cells, index);
    if (current >= atLeast) return;
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new Error(`cell ${index} stayed at ${current} (waited for ${atLeast}) for ${ms} ms`);
    }
    const result = waitAsync(cells, index, current, left);
    if (result.async) await result.value;
  }
}

/** Lets every `hold` task return. */
export function release(cells: Int32Array): void {
  Atomics.store(cells, RELEASE, 1);
  Atomics.notify(cells, RELEASE);
}

export { within } from '../support/within.js';

/** Pools made by `newPool` in a test file are destroyed after each test. */
const pools: Pool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.destroy()));
});

/** A pool of `size` workers, destroyed after the current test. */
export function newPool(size: number): Pool {
  const pool = createPool({ size });
  pools.push(pool);
  return pool;
}

/** The pool still serves new work at once: `x * 2` of 21 is 42 within 10 s. */
export async function serves(pool: Pool): Promise<number> {
  return within(
    pool.run((x: number) => x * 2, 21),
    10_000,
    'pool.run',
  );
}

/** The TaskError that `promise` rejects with; fails the test if it resolves or rejects otherwise. */
export async function rejection(promise: Promise<unknown>): Promise<TaskError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TaskError, `expected a TaskError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the promise to reject');
}
