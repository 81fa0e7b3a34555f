/**
 * The worker side: reads one CSV file of sales line by line and yields each row as a record, as
 * it reads. An async generator: rxpool's flat faces stream its records back while the file is
 * still being read, and stop reading it (its `finally` closes the file) when the caller stops.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

/** One row of a sales file. */
export interface Sale {
  readonly region: string;
  readonly product: string;
  readonly units: number;
  /** Price of one unit, in cents. */
  readonly cents: number;
}

/** The rows of a CSV file `region,product,units,cents` (after its header line), one by one. */
export async function* records(path: string): AsyncGenerator<Sale> {
  const input = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 16 });
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let header = true;
  try {
    for await (const line of lines) {
      if (header) {
        header = false;
        continue;
      }
      if (line === '') continue;
      const [region, product, units, cents] = line.split(',');
      yield { region: region!, product: product!, units: Number(units), cents: Number(cents) };
    }
  } finally {
    lines.close();
    input.destroy();
  }
}
