import { createPool, task, parallelFlatMap, parallelMap } from 'rxpool';
import { from, lastValueFrom, mergeAll, reduce } from 'rxjs';
const pool = createPool();
const values = task(new URL('./bench/workers/flat.mjs', import.meta.url), 'values');
const list = task(new URL('./bench/workers/flat.mjs', import.meta.url), 'list');
const inputs = Array.from({ length: 2000 }, (_, item) => ({ item, count: 200, workUs: 1 }));
const sum = reduce((s, r) => s + r.v, 0);
for (let round = 0; round < 3; round++) {
  let t = performance.now();
  const a = await lastValueFrom(from(inputs).pipe(parallelFlatMap(values, { pool }), sum));
  const ta = performance.now() - t;
  t = performance.now();
  const b = await lastValueFrom(from(inputs).pipe(parallelMap(list, { pool }), mergeAll(), sum));
  const tb = performance.now() - t;
  console.log({ a, ta, b, tb });
}
await pool.close();
