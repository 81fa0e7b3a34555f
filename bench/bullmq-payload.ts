/**
 * How a batch's values best travel in a BullMQ job, which BullMQ stores as JSON: the
 * `v8.serialize` bytes as base64 (what src/bullmq/job.ts does), the same bytes as a latin1
 * string, or a Buffer as BullMQ would store it unasked (`{"type":"Buffer","data":[...]}`).
 * Prints the bytes stored in Redis (UTF-8 of the JSON) and the time to encode and decode, per
 * payload: medians over 15 interleaved rounds, with the spread (max/min - 1) of those rounds.
 *
 *   node --import tsx bench/bullmq-payload.ts
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { deserialize, serialize } from 'node:v8';

type Codec = { encode: (values: unknown[]) => string; decode: (json: string) => unknown[] };

const codecs: Record<string, Codec> = {
  base64: {
    encode: (v) => JSON.stringify({ inputs: serialize(v).toString('base64') }),
    decode: (j) => deserialize(Buffer.from(JSON.parse(j).inputs, 'base64')),
  },
  latin1: {
    encode: (v) => JSON.stringify({ inputs: serialize(v).toString('latin1') }),
    decode: (j) => deserialize(Buffer.from(JSON.parse(j).inputs, 'latin1')),
  },
  'Buffer JSON': {
    encode: (v) => JSON.stringify({ inputs: serialize(v) }),
    decode: (j) => deserialize(Buffer.from(JSON.parse(j).inputs.data)),
  },
};

const payloads: Record<string, unknown[]> = {
  '1,000 small integers': Array.from({ length: 1000 }, (_, i) => i),
  '1,000 doubles': Array.from({ length: 1000 }, (_, i) => i / 7),
  '1,000 records {id, name, at: Date}': Array.from({ length: 1000 }, (_, i) => ({
    id: i,
    name: `item-${i}`,
    at: new Date(1_700_000_000_000 + i),
  })),
  'one 64 KiB Uint8Array (random)': [new Uint8Array(randomBytes(65536))],
};

const ROUNDS = 15;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
console.log(
  '| payload | encoding | bytes stored | vs base64 | encode+decode µs (median) | spread % |',
);
console.log('| --- | --- | ---: | ---: | ---: | ---: |');
for (const [name, values] of Object.entries(payloads)) {
  const times: Record<string, number[]> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const [codec, { encode, decode }] of Object.entries(codecs)) {
      const reps = 20;
      const start = performance.now();
      for (let i = 0; i < reps; i++) decode(encode(values));
      const list = times[codec] ?? [];
      list.push(((performance.now() - start) / reps) * 1000);
      times[codec] = list;
    }
  }
  const base = Buffer.byteLength(codecs.base64!.encode(values));
  for (const [codec, { encode }] of Object.entries(codecs)) {
    const bytes = Buffer.byteLength(encode(values));
    const t = times[codec]!;
    const spread = (Math.max(...t) / Math.min(...t) - 1) * 100;
    console.log(
      `| ${name} | ${codec} | ${bytes} | ${(bytes / base).toFixed(2)} | ${median(t).toFixed(0)} | ${spread.toFixed(0)} |`,
    );
  }
}
