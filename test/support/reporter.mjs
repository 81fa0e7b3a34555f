/**
 * The test reporter of `npm test` (a node:test custom reporter: an async generator over the
 * run's events). It prints each failure as it happens, with its whole detail (file, test path,
 * the error with its assertion diff, stack and properties, and what that file wrote to stderr and
 * as diagnostics), then one summary: the counts, the wall time and the slowest files (by the time
 * of their tests). A passing run is a few lines; the spec reporter's thousands of lines of
 * passing tests are left out. (`node --test --test-reporter=spec FILE` shows them all.)
 *
 * A process warning (a line with `Warning:` on a test file's stderr, such as
 * MaxListenersExceededWarning) is printed even when every test passes: it names a defect.
 *
 * `RXPOOL_TEST_TIMES=path` also writes every file's time as JSON to `path`, to see where the
 * suite's time goes. Plain JavaScript so that node 20, 22 and 24 load it without a loader.
 */
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { inspect } from 'node:util';

const SLOWEST = 8;

/** @param {string | undefined} file */
function where(file) {
  return file
    ? relative(process.cwd(), file.startsWith('file:') ? new URL(file).pathname : file)
    : '(no file)';
}

/** @param {string} text */
function indent(text) {
  return text.replace(/^/gm, '    ');
}

/** @param {unknown} error */
function detail(error) {
  // A test's own failure comes wrapped (failureType 'testCodeFailure'): show what it threw.
  const e = /** @type {any} */ (error);
  const thrown = e && e.failureType === 'testCodeFailure' && e.cause !== undefined ? e.cause : e;
  return inspect(thrown, { depth: 6, colors: false, breakLength: 100 });
}

/** @param {number} ms */
function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** @param {AsyncIterable<{ type: string; data: any }>} source */
export default async function* quiet(source) {
  const started = Date.now();
  const counts = { pass: 0, fail: 0, skipped: 0, todo: 0, cancelled: 0 };
  /** @type {Map<string, { stderr: string[]; notes: string[]; shown: number; failed: boolean; ms: number }>} */
  const files = new Map();
  /** @type {string[]} the names of the open tests, by nesting, for a failure's path */
  const open = [];
  const failures = [];

  /** @param {string | undefined} file */
  const entry = (file) => {
    const key = where(file);
    let f = files.get(key);
    if (!f) {
      f = { stderr: [], notes: [], shown: 0, failed: false, ms: 0 };
      files.set(key, f);
    }
    return f;
  };

  /**
   * A file's time is the sum of its top-level tests' own durations: with files run side by side,
   * their events come in file order, not as they happen, so the span between them says little.
   * @param {any} data
   */
  const took = (data) => {
    const f = entry(data.file);
    if (data.nesting === 0) f.ms += data.details?.duration_ms ?? 0;
    return f;
  };

  for await (const { type, data } of source) {
    switch (type) {
      case 'test:start':
        entry(data.file);
        open[data.nesting] = data.name;
        open.length = data.nesting + 1;
        break;
      case 'test:stderr': {
        const f = entry(data.file);
        const text = String(data.message);
        f.stderr.push(text);
        if (/Warning:/.test(text))
          yield `warning from ${where(data.file)}:\n${indent(text.trimEnd())}\n`;
        break;
      }
      case 'test:stdout':
        entry(data.file).stderr.push(String(data.message));
        break;
      case 'test:diagnostic':
        if (data.file) entry(data.file).notes.push(String(data.message));
        break;
      case 'test:pass': {
        took(data);
        if (data.details?.type === 'suite') break;
        if (data.skip) counts.skipped++;
        else if (data.todo) counts.todo++;
        else counts.pass++;
        break;
      }
      case 'test:fail': {
        const f = took(data);
        const error = data.details?.error;
        // A suite or test that failed only because a subtest did is not a failure of its own.
        if (error?.failureType === 'subtestsFailed') break;
        if (error?.failureType === 'cancelledByParent') {
          counts.cancelled++;
          break;
        }
        if (data.todo) {
          counts.todo++;
          break;
        }
        counts.fail++;
        f.failed = true;
        const path = [...open.slice(0, data.nesting), data.name].join(' > ');
        const lines = [`not ok: ${where(data.file)}`, `  ${path}`, indent(detail(error))];
        if (f.notes.length > 0) lines.push('  diagnostics:', indent(f.notes.join('\n')));
        // What the file wrote since its last failure was shown (the whole of it for the first).
        const output = f.stderr.slice(f.shown).join('').trimEnd();
        f.shown = f.stderr.length;
        if (output) lines.push('  output of the file:', indent(output));
        failures.push(`${where(data.file)}: ${path}`);
        yield `${lines.join('\n')}\n\n`;
        break;
      }
      default:
        if (data?.file) entry(data.file);
    }
  }

  const wall = Date.now() - started;
  const times = [...files.entries()]
    .map(([file, f]) => ({ file, ms: f.ms }))
    .sort((a, b) => b.ms - a.ms);
  if (process.env.RXPOOL_TEST_TIMES) {
    writeFileSync(process.env.RXPOOL_TEST_TIMES, `${JSON.stringify({ wall, times }, null, 1)}\n`);
  }
  const out = [
    `${counts.pass} passed, ${counts.fail} failed, ${counts.cancelled} cancelled, ${counts.skipped} skipped, ${counts.todo} todo; ${files.size} files in ${seconds(wall)}`,
    `slowest files: ${times
      .slice(0, SLOWEST)
      .map((t) => `${t.file.replace(/^test\//, '')} ${seconds(t.ms)}`)
      .join(', ')}`,
  ];
  if (failures.length > 0) out.push('failed:', ...failures.map((f) => `  ${f}`));
  yield `${out.join('\n')}\n`;
}
