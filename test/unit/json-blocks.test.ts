/**
 * The worker side of `rxpool map`'s blocks (src/worker/lines.ts, `jsonBlocks`): a block's lines
 * are all parsed before the first one runs, and what a run shows is still line by line: lines run
 * in order, each result is stringified as soon as its task returns, failures come in line order,
 * and with `stop` (`--on-error fail`) nothing runs after the first failed line, whatever it is.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { WorkerContext } from '../../src/worker/context.js';
import { type BlockResult, jsonBlocks } from '../../src/worker/lines.js';

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
});
