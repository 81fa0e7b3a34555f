/**
 * The Node options a pool's workers start with. A process started with string input (`node
 * --input-type=module -e '...'`, or a module piped to `node --input-type=module`) passes its
 * `--input-type` on to its worker threads and child processes (Node 20-24; `fork` drops only
 * the `-e` code), and a worker that starts from a file refuses it: "--input-type can only be used
 * with string input via --eval, --print, or STDIN", so no worker could start. Its workers then
 * get the process's options without those of the string input. Node refuses some options in a
 * list given to a worker thread (`--expose-gc`, `--max-old-space-size`: a `new Worker` throws), so
 * the list is tried once on a thread that is stopped at once; refused, threads keep Node's default
 * (and fail to start, with why, as before).
 */
import { Worker } from 'node:worker_threads';

/** Options of string input: each of these takes the next argument, unless given with `=`. */
const STRING_INPUT = ['--input-type', '-e', '--eval', '-p', '--print', '-pe'];

/**
 * The options for a pool's workers: `undefined` for Node's default (the process's own), else the
 * process's without its string input, and with `--max-old-space-size` for a child process's
 * `maxHeapMb`.
 */
export function workerExecArgv(
  runtime: 'thread' | 'process',
  maxHeapMb: number | undefined,
  execArgv: readonly string[] = process.execArgv,
): string[] | undefined {
  const stringInput = execArgv.some(
    (option) => option === '--input-type' || option.startsWith('--input-type='),
  );
  const heap = runtime === 'process' && maxHeapMb !== undefined;
  if (!stringInput && !heap) return undefined;
  const options: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const option = execArgv[i]!;
    // The string input's code is no worker's either (fork drops `-e`'s only from its default).
    if (STRING_INPUT.includes(option)) {
      i++;
      continue;
    }
    if (STRING_INPUT.some((name) => option.startsWith(`${name}=`))) continue;
    options.push(option);
  }
  if (heap) options.push(`--max-old-space-size=${maxHeapMb}`);
  return runtime === 'process' || threadsTake(options) ? options : undefined;
}

/** What {@link threadsTake} found, by list. */
const taken = new Map<string, boolean>();

/** Whether a worker thread starts with `execArgv`: Node refuses some options there. */
function threadsTake(execArgv: string[]): boolean {
  const key = JSON.stringify(execArgv);
  let takes = taken.get(key);
  if (takes === undefined) {
    try {
      const probe = new Worker('', { eval: true, execArgv, stdout: true, stderr: true });
      probe.unref();
      void probe.terminate();
      takes = true;
    } catch {
      takes = false;
    }
    taken.set(key, takes);
  }
  return takes;
}
