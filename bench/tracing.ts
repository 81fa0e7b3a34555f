/**
 * What tracing and the latency histograms cost, in interleaved rounds in one process, as ratios
 * of medians; twice: on the caller's side alone (1M items through an Engine and its Dispatcher
 * onto an executor that answers each batch at once on the main thread, as bench/engine-only.ts:
 * where all of tracing's caller-side work happens), then on the `trivial` case's work
 * (`parallelMap` of x*x, ordered, default options, on a pool of `os.availableParallelism()`
 * threads). The contenders:
 *
 * - `before`: another build of rxpool, the baseline (a commit before the change under test);
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
  sum = expected,
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
      expectEqual(checksum(results), sum, name);
      return { ms };
    },
  };
}

const through = (operators: typeof afterOperators, p: unknown) => () =>
  lastValueFrom(
    range(0, ITEMS).pipe(operators.parallelMap(square, { pool: p as after.Pool }), toArray()),
  );

/** Runs with no-op handlers on the five events of `rxpool:item`. */
async function subscribed(run: () => Promise<number>): Promise<number> {
  channel.subscribe(handlers);
  try {
    return await run();
  } finally {
    channel.unsubscribe(handlers);
  }
}

/** Runs inside an active span: every item carries its context. */
function inSpan(run: () => Promise<number>): Promise<number> {
  return tracer.startActiveSpan('bench', async (span) => {
    try {
      return await run();
    } finally {
      span.end();
    }
  });
}

const contenders: Contender[] = [
  contender('before', through(beforeOperators, beforePool)),
  contender('api absent', through(afterOperators, absentPool)),
  contender('idle', through(afterOperators, pool)),
  contender('subscriber', through(afterOperators, pool), subscribed),
  contender('otel on', through(afterOperators, otelPool), inSpan),
];

// --- the caller's side alone -------------------------------------------------------------------

const ENGINE_ITEMS = 1_000_000;
type EngineModule = typeof import('../src/engine/engine.js');
type DispatcherModule = typeof import('../src/executor/dispatcher.js');
interface Build {
  Engine: EngineModule['Engine'];
  Dispatcher: DispatcherModule['Dispatcher'];
}
const load = async (root: string): Promise<Build> => ({
  Engine: ((await import(`${root}/src/engine/engine.js`)) as EngineModule).Engine,
  Dispatcher: ((await import(`${root}/src/executor/dispatcher.js`)) as DispatcherModule).Dispatcher,
});
const beforeBuild = await load(pathToFileURL(resolve(beforeDir, 'dist')).href);
const afterBuild = await load(new URL('../dist', import.meta.url).href);

/** Answers each batch in a microtask with its inputs as the values (bench/engine-only.ts). */
const instant = () => ({
  size: 2,
  traits: { targetBatchMs: 8, enforcesTimeouts: false, knowsPosition: true },
  capacity: () => 4,
  run(batch: { inputs: readonly unknown[] }, report: (outcome: never) => void) {
    const values = batch.inputs;
    queueMicrotask(() =>
      report({
        type: 'done',
        values,
        failures: null,
        count: values.length,
        ms: values.length * 1e-4,
      } as never),
    );
    return { abort() {} };
  },
  close: async () => {},
  destroy: async () => {},
});

function engineRun(build: Build, dispatcher: unknown): () => Promise<number[]> {
  return () =>
    new Promise((resolveRun, reject) => {
      const results: number[] = [];
      const engine = new build.Engine<number, number>(
        {
          work: { kind: 'inline', source: '(x) => x * x' },
          concurrency: 16_384,
          ordered: true,
          batchSize: 'auto',
          timeout: undefined,
          retry: { count: 0, delay: () => 0, retryIf: () => false },
          transfer: undefined,
        },
        dispatcher as InstanceType<Build['Dispatcher']>,
        {
          now: () => performance.now(),
          setTimeout: (fn, ms) => clearTimeout.bind(null, setTimeout(fn, ms)),
        },
        {
          // The instant executor gives the inputs back: square them here, as the workers would.
          value: (value) => results.push(value * value),
          failure: reject,
          error: reject,
          complete: () => resolveRun(results),
        },
      );
      for (let i = 0; i < ENGINE_ITEMS; i++) engine.push(i);
      engine.end();
    });
}
const engineExpected = checksum(Array.from({ length: ENGINE_ITEMS }, (_, i) => i * i));
const engineContender = (
  name: string,
  go: () => Promise<number[]>,
  around?: (run: () => Promise<number>) => Promise<number>,
): Contender => ({ ...contender(name, go, around, engineExpected), items: ENGINE_ITEMS });
const absentDispatcher = new afterBuild.Dispatcher(instant() as never);
absentDispatcher.captureTrace = () => undefined;
const afterDispatcher = new afterBuild.Dispatcher(instant() as never);
const engineContenders: Contender[] = [
  engineContender('before', engineRun(beforeBuild, new beforeBuild.Dispatcher(instant() as never))),
  engineContender('api absent', engineRun(afterBuild, absentDispatcher)),
  engineContender('idle', engineRun(afterBuild, afterDispatcher)),
  engineContender('subscriber', engineRun(afterBuild, afterDispatcher), subscribed),
  engineContender('otel on', engineRun(afterBuild, afterDispatcher), inSpan),
];

const log = (line: string) => process.stderr.write(`${line}\n`);
report(
  `caller's side alone (Engine + Dispatcher, an executor answering at once; ${ENGINE_ITEMS} items, ${rounds} rounds)`,
  engineContenders,
  await interleave(engineContenders, rounds, { quick: false, log }, 'engine'),
);
report(
  `trivial items (x*x, ${ITEMS} items, parallelMap ordered, ${rounds} rounds)`,
  contenders,
  await interleave(contenders, rounds, { quick: false, log }, 'pool'),
);
await Promise.all([beforePool, absentPool, pool, otelPool].map((p) => p.close()));

function report(title: string, list: Contender[], samples: Map<string, Sample[]>): void {
  const rate = (name: string) => {
    const items = list.find((c) => c.name === name)!.items!;
    const rates = samples.get(name)!.map((s) => items / (s.ms / 1000));
    return { median: median(rates), min: Math.min(...rates), max: Math.max(...rates) };
  };
  console.log(`\n${title}\n`);
  console.log('| contender | items/s (median) | spread % | / before | / api absent | / idle |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  const base = rate('before').median;
  const absent = rate('api absent').median;
  const idle = rate('idle').median;
  for (const { name } of list) {
    const r = rate(name);
    const spread = ((r.max - r.min) / r.median) * 100;
    console.log(
      `| ${name} | ${Math.round(r.median).toLocaleString('en-US')} | ${spread.toFixed(0)} | ` +
        `${(r.median / base).toFixed(3)} | ${(r.median / absent).toFixed(3)} | ${(r.median / idle).toFixed(3)} |`,
    );
  }
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

// The histograms alone: ns per `add`, against the ring of samples that the baseline build keeps
// (src/engine/samples.js there), each called as the pool calls it: once per batch for run time,
// once per chunk of a batch for wait time.
type Adder = { add(ms: number, weight?: number): void; percentiles(): unknown };
const ring = new (
  (await import(beforeUrl('src/engine/samples.js'))) as {
    Samples: new () => Adder;
  }
).Samples();
const histogram = new (
  (await import(new URL('../dist/src/executor/histogram.js', import.meta.url).href)) as {
    Histogram: new () => Adder;
  }
).Histogram();
const ADDS = 5_000_000;
const addNs = (adder: Adder) => {
  const started = performance.now();
  for (let i = 0; i < ADDS; i++) adder.add((i % 977) * 0.013, 3);
  return ((performance.now() - started) * 1e6) / ADDS;
};
const statsUs = (adder: Adder) => {
  const started = performance.now();
  for (let i = 0; i < 1000; i++) adder.percentiles();
  return ((performance.now() - started) / 1000) * 1000;
};
const adds: { ring: number[]; histogram: number[] } = { ring: [], histogram: [] };
for (let i = 0; i < 11; i++) {
  adds.ring.push(addNs(ring));
  adds.histogram.push(addNs(histogram));
}
console.log(
  '\nlatency samples: ns per add (median of 11 alternated runs of 5M adds), µs per stats()\n',
);
console.log('| | add, ns | stats(), µs |');
console.log('| --- | --- | --- |');
console.log(
  `| before: ring of 1024, sorted on stats() | ${median(adds.ring).toFixed(1)} | ${statsUs(ring).toFixed(1)} |`,
);
console.log(
  `| after: log-linear histogram | ${median(adds.histogram).toFixed(1)} | ${statsUs(histogram).toFixed(1)} |`,
);
