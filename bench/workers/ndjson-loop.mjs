/**
 * The single-threaded anchor of the `ndjson` case: what a user writes without rxpool. Reads NDJSON
 * on stdin line by line, parses, runs the same `summarize` as every contender, stringifies, and
 * writes the lines to stdout in blocks, waiting for stdout to drain.
 *
 *   node bench/workers/ndjson-loop.mjs [task] < in.ndjson > out.ndjson
 *
 * `task`: the export of records.mjs to run, `summarize` (the default) or `fingerprint`.
 */
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fingerprint, summarize as light } from './records.mjs';

const summarize = process.argv[2] === 'fingerprint' ? fingerprint : light;

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
