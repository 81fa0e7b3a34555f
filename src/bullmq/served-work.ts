/**
 * What a job's work spec runs on `rxpool worker`: an export of a module it serves, or inline
 * code when `--allow-inline` allows it; otherwise the failure every item of the job gets,
 * named for what the producer should change.
 */
import { fileURLToPath } from 'node:url';
import { type Task, task } from '../index.js';
import { describeFunctions } from '../wire/exports.js';
import type { WorkSpec } from '../wire/work.js';
import { matchModule, type ServedModule } from './modules.js';
import { type WireError, wireError } from './result.js';

/** The work a job's spec names, or the failure every one of its items gets. */
export type Resolved = { readonly work: Task | Function } | { readonly refused: WireError };

/**
 * The most tasks and inline functions kept ready: a producer that sends ever new inline
 * sources must not grow the worker's memory without bound.
 */
const KEPT = 256;

/** Resolves work specs, keeping what it resolved for the next jobs of the same work. */
export class ServedWork {
  private readonly tasks = new Map<string, Task>();
  private readonly inline = new Map<string, Function>();

  constructor(
    private readonly modules: readonly ServedModule[],
    private readonly allowInline: boolean,
  ) {}

  /** The work to run for `spec`: a served module's export, or (allowed) inline code. */
  resolve(spec: WorkSpec): Resolved {
    return spec.kind === 'inline' ? this.inlineWork(spec.source) : this.moduleWork(spec);
  }

  private inlineWork(source: string): Resolved {
    if (!this.allowInline) {
      return refused(
        'InlineRefusedError',
        'this worker does not run inline functions (code sent through Redis); start rxpool ' +
          'worker with --allow-inline to allow them, or use task(module, exportName) with a ' +
          'module the worker serves',
      );
    }
    let fn = this.inline.get(source);
    if (fn === undefined) {
      try {
        fn = new Function(`return (${source});`)() as Function;
      } catch (error) {
        return refused('SyntaxError', `the inline function does not compile: ${String(error)}`);
      }
      if (typeof fn !== 'function') {
        return refused('TypeError', 'the inline source is not a function');
      }
      if (this.inline.size >= KEPT) this.inline.clear();
      this.inline.set(source, fn);
    }
    return { work: fn };
  }

  private moduleWork(spec: Extract<WorkSpec, { kind: 'module' }>): Resolved {
    const key = `${spec.url}\n${spec.name}`;
    const known = this.tasks.get(key);
    if (known) return { work: known };
    const match = matchModule(spec.url, this.modules);
    if (!match.ok) return refused('ModuleNotServedError', match.message);
    const { functions } = match.module;
    if (functions !== undefined && !functions.includes(spec.name)) {
      return refused(
        'ExportNotFoundError',
        `the served module '${match.module.given}' has no function export named '${spec.name}'; ${describeFunctions(functions)}`,
      );
    }
    const work = task(fileURLToPath(match.module.url), spec.name);
    if (this.tasks.size >= KEPT) this.tasks.clear();
    this.tasks.set(key, work);
    return { work };
  }
}

function refused(name: string, message: string): { refused: WireError } {
  return { refused: wireError(name, message, 'load') };
}
