/**
 * How `rxpool map`'s blocks go to the workers (src/cli/map/blocks.ts), seen by the executor: a
 * pool whose executor is the thread pool wrapped to record each batch it is given; and how a file
 * on stdin is cut into blocks where it is read (src/cli/map/input.ts).
 */
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { test } from 'node:test';
import type { MapCommand } from '../../src/cli/args.js';
import type { BatchOutcome, Executor, ExecutorBatch } from '../../src/executor/contract.js';

// The built modules, as the command line runs them (workers load the built worker side).
const dist = (path: string) => new URL(`../../dist/src/${path}`, import.meta.url).href;
const { mapBlocks } = (await import(
  dist('cli/map/blocks.js')
)) as typeof import('../../src/cli/map/blocks.js');
const { createPool } = (await import(
  dist('pool/pool.js')
)) as typeof import('../../src/pool/pool.js');
const { threadExecutor } = (await import(
  dist('threads/thread-executor.js')
)) as typeof import('../../src/threads/thread-executor.js');
const { FileStdin } = (await import(
  dist('cli/map/input.js')
)) as typeof import('../../src/cli/map/input.js');
const { CliError, ExitCode } = (await import(
  dist('cli/args.js')
)) as typeof import('../../src/cli/args.js');

const TASK = new URL('../fixtures/cli-lines.mjs', import.meta.url).href;

/** `rxpool map <TASK> reshape --workers 2`, in order. */
const COMMAND: MapCommand = {
  kind: 'map',
  module: TASK,
  exportName: 'reshape',
  concurrency: 16_384,
  ordered: true,
  timeout: undefined,
  retry: 0,
  onError: 'fail',
  flat: false,
  workers: 2,
};

/** A stream that keeps what is written to it, as text. */
function collected(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(Buffer.from(chunk));
      done();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString() };
}

/** The thread pool, recording the inputs of every batch it runs. */
function recording(size: number): { executor: Executor; batches: number[] } {
  const inner = threadExecutor({
    size,
    idleTimeout: Infinity,
    maxTasksPerWorker: Infinity,
    setup: undefined,
    maxHeapMb: undefined,
  });
  const batches: number[] = [];
  const executor: Executor = {
    size: inner.size,
    traits: inner.traits,
    capacity: () => inner.capacity(),
    run(batch: ExecutorBatch, report: (outcome: BatchOutcome) => void) {
      batches.push(batch.inputs.length);
      return inner.run(batch, report);
    },
    stats: () => inner.stats(),
    close: () => inner.close(),
    destroy: () => inner.destroy(),
  };
  return { executor, batches };
}

test('every block is a batch of its own: blocks are sized for a worker already', async () => {
  // About 40 blocks of 120 KB, there to be read at once: blocks queue up for the workers.
  const lines: string[] = [];
  for (let n = 0; n < 60_000; n++) lines.push(JSON.stringify({ n, text: `line ${n} `.repeat(8) }));
  const input = Buffer.from(`${lines.join('\n')}\n`);
  const { executor, batches } = recording(2);
  const pool = createPool({ executor });
  let written = 0;
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const byte of chunk) if (byte === 10) written++;
      done();
    },
  });
  const chunks: Buffer[] = [];
  for (let at = 0; at < input.length; at += 1 << 20)
    chunks.push(input.subarray(at, at + (1 << 20)));
  const stderr = new Writable({ write: (_chunk, _encoding, done) => done() });
  const code = await mapBlocks(COMMAND, pool, TASK, {
    stdin: Readable.from(chunks),
    stdout,
    stderr,
  });
  assert.equal(code, 0);
  assert.equal(written, lines.length);
  assert.ok(batches.length >= 30, `${batches.length} batches`);
  // Batched by the engine, two blocks went together in the window's one spare place (five blocks
  // out, four batches), and stayed with one worker: it ran about 55% of the lines.
  assert.deepEqual(
    batches.filter((count) => count !== 1),
    [],
    'a batch of several blocks',
  );
});

test('a file on stdin is read in place from its own offset, lines longer than a block included', async () => {
  const { reshape } = (await import(TASK)) as { reshape: (value: unknown) => unknown };
  const lines: string[] = [];
  for (let n = 0; n < 20_000; n++) {
    // a 300 KB line now and then: longer than a block, and than half a read's memory
    const text = n % 5000 === 4999 ? 'long '.repeat(60_000) : `line ${n} `.repeat(1 + (n % 9));
    lines.push(JSON.stringify({ n, text }));
  }
  const dir = mkdtempSync(join(tmpdir(), 'rxpool-blocks-'));
  const file = join(dir, 'in.ndjson');
  writeFileSync(file, `${lines.join('\n')}\n`);
  // The file's offset is past the first 100 lines, as a shell leaves it after `head -n 100`.
  const skip = lines.slice(0, 100).reduce((n, line) => n + Buffer.byteLength(line) + 1, 0);
  const fd = openSync(file, 'r');
  readSync(fd, Buffer.alloc(skip), 0, skip, null);
  const stdout = collected();
  try {
    const code = await mapBlocks(COMMAND, createPool({ size: 2 }), TASK, {
      stdin: new FileStdin(fd),
      stdout: stdout.stream,
      stderr: collected().stream,
    });
    assert.equal(code, 0);
    const want = lines
      .slice(100)
      .map((line) => `${JSON.stringify(reshape(JSON.parse(line)))}\n`)
      .join('');
    assert.ok(stdout.text() === want, 'the output differs from the loop');
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('output in shared memory is used again only once stdout is done with it (a slow stdout)', async () => {
  const { measure, thrice } = (await import(TASK)) as Record<string, (value: unknown) => unknown>;
  const lines: string[] = [];
  for (let n = 0; n < 30_000; n++) lines.push(JSON.stringify({ n, text: `line ${n} `.repeat(6) }));
  const dir = mkdtempSync(join(tmpdir(), 'rxpool-blocks-'));
  const file = join(dir, 'in.ndjson');
  writeFileSync(file, `${lines.join('\n')}\n`);
  try {
    // measure's output fits in a block's output memory; thrice's (three times the input) does not.
    for (const [name, fn] of [
      ['measure', measure!],
      ['thrice', thrice!],
    ] as const) {
      // A stream that is done with a chunk only a moment later, as a pipe to a slow reader is:
      // it reads the chunk then, so memory used again before would show in the output.
      const chunks: Buffer[] = [];
      const stdout = new Writable({
        write(chunk: Buffer, _encoding, done) {
          setTimeout(() => {
            chunks.push(Buffer.from(chunk));
            done();
          }, 1);
        },
      });
      const fd = openSync(file, 'r');
      try {
        const code = await mapBlocks(
          { ...COMMAND, exportName: name },
          createPool({ size: 2 }),
          TASK,
          { stdin: new FileStdin(fd), stdout, stderr: collected().stream },
        );
        assert.equal(code, 0);
      } finally {
        closeSync(fd);
      }
      // The run ends with its last writes handed to stdout: they are done once it finished.
      await new Promise((resolve) => stdout.end(resolve));
      const want = lines.map((line) => `${JSON.stringify(fn(JSON.parse(line)))}\n`).join('');
      assert.ok(Buffer.concat(chunks).toString() === want, `${name}: the output differs`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('what blocks give waits for the check of the export: written once it passed, dropped when it failed', async () => {
  const { reshape } = (await import(TASK)) as { reshape: (value: unknown) => unknown };
  const lines: string[] = [];
  for (let n = 0; n < 20_000; n++) lines.push(JSON.stringify({ n, text: `line ${n} `.repeat(4) }));
  const input = Buffer.from(`${lines.join('\n')}\n`);
  const want = lines.map((line) => `${JSON.stringify(reshape(JSON.parse(line)))}\n`).join('');
  for (const passes of [true, false]) {
    const stdout = collected();
    const stderr = collected();
    let writtenBefore = -1;
    // The check ends well after every block ran.
    const checked = new Promise<void>((resolve, reject) =>
      setTimeout(() => {
        writtenBefore = stdout.text().length;
        if (passes) resolve();
        else reject(new CliError("the task module 'x' has no export named 'y'", ExitCode.module));
      }, 1500),
    );
    const code = await mapBlocks(
      COMMAND,
      createPool({ size: 2 }),
      TASK,
      { stdin: Readable.from([input]), stdout: stdout.stream, stderr: stderr.stream },
      checked,
    );
    assert.equal(writtenBefore, 0, 'output was written before the check ended');
    if (passes) {
      assert.equal(code, 0);
      assert.ok(stdout.text() === want, 'the output differs from the loop');
      assert.equal(stderr.text(), '');
    } else {
      assert.equal(code, ExitCode.module);
      assert.equal(stdout.text(), '');
      assert.equal(stderr.text(), "rxpool: the task module 'x' has no export named 'y'\n");
    }
  }
});

test('a file on stdin that cannot be read ends the run with why, exit 1', async () => {
  // A folder opens for reading, and each read fails (EISDIR).
  const fd = openSync(tmpdir(), 'r');
  const stderr = collected();
  try {
    const code = await mapBlocks(COMMAND, createPool({ size: 1 }), TASK, {
      stdin: new FileStdin(fd),
      stdout: collected().stream,
      stderr: stderr.stream,
    });
    assert.equal(code, 1);
    assert.match(stderr.text(), /cannot read the input: EISDIR/);
  } finally {
    closeSync(fd);
  }
});
