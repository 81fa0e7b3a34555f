/**
 * The order of emission (src/engine/order.ts): source order from the head of the list, or
 * completion order; a halted outlet stops between two items and the next call goes on from there;
 * cuts keep a chunk's rest in its place; flat items' values go out as they came.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Chunk, DONE, FAILED, RUNNING } from '../../src/engine/chunk.js';
import { FlatItem } from '../../src/engine/flat.js';
import { Order, type Outlet } from '../../src/engine/order.js';
import { TaskError } from '../../src/errors.js';

/** An outlet that records what went out, and halts after `stopAfter` outputs if set. */
class Recorder implements Outlet<string> {
  halted = false;
  readonly out: string[] = [];
  constructor(private stopAfter = Number.POSITIVE_INFINITY) {}
  private record(line: string): void {
    this.out.push(line);
    if (--this.stopAfter === 0) this.halted = true;
  }
  done(value: unknown, index: number, input: string): void {
    this.record(`${index}:${input}=${value}`);
  }
  left(index: number, error: TaskError<string> | undefined): void {
    this.record(error ? `${index}:failed` : `${index}:left`);
  }
  value(value: unknown, index: number): void {
    this.record(`${index}~${value}`);
  }
}

const clock = { now: () => 0, setTimeout: () => () => {} };

/** A chunk of inputs[from..to), indexes from `from`. */
function chunkOf(inputs: string[], from: number, to: number): Chunk<string> {
  return new Chunk(from, inputs, from, to, 0, 0);
}

function finish(chunk: Chunk<string>): void {
  chunk.state = DONE;
  chunk.values = chunk.inputs.slice(chunk.lo, chunk.hi).map((s) => s.toUpperCase());
  chunk.at = 0;
}

describe('Order', () => {
  it('ordered: emits from the head only, in source order, whatever finished first', () => {
    const inputs = ['a', 'b', 'c', 'd'];
    const order = new Order<string>(true);
    const first = chunkOf(inputs, 0, 2);
    const second = chunkOf(inputs, 2, 4);
    order.add(first);
    order.add(second);
    const outlet = new Recorder();
    finish(second);
    order.ready(second);
    assert.equal(order.emit(outlet), false);
    assert.deepEqual(outlet.out, []);
    finish(first);
    assert.equal(order.emit(outlet), true);
    assert.deepEqual(outlet.out, ['0:a=A', '1:b=B', '2:c=C', '3:d=D']);
    // Emitted inputs are let go.
    assert.deepEqual(inputs, [undefined, undefined, undefined, undefined]);
  });

  it('unordered: emits in the order chunks became ready', () => {
    const inputs = ['a', 'b', 'c'];
    const order = new Order<string>(false);
    const chunks = [chunkOf(inputs, 0, 1), chunkOf(inputs, 1, 2), chunkOf(inputs, 2, 3)];
    for (const chunk of chunks) order.add(chunk);
    const outlet = new Recorder();
    for (const k of [2, 0, 1]) {
      finish(chunks[k]!);
      order.ready(chunks[k]!);
    }
    order.emit(outlet);
    assert.deepEqual(outlet.out, ['2:c=C', '0:a=A', '1:b=B']);
  });

  it('a halted outlet stops between two items of a chunk; the next emit goes on from there', () => {
    const inputs = ['a', 'b', 'c'];
    const order = new Order<string>(true);
    const chunk = chunkOf(inputs, 0, 3);
    order.add(chunk);
    finish(chunk);
    const outlet = new Recorder(2);
    order.emit(outlet);
    assert.deepEqual(outlet.out, ['0:a=A', '1:b=B']);
    outlet.halted = false;
    order.emit(outlet);
    assert.deepEqual(outlet.out, ['0:a=A', '1:b=B', '2:c=C']);
    assert.equal(order.emit(outlet), false);
  });

  it('a failed chunk leaves with its error', () => {
    const inputs = ['a'];
    const order = new Order<string>(true);
    const chunk = chunkOf(inputs, 0, 1);
    order.add(chunk);
    chunk.state = FAILED;
    chunk.error = new TaskError({ index: 0, input: 'a', attempts: 1, cause: new Error('x') });
    const outlet = new Recorder();
    order.emit(outlet);
    assert.deepEqual(outlet.out, ['0:failed']);
  });

  it('cut: the rest follows its chunk in source order, and becomes the tail', () => {
    const inputs = ['a', 'b', 'c', 'd'];
    const order = new Order<string>(true);
    const chunk = chunkOf(inputs, 0, 4);
    order.add(chunk);
    const rest = order.cut(chunk, 1);
    assert.deepEqual([chunk.first, chunk.length, rest.first, rest.length], [0, 1, 1, 3]);
    assert.equal(chunk.next, rest);
    const last = order.cut(rest, 2);
    const after = chunkOf(inputs, 4, 4);
    order.add(after);
    assert.equal(last.next, after, 'a chunk added after the cut follows the rest');
    finish(last);
    finish(chunk);
    const outlet = new Recorder();
    order.emit(outlet);
    assert.deepEqual(outlet.out, ['0:a=A'], 'the middle part runs still: emission waits for it');
    finish(rest);
    order.emit(outlet);
    assert.deepEqual(outlet.out, ['0:a=A', '1:b=B', '2:c=C', '3:d=D']);
  });

  it('flat, ordered: the head item’s values go out as they came; the next waits its turn', () => {
    const inputs = ['a', 'b'];
    const order = new Order<string>(true);
    const [a, b] = [chunkOf(inputs, 0, 1), chunkOf(inputs, 1, 2)];
    for (const chunk of [a, b]) {
      chunk.flat = new FlatItem(8, 0);
      chunk.state = RUNNING;
      order.add(chunk);
    }
    b.flat!.add([10, 11], 0);
    a.flat!.add([1], 0);
    const outlet = new Recorder();
    assert.equal(order.emitFlat(outlet, clock), true);
    assert.deepEqual(outlet.out, ['0~1']);
    a.state = DONE;
    order.emitFlat(outlet, clock);
    assert.deepEqual(outlet.out, ['0~1', '0:left', '1~10', '1~11']);
    assert.deepEqual([a.flat!.emitted, b.flat!.emitted], [1, 2]);
  });

  it('flat, unordered: any ready item’s values go out; a running item drops out until ready again', () => {
    const inputs = ['a', 'b'];
    const order = new Order<string>(false);
    const [a, b] = [chunkOf(inputs, 0, 1), chunkOf(inputs, 1, 2)];
    for (const chunk of [a, b]) {
      chunk.flat = new FlatItem(8, 0);
      chunk.state = RUNNING;
      order.add(chunk);
    }
    b.flat!.add([10], 0);
    order.ready(b);
    order.ready(b);
    const outlet = new Recorder();
    order.emitFlat(outlet, clock);
    assert.deepEqual(outlet.out, ['1~10']);
    assert.equal(b.flat!.ready, false);
    a.flat!.add([1], 0);
    a.state = DONE;
    order.ready(a);
    order.emitFlat(outlet, clock);
    assert.deepEqual(outlet.out, ['1~10', '0~1', '0:left']);
  });
});
