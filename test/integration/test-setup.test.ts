/**
 * The test set-up itself: scripts/ensure-redis.sh, and the processes the test helpers start
 * (scripts/redis-server.ts, scripts/rxpool-worker.ts), which must not outlive the test process
 * whichever way it ends.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { collectOutput, runNode } from '../support/child.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const temps: string[] = [];

/** Processes a test here saw started; killed by pid after, in case the test failed. */
const pids: number[] = [];

after(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('ensure-redis.sh: when apt-get fails, what it said is shown with the step that failed', () => {
  // A PATH with no redis-server, where `id` says root and `apt-get install` fails as apt does
  // for a package it cannot find (its message on stderr, progress on stdout, exit 100).
  const bin = mkdtempSync(join(tmpdir(), 'rxpool-ensure-redis-'));
  temps.push(bin);
  const script = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  script('id', 'echo 0');
  script(
    'apt-get',
    [
      'echo "Reading package lists..."',
      'if [ "$1" = install ]; then echo "E: Unable to locate package redis-server" >&2; exit 100; fi',
    ].join('\n'),
  );
  symlinkSync(
    execFileSync('sh', ['-c', 'command -v sed'], { encoding: 'utf8' }).trim(),
    join(bin, 'sed'),
  );
  let status = 0;
  let stderr = '';
  try {
    execFileSync('/bin/sh', [join(ROOT, 'scripts/ensure-redis.sh')], {
      env: { PATH: bin },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    const failed = error as { status: number; stderr: string };
    status = failed.status;
    stderr = failed.stderr;
  }
  assert.equal(status, 1, stderr);
  assert.match(
    stderr,
    /`apt-get install -y --no-install-recommends redis-server` failed \(exit 100\); apt-get said:/,
  );
  assert.match(stderr, /^ {2}Reading package lists\.\.\.$/m);
  assert.match(stderr, /^ {2}E: Unable to locate package redis-server$/m);
  assert.match(stderr, /redis-server is not installed; fix the above/);
});

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  test(`a test process ended by ${signal} takes its redis-server and rxpool worker along`, async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('../fixtures/reap.ts', import.meta.url))],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const output = collectOutput(child);
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const deadline = Date.now() + 60_000;
    while (!/^\d+ \d+\n/.test(output.stdout())) {
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill('SIGKILL');
        assert.fail(`the fixture did not start them: ${output.stdout()}\n${output.stderr()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const started = output.stdout().trim().split(' ').map(Number);
    pids.push(...started);
    assert.ok(started.every(alive));
    child.kill(signal);
    await exited;
    const until = Date.now() + 10_000;
    while (started.some(alive)) {
      assert.ok(
        Date.now() < until,
        `still running after the test process's ${signal}: ${started.filter(alive).join(', ')}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
}

test('a test process that starts more than ten servers warns of no listener leak, and takes them along when it exits', async () => {
  const { code, stdout, stderr } = await runNode(
    ['--import', 'tsx', fileURLToPath(new URL('../fixtures/reap-many.ts', import.meta.url))],
    { killAfterMs: 60_000 },
  );
  const started = stdout.trim().split(' ').map(Number);
  pids.push(...started);
  assert.equal(code, 0, stderr);
  assert.equal(started.length, 12, stdout);
  assert.doesNotMatch(stderr, /MaxListenersExceededWarning/);
  // Killed on the normal exit, not only by the watchdogs: gone at once, or nearly.
  const until = Date.now() + 10_000;
  while (started.some(alive)) {
    assert.ok(Date.now() < until, `still running after exit: ${started.filter(alive).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});
