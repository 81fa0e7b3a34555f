/**
 * Splits CSV files into records in the workers and sums them on the main thread, as the records
 * stream in: `parallelFlatMap` over an async generator (records.ts). `main.ts` is the command line
 * around it.
 */
import { performance } from 'node:perf_hooks';
import { from, lastValueFrom, reduce, tap } from 'rxjs';
import { type Pool, task } from 'rxpool';
import { parallelFlatMap } from 'rxpool/operators';
import { records, type Sale } from './records.js';

const recordsTask = task<string, AsyncIterable<Sale>>(
  new URL('./records.ts', import.meta.url),
  'records',
);

/** Revenue (cents) and units by region, and how the records came. */
export interface Totals {
  readonly byRegion: Map<string, { cents: number; units: number }>;
  readonly records: number;
  /** When the first record reached the main thread, in ms from the start. */
  readonly firstRecordMs: number;
}

function add(totals: Map<string, { cents: number; units: number }>, sale: Sale) {
  const entry = totals.get(sale.region) ?? { cents: 0, units: 0 };
  entry.cents += sale.units * sale.cents;
  entry.units += sale.units;
  totals.set(sale.region, entry);
  return totals;
}

/**
 * The totals of `files`, each split into records in a worker; the records come as each worker
 * reads (in arrival order: a sum does not care), at most `highWaterMark` of a file's waiting here.
 */
export async function totalsOnWorkers(files: readonly string[], pool: Pool): Promise<Totals> {
  const started = performance.now();
  let firstRecordMs = Number.NaN;
  let count = 0;
  const byRegion = await lastValueFrom(
    from(files).pipe(
      parallelFlatMap(recordsTask, { pool, ordered: false, highWaterMark: 4096 }),
      tap(() => {
        if (count++ === 0) firstRecordMs = performance.now() - started;
      }),
      reduce(add, new Map<string, { cents: number; units: number }>()),
    ),
  );
  return { byRegion, records: count, firstRecordMs };
}

/** The same on the main thread alone, file after file. */
export async function totalsOnOneThread(files: readonly string[]): Promise<Totals> {
  const started = performance.now();
  let firstRecordMs = Number.NaN;
  let count = 0;
  const byRegion = new Map<string, { cents: number; units: number }>();
  for (const file of files) {
    for await (const sale of records(file)) {
      if (count++ === 0) firstRecordMs = performance.now() - started;
      add(byRegion, sale);
    }
  }
  return { byRegion, records: count, firstRecordMs };
}

/** Whether two totals agree, region by region. */
export function sameTotals(a: Totals, b: Totals): boolean {
  if (a.records !== b.records || a.byRegion.size !== b.byRegion.size) return false;
  for (const [region, x] of a.byRegion) {
    const y = b.byRegion.get(region);
    if (!y || y.cents !== x.cents || y.units !== x.units) return false;
  }
  return true;
}
