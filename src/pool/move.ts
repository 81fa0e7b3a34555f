import type { Transferable } from '../types.js';
import { MOVE_BRAND, type Moved } from './messages.js';

/**
 * Wraps a task's result so that the `ArrayBuffer`s in `transferList` move back to the main thread
 * instead of being copied. Use it in task code that runs in a worker.
 *
 * ## Example
 * ```ts
 * export default function render(tile) {
 *   const pixels = new Uint8Array(tile.width * tile.height * 4);
 *   // ... fill pixels ...
 *   return move({ tile, pixels }, [pixels.buffer]);
 * }
 * ```
 *
 * @param value The result.
 * @param transferList The buffers (or ports) to move; they are unusable in the worker afterwards.
 */
export function move<T>(value: T, transferList: readonly Transferable[]): Moved<T> & T {
  if (!Array.isArray(transferList)) {
    throw new TypeError('Expected `transferList` to be an array of ArrayBuffers or MessagePorts');
  }
  return { [MOVE_BRAND]: true, value, transferList } as Moved<T> & T;
}
