/**
 * Every example has a README, and the cluster example's README gives the defaults its command line
 * has (the size at which a cluster pays is the point of the example).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

const examples = new URL('../../examples/', import.meta.url);

test('every example folder has a README.md', () => {
  const folders = readdirSync(examples, { withFileTypes: true }).filter((e) => e.isDirectory());
  assert.ok(folders.length >= 6);
  for (const folder of folders) {
    assert.ok(existsSync(new URL(`${folder.name}/README.md`, examples)), `${folder.name} has none`);
  }
});

test("examples/cluster/README.md states main.ts's defaults", () => {
  const main = readFileSync(new URL('cluster/main.ts', examples), 'utf8');
  const readme = readFileSync(new URL('cluster/README.md', examples), 'utf8');
  for (const option of ['items', 'n']) {
    const value = new RegExp(`${option}: \\{ type: 'string', default: '(\\d+)' \\}`).exec(
      main,
    )?.[1];
    assert.ok(value, `main.ts has no default for --${option}`);
    assert.match(readme, new RegExp(`\`--${option} N\` \\(default ${value}\\b`));
  }
  assert.match(readme, /the default, 2,000 items of `fib\(27\)`/);
  assert.match(main, /default: '2000'/);
});
