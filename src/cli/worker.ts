/**
 * `rxpool worker`: checks the task modules it is to serve, starts a local pool and a
 * {@link BatchServer} on the queue, and on SIGTERM or SIGINT finishes the running jobs and exits 0.
 * BullMQ and ioredis are loaded only here, so `rxpool map` works without them.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ServedModule } from '../bullmq/modules.js';
import { createPool, type Pool, type Task, TaskError, task } from '../index.js';
import { describeFunctions } from '../wire/exports.js';
import { CliError, ExitCode, type WorkerCommand } from './args.js';
import { inspectExports, isTypeScript } from './exports.js';

/** How often a worker started by npm checks that its launcher is still there, in ms. */
const LAUNCHER_CHECK_MS = 500;

/** Runs `rxpool worker` until a signal stops it; resolves with the exit code. */
export async function runWorker(
  command: WorkerCommand,
  stderr: NodeJS.WritableStream,
): Promise<number> {
  const log = (line: string) => stderr.write(`rxpool worker: ${line}\n`);
  let serve: typeof import('../bullmq/serve.js');
  try {
    serve = await import('../bullmq/serve.js');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new CliError(
      `rxpool worker needs the packages bullmq and ioredis: npm install bullmq ioredis (${(error as Error).message})`,
      ExitCode.failed,
    );
  }
  const threads = command.threads ?? availableParallelism();
  const pool = createPool({ size: threads, setup: setupTask(command.setup) });
  let modules: ServedModule[];
  try {
    if (command.setup) await checkSetup(pool, command.setup);
    modules = await checkModules(pool, command.modules);
  } catch (error) {
    await pool.destroy();
    throw error;
  }
  const server = new serve.BatchServer({
    redis: command.redis,
    queue: command.queue,
    pool,
    concurrency: threads,
    modules,
    allowInline: command.allowInline,
    log,
  });
  try {
    await server.start();
  } catch (error) {
    await server.abort();
    await pool.destroy();
    throw new CliError(
      `cannot connect to Redis at ${redact(command.redis)}: ${server.connectionProblem ?? (error as Error).message}`,
      ExitCode.failed,
    );
  }
  let stopping = false;
  const stopped = new Promise<number>((resolve, reject) => {
    const stop = (signal: string) => {
      if (stopping) {
        log(`${signal} again: exiting now, without waiting for the running batches`);
        process.exit(ExitCode.failed);
      }
      stopping = true;
      log(`${signal}: taking no new batches; finishing the ${server.active} running`);
      server
        .close()
        .then(() => pool.close())
        .then(() => {
          log('stopped');
          // BullMQ's and ioredis' timers may outlive a close while Redis is out of reach (a
          // reconnect attempt, a retried command): they must not keep a stopped worker up.
          setTimeout(() => process.exit(ExitCode.ok), 500).unref();
          resolve(ExitCode.ok);
        }, reject);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    // npm (npx, npm exec, npm run) starts a bin under `sh -c` and passes a SIGTERM to that shell
    // alone: the shell ends and this process, reparented, would go on taking jobs. Started by
    // npm, the worker stops as on SIGTERM when the process that started it has gone.
    if (process.env.npm_command !== undefined) {
      const parent = process.ppid;
      const watch = setInterval(() => {
        if (process.ppid === parent) return;
        clearInterval(watch);
        stop(`its launcher (pid ${parent}) has gone`);
      }, LAUNCHER_CHECK_MS);
      watch.unref();
    }
  });
  const served = modules.map((module) => module.given).join(', ') || 'none';
  const inline = command.allowInline ? ', inline functions allowed' : '';
  log(
    `ready: queue '${command.queue}', pid ${process.pid}, ${threads} ${threads === 1 ? 'thread' : 'threads'}, modules: ${served}${inline}`,
  );
  return stopped;
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.href;
  } catch {
    return '<the --redis URL>';
  }
}

/** `--setup`'s task: its module must exist. */
function setupTask(setup: WorkerCommand['setup']): Task | undefined {
  if (setup === undefined) return undefined;
  const path = resolve(process.cwd(), setup.module);
  if (!existsSync(path)) {
    throw new CliError(
      `cannot find the --setup module '${setup.module}' (looked at ${path})`,
      ExitCode.module,
    );
  }
  return task(pathToFileURL(path).href, setup.name);
}

/** Runs the setup in a worker at start, so that one that fails stops the worker with why. */
async function checkSetup(pool: Pool, setup: NonNullable<WorkerCommand['setup']>): Promise<void> {
  try {
    await pool.run(() => null, null);
  } catch (error) {
    const cause = error instanceof TaskError ? error.cause : (error as Error);
    const inner = (cause as { cause?: Error }).cause ?? cause;
    throw new CliError(
      `the --setup task '${setup.module}#${setup.name}' failed: ${inner.name}: ${inner.message}`,
      ExitCode.module,
    );
  }
}

/** The served modules: each must exist and load; their function exports are looked up. */
async function checkModules(pool: Pool, given: readonly string[]): Promise<ServedModule[]> {
  const modules: ServedModule[] = [];
  for (const module of given) {
    const path = resolve(process.cwd(), module);
    if (!existsSync(path)) {
      throw new CliError(
        `cannot find the task module '${module}' (looked at ${path})`,
        ExitCode.module,
      );
    }
    const url = pathToFileURL(path).href;
    if (modules.some((served) => served.url === url)) continue;
    if (isTypeScript(url)) {
      modules.push({ given: module, url, functions: undefined });
      continue;
    }
    try {
      // The workers' own lookup: a CommonJS `exports.default = fn` counts as `default` there.
      const { functions } = await inspectExports(pool, url, 'default');
      if (functions.length === 0) {
        throw new CliError(
          `the task module '${module}' ${describeFunctions(functions)}`,
          ExitCode.module,
        );
      }
      modules.push({ given: module, url, functions });
    } catch (error) {
      if (error instanceof CliError) throw error;
      const cause = error instanceof TaskError ? error.cause : (error as Error);
      throw new CliError(
        `cannot load the task module '${module}': ${cause.name}: ${cause.message}`,
        ExitCode.module,
      );
    }
  }
  return modules;
}
