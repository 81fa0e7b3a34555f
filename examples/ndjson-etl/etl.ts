/**
 * The ETL: an NDJSON file streamed through parse, validate and enrich on rxpool's workers and
 * written back out with `stream.pipeline`, in constant memory; lines that fail go to a rejects
 * file. `main.ts` is the command line around it.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { finished, pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import type { Observer } from 'rxjs';
import { defaultPool, type Failure, type Pool, task } from 'rxpool';

const transformLine = task<string, string>(
  new URL('./transform.mjs', import.meta.url),
  'transformLine',
);

/** Options of {@link runEtl}. */
export interface EtlOptions {
  /** The NDJSON file to read. */
  readonly input: string;
  /** Where the enriched lines go, in input order. */
  readonly output: string;
  /** Where the rejected lines go: one JSON object per line, `{ line, reason, text }`. */
  readonly rejects: string;
  /** The pool to run on. @default the shared default pool */
  readonly pool?: Pool;
  /**
   * The most lines in the workers at once (`pool.imapSettled`'s `concurrency`); as many again may
   * wait, enriched, to be written. @default 2048
   */
  readonly window?: number;
  /** Lines per message to a worker. @default 500 */
  readonly batchSize?: number;
}

/** What {@link runEtl} did. */
export interface EtlReport {
  readonly linesIn: number;
  readonly linesOut: number;
  readonly rejected: number;
  readonly bytesIn: number;
  readonly ms: number;
}

/** One line of the rejects file. */
export interface Reject {
  /** 1-based line number in the input. */
  readonly line: number;
  /** The error the worker threw: `SyntaxError: ...` or `ValidationError: field: ...`. */
  readonly reason: string;
  /** The line as it was. */
  readonly text: string;
}

/**
 * Splits a byte stream into lines (without their `\n` or `\r\n`), yielding them in arrays, one
 * per block read, so that the loop over them pays one `await` per block rather than per line.
 */
export async function* splitLines(source: AsyncIterable<Buffer>): AsyncGenerator<string[]> {
  const decoder = new StringDecoder('utf8');
  let carry = '';
  for await (const block of source) {
    const lines = (carry + decoder.write(block)).split('\n');
    carry = lines.pop()!;
    yield lines.map(stripCr);
  }
  const last = carry + decoder.end();
  if (last !== '') yield [stripCr(last)];
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

/**
 * The middle of the pipeline: runs each line on the workers through `pool.imapSettled`, sends each
 * failure to `rejects` (the dead-letter queue), and yields the enriched lines in input order, in
 * blocks.
 *
 * `pool.imapSettled` is the library's pull path: it reads a line only while fewer than `window`
 * are in its window, and runs ahead only as far as the loop here takes its results, and the loop
 * goes on only as fast as the next stage takes the blocks (`yield` waits for it, and `pipeline`
 * waits for the file). What is held is bounded by twice `window` lines (in the window, and
 * enriched in a block not yet handed on), whatever the size of the file.
 */
export async function* transformLines(
  blocks: AsyncIterable<string[]>,
  rejects: Partial<Observer<Failure<string>>>,
  options: { pool?: Pool; window: number; batchSize: number },
): AsyncGenerator<string[]> {
  const pool = options.pool ?? defaultPool();
  async function* lines(): AsyncGenerator<string> {
    for await (const block of blocks) yield* block;
  }
  const outcomes = pool.imapSettled(transformLine, lines(), {
    concurrency: options.window,
    batchSize: options.batchSize,
  });
  // Handed on in blocks, no bigger than the window, so that at most twice it is held.
  const blockLines = Math.min(BLOCK_LINES, options.window);
  let ready: string[] = [];
  try {
    for await (const outcome of outcomes) {
      if (outcome.ok) {
        ready.push(outcome.value);
        if (ready.length >= blockLines) {
          yield ready;
          ready = [];
        }
      } else rejects.next?.(outcome);
    }
  } catch (error) {
    rejects.error?.(error);
    throw error;
  }
  if (ready.length > 0) yield ready;
  rejects.complete?.();
}

/** Enriched lines per block handed to the output file (at most; no more than the window). */
const BLOCK_LINES = 512;

/**
 * Runs the ETL: `input` → split into lines → parse, validate, enrich on the workers → `output`,
 * with every failed line written to `rejects` along with its line number and the reason.
 */
export async function runEtl(options: EtlOptions): Promise<EtlReport> {
  const started = performance.now();
  let linesIn = 0;
  let linesOut = 0;
  let rejected = 0;
  let bytesIn = 0;
  async function* countBytes(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const block of source) {
      bytesIn += block.length;
      yield block;
    }
  }
  async function* countLines(blocks: AsyncIterable<string[]>): AsyncGenerator<string[]> {
    for await (const block of blocks) {
      linesIn += block.length;
      yield block;
    }
  }

  const rejectsFile = createWriteStream(options.rejects);
  const rejectsWritten = finished(rejectsFile);
  rejectsWritten.catch(() => {}); // awaited below; this only keeps an early failure handled
  // The dead-letter queue. Rejects are a small share of the lines, so writing them without
  // waiting for 'drain' holds little; the file is ended when the stream completes.
  const rejects: Observer<Failure<string>> = {
    next: ({ index, input, error }) => {
      rejected++;
      const reject: Reject = {
        line: index + 1,
        reason: `${error.cause.name}: ${error.cause.message}`,
        text: input,
      };
      rejectsFile.write(`${JSON.stringify(reject)}\n`);
    },
    error: (error) => rejectsFile.destroy(error as Error),
    complete: () => rejectsFile.end(),
  };

  try {
    await pipeline(
      createReadStream(options.input, { highWaterMark: 1 << 16 }),
      async function* (source: AsyncIterable<Buffer>) {
        const lines = countLines(splitLines(countBytes(source)));
        const enriched = transformLines(lines, rejects, {
          pool: options.pool,
          window: options.window ?? 2048,
          batchSize: options.batchSize ?? 500,
        });
        for await (const block of enriched) {
          linesOut += block.length;
          yield `${block.join('\n')}\n`;
        }
      },
      createWriteStream(options.output),
    );
  } catch (error) {
    // The stream stopped early, so the dead-letter queue was never completed: close its file.
    rejectsFile.destroy();
    throw error;
  }
  await rejectsWritten;
  return { linesIn, linesOut, rejected, bytesIn, ms: performance.now() - started };
}
