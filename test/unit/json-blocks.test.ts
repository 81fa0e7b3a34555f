/**
 * The worker side of `rxpool map`'s blocks (src/cli/task/json-blocks.ts, `jsonBlocks`): a
 * block's lines are cut as readline cuts them and all parsed before the first one runs, and what
 * a run shows is still line by line: lines run in order, each result is stringified as soon as
 * its task returns, failures come in line order, and with `stop` (`--on-error fail`) nothing
 * runs after the first failed line, whatever it is.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type BlockResult, jsonBlocks } from '../../src/cli/task/json-blocks.js';
import { WorkerContext } from '../../src/worker/context.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function runBlock(
  fn: (input: unknown) => unknown,
  text: string,
  stop: boolean,
): Promise<{ out: string; result: BlockResult }> {
  const result = (await jsonBlocks(fn, stop)(
    { bytes: encoder.encode(text) },
    new WorkerContext(1),
  )) as BlockResult;
  return { out: decoder.decode(result.bytes), result };
}

describe('jsonBlocks', () => {
  it('stringifies each result when its task returns, before the next line runs', async () => {
    // One object, changed by every call: written as it was when each line's task returned.
    const shared = { calls: 0 };
    const { out } = await runBlock(
      () => {
        shared.calls++;
        return shared;
      },
      '1\n2\n3\n',
      false,
    );
    assert.equal(out, '{"calls":1}\n{"calls":2}\n{"calls":3}\n');
  });

  it('stop: a task failure before a line that is not JSON is the one failure, and ends the block', async () => {
    const ran: unknown[] = [];
    const fn = (input: unknown) => {
      ran.push(input);
      if (input === 2) throw new RangeError('two');
      return input;
    };
    const { out, result } = await runBlock(fn, '1\n2\n{oops\n4\n', true);
    assert.equal(out, '1\n');
    assert.deepEqual(ran, [1, 2]);
    assert.equal(result.failures?.length, 1);
    assert.equal(result.failures?.[0]?.line, 2);
    assert.equal(result.failures?.[0]?.error?.name, 'RangeError');
    assert.equal(result.lines, 4);
  });

  it('stop: a line that is not JSON ends the block before the lines after it run', async () => {
    const ran: unknown[] = [];
    const { out, result } = await runBlock((input) => ran.push(input), '1\n\n[2\n3\n', true);
    assert.deepEqual(ran, [1]);
    assert.equal(out, '1\n');
    assert.equal(result.failures?.length, 1);
    assert.equal(result.failures?.[0]?.line, 3);
    assert.match(result.failures?.[0]?.notJson ?? '', /JSON/);
    assert.equal(result.done, 2);
  });

  it('without stop: every failure in line order, the task never called on a bad line', async () => {
    const ran: unknown[] = [];
    const fn = async (input: unknown) => {
      ran.push(input);
      if (input === 4) throw new Error('four');
      return { n: input };
    };
    const { out, result } = await runBlock(fn, '1\nnope\n\n4\n5', false);
    assert.deepEqual(ran, [1, 4, 5]);
    assert.equal(out, '{"n":1}\n{"n":5}\n');
    assert.deepEqual(
      result.failures?.map((f) => [f.line, f.notJson === undefined ? f.error?.message : 'notJson']),
      [
        [2, 'notJson'],
        [4, 'four'],
      ],
    );
    assert.equal(result.done, 4);
    assert.equal(result.lines, 5);
  });

  it('matches a loop that parses, runs and stringifies line by line, for any lines', async () => {
    const line = fc.oneof(
      fc.json(),
      fc.constantFrom('', '  ', '\t', '{', 'nope', '[1,', '"\\u00e9"', '1 2'),
      fc.string(),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(line, { maxLength: 30 }), fc.boolean(), async (given, stop) => {
        const lines = given.map((l) => l.replace(/[\r\n]/g, ' '));
        const fn = (input: unknown) =>
          typeof input === 'number' && input > 1000 ? Promise.resolve([input]) : { input };
        // the loop a user writes, which stops at the first failure with `stop`
        let want = '';
        const failed: number[] = [];
        for (let i = 0; i < lines.length; i++) {
          if (lines[i]!.trim() === '') continue;
          let input: unknown;
          try {
            input = JSON.parse(lines[i]!);
          } catch {
            failed.push(i + 1);
            if (stop) break;
            continue;
          }
          want += `${JSON.stringify(await fn(input))}\n`;
        }
        const { out, result } = await runBlock(fn, lines.join('\n'), stop);
        assert.equal(out, want);
        assert.deepEqual(result.failures?.map((f) => f.line) ?? [], failed);
      }),
    );
  });

  it('cuts bytes in shared memory as readline cuts their text: any Unicode, any line ends, a byte order mark, bytes that are not UTF-8', async () => {
    const text = fc.string({ unit: 'binary', maxLength: 12 });
    const value = fc.oneof(
      text,
      fc.json({ maxDepth: 2 }).map((json) => JSON.parse(json)),
    );
    const line = fc.oneof(
      value.map((v) => JSON.stringify(v)),
      text.map((t) => t.replace(/[\r\n]/g, ' ')),
    );
    const end = fc.constantFrom('\n', '\r\n', '\r');
    const bad = fc.constantFrom([0xff], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80]);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(line, end, fc.option(bad, { nil: undefined })), { maxLength: 20 }),
        fc.boolean(),
        fc.boolean(),
        async (given, bom, lastEnd) => {
          const parts: Uint8Array[] = [];
          if (bom) parts.push(Uint8Array.of(0xef, 0xbb, 0xbf));
          given.forEach(([l, e, b], i) => {
            // a malformed sequence inside a JSON string, so that the line still parses
            if (b !== undefined)
              parts.push(encoder.encode('"'), Uint8Array.from(b), encoder.encode('"'));
            else parts.push(encoder.encode(l));
            if (i < given.length - 1 || lastEnd) parts.push(encoder.encode(e));
          });
          const bytes = new Uint8Array(
            new SharedArrayBuffer(parts.reduce((n, p) => n + p.length, 0)),
          );
          let at = 0;
          for (const part of parts) {
            bytes.set(part, at);
            at += part.length;
          }
          // readline's cut of the whole text (TextDecoder drops the byte order mark)
          const lines = decoder.decode(bytes).split(/\r?\n|\r/);
          if (lines.at(-1) === '') lines.pop();
          let want = '';
          const failed: number[] = [];
          for (const [i, l] of lines.entries()) {
            if (l.trim() === '') continue;
            try {
              want += `${JSON.stringify({ got: JSON.parse(l) })}\n`;
            } catch {
              failed.push(i + 1);
            }
          }
          const result = (await jsonBlocks((input) => ({ got: input }), false)(
            { bytes },
            new WorkerContext(1),
          )) as BlockResult;
          assert.equal(decoder.decode(result.bytes), want);
          assert.deepEqual(result.failures?.map((f) => f.line) ?? [], failed);
          assert.equal(result.lines, lines.length);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('many values a line (iterators; arrays with flat)', () => {
  // Each line: how many values, after how many it throws (or never), sync or async, array or not.
  const line = fc.record({
    n: fc.integer({ min: 0, max: 4 }),
    throwAt: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
    how: fc.constantFrom('generator', 'async generator', 'promised generator', 'array'),
  });
  type Line = { n: number; throwAt: number | undefined; how: string };

  const fn = (spec: unknown) => {
    const { n, throwAt, how, id } = spec as Line & { id: number };
    function* values() {
      for (let k = 0; k < n; k++) {
        if (k === throwAt) throw new Error(`line ${id} threw at ${k}`);
        yield { id, k };
      }
      if (throwAt !== undefined && throwAt >= n) throw new Error(`line ${id} threw at the end`);
    }
    async function* asyncValues() {
      yield* values();
    }
    if (how === 'async generator') return asyncValues();
    if (how === 'promised generator') return Promise.resolve(values());
    if (how === 'array') return [...values()];
    return values();
  };

  it('a line writes all its values or none; failures come in line order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(line, { maxLength: 12 }),
        fc.boolean(),
        fc.boolean(),
        async (lines, stop, flat) => {
          const text = lines.map((l, id) => `${JSON.stringify({ ...l, id })}\n`).join('');
          const result = (await jsonBlocks(
            fn,
            stop,
            flat,
          )({ bytes: encoder.encode(text) }, new WorkerContext(1))) as BlockResult;
          let expected = '';
          const failed: number[] = [];
          for (const [id, l] of lines.entries()) {
            if (l.throwAt !== undefined) {
              failed.push(id + 1);
              if (stop) break;
              continue;
            }
            const values = Array.from({ length: l.n }, (_, k) => JSON.stringify({ id, k }));
            if (l.how === 'array' && !flat) expected += `[${values.join(',')}]\n`;
            else for (const v of values) expected += `${v}\n`;
          }
          assert.equal(decoder.decode(result.bytes), expected);
          assert.deepEqual(
            (result.failures ?? []).map((f) => f.line),
            failed,
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a Map, a Set and a string stay one value; a value JSON cannot hold fails the line, closing the iterator', async () => {
    let closed = false;
    const result = (await jsonBlocks((input) => {
      if (input === 1) return new Set([1, 2]);
      if (input === 2) return 'text';
      return (function* () {
        try {
          yield 1;
          yield 2n;
        } finally {
          closed = true;
        }
      })();
    }, false)({ bytes: encoder.encode('1\n2\n3\n') }, new WorkerContext(1))) as BlockResult;
    assert.equal(decoder.decode(result.bytes), '{}\n"text"\n');
    assert.equal(result.failures?.[0]?.line, 3);
    assert.match(result.failures?.[0]?.unwritable ?? '', /BigInt/);
    assert.ok(closed);
  });
});
