/**
 * How long a batch should take to run on threads, in ms: long enough that the messages it costs
 * (the main thread's time each way, which grows when the workers must give way to it on a busy
 * machine) are a small part of it. A shorter target sends CPU-bound items alone, and their
 * messages then cost more than the spread gains. The thread executor's `traits.targetBatchMs`,
 * and the engine's batch sizing when it is given none.
 */
export const TARGET_BATCH_MS = 8;
