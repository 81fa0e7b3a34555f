/** Every option is validated at once, with a message that says what was expected and what came. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parallelMap } from '../../operators/index.js';
import { createPool } from '../../src/pool/pool.js';
import { task } from '../../src/pool/task.js';

const inc = (x: number) => x + 1;

describe('option validation', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    [
      'concurrency 0',
      { concurrency: 0 },
      /^TypeError: Expected `concurrency` to be an integer from 1 up or `Infinity`, got `0` \(number\)$/,
    ],
    ['concurrency 1.5', { concurrency: 1.5 }, /`concurrency`.*got `1.5` \(number\)/],
    [
      'ordered string',
      { ordered: 'yes' },
      /^TypeError: Expected `ordered` to be a boolean, got `'yes'` \(string\)$/,
    ],
    [
      'batchSize 0',
      { batchSize: 0 },
      /^TypeError: Expected `batchSize` to be `'auto'` or an integer from 1 up, got `0`/,
    ],
    ['timeout -1', { timeout: -1 }, /^TypeError: Expected `timeout` to be a number of ms above 0/],
    ['retry -1', { retry: -1 }, /^TypeError: Expected `retry` to be an integer from 0 up/],
    [
      'retry.count',
      { retry: { count: 'x' } },
      /^TypeError: Expected `retry.count` to be an integer from 0 up, got `'x'`/,
    ],
    [
      'retry.backoff',
      { retry: { count: 1, backoff: 'linear' } },
      /`retry.backoff` to be `'fixed'` or `'exponential'`/,
    ],
    [
      'retry.delay',
      { retry: { count: 1, delay: -5 } },
      /`retry.delay` to be a number of ms from 0 up/,
    ],
    ['retry.retryIf', { retry: { count: 1, retryIf: true } }, /`retry.retryIf` to be a function/],
    ['retry unknown key', { retry: { count: 1, tries: 2 } }, /Unknown option `tries` for `retry`/],
    [
      'pool',
      { pool: {} },
      /^TypeError: Expected `pool` to be a Pool from createPool\(\), got an object \(Object\)$/,
    ],
    ['transfer', { transfer: [] }, /^TypeError: Expected `transfer` to be a function/],
    [
      'progress',
      { progress: true },
      /^TypeError: Expected `progress` to be a function \(progress\) => void, got `true` \(boolean\)$/,
    ],
    ['total', { total: -1 }, /^TypeError: Expected `total` to be an integer from 0 up, got `-1`/],
    [
      'key',
      { key: 'user' },
      /^TypeError: Expected `key` to be a function \(input\) => string \| number, got `'user'` \(string\)$/,
    ],
    [
      'unknown option',
      { concurency: 2 },
      /^TypeError: Unknown option `concurency` for parallelMap; the options are `ordered`/,
    ],
  ];
  for (const [name, options, message] of cases) {
    it(`parallelMap rejects ${name} at once`, () => {
      assert.throws(() => parallelMap(inc, options as never), message);
    });
  }

  it('parallelMap rejects work that is not a task or a function', () => {
    assert.throws(
      () => parallelMap(42 as never),
      /^TypeError: Expected `work` to be a task\(module, exportName\) or a function, got `42` \(number\)$/,
    );
  });

  it('parallelMap rejects a bound or built-in function, which has no source to ship', () => {
    assert.throws(() => parallelMap(Math.sqrt), /built-in or bound function/);
    assert.throws(() => parallelMap(inc.bind(null)), /built-in or bound function/);
  });

  it('a method shorthand is accepted (it is rewritten as a function)', () => {
    const obj = {
      square(n: number) {
        return n * n;
      },
    };
    assert.doesNotThrow(() => parallelMap(obj.square));
  });

  const poolCases: [string, Record<string, unknown>, RegExp][] = [
    [
      'size 0',
      { size: 0 },
      /^TypeError: Expected `size` to be an integer from 1 up, got `0` \(number\)$/,
    ],
    [
      'runtime',
      { runtime: 'fiber' },
      /^TypeError: Expected `runtime` to be `'thread'` or `'process'`, got `'fiber'`/,
    ],
    [
      'idleTimeout',
      { idleTimeout: -1 },
      /^TypeError: Expected `idleTimeout` to be a number of ms from 0 up/,
    ],
    [
      'maxTasksPerWorker',
      { maxTasksPerWorker: 0 },
      /^TypeError: Expected `maxTasksPerWorker` to be an integer from 1 up/,
    ],
    [
      'maxHeapMb',
      { maxHeapMb: 2 },
      /^TypeError: Expected `maxHeapMb` to be an integer number of MB from 8 up/,
    ],
    [
      'setup',
      { setup: 'x' },
      /^TypeError: Expected `setup` to be a task\(module, exportName\) or a function/,
    ],
    ['env', { env: 'A=1' }, /^TypeError: Expected `env` to be an object of strings, got `'A=1'`/],
    [
      'env value',
      { env: { A: 1 } },
      /^TypeError: Expected `env.A` to be a string, got `1` \(number\)$/,
    ],
    [
      'abortGrace',
      { abortGrace: -1 },
      /^TypeError: Expected `abortGrace` to be a number of ms from 0 up to 2147483647, got `-1` \(number\)$/,
    ],
    [
      'teardown',
      { teardown: 3 },
      /^TypeError: Expected `teardown` to be a task\(module, exportName\) or a function, got `3` \(number\)$/,
    ],
    [
      'recycleMemoryMb',
      { recycleMemoryMb: 0 },
      /^TypeError: Expected `recycleMemoryMb` to be a number of MB above 0, got `0` \(number\)$/,
    ],
    ['unknown', { workers: 2 }, /^TypeError: Unknown option `workers` for createPool/],
  ];
  for (const [name, options, message] of poolCases) {
    it(`createPool rejects ${name}`, () => {
      assert.throws(() => createPool(options as never), message);
    });
  }

  it('task() rejects a bare name, a missing file and an empty export name', () => {
    assert.throws(() => task('square.js'), /Expected the task module to be a path or a file: URL/);
    assert.throws(
      () => task('./no/such/module.js'),
      /Cannot find the task module \.\/no\/such\/module\.js/,
    );
    assert.throws(
      () => task(new URL('../fixtures/square.mjs', import.meta.url), ''),
      /Expected `exportName` to be a non-empty string/,
    );
  });
});
