/**
 * The engine's policy for per-key order (the `key` option, Akka's `mapAsyncPartitioned`): items
 * with the same key run one at a time, in source order, and items with different keys run in
 * parallel. An item whose key is busy waits here, in its key's line, instead of in the engine's
 * queue; when the item before it is done for good (succeeded, or failed after its retries), it
 * joins the queue. The engine keeps order and emission as for any item: with `ordered: false`,
 * each key's results still come in its source order, because its items finish one after another.
 */
export class KeyLines<C> {
  /** The keys with an item out (running, queued or retrying), and who waits behind it. */
  private readonly lines = new Map<unknown, C[]>();

  /** `item` of `key` was admitted: `true` if it may go now; otherwise it waits its turn. */
  enter(key: unknown, item: C): boolean {
    const line = this.lines.get(key);
    if (line === undefined) {
      this.lines.set(key, []);
      return true;
    }
    line.push(item);
    return false;
  }

  /** The item out for `key` is done for good: the next of its line, which may go now. */
  leave(key: unknown): C | undefined {
    const line = this.lines.get(key);
    if (line === undefined) return undefined;
    const next = line.shift();
    if (next === undefined) this.lines.delete(key);
    return next;
  }

  clear(): void {
    this.lines.clear();
  }
}

/** A key as a Map key: `-0` and `0` are one key, as `===` says. */
export function keyOf(value: string | number): string | number {
  return value === 0 ? 0 : value;
}
