/**
 * The work that runs in the workers: renders one band of rows of the Mandelbrot set into an RGBA
 * buffer. It is a plain TypeScript module; `task(new URL('./tile.ts', import.meta.url), 'renderTile')`
 * names its export, and each worker imports it once.
 */
import { move } from 'rxpool';

/** One band of rows to render, and where the image sits in the complex plane. */
export interface Tile {
  /** The band's first row (0 is the top of the image). */
  readonly y0: number;
  /** How many rows the band has. */
  readonly rows: number;
  /** The image's width in pixels. */
  readonly width: number;
  /** The real part at the centre of column 0. */
  readonly re0: number;
  /** The imaginary part at the centre of row 0 (the top row; it decreases downwards). */
  readonly im0: number;
  /** The width and height of one pixel in the complex plane. */
  readonly step: number;
  /** Iterations after which a point counts as inside the set. */
  readonly maxIterations: number;
}

/** A rendered band: `rows * width` RGBA pixels, to copy at row `y0` of the image. */
export interface TileResult {
  readonly y0: number;
  readonly rows: number;
  readonly pixels: Uint8Array<ArrayBuffer>;
}

/** |z|² past which a point has escaped. Far above 4, so that the smooth colouring is smooth. */
const BAILOUT = 256;

/** Renders `tile` and returns its pixels as a plain value (what {@link renderTile} moves back). */
export function computeTile(tile: Tile): TileResult {
  const { y0, rows, width, re0, im0, step, maxIterations } = tile;
  const pixels = new Uint8Array(rows * width * 4);
  const lnMax = Math.log(maxIterations + 1);
  let p = 0;
  for (let row = 0; row < rows; row++) {
    const ci = im0 - (y0 + row) * step;
    for (let x = 0; x < width; x++) {
      const cr = re0 + x * step;
      let zr = 0;
      let zi = 0;
      let zr2 = 0;
      let zi2 = 0;
      let n = 0;
      while (n < maxIterations && zr2 + zi2 <= BAILOUT) {
        zi = 2 * zr * zi + ci;
        zr = zr2 - zi2 + cr;
        zr2 = zr * zr;
        zi2 = zi * zi;
        n++;
      }
      if (n === maxIterations) {
        // Inside the set: black.
        pixels[p] = 0;
        pixels[p + 1] = 0;
        pixels[p + 2] = 0;
      } else {
        // Smooth (normalised) iteration count, so the bands blend into each other.
        const nu = n + 1 - Math.log2(Math.log(zr2 + zi2) / 2 / Math.LN2);
        const t = Math.log(Math.max(nu, 0) + 1) / lnMax;
        palette(t, pixels, p);
      }
      pixels[p + 3] = 255;
      p += 4;
    }
  }
  return { y0, rows, pixels };
}

/**
 * The task: renders `tile` in a worker and moves its pixel buffer back to the main thread instead
 * of copying it.
 */
export function renderTile(tile: Tile) {
  const result = computeTile(tile);
  return move(result, [result.pixels.buffer]);
}

/**
 * A cosine palette, for `t` from 0 (escaped at once) to 1 (escaped just before `maxIterations`):
 * sky blue far from the set, through white, to orange and brown at its edge. Never black: every
 * channel has a floor.
 */
function palette(t: number, out: Uint8Array, p: number): void {
  const a = 2 * Math.PI * (0.85 * t + 0.05);
  out[p] = channel(0.5 + 0.5 * Math.cos(a + 3.6));
  out[p + 1] = channel(0.5 + 0.5 * Math.cos(a + 4.2));
  out[p + 2] = channel(0.5 + 0.5 * Math.cos(a + 4.9));
}

function channel(v: number): number {
  return 24 + Math.round(231 * v);
}
