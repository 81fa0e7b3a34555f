/**
 * The process stays alive while any item is pending, or while a worker is being replaced for one,
 * and only an idle pool lets it exit: scripts whose items crash their workers now and then, run
 * in child processes, many rounds each, must settle every item and exit by themselves with code 0
 * (an empty event loop under a top-level await exits with 13, or with 0 and no output).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fixture } from './_helpers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const script = fileURLToPath(fixture('crash-storm.mjs'));
const ROUNDS = 4;

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the script with plain node, killing it if it hangs. */
function runScript(args: string[], hangAfterMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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
      clearTimeout(killer);
      child.on('close', () => resolve({ code, signal, stdout, stderr }));
    });
  });
}

/**
 * Sized from runs before the fix: a crash every 20 items from the first on, over 1,000 items,
 * let the process exit in the middle in most rounds of imapSettled; sequential `run` calls, with
 * a crash every 10 of 300.
 */
const cases = [
  { mode: 'imapSettled', items: 1000, every: 20 },
  { mode: 'parallelSettle', items: 1000, every: 20 },
  { mode: 'run', items: 300, every: 10 },
] as const;

describe('the process lives while items are pending, through worker crashes', () => {
  for (const { mode, items, every } of cases) {
    it(
      `${mode}: ${items} items, one in ${every} exits its worker, ${ROUNDS} rounds`,
      { timeout: 300_000 },
      async () => {
        for (let round = 1; round <= ROUNDS; round++) {
          const run = await runScript([mode, String(items), String(every)], 60_000);
          const where = `round ${round}: stdout ${JSON.stringify(run.stdout)}, stderr ${run.stderr}`;
          assert.equal(run.signal, null, `the script hung and was killed; ${where}`);
          assert.equal(run.code, 0, `exit code ${run.code}; ${where}`);
          assert.deepEqual(
            JSON.parse(run.stdout.trim() || 'null'),
            { settled: items, failed: items / every },
            where,
          );
        }
      },
    );
  }
});

describe('the process lives while the pool closes', () => {
  it('an awaited close() resolves though its executor closes on a timer that holds nothing', async () => {
    const child = spawn(process.execPath, [fileURLToPath(fixture('slow-close.mjs'))], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(killer);
    // Without the hold, the event loop empties under the top-level await: exit code 13, no line.
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(stdout.trim() || 'null'), { value: 2, closed: true });
  });
});
