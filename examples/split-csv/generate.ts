/**
 * Sales files for the example: `files` CSV files of `rows` rows each, the same for the same seed.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

export const REGIONS = ['north', 'south', 'east', 'west', 'centre'] as const;
const PRODUCTS = ['tea', 'coffee', 'cocoa', 'juice', 'water', 'milk', 'soda', 'beer'];

/** mulberry32: a small seeded PRNG, so that a seed gives the same files everywhere. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes the files into `dir`; resolves with their paths. */
export async function writeSales(
  dir: string,
  { files, rows, seed }: { files: number; rows: number; seed: number },
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const next = random(seed);
  const paths: string[] = [];
  for (let f = 0; f < files; f++) {
    const path = join(dir, `sales-${String(f).padStart(3, '0')}.csv`);
    paths.push(path);
    const out = createWriteStream(path);
    let block = 'region,product,units,cents\n';
    for (let r = 0; r < rows; r++) {
      const region = REGIONS[Math.floor(next() * REGIONS.length)];
      const product = PRODUCTS[Math.floor(next() * PRODUCTS.length)];
      const units = 1 + Math.floor(next() * 20);
      const cents = 50 + Math.floor(next() * 950);
      block += `${region},${product},${units},${cents}\n`;
      if (block.length > 1 << 16) {
        if (!out.write(block))
          await new Promise<void>((resolve) => out.once('drain', () => resolve()));
        block = '';
      }
    }
    await new Promise<void>((resolve, reject) => {
      out.end(block, () => resolve());
      out.once('error', reject);
    });
  }
  return paths;
}
