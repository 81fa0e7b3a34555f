/**
 * The work that runs in the workers: the SHA-256 of one file, read in blocks so that a large file
 * is never whole in memory. `task(new URL('./hash.ts', import.meta.url), 'sha256File')` names it.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

/** A file's SHA-256, as the task returns it. */
export interface FileHash {
  readonly path: string;
  /** The SHA-256, 64 lowercase hex digits. */
  readonly hex: string;
  /** The bytes read. */
  readonly bytes: number;
}

/** Files up to this size are read at once; larger ones in blocks of this size. */
const BLOCK = 1 << 20;

/** Reads the file at `path` and returns its SHA-256. */
export async function sha256File(path: string): Promise<FileHash> {
  const hash = createHash('sha256');
  let bytes = 0;
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    if (size <= BLOCK) {
      const data = await file.readFile();
      hash.update(data);
      bytes = data.length;
    } else {
      const block = Buffer.allocUnsafe(BLOCK);
      for (;;) {
        const { bytesRead } = await file.read(block, 0, BLOCK, null);
        if (bytesRead === 0) break;
        hash.update(block.subarray(0, bytesRead));
        bytes += bytesRead;
      }
    }
  } finally {
    await file.close();
  }
  return { path, hex: hash.digest('hex'), bytes };
}
