/**
 * The test suite's runner (`npm run test:run`): every test file under test/unit and
 * test/integration, or the files named on the command line, each in a process of its own
 * (node:test's `run()`), two files at a time, the long ones first so that the short ones fill in
 * beside them rather than leave one long file running alone at the end. The output is
 * test/support/reporter.mjs's: each failure in full, then a summary.
 *
 *   node --import tsx scripts/test.mjs [files...]
 *
 * `RXPOOL_TEST_CONCURRENCY` sets how many files run at once (default 2; 1 runs them one by one).
 * The test files get this process's node options (`--import tsx`).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { run } from 'node:test';
import quiet from '../test/support/reporter.mjs';

/**
 * The files that take longest (a child process that builds dist/, the benchmarks' quick mode,
 * fault storms): started first. A file missing here only starts later; one that is gone is
 * skipped.
 */
const LONG = [
  'test/integration/examples-fresh-clone.test.ts',
  'test/integration/bench-smoke.test.ts',
  'test/integration/faults.test.ts',
  'test/integration/worker-faults.test.ts',
  'test/integration/close-midway.test.ts',
  'test/integration/keep-alive.test.ts',
  'test/integration/worker-lifecycle.test.ts',
  'test/integration/types-consumer.test.ts',
  'test/integration/bullmq-executor.test.ts',
  'test/integration/bullmq-worker.test.ts',
  'test/integration/bullmq-faults.test.ts',
];

function suite() {
  const files = ['test/unit', 'test/integration'].flatMap((dir) =>
    readdirSync(dir)
      .filter((name) => name.endsWith('.test.ts'))
      .sort()
      .map((name) => join(dir, name)),
  );
  const long = LONG.filter((file) => files.includes(file));
  return [...long, ...files.filter((file) => !long.includes(file))];
}

const named = process.argv.slice(2);
const concurrency = Number(process.env.RXPOOL_TEST_CONCURRENCY ?? 2);
if (!Number.isInteger(concurrency) || concurrency < 1) {
  throw new Error(
    `Expected \`RXPOOL_TEST_CONCURRENCY\` to be a whole number >= 1, got \`${process.env.RXPOOL_TEST_CONCURRENCY}\``,
  );
}

const stream = run({ files: named.length > 0 ? named : suite(), concurrency });
stream.on('test:fail', (data) => {
  if (!data.todo) process.exitCode = 1;
});
stream.compose(quiet).pipe(process.stdout);
