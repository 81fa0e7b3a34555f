/**
 * The single-threaded anchor of the `ndjson` case: what a user writes without rxpool. Reads NDJSON
 * on stdin line by line, parses, runs the same `summarize` as every contender, stringifies, and
 * writes the lines to stdout in blocks, waiting for stdout to drain.
 *
 *   node bench/workers/ndjson-loop.mjs [task] [module] < in.ndjson > out.ndjson
 *
 * `task`: the export of `module` to run (default `summarize`); `module`: a path, records.mjs by
 * default (its `summarize` or `fingerprint`; mixed.mjs has `transform`).
 */
import { once } from 'node:events';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const module = process.argv[3]
  ? pathToFileURL(resolve(process.argv[3])).href
  : new URL('./records.mjs', import.meta.url).href;
const summarize = (await import(module))[process.argv[2] ?? 'summarize'];

let block = '';
for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (line.trim() === '') continue;
  block += `${JSON.stringify(summarize(JSON.parse(line)))}\n`;
  if (block.length >= 65_536) {
    if (!process.stdout.write(block)) await once(process.stdout, 'drain');
    block = '';
  }
}
if (block !== '') process.stdout.write(block);
