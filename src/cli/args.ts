/**
 * The `rxpool` command line: its options, their validation, the help text and the exit codes.
 * Parsing is pure (argv in, a command or a `CliError` out), so the messages are easy to test.
 */
import { parseArgs } from 'node:util';
// Not '../index.js': that loads the operators and RxJS, a good part of every run's start.
import { DEFAULT_CONCURRENCY } from '../options.js';

/** What the process exits with; `--help` lists them. */
export const ExitCode = {
  /** Every item was written (with `--on-error settle`, failed ones too). */
  ok: 0,
  /** An item failed (`--on-error fail`), or something else went wrong. */
  failed: 1,
  /** The command line is wrong: unknown option, bad value, missing argument. */
  usage: 2,
  /** The task module cannot be found or loaded, or has no such function export. */
  module: 3,
  /** A line of standard input is not JSON (`--on-error fail`; the other modes go on past it). */
  input: 4,
  /** Some items failed and were left out (`--on-error skip`). */
  skipped: 5,
} as const;

/** An error to report as `rxpool: <message>` before exiting with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** What `--on-error` chooses. */
export type OnError = 'fail' | 'skip' | 'settle';

/** The settings of `rxpool map`. */
export interface MapCommand {
  readonly kind: 'map';
  /** The task module's path, as given (read from the current directory). */
  readonly module: string;
  readonly exportName: string;
  readonly concurrency: number;
  readonly ordered: boolean;
  readonly timeout: number | undefined;
  readonly retry: number;
  readonly onError: OnError;
  /** A returned array is many values, written one a line (an iterator always is). */
  readonly flat: boolean;
  /** Pool size; `undefined` for the default (`os.availableParallelism()`). */
  readonly workers: number | undefined;
}

/** The settings of `rxpool worker`. */
export interface WorkerCommand {
  readonly kind: 'worker';
  /** The Redis URL, as given (`redis://` or `rediss://`, user and password in it for ACLs). */
  readonly redis: string;
  readonly queue: string;
  /** Pool size; `undefined` for the default (`os.availableParallelism()`). */
  readonly threads: number | undefined;
  readonly allowInline: boolean;
  /** `--setup MODULE#export`: run once in every worker; what it returns is the tasks' `state`. */
  readonly setup: { readonly module: string; readonly name: string } | undefined;
  /** The task modules' paths, as given (read from the current directory). */
  readonly modules: readonly string[];
}

/** What the command line asks for. */
export type Command =
  | MapCommand
  | WorkerCommand
  | { readonly kind: 'help' }
  | { readonly kind: 'version' };

const ON_ERROR: readonly OnError[] = ['fail', 'skip', 'settle'];

/** The text of `rxpool --help`. */
export const HELP = `Usage: rxpool map <module> [export] [options] < in.ndjson > out.ndjson
       rxpool worker --redis URL --queue NAME [--threads N] [--allow-inline]
                     [--setup MODULE#export] <module>...

Runs a function exported by <module> on a pool of worker threads, once for each line of
standard input (one JSON value per line), and writes one JSON line per result to standard
output (one per value of a returned iterator: zero, one or many), in input order unless
--unordered. Blank lines are skipped. <module> is a path read from the current directory;
[export] defaults to 'default'. Input is read only as fast as results are written, so inputs
of any size run in constant memory.

Options:
  --concurrency N    the most lines read and not yet written (default ${DEFAULT_CONCURRENCY})
  --unordered        write results as they finish instead of in input order
  --flat             write each item of a returned array as its own line (a returned
                     iterator, such as a generator's, always is; sync or async)
  --timeout MS       fail an attempt that runs longer than MS milliseconds (its worker is
                     stopped and replaced)
  --retry N          try a failed line again, up to N more times (default 0)
  --on-error MODE    what a failed line does (after its retries):
                       fail    stop: write the results before it, report it, exit 1 (default)
                       skip    leave it out, report it on stderr, go on; exit 5 at the end
                       settle  write every line as {"ok","index","line","input","value"|"error"}
                     with skip or settle, a line that is not JSON is a failed line too (never
                     run; in settle mode its "input" is the line's text, its error a SyntaxError)
  --workers N        worker threads (default: the number of CPUs)
  -h, --help         show this help
  -v, --version      show the version

Progress (lines done, rate) goes to stderr when it is a terminal.

Exit codes:
  0  every line was written (with --on-error settle, failed ones too as {"ok": false})
  1  a line failed (--on-error fail), or another error
  2  bad command line: unknown option, bad value, missing or extra argument
  3  the task module cannot be found or loaded, or has no such function export
  4  --on-error fail: a line of standard input is not JSON (the results of the lines
     before it are written)
  5  --on-error skip: some lines failed and were left out

Example:
  rxpool map ./resize.mjs thumbnail --unordered --timeout 10000 < jobs.ndjson > done.ndjson

rxpool worker takes the batches that producers (rxpool/bullmq) add to the BullMQ queue NAME in
Redis and runs them on a pool of worker threads. It runs only functions of the <module>s named
here (a producer's task(...) module is matched by its file name, then by the most folders in
common); code sent as an inline function runs only with --allow-inline. Anyone who can write
to the queue runs these modules with any input (with --allow-inline: any code).

  --redis URL        redis://[user:password@]host[:port][/db], or rediss:// for TLS
  --queue NAME       the BullMQ queue to take batches from
  --threads N        worker threads (default: the number of CPUs)
  --allow-inline     also run inline functions (code sent through Redis)
  --setup MODULE#export
                     run this export once in every worker thread before its first batch; what
                     it returns (or resolves to) is context.state in every task there
                     (#export may be left out: the default export)

SIGTERM or SIGINT: take no new batches, finish the running ones, exit 0.
`;

/** Reads the command line (without `node` and the script). Throws a `CliError` when it is wrong. */
export function parseCommandLine(argv: readonly string[]): Command {
  if (argv[0] === 'worker') return parseWorker(argv.slice(1));
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    throw new CliError(describeParseError(error), ExitCode.usage);
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };

  const [command, module, exportName, ...extra] = positionals;
  if (command === undefined) {
    throw new CliError('missing the command: rxpool map <module> [export]', ExitCode.usage);
  }
  if (command !== 'map') {
    const hint = command === 'worker' ? " ('worker' comes first: rxpool worker --redis ...)" : '';
    throw new CliError(
      `unknown command '${command}'; the commands are 'map' and 'worker'${hint}`,
      ExitCode.usage,
    );
  }
  if (module === undefined || module === '') {
    throw new CliError('missing the task module: rxpool map <module> [export]', ExitCode.usage);
  }
  if (extra.length > 0) {
    throw new CliError(
      `unexpected argument '${extra[0]}' after the export name '${exportName}'`,
      ExitCode.usage,
    );
  }
  if (exportName === '') throw new CliError('the export name is empty', ExitCode.usage);
  const onError = values['on-error'] ?? 'fail';
  if (!(ON_ERROR as readonly string[]).includes(onError)) {
    throw badValue('--on-error', "'fail', 'skip' or 'settle'", onError);
  }
  return {
    kind: 'map',
    module,
    exportName: exportName ?? 'default',
    concurrency: integer('--concurrency', values.concurrency, 1) ?? DEFAULT_CONCURRENCY,
    ordered: !values.unordered,
    timeout: milliseconds('--timeout', values.timeout),
    retry: integer('--retry', values.retry, 0) ?? 0,
    onError: onError as OnError,
    flat: values.flat === true,
    workers: integer('--workers', values.workers, 1),
  };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      concurrency: { type: 'string' },
      unordered: { type: 'boolean' },
      flat: { type: 'boolean' },
      timeout: { type: 'string' },
      retry: { type: 'string' },
      'on-error': { type: 'string' },
      workers: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
}

/** Reads `rxpool worker`'s arguments (after the word `worker`). */
function parseWorker(argv: readonly string[]): Command {
  let parsed: ReturnType<typeof parseWorkerArgs>;
  try {
    parsed = parseWorkerArgs(argv);
  } catch (error) {
    throw new CliError(describeParseError(error), ExitCode.usage);
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  const redis = values.redis;
  if (redis === undefined) {
    throw new CliError('missing --redis URL (redis://host:port or rediss://...)', ExitCode.usage);
  }
  let url: URL | undefined;
  try {
    url = new URL(redis);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'redis:' && url.protocol !== 'rediss:')) {
    throw badValue('--redis', 'a redis:// or rediss:// URL', redis);
  }
  const queue = values.queue;
  if (queue === undefined) throw new CliError('missing --queue NAME', ExitCode.usage);
  if (queue === '' || queue.includes(':')) {
    throw badValue('--queue', "a queue name, not empty and without ':'", queue);
  }
  const allowInline = values['allow-inline'] ?? false;
  if (positionals.length === 0 && !allowInline) {
    throw new CliError(
      'missing the task modules to serve: rxpool worker --redis URL --queue NAME <module>...',
      ExitCode.usage,
    );
  }
  const empty = positionals.find((module) => module === '');
  if (empty !== undefined) throw new CliError('a task module path is empty', ExitCode.usage);
  let setup: WorkerCommand['setup'];
  if (values.setup !== undefined) {
    const at = values.setup.lastIndexOf('#');
    const module = at < 0 ? values.setup : values.setup.slice(0, at);
    const name = at < 0 ? 'default' : values.setup.slice(at + 1);
    if (module === '' || name === '') {
      throw badValue('--setup', 'MODULE#export or MODULE (its default export)', values.setup);
    }
    setup = { module, name };
  }
  return {
    kind: 'worker',
    redis,
    queue,
    threads: integer('--threads', values.threads, 1),
    allowInline,
    setup,
    modules: positionals,
  };
}

function parseWorkerArgs(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      redis: { type: 'string' },
      queue: { type: 'string' },
      threads: { type: 'string' },
      'allow-inline': { type: 'boolean' },
      setup: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
}

/** parseArgs' messages, shortened and pointed at `--help`. */
function describeParseError(error: unknown): string {
  const { code, message } = error as { code?: string; message: string };
  const option = /'([^']*)'/.exec(message)?.[1] ?? '';
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option '${option}'`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const name = option.split(' ')[0];
      if (message.includes('does not take an argument')) return `option '${name}' takes no value`;
      // `--retry -1`: the value looks like an option
      const dash = message.includes('ambiguous')
        ? ` (for one that starts with '-', write ${name}=-N)`
        : '';
      return `option '${name}' needs a value${dash}`;
    }
    default:
      return message;
  }
}

function integer(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(value) || value < min) {
    throw badValue(name, `an integer from ${min} up`, text);
  }
  return value;
}

function milliseconds(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || !(value > 0)) {
    throw badValue(name, 'a number of milliseconds above 0', text);
  }
  return value;
}

function badValue(name: string, expected: string, got: string): CliError {
  return new CliError(`expected ${name} to be ${expected}, got '${got}'`, ExitCode.usage);
}
