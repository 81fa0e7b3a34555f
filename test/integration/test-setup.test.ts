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

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const temps: string[] = [];

after(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

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
