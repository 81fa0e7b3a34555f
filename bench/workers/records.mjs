/**
 * The records of the `records` and `ndjson` cases, and the task they run, in plain JavaScript so
 * that rxpool's workers, the main thread and the single-threaded loop run the very same code.
 *
 * A record is an order much like the ndjson-etl example's (about 160 bytes of JSON); the task
 * picks four fields and computes one, the shape of most record-mapping work: little computation
 * per record, so that moving the record is most of the cost. `bench/python/records.py` runs the
 * same function on the same records (read from the same NDJSON).
 */
import { random } from './random.mjs';

const NAMES = ['Ana Lopez', 'Bo Nguyen', 'Chen Okafor', 'Dara Smith', 'Eli Tanaka', 'Femi Berg'];
const COUNTRIES = ['DE', 'ES', 'FR', 'GB', 'JP', 'SE', 'US', 'CH', 'NL', 'BR'];
const CURRENCIES = ['EUR', 'USD', 'GBP', 'CHF', 'JPY', 'SEK'];

/** @type {Readonly<Record<string, number>>} */
export const RATES = { EUR: 1, USD: 0.92, GBP: 1.17, CHF: 1.04, JPY: 0.0061, SEK: 0.087 };

/**
 * `count` records, the same for the same seed.
 * @param {number} count
 * @param {number} [seed]
 */
export function* records(count, seed = 1) {
  const next = random(seed);
  const int = (n) => Math.floor(next() * n);
  const start = Date.UTC(2024, 0, 1);
  for (let id = 1; id <= count; id++) {
    const name = NAMES[int(NAMES.length)];
    yield {
      id,
      ts: new Date(start + int(366 * 86_400_000)).toISOString(),
      user: {
        name,
        email: `${name.replace(' ', '.').toLowerCase()}${int(1000)}@example.com`,
        country: COUNTRIES[int(COUNTRIES.length)],
      },
      amount: (100 + int(50_000)) / 100,
      currency: CURRENCIES[int(CURRENCIES.length)],
      qty: 1 + int(9),
      tags: next() < 0.3 ? ['promo'] : [],
    };
  }
}

/**
 * The task: four fields picked, one computed.
 * @param {{ id: number, user: { name: string, country: string }, amount: number, currency: string }} r
 */
export function summarize(r) {
  return {
    id: r.id,
    name: r.user.name,
    country: r.user.country,
    eur: Math.floor(r.amount * RATES[r.currency] * 100) / 100,
  };
}

/**
 * A heavier task (the `ndjson` case's second task): `summarize` and a digest of the record's
 * text fields, 16 rounds of FNV-1a over them: several times the light task's work per record.
 * @param {{ id: number, ts: string, user: { name: string, email: string, country: string }, amount: number, currency: string }} r
 */
export function fingerprint(r) {
  const text = `${r.ts}|${r.user.name}|${r.user.email}|${r.user.country}|${r.amount}|${r.currency}`;
  let hash = 0x811c9dc5;
  for (let round = 0; round < 16; round++) {
    for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619);
  }
  return { ...summarize(r), fingerprint: (hash >>> 0).toString(16) };
}

/**
 * A checksum of summaries that Python computes the same way (integers only): ids and cents.
 * @param {Iterable<{ id: number, eur: number }>} summaries
 */
export function summaryChecksum(summaries) {
  let sum = 0;
  for (const s of summaries) sum = (sum + s.id * 7 + Math.round(s.eur * 100)) % 1_000_000_007;
  return sum;
}
