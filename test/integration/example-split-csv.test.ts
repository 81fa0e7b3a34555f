/**
 * Smoke test of examples/split-csv: the command line splits small generated files on the workers
 * and prints totals that agree with one thread's; the worker-side generator streams records and
 * closes its file when the stream stops early.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { from, lastValueFrom, take, toArray } from 'rxjs';
import { createPool, task } from 'rxpool';
import { parallelFlatMap } from 'rxpool/operators';
import { writeSales } from '../../examples/split-csv/generate.js';
import type { Sale } from '../../examples/split-csv/records.js';
import {
  sameTotals,
  totalsOnOneThread,
  totalsOnWorkers,
} from '../../examples/split-csv/split-csv.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rxpool-split-csv-'));
const pool = createPool({ size: 2 });
after(async () => {
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
});

test('main.ts prints the totals of every record, the same as one thread', async () => {
  const { stdout } = await run(
    process.execPath,
    [
      '--import',
      'tsx',
      'examples/split-csv/main.ts',
      ...['--files', '3', '--rows', '5000', '--dir', join(dir, 'cli')],
    ],
    { cwd: root, timeout: 120_000 },
  );
  assert.match(stdout, /^records: 15,000$/m);
  assert.match(stdout, /first record after \d+\.\d ms/);
  assert.match(stdout, /^speedup: \d+\.\d\dx over one thread$/m);
  assert.equal(stdout.match(/^ {2}\w+ +[\d,]+ units/gm)?.length, 5);
});

test('totalsOnWorkers agrees with one thread, record for record', async () => {
  const files = await writeSales(join(dir, 'lib'), { files: 5, rows: 3000, seed: 3 });
  const [workers, alone] = await Promise.all([
    totalsOnWorkers(files, pool),
    totalsOnOneThread(files),
  ]);
  assert.equal(workers.records, 15_000);
  assert.ok(sameTotals(workers, alone));
});

test('records come in file order with ordered: true, and take(n) stops the reading', async () => {
  const files = await writeSales(join(dir, 'order'), { files: 2, rows: 10_000, seed: 4 });
  const records = task<string, AsyncIterable<Sale>>(
    new URL('../../examples/split-csv/records.ts', import.meta.url),
    'records',
  );
  const first = await lastValueFrom(
    from(files).pipe(parallelFlatMap(records, { pool }), take(5), toArray()),
  );
  const expected: Sale[] = [];
  for await (const sale of (await import('../../examples/split-csv/records.js')).records(
    files[0]!,
  )) {
    expected.push(sale);
    if (expected.length === 5) break;
  }
  assert.deepEqual(first, expected);
  // The pool goes on at once: the stopped generators' files were closed in their workers.
  assert.equal(await pool.run((x: number) => x * 2, 21), 42);
});
