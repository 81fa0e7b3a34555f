#!/usr/bin/env node
// The house rules on imports, checked by `npm run lint` so that they stay true:
// - no import circle between the project's own modules: no module is ever loaded while one it
//   imports (directly or not) is still loading. `import type` / `export type` are erased by the
//   compiler and load nothing, so they make no circle (madge's `skipTypeImports`): a class and the
//   options of its methods may name each other (the Pool and its options do). An import that
//   names a value, even along with types, counts;
// - arrows point down: each room imports only the rooms below it (ARCHITECTURE.md, "The rooms").
// Dependency-free on purpose: it reads the relative specifiers of `import`/`export ... from` and
// `import()` with a regular expression, which the sources keep simple enough for (biome formats
// them one statement per import).
//
//   node scripts/check-imports.mjs [root]      exit 0 when the rules hold, 1 with the list otherwise

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The rooms, from the top: a file's room is the first whose test matches its path (relative to the
 * root, with forward slashes). `may` lists the rooms it may import besides its own.
 */
export const ROOMS = [
  { name: 'base', test: (p) => p === 'src/errors.ts' || p === 'src/types.ts', may: [] },
  { name: 'wire', test: (p) => p.startsWith('src/wire/'), may: ['base'] },
  { name: 'worker', test: (p) => p.startsWith('src/worker/'), may: ['wire', 'base'] },
  // `rxpool map`'s own task module: it runs in the workers, as any task module does.
  { name: 'cli task', test: (p) => p.startsWith('src/cli/task/'), may: ['worker', 'wire', 'base'] },
  { name: 'executor', test: (p) => p.startsWith('src/executor/'), may: ['wire', 'base'] },
  {
    name: 'engine',
    test: (p) => p.startsWith('src/engine/'),
    may: ['executor', 'wire', 'base'],
  },
  {
    name: 'threads',
    test: (p) => p.startsWith('src/threads/'),
    may: ['executor', 'wire', 'base'],
  },
  {
    // `rxpool worker` (serve) runs a local pool: it is a face over the pool, not part of the executor.
    name: 'bullmq',
    test: (p) => p.startsWith('src/bullmq/') && !/^src\/bullmq\/(serve|index)/.test(p),
    may: ['executor', 'wire', 'base'],
  },
  // The faces (the pool, the operators, the command line, the package's entries) may import any
  // room below but the worker side: what both sides use is in the wire (the command line also
  // reads the shapes its own task module sends back).
  {
    name: 'faces',
    test: (p) => p.startsWith('src/') || p.startsWith('operators/'),
    may: ['engine', 'executor', 'threads', 'bullmq', 'wire', 'base', 'cli task'],
  },
];

const SPECIFIER =
  /(?:^|\n)\s*(?:import|export)\s((?:type\s)?)(?:[^'"`;]*?\sfrom\s)?['"](\.{1,2}\/[^'"]+)['"]|\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function filesUnder(dir) {
  const out = [];
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else if (path.endsWith('.ts') && !path.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/**
 * The import graph of the .ts files under `root`'s src/ and operators/: file -> files it imports;
 * with `values`, only the imports that load something (not `import type` / `export type`).
 */
export function importGraph(root, { values = false } = {}) {
  const files = [...filesUnder(join(root, 'src')), ...filesUnder(join(root, 'operators'))];
  const known = new Set(files);
  const graph = new Map();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const to = new Set();
    for (const match of text.matchAll(SPECIFIER)) {
      if (values && match[1]) continue;
      const spec = match[2] ?? match[3];
      const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
      if (known.has(target)) to.add(target);
      else if (known.has(join(target, 'index.ts'))) to.add(join(target, 'index.ts'));
    }
    graph.set(file, to);
  }
  return graph;
}

/**
 * The import circles: each strongly connected component of more than one file (Tarjan), as one
 * circle through its first file by name (a shortest one), so that the message shows real imports.
 */
export function circles(graph) {
  let next = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const found = [];
  const visit = (v) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) === index.get(v)) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)?.has(v))
        found.push(shortestCircle(graph, component));
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** A shortest circle through the first file (by name) of a strongly connected `component`. */
function shortestCircle(graph, component) {
  const inside = new Set(component);
  const start = [...component].sort()[0];
  const from = new Map([[start, undefined]]);
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift();
    for (const w of graph.get(v) ?? []) {
      if (w === start) {
        const path = [];
        for (let at = v; at !== undefined; at = from.get(at)) path.unshift(at);
        return path;
      }
      if (inside.has(w) && !from.has(w)) {
        from.set(w, v);
        queue.push(w);
      }
    }
  }
  return component;
}

/** The room of a path relative to the root. */
export function roomOf(path) {
  return ROOMS.find((room) => room.test(path))?.name;
}

/** Imports that go up: `from` imports `to` though `to`'s room is not below `from`'s. */
export function upwardImports(graph, root) {
  const rel = (file) => relative(root, file).split(sep).join('/');
  const bad = [];
  for (const [file, targets] of graph) {
    const from = roomOf(rel(file));
    const room = ROOMS.find((r) => r.name === from);
    if (!room) continue;
    for (const target of targets) {
      const to = roomOf(rel(target));
      if (to !== from && !room.may.includes(to)) {
        bad.push({ from: rel(file), to: rel(target), fromRoom: from, toRoom: to });
      }
    }
  }
  return bad;
}

/** Both checks over `root`: the lines to print, empty when the rules hold. */
export function check(root) {
  const graph = importGraph(root);
  const rel = (file) => relative(root, file).split(sep).join('/');
  const lines = [];
  for (const circle of circles(importGraph(root, { values: true }))) {
    lines.push(`import circle: ${circle.map(rel).join(' -> ')} -> ${rel(circle[0])}`);
  }
  for (const { from, to, fromRoom, toRoom } of upwardImports(graph, root)) {
    lines.push(`upward import: ${from} (${fromRoom}) imports ${to} (${toRoom})`);
  }
  return lines;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
  const lines = check(root);
  if (lines.length > 0) {
    console.error(
      `${lines.join('\n')}\n\nThe rooms and their order: ARCHITECTURE.md ("The rooms").`,
    );
    process.exit(1);
  }
}
