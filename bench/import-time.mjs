/**
 * How long `import('rxpool')` and `import('rxpool/operators')` take in a fresh process, for one or
 * more builds side by side (runs interleaved, so load on the machine falls on all alike). Each
 * run is a new Node process that times its own `await import(...)` of the entry's file.
 *
 *   node bench/import-time.mjs [runs] [dist ...]     (defaults: 21 runs, dist)
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [runsArg, ...dists] = process.argv.slice(2);
const runs = Number(runsArg ?? 21);
const builds = dists.length > 0 ? dists : ['dist'];
const entries = { rxpool: 'src/index.js', 'rxpool/operators': 'operators/index.js' };
const probe = `const t = performance.now(); await import(process.argv[1]); console.log(performance.now() - t);`;

const times = new Map();
for (let run = 0; run < runs; run++) {
  for (const build of builds) {
    for (const [entry, file] of Object.entries(entries)) {
      const url = pathToFileURL(resolve(build, file)).href;
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', probe, url], {
        env: { ...process.env, NODE_OPTIONS: '' },
      });
      const key = `${build}\t${entry}`;
      if (!times.has(key)) times.set(key, []);
      times.get(key).push(Number(out));
    }
  }
}
const q = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
console.log(`Node ${process.version}, ${runs} runs each\nbuild\tentry\tmedian ms\tp10 ms\tp90 ms`);
for (const [key, list] of times) {
  const sorted = [...list].sort((a, b) => a - b);
  const f = (x) => x.toFixed(1);
  console.log(`${key}\t${f(q(sorted, 0.5))}\t${f(q(sorted, 0.1))}\t${f(q(sorted, 0.9))}`);
}
