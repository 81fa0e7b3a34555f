/**
 * `rxpool/bullmq`: many machines through BullMQ on Redis. Only this entry imports `bullmq` and
 * `ioredis` (optional peer dependencies); the main entry `rxpool` never does.
 *
 * The executor is loaded by a dynamic import so that a missing peer is reported with what to
 * install: a static import of a package that is not installed fails while the module graph is
 * linked, before any code of ours runs, with Node's bare ERR_MODULE_NOT_FOUND.
 */
import type * as Loaded from './executor.js';
import { missingPeers } from './peers.js';

let loaded: typeof Loaded;
try {
  loaded = await import('./executor.js');
} catch (error) {
  throw missingPeers(error, 'rxpool/bullmq');
}

/** The producer side of "many machines": an executor that sends batches as BullMQ jobs. */
export const bullmqExecutor: typeof Loaded.bullmqExecutor = loaded.bullmqExecutor;
/** The executor that {@link bullmqExecutor} returns. */
export const BullmqExecutor: typeof Loaded.BullmqExecutor = loaded.BullmqExecutor;
export type BullmqExecutor = Loaded.BullmqExecutor;
/** The producer cannot reach Redis. */
export const RedisUnreachableError: typeof Loaded.RedisUnreachableError =
  loaded.RedisUnreachableError;
export type RedisUnreachableError = Loaded.RedisUnreachableError;
export type { BullmqExecutorCounters } from './launches.js';
export type { BullmqExecutorOptions } from './options.js';
