/**
 * Smoke test of examples/mandelbrot: the command line runs, prints its report and writes a PNG
 * whose pixels are right where the answer is known; the pure pieces render a small image the same
 * on the workers as on this thread.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { pixelAt, render } from '../../examples/mandelbrot/render.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rxpool-mandelbrot-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const WIDTH = 320;
const HEIGHT = 240;

function rgbAt(png: PNG, re: number, im: number): [number, number, number] {
  const { x, y } = pixelAt(re, im, png.width, png.height);
  assert.ok(x >= 0 && x < png.width && y >= 0 && y < png.height, `(${re}, ${im}) is in view`);
  const i = (y * png.width + x) * 4;
  return [png.data[i]!, png.data[i + 1]!, png.data[i + 2]!];
}

test('main.ts renders a PNG on the workers and reports the speedup', async () => {
  const out = join(dir, 'm.png');
  const { stdout } = await run(
    process.execPath,
    [
      '--import',
      'tsx',
      'examples/mandelbrot/main.ts',
      '--width',
      String(WIDTH),
      '--height',
      String(HEIGHT),
      '--out',
      out,
    ],
    { cwd: root, timeout: 60_000 },
  );
  // execFile rejects on a non-zero exit code, so getting here means it exited with 0.
  assert.match(stdout, new RegExp(`image: ${WIDTH}x${HEIGHT} pixels`));
  assert.match(stdout, /^speedup: \d+\.\d\dx over one thread$/m);
  assert.ok(stdout.includes(`png: ${out}`), stdout);

  const png = PNG.sync.read(readFileSync(out));
  assert.equal(png.width, WIDTH);
  assert.equal(png.height, HEIGHT);
  // Inside the main cardioid and inside the period-2 bulb: black.
  assert.deepEqual(rgbAt(png, -0.5, 0), [0, 0, 0]);
  assert.deepEqual(rgbAt(png, -1, 0), [0, 0, 0]);
  assert.deepEqual(rgbAt(png, 0, 0), [0, 0, 0]);
  // The corners, around -2.5 ± 1.3i and 1 ± 1.3i, escape within three iterations: not black.
  const corners: [number, number][] = [
    [0, 0],
    [WIDTH - 1, 0],
    [0, HEIGHT - 1],
    [WIDTH - 1, HEIGHT - 1],
  ];
  for (const [x, y] of corners) {
    const i = (y * WIDTH + x) * 4;
    const rgb = [png.data[i]!, png.data[i + 1]!, png.data[i + 2]!];
    assert.notDeepEqual(rgb, [0, 0, 0], `corner (${x}, ${y}) is not black`);
  }
  assert.notDeepEqual(rgbAt(png, 0.45, 0.9), [0, 0, 0]);
  assert.notDeepEqual(rgbAt(png, -2.2, 0.5), [0, 0, 0]);
});

test('render() gives the same pixels on the workers as on one thread, with uneven tiles', async () => {
  const { png, baselinePng, tiles, timings } = await render({
    width: 64,
    height: 50,
    tileRows: 7,
    maxIterations: 100,
  });
  assert.equal(tiles, 8);
  assert.ok(baselinePng);
  assert.ok(png.data.equals(baselinePng.data));
  assert.ok(timings.oneThreadMs! >= 0 && timings.rxpoolMs >= 0 && timings.startupMs >= 0);
  assert.deepEqual(rgbAt(png, -0.5, 0), [0, 0, 0]);
  assert.notDeepEqual(rgbAt(png, 0.9, 1.2), [0, 0, 0]);
});
