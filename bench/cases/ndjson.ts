/**
 * Case `ndjson`: NDJSON records through `rxpool map` (the command line), file to file, against the
 * single-threaded loop a user writes without it (readline, `JSON.parse`, the same function,
 * `JSON.stringify`), and GNU `parallel --pipe` running that loop on blocks of lines, where Debian's
 * `parallel` is installed. Each contender is a child process timed from its start to its exit
 * (Node's start-up included for all, the pool's start-up for rxpool); the outputs are compared
 * byte for byte with the loop's after the clock stops.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type BenchCase,
  type Contender,
  cores,
  goal,
  hasGnuParallel,
  interleave,
  type Sample,
  throughputRow,
} from '../harness.js';
import { RECORDS, type RecordsModule } from './records.js';

const LOOP = fileURLToPath(new URL('../workers/ndjson-loop.mjs', import.meta.url));
const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

const NAMES = {
  rxpool: 'rxpool map',
  unordered: 'rxpool map --unordered',
  loop: 'single-threaded loop (readline)',
  parallel: 'GNU parallel --pipe (loop per block)',
  heavyRxpool: 'heavier task: rxpool map',
  heavyLoop: 'heavier task: single-threaded loop',
} as const;

export const ndjson: BenchCase = {
  id: 'ndjson',
  title: 'NDJSON file to file (records, a light task)',
  async run(settings) {
    const { quick } = settings;
    const items = quick ? 20_000 : 300_000;
    const rounds = quick ? 3 : 9;
    const mod = (await import(RECORDS.href)) as RecordsModule;
    const dir = mkdtempSync(join(tmpdir(), 'rxpool-bench-ndjson-'));
    const input = join(dir, 'in.ndjson');
    const lines: string[] = [];
    for (const record of mod.records(items)) lines.push(JSON.stringify(record));
    writeFileSync(input, `${lines.join('\n')}\n`);
    // The heavier task (`fingerprint`, several times the work per record) on the first records.
    const heavyItems = Math.floor(items / 6);
    const heavyInput = join(dir, 'heavy.ndjson');
    writeFileSync(heavyInput, `${lines.slice(0, heavyItems).join('\n')}\n`);
    const bytes = lines.reduce((n, line) => n + Buffer.byteLength(line) + 1, 0);
    lines.length = 0;
    const gnuParallel = hasGnuParallel();

    /** Runs a command with stdin from the input file and stdout to `out`; resolves on exit 0. */
    const run = (
      command: string,
      args: readonly string[],
      out: string,
      from = input,
    ): Promise<void> =>
      new Promise((resolve, reject) => {
        const stdin = openSync(from, 'r');
        const stdout = openSync(out, 'w');
        const child = spawn(command, args, { stdio: [stdin, stdout, 'pipe'] });
        let stderr = '';
        child.stderr?.on('data', (chunk) => {
          stderr += chunk;
        });
        child.on('error', reject);
        child.on('close', (code) => {
          closeSync(stdin);
          closeSync(stdout);
          if (code === 0) resolve();
          else reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${stderr}`));
        });
      });
    const digest = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
    const expectedOut = join(dir, 'expected.ndjson');
    await run(process.execPath, [LOOP], expectedOut);
    const expected = digest(expectedOut);
    const heavyExpectedOut = join(dir, 'heavy-expected.ndjson');
    await run(process.execPath, [LOOP, 'fingerprint'], heavyExpectedOut, heavyInput);
    const heavyExpected = digest(heavyExpectedOut);

    const contender = (
      name: string,
      command: string,
      args: readonly string[],
      options: { sorted?: boolean; heavy?: boolean } = {},
    ): Contender => ({
      name,
      items: options.heavy ? heavyItems : items,
      async run(): Promise<Sample> {
        const out = join(dir, 'out.ndjson');
        const started = performance.now();
        await run(command, args, out, options.heavy ? heavyInput : input);
        const ms = performance.now() - started;
        // Unordered output holds the same lines in another order.
        const got = options.sorted ? sortedDigest(out) : digest(out);
        const want = options.sorted
          ? sortedDigest(expectedOut)
          : options.heavy
            ? heavyExpected
            : expected;
        if (got !== want) throw new Error(`${name}: the output differs from the loop's`);
        return { ms };
      },
    });
    const workers = ['--workers', String(cores)];
    const contenders: Contender[] = [
      contender(NAMES.rxpool, process.execPath, [
        CLI,
        'map',
        fileURLToPath(RECORDS),
        'summarize',
        ...workers,
      ]),
      contender(
        NAMES.unordered,
        process.execPath,
        [CLI, 'map', fileURLToPath(RECORDS), 'summarize', '--unordered', ...workers],
        { sorted: true },
      ),
      contender(NAMES.loop, process.execPath, [LOOP]),
    ];
    if (gnuParallel) {
      contenders.push(
        contender(NAMES.parallel, 'parallel', [
          ...['--pipe', '--keep-order', '--block', '4M', '-j', String(cores)],
          process.execPath,
          LOOP,
        ]),
      );
    }

    contenders.push(
      contender(
        NAMES.heavyRxpool,
        process.execPath,
        [CLI, 'map', fileURLToPath(RECORDS), 'fingerprint', ...workers],
        { heavy: true },
      ),
      contender(NAMES.heavyLoop, process.execPath, [LOOP, 'fingerprint'], { heavy: true }),
    );

    try {
      const samples = await interleave(contenders, rounds, settings, 'ndjson');
      const rows = contenders.map((c) =>
        throughputRow(c.name, c.items ?? items, samples.get(c.name)!),
      );
      const rate = (name: string) => rows.find((r) => r.contender === name)!.metrics['items/s']!;
      return {
        params: {
          items,
          'input MB': Math.round(bytes / 1e5) / 10,
          'heavier task items': heavyItems,
          rounds,
          workers: cores,
        },
        rows,
        goals: [
          goal(
            'rxpool map / single-threaded loop (lines/s)',
            rate(NAMES.rxpool) / rate(NAMES.loop),
            '>=',
            1.7,
          ),
          goal(
            'heavier task: rxpool map / single-threaded loop (lines/s)',
            rate(NAMES.heavyRxpool) / rate(NAMES.heavyLoop),
            '>=',
            1,
          ),
        ],
        notes: [
          'Each contender is a child process reading the file on stdin and writing a file on stdout, timed from spawn to exit.',
          "Every output is compared with the loop's byte for byte (unordered: the same lines, sorted) after the clock stops.",
          gnuParallel
            ? 'GNU parallel runs the same loop script on 4 MB blocks of lines, one process per core, in order.'
            : "GNU parallel is not installed (Debian's `parallel` package): its row is left out.",
          'The heavier task (`fingerprint`: the light task and 16 rounds of FNV-1a over the text fields) runs on the first sixth of the records.',
        ],
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

/** A digest of a file's lines in sorted order. */
function sortedDigest(path: string): string {
  const lines = readFileSync(path, 'utf8').split('\n').sort();
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}
