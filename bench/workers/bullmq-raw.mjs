// Raw BullMQ, one job per item, for the `remote` bench case: a BullMQ Worker that squares each
// job's data (the same x*x as tasks.mjs) with the given concurrency. Arguments: <redis url> <queue>
// <concurrency>. Prints 'ready' once connected; SIGTERM closes it.
import { Worker } from 'bullmq';

const [url, queue, concurrency] = process.argv.slice(2);
const worker = new Worker(queue, async (job) => job.data * job.data, {
  connection: { url, maxRetriesPerRequest: null },
  concurrency: Number(concurrency),
  removeOnComplete: { age: 3600 },
});
worker.on('error', () => {});
await worker.waitUntilReady();
process.stdout.write('ready\n');
process.on('SIGTERM', () => void worker.close().then(() => process.exit(0)));
