/** The error operators on Settled streams, in virtual time. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { of, Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
// The types of Settled streams come from rxpool/operators too, with the operators that use them.
import type { Failure, Settled } from '../../operators/index.js';
import {
  recoverFailures,
  routeFailures,
  skipFailures,
  throwFailures,
} from '../../operators/index.js';
import { TaskError } from '../../src/errors.js';

const failure = (index: number, input: string): Failure<string> => ({
  ok: false,
  index,
  input,
  error: new TaskError({ index, input, attempts: 1, cause: new Error(`bad ${input}`) }),
});
const values: Record<string, Settled<string, string>> = {
  a: { ok: true, index: 0, input: 'a', value: 'A' },
  x: failure(1, 'x'),
  b: { ok: true, index: 2, input: 'b', value: 'B' },
};

function scheduler() {
  return new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
}

describe('error operators', () => {
  it('skipFailures drops failures and reports each', () => {
    const reported: number[] = [];
    scheduler().run(({ cold, expectObservable }) => {
      const out = cold('axb|', values).pipe(skipFailures((f) => reported.push(f.index)));
      expectObservable(out).toBe('a-b|', { a: 'A', b: 'B' });
    });
    assert.deepEqual(reported, [1]);
  });

  it('throwFailures errors with the first failure', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const out = cold('axb|', values).pipe(throwFailures());
      expectObservable(out).toBe('a#', { a: 'A' }, values.x!.ok ? undefined : values.x!.error);
    });
  });

  it('recoverFailures puts a fallback in place of each failure', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const out = cold('axb|', values).pipe(recoverFailures((f) => `fallback ${f.input}`));
      expectObservable(out).toBe('axb|', { a: 'A', x: 'fallback x', b: 'B' });
    });
  });

  it('routeFailures sends failures to a dead-letter sink, which completes with the stream', () => {
    const dead = new Subject<Failure<string>>();
    const got: string[] = [];
    let completed = false;
    dead.subscribe({
      next: (f) => got.push(f.error.message),
      complete: () => {
        completed = true;
      },
    });
    const out: string[] = [];
    of(values.a!, values.x!, values.b!)
      .pipe(routeFailures<string, string>(dead))
      .subscribe((v) => out.push(v));
    assert.deepEqual(out, ['A', 'B']);
    assert.equal(got.length, 1);
    assert.match(got[0]!, /^Item 1 failed after 1 attempt: Error: bad x$/);
    assert.ok(completed);
  });

  it('routeFailures and recoverFailures validate their argument', () => {
    assert.throws(() => routeFailures(42 as never), /Expected `sink` to be an Observer/);
    assert.throws(() => recoverFailures(42 as never), /Expected `fallback` to be a function/);
  });
});
