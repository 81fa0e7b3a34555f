/**
 * `pool.close()` while work is under way (issue 20, point 4), through every face, on both
 * runtimes: every result comes, and the process exits by itself once the work is done, never in
 * the middle. A `for await` loop over `pool.imap` / `imapSettled` that awaits `close()` before it
 * has taken every result (inside the loop, or between two parts of it) gets them all after
 * `close()` resolves; a loop that goes on beside a `close()` is waited for. Each case runs in a
 * child process (test/fixtures/close-midway.mjs), which prints what it got when it exits.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runNode } from '../support/child.js';
import { fixture } from './_helpers.js';

const T = { timeout: 120_000 };
const script = fileURLToPath(fixture('close-midway.mjs'));
const N = 40;
const expected = Array.from({ length: N }, (_, i) => i * 2);

const cases: readonly (readonly [face: string, pattern: string, title: string])[] = [
  ['imap', 'inside', 'the loop awaits close() after its first result, then takes the rest'],
  [
    'imap unordered',
    'inside',
    'the loop awaits close() after its first result, then takes the rest',
  ],
  ['imapSettled', 'inside', 'the loop awaits close() after its first result, then takes the rest'],
  ['imap', 'between', 'one result taken, close() awaited, then the rest taken'],
  ['imap unordered', 'between', 'one result taken, close() awaited, then the rest taken'],
  ['imapSettled', 'between', 'one result taken, close() awaited, then the rest taken'],
  ['imap', 'aside', 'close() awaited beside a loop that goes on: it waits for the loop'],
  ['imap unordered', 'aside', 'close() awaited beside a loop that goes on: it waits for the loop'],
  ['imapSettled', 'aside', 'close() awaited beside a loop that goes on: it waits for the loop'],
  ['run', 'before', 'close() awaited once the calls are made: it waits for them'],
  ['map', 'before', 'close() awaited once the call is made: it waits for it'],
  ['parallelMap', 'before', 'close() awaited once subscribed: it waits for the stream'],
  ['parallelMap unordered', 'before', 'close() awaited once subscribed: it waits for the stream'],
  ['parallelSettle', 'before', 'close() awaited once subscribed: it waits for the stream'],
];

for (const runtime of ['thread', 'process'] as const) {
  // Each case is a process of its own that mostly waits for its pool to start: four at a time.
  describe(`close() while work is under way, runtime: '${runtime}'`, { concurrency: 4 }, () => {
    for (const [face, pattern, title] of cases) {
      it(`${face}: ${title}; every result comes, the process exits by itself`, T, async () => {
        const run = await runNode([script, face, pattern, runtime], { killAfterMs: 60_000 });
        assert.equal(run.signal, null, `the script hung and was killed; stderr: ${run.stderr}`);
        assert.equal(run.code, 0, `exit code ${run.code}; stderr: ${run.stderr}`);
        const printed = JSON.parse(run.stdout) as {
          count: number;
          values: number[];
          closedAfter: number;
        };
        assert.equal(printed.count, N, `${printed.count} of ${N} results came before the exit`);
        assert.deepEqual(printed.values, expected);
        // close() resolved: at once for the loops that wait for it, after the work for the others.
        if (pattern === 'inside' || pattern === 'between') assert.equal(printed.closedAfter, 1);
        else assert.equal(printed.closedAfter, N);
      });
    }
  });
}
