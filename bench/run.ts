/**
 * The benchmark suite's command line: runs the cases one after another, then prints the report
 * (Markdown, then the same data as JSON in a fenced block) on stdout; progress goes to stderr.
 *
 *   node --import tsx --expose-gc bench/run.ts [--quick] [--json path] [--case id,id]
 *
 * `npm run bench` and `npm run bench:quick` run it. See bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, platform } from 'node:os';
import { parseArgs } from 'node:util';
import { cpu } from './cases/cpu.js';
import { faults } from './cases/faults.js';
import { flat } from './cases/flat.js';
import { imap } from './cases/imap.js';
import { latency } from './cases/latency.js';
import { memory } from './cases/memory.js';
import { ndjson } from './cases/ndjson.js';
import { records } from './cases/records.js';
import { remote } from './cases/remote.js';
import { skewed } from './cases/skewed.js';
import { transport } from './cases/transport.js';
import { trivial } from './cases/trivial.js';
import {
  type BenchCase,
  type CaseResult,
  cores,
  type Report,
  type Settings,
  toJson,
  toMarkdown,
} from './harness.js';

const CASES: readonly BenchCase[] = [
  trivial,
  cpu,
  skewed,
  latency,
  imap,
  memory,
  records,
  transport,
  ndjson,
  flat,
  faults,
  remote,
];

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    case: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(
    [
      'Usage: node --import tsx --expose-gc bench/run.ts [--quick] [--json path] [--case id,id]',
      '  --quick      fewer rounds and smaller sizes (a smoke run for CI, under a minute)',
      '  --json path  also write the JSON report to this file',
      `  --case ids   run only these cases, comma-separated: ${CASES.map((c) => c.id).join(', ')}`,
    ].join('\n'),
  );
} else {
  const wanted = values.case?.split(',').map((id) => id.trim());
  const unknown = wanted?.filter((id) => !CASES.some((c) => c.id === id)) ?? [];
  if (unknown.length > 0) {
    throw new TypeError(
      `Unknown case ${unknown.join(', ')}; the cases are ${CASES.map((c) => c.id).join(', ')}`,
    );
  }
  const settings: Settings = {
    quick: values.quick,
    log: (line) => process.stderr.write(`${line}\n`),
  };
  const started = Date.now();
  const results: CaseResult[] = [];
  for (const benchCase of CASES.filter((c) => !wanted || wanted.includes(c.id))) {
    settings.log(`== ${benchCase.id}: ${benchCase.title}`);
    const outcome = await benchCase.run(settings);
    results.push({ id: benchCase.id, title: benchCase.title, ...outcome });
  }
  const report: Report = {
    meta: {
      quick: values.quick,
      date: new Date(started).toISOString(),
      seconds: Math.round((Date.now() - started) / 100) / 10,
      node: process.version,
      platform: `${platform()} ${process.arch}`,
      cpu: cpus()[0]?.model ?? 'unknown',
      cores,
      python: pythonVersion(),
      gc: typeof (globalThis as { gc?: unknown }).gc === 'function' ? 'exposed' : 'not exposed',
    },
    cases: results,
  };
  const json = toJson(report);
  if (values.json) writeFileSync(values.json, `${json}\n`);
  process.stdout.write(`${toMarkdown(report)}\n\n\`\`\`json\n${json}\n\`\`\`\n`);
}

function pythonVersion(): string {
  try {
    return execFileSync('python3', ['--version'], { encoding: 'utf8' })
      .trim()
      .replace(/^Python /, '');
  } catch {
    return 'not found';
  }
}
