/**
 * Renders the Mandelbrot set tile by tile on rxpool's workers, and once more on this thread alone
 * to measure the speedup. `main.ts` is the command line around it.
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { PNG } from 'pngjs';
import { from, map, range } from 'rxjs';
import { task } from 'rxpool';
import { parallelMap } from 'rxpool/operators';
import { computeTile, type Tile, type TileResult } from './tile.js';

/** What part of the complex plane must be in view: the whole set, with a margin. */
export const VIEW = { reMin: -2.5, reMax: 1, imMin: -1.25, imMax: 1.25 } as const;

/** Options of {@link render}. */
export interface RenderOptions {
  /** @default 2048 */
  readonly width?: number;
  /** @default 1536 */
  readonly height?: number;
  /** Rows per tile. @default 16 */
  readonly tileRows?: number;
  /** @default 500 */
  readonly maxIterations?: number;
  /** Also render on this thread alone, to time it. @default true */
  readonly baseline?: boolean;
}

/** What {@link render} returns. */
export interface Rendered {
  /** The image rendered by the workers. */
  readonly png: PNG;
  /** The image rendered on this thread (when `baseline` is on), the same pixel for pixel. */
  readonly baselinePng: PNG | undefined;
  readonly tiles: number;
  readonly workers: number;
  readonly timings: {
    /** ms on this thread alone, or `undefined` without `baseline`. */
    readonly oneThreadMs: number | undefined;
    /** ms to start the workers and load `tile.ts` in each (once per process; not in `rxpoolMs`). */
    readonly startupMs: number;
    /** ms with `parallelMap` on started workers, from subscription to the last tile copied. */
    readonly rxpoolMs: number;
  };
}

/** Where pixel centres fall: the smallest square-pixel frame around {@link VIEW}, centred on it. */
export interface Frame {
  /** The real part at the centre of column 0. */
  readonly re0: number;
  /** The imaginary part at the centre of row 0 (the top row). */
  readonly im0: number;
  /** The size of one pixel in the complex plane. */
  readonly step: number;
}

/** The frame that {@link render} uses for a `width` x `height` image. */
export function frameFor(width: number, height: number): Frame {
  const step = Math.max((VIEW.reMax - VIEW.reMin) / width, (VIEW.imMax - VIEW.imMin) / height);
  const reCentre = (VIEW.reMin + VIEW.reMax) / 2;
  const imCentre = (VIEW.imMin + VIEW.imMax) / 2;
  return {
    re0: reCentre - ((width - 1) / 2) * step,
    im0: imCentre + ((height - 1) / 2) * step,
    step,
  };
}

/** The pixel `{ x, y }` whose centre is nearest to the complex point `re + im·i`. */
export function pixelAt(re: number, im: number, width: number, height: number) {
  const { re0, im0, step } = frameFor(width, height);
  return { x: Math.round((re - re0) / step), y: Math.round((im0 - im) / step) };
}

/** The bands of rows of a `width` x `height` image, `tileRows` each (the last may be shorter). */
export function tilesFor(
  width: number,
  height: number,
  tileRows: number,
  maxIterations: number,
): Tile[] {
  const frame = frameFor(width, height);
  const count = Math.ceil(height / tileRows);
  const tiles: Tile[] = [];
  for (let i = 0; i < count; i++) {
    const y0 = i * tileRows;
    tiles.push({ y0, rows: Math.min(tileRows, height - y0), width, maxIterations, ...frame });
  }
  return tiles;
}

const renderTile = task<Tile, TileResult>(new URL('./tile.ts', import.meta.url), 'renderTile');

/**
 * Renders the image: on the workers with `parallelMap`, copying each tile into the PNG as it
 * arrives (in order), and, unless `baseline` is off, on this thread first to time it.
 */
export async function render(options: RenderOptions = {}): Promise<Rendered> {
  const width = options.width ?? 2048;
  const height = options.height ?? 1536;
  const tileRows = options.tileRows ?? 16;
  const maxIterations = options.maxIterations ?? 500;
  for (const [name, value] of Object.entries({ width, height, tileRows, maxIterations })) {
    if (!(Number.isInteger(value) && value >= 1)) {
      throw new TypeError(`Expected \`${name}\` to be an integer from 1 up, got ${value}`);
    }
  }
  const tiles = tilesFor(width, height, tileRows, maxIterations);

  let baselinePng: PNG | undefined;
  let oneThreadMs: number | undefined;
  if (options.baseline ?? true) {
    baselinePng = new PNG({ width, height });
    const started = performance.now();
    for (const tile of tiles) copyTile(baselinePng, computeTile(tile));
    oneThreadMs = performance.now() - started;
  }

  // Start the workers and load tile.ts in each (through tsx), as a pool is made before its work
  // in Python: one one-pixel tile per worker.
  const workers = availableParallelism();
  const warmUp = tilesFor(1, workers, 1, 1);
  let started = performance.now();
  await from(warmUp)
    .pipe(parallelMap(renderTile))
    .forEach(() => {});
  const startupMs = performance.now() - started;

  const png = new PNG({ width, height });
  started = performance.now();
  let nextRow = 0;
  await range(0, tiles.length)
    .pipe(
      map((i) => tiles[i]!),
      parallelMap(renderTile),
    )
    .forEach((result) => {
      // parallelMap emits in source order: each tile starts where the previous one ended.
      if (result.y0 !== nextRow) {
        throw new Error(`Expected the tile at row ${nextRow}, got the one at row ${result.y0}`);
      }
      copyTile(png, result);
      nextRow += result.rows;
    });
  const rxpoolMs = performance.now() - started;

  return {
    png,
    baselinePng,
    tiles: tiles.length,
    workers,
    timings: { oneThreadMs, startupMs, rxpoolMs },
  };
}

function copyTile(png: PNG, { y0, pixels }: TileResult): void {
  png.data.set(pixels, y0 * png.width * 4);
}
