/**
 * Mixed NDJSON records, the kind a log or an event export holds, and the light transform that the
 * command line benchmark (bench/ab-cli.mjs, `DATA=mixed`) runs on them: the loop and rxpool's
 * workers import this one file, so that they run the very same code.
 *
 * Three kinds of record in one stream: orders (nested objects, arrays of items, numbers), log
 * lines (strings with quotes, backslashes, tabs, newlines, control characters and non-ASCII
 * text, which `JSON.stringify` escapes or keeps as they are) and metric samples (floats, a nested
 * map of labels). About 155 bytes a line on average, so 300,000 records make about 46 MB.
 *
 *   node bench/workers/mixed.mjs [count] [seed] > mixed.ndjson
 */
import { random } from './random.mjs';

const WORDS = ['disk', 'queue', 'retry', 'cache', 'user', 'node', 'shard', 'lease', 'token', 'GC'];
const ODD = [
  '"quoted"',
  'C:\\temp\\x',
  'tab\there',
  'two\nlines',
  'bell\u0007',
  'café',
  'Ünïcode',
  '日本',
  '✓ ok',
  'a/b',
];
const LEVELS = ['debug', 'info', 'warn', 'error'];
const HOSTS = ['web-1', 'web-2', 'db-1', 'cache-3', 'worker-7'];
const SKUS = ['A-100', 'B-220', 'C-310', 'D-405', 'E-512', 'F-600'];

/**
 * `count` records, the same for the same seed.
 * @param {number} count
 * @param {number} [seed]
 */
export function* mixed(count, seed = 7) {
  const next = random(seed);
  const int = (n) => Math.floor(next() * n);
  const pick = (list) => list[int(list.length)];
  const start = Date.UTC(2024, 0, 1);
  for (let id = 1; id <= count; id++) {
    const ts = new Date(start + int(366 * 86_400_000)).toISOString();
    const kind = int(10);
    if (kind < 4) {
      const items = [];
      for (let n = 1 + int(3); n > 0; n--) {
        items.push({ sku: pick(SKUS), qty: 1 + int(5), price: (99 + int(20_000)) / 100 });
      }
      yield { id, type: 'order', ts, customer: { id: int(100_000), tier: int(3) }, items };
    } else if (kind < 8) {
      const words = [];
      for (let n = 3 + int(6); n > 0; n--) words.push(next() < 0.25 ? pick(ODD) : pick(WORDS));
      yield {
        id,
        type: 'log',
        ts,
        level: pick(LEVELS),
        host: pick(HOSTS),
        msg: words.join(' '),
      };
    } else {
      yield {
        id,
        type: 'metric',
        ts,
        name: `${pick(WORDS).toLowerCase()}.latency`,
        value: Math.round(next() * 1e6) / 1e3,
        labels: { host: pick(HOSTS), zone: `eu-${1 + int(3)}` },
      };
    }
  }
}

/**
 * The light transform: a few fields kept, one computed per kind (an order's total, a log line's
 * length and whether it is an error, a metric in seconds).
 * @param {any} r
 */
export function transform(r) {
  if (r.type === 'order') {
    let total = 0;
    for (const item of r.items) total += item.qty * item.price;
    return {
      id: r.id,
      type: r.type,
      customer: r.customer.id,
      total: Math.round(total * 100) / 100,
    };
  }
  if (r.type === 'log') {
    return {
      id: r.id,
      type: r.type,
      error: r.level === 'error',
      host: r.host,
      chars: r.msg.length,
    };
  }
  return { id: r.id, type: r.type, name: r.name, seconds: r.value / 1000, host: r.labels.host };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const count = Number(process.argv[2] ?? 300_000);
  const seed = Number(process.argv[3] ?? 7);
  let block = '';
  for (const record of mixed(count, seed)) {
    block += `${JSON.stringify(record)}\n`;
    if (block.length >= 1 << 20) {
      process.stdout.write(block);
      block = '';
    }
  }
  process.stdout.write(block);
}
