/**
 * `import 'rxpool'` loads no rxjs: the Pool does not use it, and the operators that `rxpool`
 * re-exports load it when one is first called (operators/rx.ts). Each case runs in a process of
 * its own (test/fixtures/rxjs-loaded.mjs), which counts the rxjs modules loaded, from the built
 * package (dist/).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const fixture = fileURLToPath(new URL('../fixtures/rxjs-loaded.mjs', import.meta.url));

async function loaded(mode: string): Promise<Record<string, unknown>> {
  const { stdout } = await promisify(execFile)(process.execPath, [fixture, mode], {
    timeout: 60_000,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  return JSON.parse(stdout);
}

describe('rxjs is loaded only by who uses the operators', { timeout: 120_000 }, () => {
  it("import 'rxpool' and a Pool's map and imap load no rxjs module", async () => {
    const out = await loaded('pool');
    assert.deepEqual(out, {
      imported: 0,
      results: [
        [2, 4],
        [2, 3],
      ],
      used: 0,
    });
  });

  it("an operator from 'rxpool' loads rxjs when called: the app's own, one instance", async () => {
    const out = await loaded('root-operator');
    assert.equal(out.imported, 0);
    assert.ok((out.called as number) > 0, 'calling parallelMap loaded no rxjs');
    assert.equal(out.isObservable, true, "the output is not an instance of the app's Observable");
    assert.deepEqual(out.results, [2, 4, 6]);
    assert.equal(out.same, true, 'rxpool and rxpool/operators export different parallelMaps');
  });

  it("import 'rxpool/operators' loads rxjs (what the other cases count is there to count)", async () => {
    const out = await loaded('operators');
    assert.ok((out.imported as number) > 0);
  });
});
