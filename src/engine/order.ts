/**
 * The order of emission. Ordered: every admitted chunk in source order, a list through
 * `Chunk.next`, emitted from its head as the head is done. Unordered: the chunks with something
 * to emit, in the order they finished. The emission loops live here, one for plain items and one
 * for flat items (whose values come while they run); what an emission does to the window, the
 * counts and the face is the engine's, through an {@link Outlet}.
 */
import type { TaskError } from '../errors.js';
import { type Chunk, DONE } from './chunk.js';
import type { Clock } from './clock.js';
import { Deque } from './deque.js';

/** What the emission loops call back. */
export interface Outlet<In> {
  /**
   * Emission stops while this is true (paused, or stopped by a hook). A field the engine keeps,
   * not a call: the loops read it after every item.
   */
  halted: boolean;
  /** Item `index` succeeded: it leaves the window, and its value goes out. */
  done(value: unknown, index: number, input: In): void;
  /** Item `index` leaves the window; `error`: it failed for good, and goes out so. */
  left(index: number, error: TaskError<In> | undefined): void;
  /** A value of flat item `index` goes out (the item stays in the window until it `left`). */
  value(value: unknown, index: number, input: In): void;
}

export class Order<In> {
  /** Admitted and not emitted, in source order (ordered mode). */
  private head: Chunk<In> | undefined;
  private tail: Chunk<In> | undefined;
  /** Finished and not emitted, in completion order (unordered mode). */
  private readonly finished = new Deque<Chunk<In>>();

  constructor(readonly ordered: boolean) {}

  /** A chunk was admitted, the last in source order. */
  add(chunk: Chunk<In>): void {
    if (!this.ordered) return;
    if (this.tail) this.tail.next = chunk;
    else this.head = chunk;
    this.tail = chunk;
  }

  /** Cuts `chunk` after its first `k` items (`Chunk.cut`): the rest takes its place after it. */
  cut(chunk: Chunk<In>, k: number): Chunk<In> {
    const rest = chunk.cut(k, this.ordered);
    if (this.tail === chunk) this.tail = rest;
    return rest;
  }

  /** Unordered mode: the chunk has something to emit (it joins the deque once). */
  ready(chunk: Chunk<In>): void {
    if (this.ordered) return;
    const { flat } = chunk;
    if (flat) {
      if (flat.ready) return;
      flat.ready = true;
    }
    this.finished.push(chunk);
  }

  /** Forgets every chunk (the stream stopped). */
  clear(): void {
    this.head = undefined;
    this.tail = undefined;
    this.finished.clear();
  }

  /** The chunk whose items go out next. */
  private peek(): Chunk<In> | undefined {
    return this.ordered ? this.head : this.finished.peek();
  }

  /** The chunk at the head leaves. */
  private shift(): void {
    if (this.ordered) {
      this.head = this.head!.next;
      if (!this.head) this.tail = undefined;
    } else {
      this.finished.shift();
    }
  }

  /** Emits what is ready; returns whether anything was emitted. */
  emit(outlet: Outlet<In>): boolean {
    let emitted = false;
    while (!outlet.halted) {
      const chunk = this.peek();
      if (!chunk || chunk.state < DONE) break;
      emitted = true;
      // The chunk's items go one after the other, until it is done or a hook pauses or cancels.
      const { inputs, lo, first } = chunk;
      const last = chunk.length - 1;
      const error = chunk.state === DONE ? undefined : chunk.error!;
      const values = chunk.values!;
      const at = chunk.at;
      do {
        const k = chunk.emitted++;
        // Its last item: the chunk leaves before the hook runs (which may push or cancel).
        if (k === last) this.shift();
        const input = inputs[lo + k]!;
        inputs[lo + k] = undefined as In;
        if (error === undefined) outlet.done(values[at + k], first + k, input);
        else outlet.left(first + k, error);
      } while (chunk.emitted <= last && !outlet.halted);
    }
    return emitted;
  }

  /**
   * Emits what is ready of a flat stream: the values that came, one item after the other in source
   * order (ordered: only the head item's, while those behind it gather theirs, up to their mark),
   * or as they came (unordered); an item leaves the window once it ended and all its values are out.
   */
  emitFlat(outlet: Outlet<In>, clock: Clock): boolean {
    const { ordered } = this;
    let emitted = false;
    while (!outlet.halted) {
      const chunk = this.peek();
      if (!chunk) break;
      const flat = chunk.flat!;
      if (flat.pending > 0) {
        emitted = true;
        const value = flat.take(clock);
        outlet.value(value, chunk.first, chunk.inputs[chunk.lo]!);
        continue;
      }
      if (chunk.state < DONE) {
        // Running (or queued again) with nothing to emit now.
        if (ordered) break;
        this.finished.shift();
        flat.ready = false;
        continue;
      }
      emitted = true;
      this.shift();
      if (!ordered) flat.ready = false;
      chunk.inputs[chunk.lo] = undefined as In;
      outlet.left(chunk.first, chunk.state === DONE ? undefined : chunk.error!);
    }
    return emitted;
  }
}
