/**
 * The published types work in a user's TypeScript project: the packed package, installed into a
 * temporary project, typechecks there under `moduleResolution` `nodenext` and `bundler`, `strict`,
 * with the TypeScript this repository pins (the newest 5.x) and without `skipLibCheck` (so rxpool's
 * own .d.ts files are checked too). The program uses both entry points, `task()` type parameters
(a task of other types is refused: the brand that carries them survives `stripInternal`),
 * settled values, and `transfer` / `move()` of typed arrays as TypeScript 5.7+ types them
 * (`Float64Array<ArrayBuffer>`, and `Float64Array` = `Float64Array<ArrayBufferLike>`) with no
 * cast. `@ts-expect-error` lines prove the types are checked, not `any`: were they, tsc would
 * report the directive unused.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { consumer, pack, pinned, run } from '../support/consumer.js';

const program = `import { createPool, move, type Settled, Task, TaskError, task } from 'rxpool';
import { parallelMap, parallelSettle, skipFailures } from 'rxpool/operators';
import { lastValueFrom, of, toArray } from 'rxjs';

// TypeScript 5.7+: a typed array made here is a Float64Array<ArrayBuffer>.
const owned = new Float64Array([1, 2, 3]);
// One of unknown origin is a Float64Array<ArrayBufferLike> (its buffer may be shared).
const arrays: Float64Array[] = [new Float64Array(4), new Float64Array(new SharedArrayBuffer(32))];

const sum = task<Float64Array, number>(new URL('./sum.js', import.meta.url), 'sum');
const scale = (a: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> => {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! * 2;
  return move(out, [out.buffer]);
};

export async function main(): Promise<number[]> {
  await using pool = createPool({ size: 1 });
  const total: number = await pool.run(sum, owned, { transfer: [owned.buffer] });
  const sums: number[] = await pool.map(sum, arrays, { transfer: (a) => [a.buffer] });
  const scaled = await lastValueFrom(
    of(new Float64Array([1])).pipe(
      parallelMap(scale, { transfer: (a) => [a.buffer], pool }),
      toArray(),
    ),
  );
  const settled: Settled<Float64Array, number>[] = await lastValueFrom(
    of(...arrays).pipe(parallelSettle(sum, { pool }), toArray()),
  );
  for (const s of settled) if (!s.ok) console.log(s.error instanceof TaskError, s.error.index);
  const values = await lastValueFrom(
    of(...arrays).pipe(parallelSettle(sum, { pool }), skipFailures(), toArray()),
  );
  // @ts-expect-error a Float64Array's result is a number, not a string
  const wrong: string = await pool.run(sum, owned);
  // @ts-expect-error the input is a Float64Array
  await pool.run(sum, 'text');
  // A task's types live in its brand (taskSignature), which the published types keep: a task of
  // other types is refused where a Task is expected, though the two look alike at run time.
  const length = task<string, number>(new URL('./sum.js', import.meta.url), 'sum');
  // @ts-expect-error a Task<string, number> is not a Task<Float64Array, number>
  const mismatched: Task<Float64Array, number> = length;
  // @ts-expect-error nor is it a Task<string, string>
  const other: Task<string, string> = length;
  const same: Task<string, number> = length;
  void [mismatched, other, same];
  // @ts-expect-error its input is a string: parallelMap refuses it on a stream of numbers
  of(1).pipe(parallelMap(length));
  // @ts-expect-error the constructor is internal: tasks are made with task()
  new Task<string, number>('file:///x.js', 'default');
  return [total, ...sums, scaled[0]![0]!, ...values, wrong.length];
}
`;

const config = (resolution: 'nodenext' | 'bundler') => ({
  compilerOptions: {
    target: 'ES2022',
    module: resolution === 'nodenext' ? 'NodeNext' : 'ESNext',
    moduleResolution: resolution,
    lib: ['ES2023', 'ESNext.Disposable'],
    types: ['node'],
    strict: true,
    noEmit: true,
    skipLibCheck: false,
  },
  files: ['main.ts'],
});

let tmp: string;
let project: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'rxpool-types-'));
  const tarball = await pack(tmp);
  project = await consumer(join(tmp, 'project'), tarball, [
    await pinned('rxjs'),
    await pinned('typescript'),
    await pinned('@types/node'),
  ]);
  await writeFile(join(project, 'main.ts'), program);
  await writeFile(
    join(project, 'sum.js'),
    'export const sum = (a) => a.reduce((s, x) => s + x, 0);\n',
  );
});
after(() => rm(tmp, { recursive: true, force: true }));

for (const resolution of ['nodenext', 'bundler'] as const) {
  it(
    `typechecks in a strict consumer under moduleResolution ${resolution}, transfer of typed arrays without a cast`,
    { timeout: 180_000 },
    async () => {
      const file = `tsconfig.${resolution}.json`;
      await writeFile(join(project, file), JSON.stringify(config(resolution), null, 2));
      const tsc = join(project, 'node_modules/typescript/bin/tsc');
      const { stdout: version } = await run(process.execPath, [tsc, '--version'], { cwd: project });
      assert.match(version, /^Version 5\./);
      const outcome = await run(process.execPath, [tsc, '-p', file], { cwd: project }).then(
        () => '',
        (error: { stdout?: string; message: string }) => error.stdout || error.message,
      );
      assert.equal(outcome, '', `tsc found problems:\n${outcome}`);
    },
  );
}
