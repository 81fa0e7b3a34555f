/**
 * Writes the ETL example's input: an NDJSON file of orders, the same for the same seed, with some
 * lines deliberately bad: about 0.5% are not JSON (cut short, or with trailing text) and about 1%
 * are JSON that breaks one rule of `validate`. It streams to the file in constant memory, and
 * says which lines are bad and why, so that a test can check the rejects.
 */
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RATES } from './transform.mjs';

/** A line the generator made bad on purpose. */
export interface BadLine {
  /** 1-based line number. */
  readonly line: number;
  /** `malformed`: not JSON; `invalid`: JSON that breaks the rule on `field`. */
  readonly kind: 'malformed' | 'invalid';
  /** The field at fault (`invalid` lines only). */
  readonly field?: string;
}

/** What {@link generateNdjson} wrote. */
export interface Generated {
  readonly lines: number;
  readonly bytes: number;
  /** The bad lines, in order. */
  readonly bad: BadLine[];
}

/** Options of {@link generateNdjson}. */
export interface GenerateOptions {
  /** The size of the file: lines are written until it is reached. */
  readonly bytes: number;
  /** The same seed gives the same file. @default 1 */
  readonly seed?: number;
}

const FIRST = ['Ana', 'Bo', 'Chen', 'Dara', 'Eli', 'Femi', 'Gus', 'Hana', 'Ivo', 'Juno', 'Kai'];
const LAST = ['Lopez', 'Nguyen', 'Okafor', 'Smith', 'Tanaka', 'Ivanova', 'Berg', 'Rossi', 'Khan'];
const DOMAINS = ['example.com', 'mail.test', 'shop.example', 'corp.invalid', 'post.example.org'];
const COUNTRIES = ['DE', 'ES', 'FR', 'GB', 'JP', 'SE', 'US', 'CH', 'NL', 'BR'];
const TAGS = ['new', 'promo', 'gift', 'express', 'returning', 'b2b', 'mobile'];
const CURRENCIES = Object.keys(RATES);

/** The fields on which a bad record breaks a rule of `validate`. */
const BROKEN_FIELDS = ['amount', 'currency', 'user.email', 'ts', 'items', 'items[0].qty'] as const;

/** Breaks the rule on `field` in `r`. */
function breakRule(r: Record<string, any>, field: (typeof BROKEN_FIELDS)[number]): void {
  if (field === 'amount') r.amount = -r.amount - 1;
  else if (field === 'currency') r.currency = 'XXX';
  else if (field === 'user.email') r.user.email = `${r.user.name} at home`;
  else if (field === 'ts') r.ts = 'yesterday';
  else if (field === 'items') r.items = [];
  else r.items[0].qty = 0;
}

/** mulberry32: a small, fast 32-bit PRNG; returns floats in [0, 1). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes the NDJSON file to `path`. */
export async function generateNdjson(path: string, options: GenerateOptions): Promise<Generated> {
  const next = random(options.seed ?? 1);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(list: readonly T[]) => list[int(list.length)]!;
  const start = Date.UTC(2024, 0, 1);
  const bad: BadLine[] = [];
  let lines = 0;
  let bytes = 0;

  function record(): Record<string, any> {
    const name = `${pick(FIRST)} ${pick(LAST)}`;
    const items = Array.from({ length: 1 + int(4) }, () => ({
      sku: `SKU-${10000 + int(90000)}`,
      qty: 1 + int(5),
      price: (100 + int(20000)) / 100,
    }));
    const cents = items.reduce((sum, item) => sum + Math.round(item.qty * item.price * 100), 0);
    return {
      id: lines + 1,
      ts: new Date(start + int(366 * 86_400_000)).toISOString(),
      user: {
        name,
        email: `${name.replace(' ', '.').toLowerCase()}${int(1000)}@${pick(DOMAINS)}`,
        country: pick(COUNTRIES),
      },
      // Mostly the items' sum; now and then a discount.
      amount: (next() < 0.9 ? cents : Math.round(cents * 0.8)) / 100,
      currency: pick(CURRENCIES),
      items,
      tags: TAGS.filter(() => next() < 0.2),
    };
  }

  function line(): string {
    const r = record();
    const dice = next();
    lines++;
    if (dice < 0.01) {
      const field = pick(BROKEN_FIELDS);
      breakRule(r, field);
      bad.push({ line: lines, kind: 'invalid', field });
      return JSON.stringify(r);
    }
    const text = JSON.stringify(r);
    if (dice < 0.015) {
      bad.push({ line: lines, kind: 'malformed' });
      return next() < 0.5 ? text.slice(0, 1 + int(text.length - 2)) : `${text} (copied twice)`;
    }
    return text;
  }

  function* chunks(): Generator<string> {
    while (bytes < options.bytes) {
      const batch: string[] = [];
      let size = 0;
      while (size < 65_536 && bytes + size < options.bytes) {
        const text = `${line()}\n`;
        batch.push(text);
        size += Buffer.byteLength(text);
      }
      bytes += size;
      yield batch.join('');
    }
  }

  await pipeline(Readable.from(chunks()), createWriteStream(path));
  return { lines, bytes, bad };
}
