/**
 * Per-key order (the `key` option, as Akka's `mapAsyncPartitioned`): items with the same key run
 * one at a time, in source order; items with different keys run in parallel.
 *
 * Each key has a *turn*: the item that holds it may run (and run again, when it is retried); the
 * key's later items wait in its *line*, in source order, off the engine's queue. The turn passes
 * to the next in line only when its holder is final (succeeded, or failed after its retries), so
 * two items of one key never run at once, never share a batch, and a retried item's successors
 * wait for it. The engine asks `enter` for each admitted item and calls `leave` for each item
 * that became final; it keeps the window, so `concurrency` still bounds what is taken from the
 * source, held items included. No workers, no clock: pure bookkeeping.
 */
import { Deque } from './deque.js';

/** What the `key` option returns: items whose keys are equal (SameValueZero) share a turn. */
export type Key = string | number;

/** An item that waits in a key's line; `first` is its index in the source. */
export interface Waiter {
  readonly first: number;
}

export class KeyLines<T extends Waiter> {
  /** Keys whose turn is held, and the items waiting behind the holder (oldest first). */
  private readonly lines = new Map<Key, Deque<T>>();
  /** Source index of each item that holds a turn, and its key. */
  private readonly holders = new Map<number, Key>();

  constructor(private readonly keyOf: (input: any) => Key) {}

  /** Items that hold a turn (running, queued, or waiting for a retry). */
  get holding(): number {
    return this.holders.size;
  }

  /**
   * The key of an input, or the error that makes its item fail alone: what the function threw
   * (the option's check throws a `TypeError` for a key that is neither a string nor a number).
   */
  key(input: unknown): Key | Error {
    try {
      return this.keyOf(input);
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  }

  /** Item `index` takes its key's turn if it is free (true); otherwise it must `wait` (false). */
  claim(key: Key, index: number): boolean {
    if (this.lines.has(key)) return false;
    this.lines.set(key, new Deque<T>());
    this.holders.set(index, key);
    return true;
  }

  /** Puts an item whose `claim` failed at the end of its key's line. */
  wait(key: Key, item: T): void {
    this.lines.get(key)!.push(item);
  }

  /**
   * Item `index` is final: its key's turn passes to the next item in line, which is returned (it
   * may run now). An item that holds no turn (its key failed) returns `undefined`.
   */
  leave(index: number): T | undefined {
    const key = this.holders.get(index);
    if (key === undefined) return undefined;
    this.holders.delete(index);
    const line = this.lines.get(key)!;
    const next = line.shift();
    if (next === undefined) {
      this.lines.delete(key);
      return undefined;
    }
    this.holders.set(next.first, key);
    return next;
  }

  /** Forgets every key (the stream stopped). */
  clear(): void {
    this.lines.clear();
    this.holders.clear();
  }
}
