/**
 * `rxpool/bullmq`: many machines through BullMQ on Redis. Only this entry imports `bullmq` and
 * `ioredis` (optional peer dependencies); the main entry `rxpool` never does.
 */
export {
  BullmqExecutor,
  type BullmqExecutorCounters,
  type BullmqExecutorOptions,
  bullmqExecutor,
  RedisUnreachableError,
} from './executor.js';
