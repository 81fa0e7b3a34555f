/**
 * Renders the Mandelbrot set on rxpool's workers, times it against one thread, and writes a PNG.
 *
 *   node --import tsx examples/mandelbrot/main.ts [--width 2048] [--height 1536] [--tile 16]
 *     [--iterations 500] [--out examples/mandelbrot/out/mandelbrot.png]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PNG } from 'pngjs';
import { plural } from '../plural.js';
import { render } from './render.js';

const defaultOut = fileURLToPath(new URL('./out/mandelbrot.png', import.meta.url));

const { values } = parseArgs({
  options: {
    width: { type: 'string', default: '2048' },
    height: { type: 'string', default: '1536' },
    tile: { type: 'string', default: '16' },
    iterations: { type: 'string', default: '500' },
    out: { type: 'string', default: defaultOut },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(
    'Usage: node --import tsx examples/mandelbrot/main.ts [--width N] [--height N] [--tile ROWS]\n' +
      '         [--iterations N] [--out FILE.png]',
  );
  process.exit(0);
}

function positiveInteger(name: string, text: string): number {
  const n = Number(text);
  if (!(Number.isInteger(n) && n >= 1)) {
    console.error(`--${name} must be an integer from 1 up, got '${text}'`);
    process.exit(2);
  }
  return n;
}

const width = positiveInteger('width', values.width);
const height = positiveInteger('height', values.height);
const tileRows = positiveInteger('tile', values.tile);
const maxIterations = positiveInteger('iterations', values.iterations);
const out = resolve(values.out);

const { png, baselinePng, tiles, workers, timings } = await render({
  width,
  height,
  tileRows,
  maxIterations,
});
if (baselinePng && !baselinePng.data.equals(png.data)) {
  throw new Error('The image from the workers differs from the one rendered on one thread');
}
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, PNG.sync.write(png));

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const oneThreadMs = timings.oneThreadMs!;
const shown = relative(process.cwd(), out);
console.log(`image: ${width}x${height} pixels, ${maxIterations} max iterations`);
console.log(`tiles: ${tiles} (${plural(tileRows, 'row')} each)`);
console.log(`workers: ${workers} (os.availableParallelism())`);
console.log(`one thread: ${seconds(oneThreadMs)}`);
console.log(`worker start-up: ${seconds(timings.startupMs)} (once per process, not counted below)`);
console.log(`rxpool: ${seconds(timings.rxpoolMs)} (parallelMap, tiles in order)`);
console.log(`speedup: ${(oneThreadMs / timings.rxpoolMs).toFixed(2)}x over one thread`);
console.log(`png: ${shown.startsWith('..') || isAbsolute(shown) ? out : shown}`);
