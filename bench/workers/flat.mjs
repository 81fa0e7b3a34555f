// The flat case's tasks (bench/cases/flat.ts): each item gives `count` small records, after about
// `workUs` microseconds of work each (a spin on the clock, as bench/python/flat.py does).
import { performance } from 'node:perf_hooks';

function spin(us) {
  if (us <= 0) return;
  const end = performance.now() + us / 1000;
  while (performance.now() < end);
}

/** A record of item `item`: its value `v` enters the checksum. */
function record(item, i) {
  return { item, i, v: (item * 31 + i * 7) % 1000 };
}

/** The item's records, one at a time (a generator: the flat faces stream them). */
export function* values({ item, count, workUs }) {
  for (let i = 0; i < count; i++) {
    spin(workUs);
    yield record(item, i);
  }
}

/** The item's records as one array (what a task that cannot stream returns). */
export function list(input) {
  return Array.from(values(input));
}

/** Endless records (the memory run). */
export function* endless({ item }) {
  for (let i = 0; ; i++) yield record(item, i);
}
