/**
 * What the end-to-end tests of the `rxpool` command line share (cli.test.ts, cli-errors.test.ts):
 * each spawns the built `dist/src/cli/main.js` (build it first: `npm run build`) in
 * test/fixtures, with the task modules cli-task.mjs and cli-broken.mjs, and checks its output,
 * stderr and exit code.
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { collectOutput } from '../support/child.js';

export const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
export const TASK = './cli-task.mjs';
export const SAFETY_MS = 60_000;

export interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Starts `rxpool ...args` in test/fixtures, killed if it is still running after a minute. */
export function start(args: readonly string[]): ChildProcessWithoutNullStreams {
  assert.ok(existsSync(CLI), `${CLI} is missing: run npx tsc -p tsconfig.build.json`);
  const child = spawn(process.execPath, [CLI, ...args], { cwd: FIXTURES });
  const timer = setTimeout(() => child.kill(), SAFETY_MS);
  child.on('exit', () => clearTimeout(timer));
  return child;
}

/** Everything `child` writes, once it has exited. */
export function finished(child: ChildProcessWithoutNullStreams): Promise<Result> {
  const output = collectOutput(child);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, stdout: output.stdout(), stderr: output.stderr() }),
    );
  });
}

/** Runs `rxpool ...args` with `input` on stdin. */
export function rxpool(args: readonly string[], input = ''): Promise<Result> {
  const child = start(args);
  const result = finished(child);
  child.stdin.on('error', () => {}); // it may exit before reading everything (a usage error)
  child.stdin.end(input);
  return result;
}

export const ndjson = (values: readonly unknown[]) =>
  values.map((v) => `${JSON.stringify(v)}\n`).join('');
export const parseLines = (text: string): unknown[] =>
  text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
export const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
export const byNumber = (a: number, b: number) => a - b;

/**
 * Writes `line` up to 20,000 times (20 MB of 1 kB lines: far more than the pipes and buffers in
 * between hold), until a write has waited 2 s for 'drain': how many were written, and whether the
 * reader stopped taking them.
 */
export async function writeUntilStalled(
  stdin: NodeJS.WritableStream,
  line: string,
): Promise<{ written: number; stalled: boolean }> {
  let written = 0;
  while (written < 20_000) {
    if (!stdin.write(line)) {
      const drained = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 2_000);
        stdin.once('drain', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      if (!drained) return { written, stalled: true };
    }
    written++;
  }
  return { written, stalled: false };
}
