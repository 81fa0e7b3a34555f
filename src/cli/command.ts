/**
 * What the `rxpool` executable runs (./main.ts loads it): reads the command line, runs the
 * command, and exits with the code `rxpool --help` documents. Errors are one `rxpool: ...` line
 * on stderr.
 */
import { fstatSync, readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { CliError, ExitCode, HELP, parseCommandLine } from './args.js';
import { FileStdin } from './map/input.js';
import { runMap } from './map/run.js';

/** The version in rxpool's package.json, found by walking up from this file (src or dist). */
function version(): string {
  for (let dir = new URL('./', import.meta.url); ; dir = new URL('../', dir)) {
    try {
      const manifest = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8'));
      if (manifest.name === 'rxpool') return String(manifest.version);
    } catch {
      // no package.json here: look one folder up
    }
    if (dir.pathname === '/') return 'unknown';
  }
}

/**
 * Standard input. A regular file is read by `rxpool map` itself (src/cli/map/input.ts), into the
 * memory its blocks go in; anything else is `process.stdin` (a pipe gives what it holds, 64 KB at
 * most).
 */
function standardInput(): Readable | FileStdin {
  try {
    if (fstatSync(0).isFile()) return new FileStdin(0);
  } catch {
    // no standard input to look at: process.stdin says what there is
  }
  return process.stdin;
}

async function main(argv: readonly string[]): Promise<number> {
  try {
    const command = parseCommandLine(argv);
    if (command.kind === 'help') {
      process.stdout.write(HELP);
      return ExitCode.ok;
    }
    if (command.kind === 'version') {
      process.stdout.write(`${version()}\n`);
      return ExitCode.ok;
    }
    if (command.kind === 'worker') {
      const { runWorker } = await import('./worker.js');
      return await runWorker(command, process.stderr);
    }
    const { stdout, stderr } = process;
    return await runMap(command, { stdin: standardInput(), stdout, stderr });
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    const hint = error.exitCode === ExitCode.usage ? '\nRun rxpool --help for the usage.' : '';
    process.stderr.write(`rxpool: ${error.message}${hint}\n`);
    return error.exitCode;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`rxpool: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = ExitCode.failed;
  },
);
