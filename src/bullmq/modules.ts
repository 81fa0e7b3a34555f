/**
 * Which of the modules that `rxpool worker` serves a producer's `task(url, name)` reference runs.
 * Paths differ between machines, so a module is matched by the end of its path.
 */

/** A module the worker serves. */
export interface ServedModule {
  /** The path as given on the command line. */
  readonly given: string;
  /** Its `file:` URL on this machine. */
  readonly url: string;
  /** Its function exports; `undefined` when they were not looked up (a TypeScript module). */
  readonly functions: readonly string[] | undefined;
}

/** Which served module a producer's `task(url)` reference runs, or why none. */
export type Match =
  | { readonly ok: true; readonly module: ServedModule }
  | { readonly ok: false; readonly message: string };

/** A URL's path segments, decoded (`file:///C:/a/b.mjs` too). */
function segments(url: string): string[] {
  const { pathname } = new URL(url);
  return pathname
    .split('/')
    .filter((part) => part !== '')
    .map((part) => decodeURIComponent(part));
}

/**
 * Matches a producer's module URL to a served module. Paths differ between machines, so the
 * match is by the path's end: a served module matches when its file name is the same, and among
 * those the one that shares the most trailing folders wins (the same path shares them all). Two
 * served modules that tie are ambiguous: the job's items are refused, naming both.
 */
export function matchModule(url: string, served: readonly ServedModule[]): Match {
  let wanted: string[];
  try {
    wanted = segments(url);
  } catch {
    return { ok: false, message: `the task module '${url}' is not a URL` };
  }
  let best: ServedModule[] = [];
  let bestLength = 0;
  for (const module of served) {
    const have = segments(module.url);
    let common = 0;
    while (
      common < wanted.length &&
      common < have.length &&
      wanted[wanted.length - 1 - common] === have[have.length - 1 - common]
    ) {
      common++;
    }
    if (common === 0) continue;
    if (common > bestLength) {
      best = [module];
      bestLength = common;
    } else if (common === bestLength) {
      best.push(module);
    }
  }
  const names = served.map((module) => module.given).join(', ');
  if (best.length === 0) {
    return {
      ok: false,
      message:
        `this worker does not serve the task module '${url}': it serves ${names || 'no modules'} ` +
        '(a module is matched by its file name, then by the most folders in common); start ' +
        'rxpool worker with that module on its command line',
    };
  }
  if (best.length > 1) {
    return {
      ok: false,
      message:
        `the task module '${url}' matches several served modules equally ` +
        `(${best.map((module) => module.given).join(', ')}); serve only one of them on this queue`,
    };
  }
  return { ok: true, module: best[0]! };
}
