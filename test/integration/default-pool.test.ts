/**
 * The shared default pool never keeps the process alive: a script that uses parallelMap and
 * creates no pool exits by itself, at once, once its work is done.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fixture } from './_helpers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const EXIT_WITHIN_MS = 1_500;

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly exitedAt: number;
}

/** Runs a script with plain node (no TypeScript loader), killing it if it hangs. */
function runScript(path: string, hangAfterMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), hangAfterMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const exitedAt = Date.now();
      clearTimeout(killer);
      // 'exit' may come before the pipes are drained; 'close' follows once they are.
      child.on('close', () => resolve({ code, signal, stdout, stderr, exitedAt }));
    });
  });
}

it(
  'a script that uses parallelMap with no pool exits by itself, with the right output',
  {
    timeout: 60_000,
  },
  async () => {
    const run = await runScript(fileURLToPath(fixture('default-pool-exit.mjs')), 30_000);
    assert.equal(run.signal, null, `the script hung and was killed; stderr: ${run.stderr}`);
    assert.equal(run.code, 0, `exit code ${run.code}; stderr: ${run.stderr}`);
    const lines = run.stdout.trim().split('\n');
    assert.equal(lines.length, 1, `unexpected output: ${run.stdout}`);
    const { results, printedAt } = JSON.parse(lines[0]!) as {
      results: number[];
      printedAt: number;
    };
    assert.deepEqual(
      results,
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    const lingered = run.exitedAt - printedAt;
    assert.ok(
      lingered <= EXIT_WITHIN_MS,
      `the process exited ${lingered} ms after printing its last result`,
    );
  },
);
