/**
 * `move()`: the helper a task uses to send its result's buffers back without copying them.
 */
import type { Transferable } from '../types.js';
import { MOVE_BRAND } from './messages.js';

/**
 * Wraps a task's result so that the `ArrayBuffer`s in `transferList` move back to the main thread
 * instead of being copied. Use it in task code that runs in a worker.
 *
 * _Return a large buffer from a worker without copying it._
 *
 * The result itself is returned, carrying the list out of sight; the task can be called
 * directly too (in a test, or on the main thread) and gives the same value. The `transfer` option
 * does the same for inputs, on the way in.
 *
 * ## Example
 * ```ts
 * // render.js, run in the workers:
 * import { move } from 'rxpool';
 * export default function render(tile) {
 *   const pixels = new Uint8Array(tile.width * tile.height * 4);
 *   // ... fill pixels ...
 *   return move({ tile, pixels }, [pixels.buffer]);
 * }
 *
 * // main.js:
 * const render = task(new URL('../pool/render.js', import.meta.url));
 * const { pixels } = await pool.run(render, { width: 2, height: 2 });
 * console.log(pixels.length);
 * // Output:
 * // 16
 * ```
 *
 * @see {@link ParallelOptions.transfer}
 * @param value The result: an object (or typed array) that holds the buffers.
 * @param transferList The buffers (or ports) to move; they are unusable in the worker afterwards.
 * @returns `value` itself, marked to move its buffers.
 */
export function move<T extends object>(value: T, transferList: readonly Transferable[]): T {
  if (value === null || typeof value !== 'object') {
    throw new TypeError('Expected `value` to be an object (the result that holds the buffers)');
  }
  if (!Array.isArray(transferList)) {
    throw new TypeError('Expected `transferList` to be an array of ArrayBuffers or MessagePorts');
  }
  Object.defineProperty(value, MOVE_BRAND, {
    // Shared memory is not moved (postMessage refuses it in a transfer list).
    value: transferList.filter((item) => !(item instanceof SharedArrayBuffer)),
    enumerable: false,
    configurable: true,
  });
  return value;
}
