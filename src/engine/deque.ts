/**
 * A double-ended queue: O(1) push and shift, and unshift at the front.
 *
 * Items live in chunks of up to 1024 slots, so a queue that grows long (the pages of a synchronous
 * source far ahead of the window) never copies them, nor makes one huge array for the garbage
 * collector to move. Chunks start at 8 slots and double, so a queue that holds one item
 * (`pool.run`) costs little. Unshifted items (a batch put back) sit in a stack in front.
 */
const FIRST_CHUNK = 8;
const CHUNK = 1024;

export class Deque<T> {
  private front: T[] = [];
  private chunks: (T | undefined)[][] = [];
  /** Next slot to read in `chunks[0]`. */
  private head = 0;
  /** Next slot to write in the last chunk (its length: a new chunk is needed). */
  private tail = 0;
  private size = 0;

  get length(): number {
    return this.front.length + this.size;
  }

  push(item: T): void {
    const { chunks } = this;
    let last = chunks[chunks.length - 1];
    if (last === undefined || this.tail === last.length) {
      last = new Array(last === undefined ? FIRST_CHUNK : Math.min(CHUNK, last.length * 2));
      chunks.push(last);
      this.tail = 0;
    }
    last[this.tail++] = item;
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
    } else if (this.head === chunk.length) {
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
    if (this.length === 0) return;
    this.front = [];
    this.chunks = [];
    this.head = 0;
    this.tail = 0;
    this.size = 0;
  }
}
