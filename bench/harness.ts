/**
 * The small shared harness of the benchmarks: running contenders interleaved over rounds, medians
 * and percentiles, goals, and the Markdown and JSON reports. Each case lives in `cases/`.
 */
import { execFile, execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { random } from './workers/random.mjs';

export { random };

/** What every case is given. */
export interface Settings {
  /** Fewer rounds and smaller sizes, for a CI smoke run. */
  readonly quick: boolean;
  /** Progress lines; they go to stderr so that stdout holds only the report. */
  readonly log: (line: string) => void;
}

/** A benchmark case: runs its contenders and reports on them. */
export interface BenchCase {
  readonly id: string;
  readonly title: string;
  run(settings: Settings): Promise<CaseOutcome>;
}

/** One timed run of a contender: `ms` elapsed, and any other numbers it measured. */
export type Sample = { readonly ms: number } & Readonly<Record<string, number>>;

/** Something timed against the others of its case. */
export interface Contender {
  readonly name: string;
  /** How many items one run handles, where the case reports items/s. */
  readonly items?: number;
  /** Runs once and says how long it took (and what else it measured). */
  run(): Promise<Sample>;
  /** Runs before the timed rounds, untimed. @default one untimed `run()` */
  warmUp?(): Promise<void>;
}

/** A line of a case's table: a contender and its numbers (medians unless the name says not). */
export interface Row {
  readonly contender: string;
  readonly metrics: Readonly<Record<string, number>>;
  /** Every round's sample, for the JSON. */
  readonly samples?: readonly Sample[];
}

/** A goal of a case: `value op target`, measured in this run. */
export interface Goal {
  readonly name: string;
  readonly value: number;
  readonly op: '>=' | '<=' | '<';
  readonly target: number;
  /** How the target was reached, when it is not a plain constant (`0.925 x 2 cores`). */
  readonly targetNote?: string;
  readonly pass: boolean;
}

/** What a case's run reports. */
export interface CaseOutcome {
  /** Sizes and settings of this run (items, rounds, ...). */
  readonly params: Readonly<Record<string, number | string>>;
  readonly rows: readonly Row[];
  readonly goals: readonly Goal[];
  /** What the numbers mean, where the table cannot say it. */
  readonly notes: readonly string[];
}

/** A case's report: its outcome, under its id and title. */
export interface CaseResult extends CaseOutcome {
  readonly id: string;
  readonly title: string;
}

/** The whole run. */
export interface Report {
  readonly meta: Readonly<Record<string, number | string | boolean>>;
  readonly cases: readonly CaseResult[];
}

/** The number of cores the pools are sized to (the default pool's size). */
export const cores = availableParallelism();

/** The worker module that every contender runs (default export: x*x; `fib`; `spin`). */
export const TASKS = new URL('./workers/tasks.mjs', import.meta.url);

/** Runs `fn` and returns how many ms it took. */
export async function timed(fn: () => Promise<unknown> | unknown): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

/** Collects garbage now, when node runs with `--expose-gc`, so that no run pays for another's. */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/**
 * Runs every contender once untimed (warm-up: JIT, module loads), then `rounds` rounds of each,
 * interleaved, each round in its own shuffled order (the same orders every run: the shuffle is
 * seeded by the round). A fixed cyclic order, even rotated and reversed every other round, gives
 * each contender the same two neighbours in every round, and what ran just before matters here:
 * rxpool ordered always came after the main-thread contender (its garbage, idle workers) and
 * unordered after tinypool, which made ordered look slower than unordered in the suite and not
 * in isolation. Returns each contender's samples, by name.
 *
 * No garbage is collected by force between rounds: a full collection shrinks V8's young
 * generation to its minimum, which no warm application heap is, and makes the contender that
 * allocates on this thread (rxpool) pay far more for trivial items, while Python allocates in
 * another process. The heap stays as the warm-up and earlier rounds left it, for every contender.
 */
export async function interleave(
  contenders: readonly Contender[],
  rounds: number,
  settings: Settings,
  label: string,
): Promise<Map<string, Sample[]>> {
  const samples = new Map<string, Sample[]>(contenders.map((c) => [c.name, []]));
  for (const contender of contenders) {
    settings.log(`${label}: warm-up: ${contender.name}`);
    await (contender.warmUp ? contender.warmUp() : contender.run());
  }
  for (let round = 0; round < rounds; round++) {
    settings.log(`${label}: round ${round + 1}/${rounds}`);
    for (const contender of shuffled(contenders, round + 1)) {
      samples.get(contender.name)!.push(await contender.run());
    }
  }
  return samples;
}

/** A copy of `items` in an order drawn from `seed` (Fisher-Yates on {@link random}). */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const next = random(seed);
  const order = [...items];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** The `p`th percentile of `values`, interpolated linearly between the nearest ranks. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

/** The median of one metric over samples. */
export function medianOf(samples: readonly Sample[], key: string): number {
  return median(samples.map((s) => s[key] ?? Number.NaN));
}

/**
 * The usual numbers of a throughput contender: items, median ms, items/s at the median, and the
 * spread of the rounds ((max - min) / median, in %), which tells how noisy the machine was.
 */
export function throughputRow(name: string, items: number, samples: readonly Sample[]): Row {
  const ms = samples.map((s) => s.ms);
  const mid = median(ms);
  return {
    contender: name,
    metrics: {
      items,
      'ms (median)': mid,
      'items/s': items / (mid / 1000),
      'spread %': ((Math.max(...ms) - Math.min(...ms)) / mid) * 100,
    },
    samples,
  };
}

/** A goal row: passes when `value op target`. A value that could not be measured (NaN) misses. */
export function goal(
  name: string,
  value: number,
  op: Goal['op'],
  target: number,
  targetNote?: string,
): Goal {
  const pass = op === '>=' ? value >= target : op === '<=' ? value <= target : value < target;
  return { name, value, op, target, ...(targetNote ? { targetNote } : {}), pass };
}

/** A checksum of a stream of numbers that stays exact (a sum of 300k squares would not). */
export function checksum(values: Iterable<number>): number {
  let sum = 0;
  for (const value of values) sum = addToChecksum(sum, value);
  return sum;
}

/** One step of {@link checksum}. */
export function addToChecksum(sum: number, value: number): number {
  return (sum + (value % 1_000_000_007)) % 1_000_000_007;
}

/** Throws unless a contender's result is right: a benchmark that computes the wrong thing is void. */
export function expectEqual(actual: number, expected: number, what: string): void {
  if (actual !== expected) throw new Error(`${what}: expected ${expected}, got ${actual}`);
}

/** `0..n-1`, as a lazy generator. */
export function* numbers(n: number): Generator<number> {
  for (let i = 0; i < n; i++) yield i;
}

/** Runs a command and resolves with its stdout (rejects on a non-zero exit). */
export async function capture(
  command: string,
  args: readonly string[],
  options: { cwd?: string; timeout?: number } = {},
): Promise<string> {
  const { stdout } = await promisify(execFile)(command, args, {
    timeout: options.timeout ?? 300_000,
    maxBuffer: 16 * 1024 * 1024,
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  return stdout;
}

/** The last line of `stdout`, parsed as JSON: how the child processes of the cases report. */
export function lastJsonLine<T>(stdout: string): T {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as T;
}

/**
 * A number for a table: integers from 1000 up, 3 significant digits below, `n/a` for what could
 * not be measured. Always something `Number()` parses back (no thousands separators).
 */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (Math.abs(value) >= 1000) return String(Math.round(value));
  return String(Number(value.toPrecision(3)));
}

/** A Markdown table; a column whose cells are all numbers (or `n/a`) is aligned right. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const numeric = header.map((_, i) =>
    rows.every((row) => {
      const cell = row[i] ?? '';
      return cell === '' || cell === 'n/a' || Number.isFinite(Number(cell));
    }),
  );
  return [
    `| ${header.join(' | ')} |`,
    `| ${numeric.map((right) => (right ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ];
}

function goalTarget(g: Goal): string {
  return `${g.op} ${formatNumber(g.target)}${g.targetNote ? ` (${g.targetNote})` : ''}`;
}

/** The report as Markdown: the goals first, then one table per case with its notes. */
export function toMarkdown(report: Report): string {
  const { meta } = report;
  const lines: string[] = [
    `# rxpool benchmarks${meta.quick ? ' (quick mode)' : ''}`,
    '',
    Object.entries(meta)
      .map(([key, value]) => `${key}: ${value}`)
      .join(' · '),
    '',
    '## Goals',
    '',
  ];
  const goalRows = report.cases.flatMap((c) =>
    c.goals.map((g) => [
      c.id,
      g.name,
      formatNumber(g.value),
      goalTarget(g),
      g.pass ? 'PASS' : 'MISS',
    ]),
  );
  lines.push(...table(['case', 'goal', 'measured', 'target', 'result'], goalRows));
  for (const c of report.cases) {
    lines.push('', `## ${c.id}: ${c.title}`, '');
    lines.push(
      Object.entries(c.params)
        .map(([key, value]) => `${key}: ${value}`)
        .join(' · '),
      '',
    );
    const columns = [...new Set(c.rows.flatMap((row) => Object.keys(row.metrics)))];
    lines.push(
      ...table(
        ['contender', ...columns],
        c.rows.map((row) => [
          row.contender,
          ...columns.map((col) => (col in row.metrics ? formatNumber(row.metrics[col]!) : '')),
        ]),
      ),
    );
    if (c.notes.length > 0) lines.push('', ...c.notes.map((note) => `- ${note}`));
  }
  return lines.join('\n');
}

/** The report as JSON; numbers that could not be measured (NaN) become `null`. */
export function toJson(report: Report): string {
  return JSON.stringify(
    report,
    (_key, value) => (typeof value === 'number' && !Number.isFinite(value) ? null : value),
    2,
  );
}

/** Whether `python3` runs here; without it the Python rows say n/a. */
export function hasPython(): boolean {
  try {
    execFileSync('python3', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Whether GNU parallel (Debian's `parallel`) runs here; without it the `ndjson` case leaves its row out. */
export function hasGnuParallel(): boolean {
  try {
    return execFileSync('parallel', ['--version'], { encoding: 'utf8' }).includes('GNU parallel');
  } catch {
    return false;
  }
}
