/**
 * The producer's connection to Redis: its clients, the BullMQ `Queue` on them, whether Redis is
 * in reach (and since when not), and closing them all without ever waiting on a Redis that does
 * not answer.
 *
 * The clients are ours (ioredis' public API), given to BullMQ as shared connections: BullMQ does
 * not close a shared client, and its own close waits for a connection that is still being made
 * (BullMQ 6.7 `RedisConnection.disconnect` awaits its client's first `ready`), so with Redis out
 * of reach only our `disconnect()` of these clients ends them. The queue's client also sends the
 * cancel messages and tells whether Redis is in reach; a second client, when events are read,
 * blocks on the events stream (./events.ts).
 */
import { performance } from 'node:perf_hooks';
import { type ConnectionOptions, Queue } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { type JobEvent, readEvents } from './events.js';
import type { BullmqSettings } from './options.js';
import { within } from './within.js';

/** The producer cannot reach Redis. */
export class RedisUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisUnreachableError';
  }
}

/**
 * The longest wait between two attempts to reconnect (ioredis' default strategy with 500 in
 * place of 2000): a client that waits to reconnect ends only at its next attempt (see `end`),
 * so this bounds how long closing takes while Redis is out of reach.
 */
const RETRY_MAX_MS = 500;

/** What the connection tells the executor. */
export interface ConnectionHooks {
  /** Redis answers, for the first time or again after it was out of reach. */
  readonly up: () => void;
  /** Redis froze: a PING went unanswered for `unreachableMs`. */
  readonly frozen: () => void;
  /** An entry of the queue's events stream (only with the `events` option). */
  readonly event: (event: JobEvent) => void;
}

export class Connection {
  /** The queue's client: BullMQ's commands, the cancel messages, and the PINGs. */
  readonly redis: Redis;
  readonly queue: Queue;
  /** Where Redis is, for messages (a URL without its password). */
  readonly url: string;
  private readonly eventsClient: Redis | undefined;
  private live = false;
  private downSince = performance.now();
  private lastError = '';
  private stopping = false;
  /** When the PING still unanswered was sent (`performance.now()`), while one is out. */
  private probing: number | undefined;
  private probeTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly settings: BullmqSettings,
    private readonly hooks: ConnectionHooks,
  ) {
    const { connection, queue, prefix, maxLen } = settings;
    this.url =
      typeof connection === 'string'
        ? redact(connection)
        : `${connection.host ?? '127.0.0.1'}:${connection.port ?? 6379}`;
    // Once stopped, no client (nor BullMQ's duplicate of one, which copies its options) connects
    // again: BullMQ 6.7 calls `connect()` on a client that ended while it waits for it.
    const given = typeof connection === 'string' ? undefined : connection.retryStrategy;
    const retryStrategy = (times: number) =>
      this.stopping ? null : given ? given(times) : Math.min(times * 50, RETRY_MAX_MS);
    const client = () =>
      typeof connection === 'string'
        ? new Redis(connection, { maxRetriesPerRequest: null, retryStrategy })
        : new Redis({ ...(connection as RedisOptions), maxRetriesPerRequest: null, retryStrategy });
    this.redis = client();
    this.redis.on('ready', () => this.up());
    this.redis.on('close', () => this.down());
    this.redis.on('error', (error: Error) => this.problem(error));
    this.queue = new Queue(queue, {
      connection: this.redis as unknown as ConnectionOptions,
      prefix,
      ...(maxLen === undefined ? {} : { streams: { events: { maxLen } } }),
    });
    this.queue.on('error', (error) => this.problem(error));
    if (settings.events) {
      this.eventsClient = client();
      this.eventsClient.on('error', (error: Error) => this.problem(error));
      void readEvents(this.eventsClient, `${prefix}:${queue}:events`, {
        stopping: () => this.stopping,
        event: hooks.event,
        problem: (error) => this.problem(error),
      });
    }
  }

  /** Redis answered last time it was asked (and no PING has gone unanswered too long since). */
  get connected(): boolean {
    return this.live;
  }

  /** {@link Connection.stop} was called: the executor is closing. */
  get stopped(): boolean {
    return this.stopping;
  }

  /** How long Redis has been out of reach, in ms; 0 while it is in reach. */
  awayMs(): number {
    return this.live ? 0 : performance.now() - this.downSince;
  }

  /** Resolves once Redis answers; rejects with {@link Connection.unreachable} after `unreachableMs`. */
  async ready(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.unreachable()), this.settings.unreachableMs);
    });
    try {
      await Promise.race([this.redis.ping(), late]);
      this.up();
    } finally {
      clearTimeout(timer);
    }
  }

  /** Redis answered (a command, a PING, a reconnect). */
  up(): void {
    if (this.live) return;
    this.live = true;
    this.lastError = '';
    this.hooks.up();
  }

  /** Keeps the last problem, which {@link Connection.unreachable} reports. */
  problem(error: unknown): void {
    this.lastError = error instanceof Error ? error.message : String(error);
  }

  /** The error of every batch while Redis is out of reach. */
  unreachable(): RedisUnreachableError {
    const { queue, unreachableMs } = this.settings;
    return new RedisUnreachableError(
      `cannot reach Redis at ${this.url} (queue '${queue}') for ` +
        `${unreachableMs} ms${this.lastError ? `: ${this.lastError}` : ''}`,
    );
  }

  /**
   * Sends a PING, unless one is out: a Redis that is frozen (SIGSTOP, a stalled host) or cut off
   * by the network keeps its connection open and answers nothing, so no 'close' ever tells; its
   * commands would wait for ever. A PING unanswered for `unreachableMs` counts as the connection
   * lost at the time it was sent, and the executor ends the batches out as a dead Redis does.
   */
  probe(): void {
    if (!this.live || this.probing !== undefined || this.stopping) return;
    const sent = performance.now();
    this.probing = sent;
    const answered = () => {
      if (this.probing !== sent) return false;
      this.probing = undefined;
      clearTimeout(this.probeTimer);
      return true;
    };
    const { unreachableMs } = this.settings;
    this.probeTimer = setTimeout(() => {
      if (this.probing !== sent || !this.live) return;
      this.down(sent);
      this.lastError =
        `Redis has not answered a PING for ${unreachableMs} ms ` +
        '(the server is frozen or the network is cut)';
      this.hooks.frozen();
    }, unreachableMs);
    this.probeTimer.unref();
    this.redis.ping().then(
      () => {
        if (answered()) this.up();
      },
      () => answered(),
    );
  }

  /** No reconnect from now on, and no more PINGs. */
  stop(): void {
    this.stopping = true;
    clearTimeout(this.probeTimer);
  }

  /** Ends every client and the queue, in a bounded time whatever Redis does. */
  async close(): Promise<void> {
    this.stop();
    const clients = [this.redis, this.eventsClient].filter((c) => c !== undefined);
    const close = () => this.queue.close().catch(() => {});
    if (this.live) {
      const closing = close();
      await within(closing, 2000);
      await Promise.all(clients.map(end));
      await within(closing, 1000);
    } else {
      // Out of reach: our clients end first, so that BullMQ's close finds them ended and does
      // not `disconnect()` one that waits to reconnect (ioredis then keeps a 2 s timer for the
      // old socket, which holds the process).
      await Promise.all(clients.map(end));
      await within(close(), 1000);
    }
  }

  private down(since = performance.now()): void {
    if (!this.live) return;
    this.live = false;
    this.downSince = since;
  }
}

/** The URL without its password. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

/**
 * Ends a client. ioredis 5/6: `disconnect()` while it waits to reconnect only clears the wait and
 * leaves it 'reconnecting' for ever (no 'end', and BullMQ's waits on it keep polling), so such a
 * client is left to its next attempt, which fails and ends it (our retryStrategy says stop).
 */
async function end(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  if (client.status !== 'reconnecting') client.disconnect();
  await within(ended, 5000);
  if ((client.status as string) !== 'end') client.disconnect();
}
