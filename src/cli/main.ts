#!/usr/bin/env node
/**
 * The `rxpool` executable (package.json `bin`): reads the command line, runs the command, and
 * exits with the code `rxpool --help` documents. Errors are one `rxpool: ...` line on stderr.
 */
import { createReadStream, fstatSync, readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { CliError, ExitCode, HELP, parseCommandLine } from './args.js';
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
 * Standard input. A file is read 1 MB at a time: `process.stdin` reads 64 KB at a time, and
 * each read costs the main thread a turn (a pipe gives what it holds, 64 KB at most, either way).
 */
function standardInput(): Readable {
  try {
    if (fstatSync(0).isFile()) {
      return createReadStream('', { fd: 0, highWaterMark: 1 << 20, autoClose: false });
    }
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
