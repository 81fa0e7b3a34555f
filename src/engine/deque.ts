/**
 * A double-ended queue: O(1) push and shift, and unshift at the front.
 *
 * Items live in fixed chunks of 1024 slots, so a queue that grows to hundreds of thousands of
 * items (a synchronous source far ahead of the window) never copies them, nor makes one huge array
 * for the garbage collector to move. Unshifted items (a batch put back) sit in a stack in front.
 */
const CHUNK = 1024;

export class Deque<T> {
  private front: T[] = [];
  private chunks: (T | undefined)[][] = [];
  /** Next slot to read in `chunks[0]`. */
  private head = 0;
  /** Next slot to write in the last chunk. */
  private tail = CHUNK;
  private size = 0;

  get length(): number {
    return this.front.length + this.size;
  }

  push(item: T): void {
    if (this.tail === CHUNK) {
      this.chunks.push(new Array(CHUNK));
      this.tail = 0;
    }
    this.chunks[this.chunks.length - 1]![this.tail++] = item;
    this.size++;
  }

  unshift(item: T): void {
    this.front.push(item);
  }

  shift(): T | undefined {
    if (this.front.length > 0) return this.front.pop();
    if (this.size === 0) return undefined;
    const chunk = this.chunks[0]!;
    const item = chunk[this.head];
    chunk[this.head++] = undefined;
    if (--this.size === 0) {
      // Empty: start over in the first chunk.
      this.chunks.length = 1;
      this.head = 0;
      this.tail = 0;
    } else if (this.head === CHUNK) {
      this.chunks.shift();
      this.head = 0;
    }
    return item;
  }

  peek(): T | undefined {
    if (this.front.length > 0) return this.front[this.front.length - 1];
    return this.size === 0 ? undefined : this.chunks[0]![this.head];
  }

  clear(): void {
    this.front = [];
    this.chunks = [];
    this.head = 0;
    this.tail = CHUNK;
    this.size = 0;
  }
}
