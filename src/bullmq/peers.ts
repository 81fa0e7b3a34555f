/**
 * The message for a missing optional peer dependency of the distributed mode (`bullmq`,
 * `ioredis`): which packages to install, rather than Node's bare ERR_MODULE_NOT_FOUND.
 */
const PEERS = ['bullmq', 'ioredis'] as const;

/**
 * `error` as it is, unless it says that `bullmq` or `ioredis` cannot be found: then an error that
 * says what `what` needs and the command that installs it (the original as its `cause`).
 */
export function missingPeers(error: unknown, what: string): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const message = error instanceof Error ? error.message : '';
  if (code !== 'ERR_MODULE_NOT_FOUND') return error;
  const missing = PEERS.filter((name) => message.includes(`'${name}'`));
  if (missing.length === 0) return error;
  const wrapped = new Error(
    `${what} needs the packages bullmq and ioredis (optional peer dependencies of rxpool); ` +
      `${missing.join(' and ')} cannot be found: npm install bullmq ioredis`,
    { cause: error },
  );
  (wrapped as NodeJS.ErrnoException).code = 'ERR_MODULE_NOT_FOUND';
  return wrapped;
}
