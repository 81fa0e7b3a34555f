/**
 * What tracing and the latency histograms cost, on the `trivial` case's work (`parallelMap` of
 * x*x, ordered, default options, on a pool of `os.availableParallelism()` threads), in interleaved
 * rounds in one process, as ratios of medians:
 *
 * - `before`: another build of rxpool (the one before the change: ring samples, no tracing);
 * - `api absent`: this build with the capture of OpenTelemetry context off, as without
 *   `@opentelemetry/api` installed (this process has it: the pool's capture is switched off);
 * - `idle`: this build as a user with the API installed runs it outside any span, nothing
 *   subscribed to `rxpool:item`;
 * - `subscriber`: the same with no-op handlers on the five events of `rxpool:item`;
 * - `otel on`: inside an active span (every item carries its context) on a pool whose workers
 *   registered a tracer provider in `setup` (each item runs in `context.with`).
 *
 * Then the import time of `rxpool` and `rxpool/operators`, each build in a fresh process, in
 * alternated runs.
 *
 *   node --import tsx --expose-gc bench/tracing.ts <before build: a folder with dist/> [rounds]
 *
 * The before build: `git archive <commit> | tar -x -C DIR`, link this project's node_modules into
 * DIR, `npm run build` there. This build: `npm run build` here (rxpool resolves to dist/).
 */
import { execFileSync } from 'node:child_process';
import { tracingChannel } from 'node:diagnostics_channel';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { trace } from '@opentelemetry/api';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { lastValueFrom, range, toArray } from 'rxjs';
import * as after from 'rxpool';
import * as afterOperators from 'rxpool/operators';
import {
  type Contender,
  checksum,
  expectEqual,
  interleave,
  median,
  type Sample,
  timed,
} from './harness.js';

const [beforeDir, roundsArg] = process.argv.slice(2);
if (!beforeDir) {
  console.error('usage: node --import tsx --expose-gc bench/tracing.ts <before dir> [rounds]');
  process.exit(2);
}
const rounds = Number(roundsArg ?? 21);
const ITEMS = 300_000;
const beforeUrl = (path: string) => pathToFileURL(resolve(beforeDir, 'dist', path)).href;
const before = (await import(beforeUrl('src/index.js'))) as typeof after;
const beforeOperators = (await import(beforeUrl('operators/index.js'))) as typeof afterOperators;

new NodeTracerProvider().register();
const tracer = trace.getTracer('bench');
const expected = checksum(Array.from({ length: ITEMS }, (_, i) => i * i));
const square = (x: number) => x * x;

const beforePool = before.createPool();
const absentPool = after.createPool();
// As without the package: the pool's dispatcher never captures a context.
(absentPool as unknown as { dispatcher: { captureTrace: unknown } }).dispatcher.captureTrace = () =>
  undefined;
const pool = after.createPool();
const telemetry = new URL('../examples/tracing/telemetry.mjs', import.meta.url);
process.env.RXPOOL_TRACING_SPANS = '/dev/null';
const otelPool = after.createPool({ setup: after.task(telemetry, 'setup') });

const handlers = {
  start() {},
  end() {},
  asyncStart() {},
  asyncEnd() {},
  error() {},
};
const channel = tracingChannel('rxpool:item');

function contender(
  name: string,
  go: () => Promise<number[]>,
  around: (run: () => Promise<number>) => Promise<number> = (run) => run(),
): Contender {
  return {
    name,
    items: ITEMS,
    async run(): Promise<Sample> {
      let results: number[] = [];
      const ms = await around(() =>
        timed(async () => {
          results = await go();
        }),
      );
      expectEqual(checksum(results), expected, name);
      return { ms };
    },
  };
}

const through = (operators: typeof afterOperators, p: unknown) => () =>
  lastValueFrom(
    range(0, ITEMS).pipe(operators.parallelMap(square, { pool: p as after.Pool }), toArray()),
  );

const contenders: Contender[] = [
  contender('before', through(beforeOperators, beforePool)),
  contender('api absent', through(afterOperators, absentPool)),
  contender('idle', through(afterOperators, pool)),
  contender('subscriber', through(afterOperators, pool), async (run) => {
    channel.subscribe(handlers);
    try {
      return await run();
    } finally {
      channel.unsubscribe(handlers);
    }
  }),
  contender('otel on', through(afterOperators, otelPool), (run) =>
    tracer.startActiveSpan('bench', async (span) => {
      try {
        return await run();
      } finally {
        span.end();
      }
    }),
  ),
];

const log = (line: string) => process.stderr.write(`${line}\n`);
const samples = await interleave(contenders, rounds, { quick: false, log }, 'tracing');
await Promise.all([beforePool, absentPool, pool, otelPool].map((p) => p.close()));

const rate = (name: string) => {
  const rates = samples.get(name)!.map((s) => ITEMS / (s.ms / 1000));
  return { median: median(rates), min: Math.min(...rates), max: Math.max(...rates) };
};
console.log(`trivial items (x*x, ${ITEMS} items, ${rounds} rounds, parallelMap ordered)\n`);
console.log('| contender | items/s (median) | spread % | / before | / api absent | / idle |');
console.log('| --- | --- | --- | --- | --- | --- |');
const base = rate('before').median;
const absent = rate('api absent').median;
const idle = rate('idle').median;
for (const { name } of contenders) {
  const r = rate(name);
  const spread = ((r.max - r.min) / r.median) * 100;
  console.log(
    `| ${name} | ${Math.round(r.median).toLocaleString('en-US')} | ${spread.toFixed(0)} | ` +
      `${(r.median / base).toFixed(3)} | ${(r.median / absent).toFixed(3)} | ${(r.median / idle).toFixed(3)} |`,
  );
}

// Import time: a fresh process per import, the two builds alternated.
const importMs = (url: string) =>
  Number(
    execFileSync(process.execPath, [
      '--input-type=module',
      '-e',
      `const t = performance.now(); await import(${JSON.stringify(url)}); console.log(performance.now() - t);`,
    ]),
  );
const afterUrl = (path: string) => new URL(`../dist/${path}`, import.meta.url).href;
console.log('\nimport time, ms (median of 20 fresh processes each, alternated; min-max)\n');
console.log('| module | before | after |');
console.log('| --- | --- | --- |');
for (const [label, path] of [
  ['rxpool', 'src/index.js'],
  ['rxpool/operators', 'operators/index.js'],
] as const) {
  const times: { before: number[]; after: number[] } = { before: [], after: [] };
  for (let i = 0; i < 20; i++) {
    times.before.push(importMs(beforeUrl(path)));
    times.after.push(importMs(afterUrl(path)));
  }
  const cell = (values: number[]) =>
    `${median(values).toFixed(1)} (${Math.min(...values).toFixed(1)}-${Math.max(...values).toFixed(1)})`;
  console.log(`| \`${label}\` | ${cell(times.before)} | ${cell(times.after)} |`);
}
