/**
 * The BullMQ `Worker` that `rxpool worker` runs, as rxpool sets it up: its locks, its stalled
 * check, and jobs it cannot read made into jobs that fail once, with why.
 */
import { type Job, type JobJson, type Processor, Worker } from 'bullmq';
import { MAX_BATCH_BYTES, MAX_JOB_BYTES } from './job.js';

/**
 * BullMQ's lock on a running job lasts this long and is renewed every half of it; a job whose
 * worker died is found by the stalled check (every {@link STALLED_INTERVAL_MS}) once its lock
 * expired: within about 3 s, where BullMQ's defaults (30 s, 30 s) take up to a minute.
 */
export const LOCK_DURATION_MS = 2000;
const STALLED_INTERVAL_MS = 1000;

/** The key of the data that {@link BatchWorker} gives a job it cannot read: why. */
const UNREAD = 'rxpool:unread';

/**
 * BullMQ's `Worker`, with the jobs it cannot read turned into jobs that fail once and are
 * removed. BullMQ 6.7 parses a job's data as JSON while it takes the job (`createJob`, a
 * protected method meant to be overridden), before any processor runs: data that is not JSON
 * throws there, the job stays active without a lock, stalls, and is taken again for ever. Here
 * such a job (and one over {@link MAX_JOB_BYTES}, not even parsed) is made a job whose data says
 * why, which the processor fails (its reason in BullMQ's `failed` event, where its producer can
 * see it), with `removeOnFail`: no rxpool producer sent it, and none will read it.
 */
export class BatchWorker extends Worker {
  /**
   * A worker on `queue` of the Redis at `redis` that runs `concurrency` jobs at once, each
   * through `processor`. `name` is recorded on each job it takes (`processedBy`): which worker a
   * stalled job was on.
   */
  constructor(
    queue: string,
    redis: string,
    name: string,
    concurrency: number,
    processor: Processor,
  ) {
    super(queue, processor, {
      connection: { url: redis, maxRetriesPerRequest: null },
      name,
      autorun: false,
      concurrency,
      lockDuration: LOCK_DURATION_MS,
      stalledInterval: STALLED_INTERVAL_MS,
      // The producer's engine is the one retry accountant: a job whose worker died is never run
      // again by BullMQ; it ends `failed` ("job stalled more than allowable limit", see ./job.ts
      // for how BullMQ 6.7 gets there) and the producer launches the batch again as a new job.
      maxStalledCount: 0,
      // The producer removes a job once it has read it; these only bound what a producer that
      // went away leaves behind.
      removeOnComplete: { age: 24 * 3600 },
      removeOnFail: { age: 24 * 3600 },
    });
  }

  protected override createJob(raw: JobJson, jobId: string): Job {
    const text = typeof raw.data === 'string' ? raw.data : '';
    // A UTF-16 unit is at most 3 bytes of UTF-8: count the bytes only when it could matter.
    const bytes = text.length * 3 > MAX_JOB_BYTES ? Buffer.byteLength(text) : text.length;
    let reason: string;
    if (bytes > MAX_JOB_BYTES) {
      reason =
        `the job's data is ${bytes} bytes, over rxpool worker's limit of ${MAX_JOB_BYTES} ` +
        `(a producer's jobs stay under it: its maxBatchBytes is at most ${MAX_BATCH_BYTES})`;
    } else {
      try {
        return super.createJob(raw, jobId);
      } catch (error) {
        reason = `the job's data cannot be read (not JSON): ${(error as Error).message}`;
      }
    }
    const data = JSON.stringify({ [UNREAD]: reason });
    let job: Job;
    try {
      job = super.createJob({ ...raw, data }, jobId);
    } catch {
      job = super.createJob({ ...raw, data, opts: {} }, jobId);
    }
    job.opts.removeOnFail = true;
    return job;
  }
}

/** Why {@link BatchWorker} could not read the job, if it could not. */
export function unreadReason(job: Job): string | undefined {
  const data = job.data as Record<string, unknown> | null;
  const reason = data !== null && typeof data === 'object' ? data[UNREAD] : undefined;
  return typeof reason === 'string' ? reason : undefined;
}
