/**
 * Smoke test of the benchmark suite (bench/): the quick mode runs to the end and exits by itself,
 * and its report has every case, contender and goal, as a Markdown table and as JSON (on stdout
 * and in the `--json` file), with numbers that parse. It says nothing about speed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { hasGnuParallel, hasPython } from '../../bench/harness.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rxpool-bench-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Every case, its contenders, and how many goals it checks. */
const EXPECTED: Record<string, { contenders: string[]; goals: number }> = {
  trivial: {
    contenders: [
      'rxpool parallelMap ordered',
      'rxpool parallelMap unordered',
      'mergeMap + tinypool.run (64)',
      'mergeMap + piscina.run (64)',
      'Python Pool.map',
      'Python Pool.imap chunksize=1',
      'main thread (RxJS map)',
    ],
    goals: 3,
  },
  cpu: { contenders: ['main thread (RxJS map)', 'rxpool parallelMap ordered'], goals: 1 },
  skewed: {
    contenders: [
      'rxpool parallelMap ordered',
      'rxpool parallelMap unordered',
      'ideal (total spin time / cores)',
    ],
    goals: 0,
  },
  latency: { contenders: ['rxpool pool.run', 'tinypool.run (direct)'], goals: 1 },
  imap: {
    contenders: [
      'pool.run, one item (baseline)',
      'pool.imap first result, endless generator',
      'pool.imap first result, endless generator, 2 us/item',
      'pool.imap, generator (steady state)',
      'parallelMap, from(array) (steady state)',
    ],
    goals: 3,
  },
  memory: {
    contenders: [
      'rxpool pool.imap (generator of numbers)',
      'rxpool pool.imap (generator of { id, name })',
    ],
    goals: 1,
  },
  records: {
    contenders: [
      'rxpool parallelMap ordered',
      'rxpool parallelMap ordered, results by structured clone',
      'rxpool pool.map',
      'Python Pool.map',
      'main thread (RxJS map)',
    ],
    goals: 1,
  },
  transport: {
    contenders: ['orders', 'summaries'].flatMap((payload) =>
      [
        'structured clone',
        'structured clone, checked cloneable',
        'JSON text',
        'JSON text, checked exact',
        'v8.serialize, buffer transferred',
        'JSON bytes, buffer transferred',
      ].map((way) => `${payload}: ${way}`),
    ),
    goals: 0,
  },
  ndjson: {
    contenders: [
      'rxpool map',
      'rxpool map --unordered',
      'single-threaded loop (readline)',
      // Debian's `parallel`, where it is installed.
      ...(hasGnuParallel() ? ['GNU parallel --pipe (loop per block)'] : []),
      'heavier task: rxpool map',
      'heavier task: single-threaded loop',
    ],
    goals: 2,
  },
  flat: {
    contenders: [
      'rxpool parallelFlatMap ordered [1 us]',
      'rxpool parallelFlatMap unordered [1 us]',
      'rxpool parallelMap (arrays) + mergeAll [1 us]',
      'Python chain.from_iterable(pool.imap(f, chunksize=4)) [1 us]',
      'main thread (a loop over the generators) [1 us]',
      'rxpool parallelFlatMap ordered [200 us]',
      'main thread (a loop over the generators) [200 us]',
      'endless generator, take(200000), slow consumer (parallelFlatMap)',
      'endless generator, take(200000), slow consumer (pool.imapFlat)',
    ],
    goals: 3,
  },
  faults: {
    contenders: [
      'rxpool parallelSettle, no faults',
      'rxpool parallelSettle, 1% exit their worker',
      'rxpool parallelSettle, 1% exit their worker, no spare worker',
      'faulty / clean items/s',
      'with a spare / without, items/s',
    ],
    goals: 0,
  },
  remote: {
    contenders: [
      'rxpool pool.map, default concurrency',
      'rxpool pool.map, concurrency 16384',
      'raw BullMQ, one job per item',
      'fib(27): one thread (this process)',
      'fib(27): rxpool pool.map, 2 workers',
      'fib(27): local pool of 2 threads (what the machine allows now)',
      'rxpool idle round trip (pool.run)',
      'raw BullMQ waitUntilFinished round trip',
      'worker SIGKILLed mid-batch',
    ],
    goals: 4,
  },
};

interface Report {
  meta: Record<string, unknown>;
  cases: {
    id: string;
    rows: { contender: string; metrics: Record<string, number | null> }[];
    goals: { name: string; value: number | null; op: string; target: number; pass: boolean }[];
  }[];
}

/**
 * The cells of the Markdown table row that starts with `| prefix |`, after those of the prefix
 * (which may itself span cells: `id | goal name`).
 */
function cellsAfter(section: string, prefix: string): string[] {
  const line = section.split('\n').find((l) => l.startsWith(`| ${prefix} |`));
  assert.ok(line, `a table row for ${prefix}`);
  return line
    .slice(1, -1)
    .split('|')
    .map((cell) => cell.trim())
    .slice(prefix.split('|').length);
}

test('the quick mode (npm run bench:quick) reports every case and anchor, as Markdown and JSON', async () => {
  const jsonPath = join(dir, 'bench.json');
  // A bound for a hang only: the suite runs it beside other test files, on a machine that may be
  // busy with more.
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', '--expose-gc', 'bench/run.ts', '--quick', '--json', jsonPath],
    { cwd: root, timeout: 480_000, maxBuffer: 16 * 1024 * 1024 },
  );
  // execFile rejects on a non-zero exit and on the timeout: it exited with 0, by itself.
  const fenced = /\n```json\n([\s\S]*)\n```\n$/.exec(stdout);
  assert.ok(fenced, 'the JSON block closes stdout');
  const report = JSON.parse(fenced[1]!) as Report;
  assert.deepEqual(JSON.parse(readFileSync(jsonPath, 'utf8')), report, '--json wrote the same');
  const markdown = stdout.slice(0, fenced.index);
  assert.equal(report.meta.quick, true);

  const python = hasPython();
  assert.deepEqual(
    report.cases.map((c) => c.id),
    Object.keys(EXPECTED),
  );
  const goalsStart = markdown.indexOf('\n## Goals\n');
  assert.ok(goalsStart >= 0, 'a goals table');
  const goalsTable = markdown.slice(goalsStart, markdown.indexOf('\n## ', goalsStart + 1));
  for (const c of report.cases) {
    const expected = EXPECTED[c.id]!;
    assert.deepEqual(
      c.rows.map((r) => r.contender),
      expected.contenders,
      `${c.id}: contenders`,
    );
    const start = markdown.indexOf(`\n## ${c.id}: `);
    assert.ok(start >= 0, `${c.id}: a section in the Markdown`);
    const end = markdown.indexOf('\n## ', start + 1);
    const section = markdown.slice(start, end === -1 ? undefined : end);
    for (const row of c.rows) {
      const measurable = python || !row.contender.startsWith('Python');
      for (const [metric, value] of Object.entries(row.metrics)) {
        const what = `${c.id} / ${row.contender} / ${metric}`;
        const finite = typeof value === 'number' && Number.isFinite(value);
        assert.ok(finite || (!measurable && value === null), `${what}: ${value}`);
      }
      const cells = cellsAfter(section, row.contender);
      assert.equal(
        cells.filter((cell) => cell !== '').length,
        Object.keys(row.metrics).length,
        `${c.id} / ${row.contender}: a cell per metric`,
      );
      for (const cell of cells) {
        const parses =
          cell === '' || Number.isFinite(Number(cell)) || (!measurable && cell === 'n/a');
        assert.ok(parses, `${c.id} / ${row.contender}: cell '${cell}' is a number`);
      }
    }
    assert.equal(c.goals.length, expected.goals, `${c.id}: goals`);
    for (const g of c.goals) {
      const measurable = python || !g.name.includes('Python');
      assert.ok(Number.isFinite(g.target), `${g.name}: target`);
      if (measurable) {
        assert.ok(typeof g.value === 'number' && Number.isFinite(g.value), `${g.name}: value`);
      }
      const value = g.value ?? Number.NaN;
      const holds =
        g.op === '>=' ? value >= g.target : g.op === '<=' ? value <= g.target : value < g.target;
      assert.equal(g.pass, holds, `${g.name}: pass agrees with value ${g.op} target`);
      const [measured, target, verdict] = cellsAfter(goalsTable, `${c.id} | ${g.name}`);
      assert.ok(
        (measured !== '' && Number.isFinite(Number(measured))) ||
          (!measurable && measured === 'n/a'),
        `${g.name}: measured '${measured}' is a number`,
      );
      assert.ok(target?.startsWith(`${g.op} `), `${g.name}: target '${target}'`);
      assert.equal(verdict, g.pass ? 'PASS' : 'MISS', `${g.name}: PASS/MISS in the table`);
    }
  }
});
