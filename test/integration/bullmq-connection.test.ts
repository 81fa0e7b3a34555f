/**
 * The producer's connection to Redis (src/bullmq/connection.ts) on a real redis-server: it tells
 * when Redis answers, when it is gone, and when it is frozen (its connection open, nothing
 * answered); and it closes in a bounded time whatever Redis does.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { type RedisServer, startRedis } from '../../scripts/redis-server.js';
import { Connection, RedisUnreachableError } from '../../src/bullmq/connection.js';
import { bullmqSettings } from '../../src/bullmq/options.js';

const servers: RedisServer[] = [];
const connections: Connection[] = [];
/** Servers stopped by SIGSTOP, continued before they are closed. */
const frozen = new Set<number>();

after(async () => {
  for (const pid of frozen) process.kill(pid, 'SIGCONT');
  await Promise.all(connections.map((c) => c.close()));
  await Promise.all(servers.map((s) => s.close()));
});

async function server(): Promise<RedisServer> {
  const started = await startRedis();
  servers.push(started);
  return started;
}

/** A connection, with what its hooks told so far. */
function connect(url: string, unreachableMs: number) {
  const told: string[] = [];
  const waiters: [string, () => void][] = [];
  const tell = (what: string) => {
    told.push(what);
    for (const [want, resolve] of waiters) if (want === what) resolve();
  };
  const link = new Connection(
    bullmqSettings({ connection: url, queue: 'q', unreachableMs, events: false }),
    { up: () => tell('up'), frozen: () => tell('frozen'), event: () => tell('event') },
  );
  connections.push(link);
  /** Resolves once the hooks have told `what` (again, if `fresh`). */
  const until = (what: string, fresh = false) =>
    !fresh && told.includes(what)
      ? Promise.resolve()
      : new Promise<void>((resolve) => waiters.push([what, resolve]));
  return { link, told, until };
}

test('Redis answers: ready() resolves, the connection is up, and close() ends its clients', async () => {
  const redis = await server();
  const { link, told } = connect(redis.url, 2000);
  await link.ready();
  assert.equal(link.connected, true);
  assert.equal(link.awayMs(), 0);
  assert.deepEqual(told, ['up']);
  await link.close();
  assert.equal(link.redis.status, 'end');
  assert.equal(link.stopped, true);
});

test('Redis gone: ready() rejects with a RedisUnreachableError naming where, and close() ends', async () => {
  const redis = await server();
  const url = redis.url;
  await redis.stop();
  const { link, told } = connect(url, 300);
  const started = performance.now();
  await assert.rejects(link.ready(), (error: Error) => {
    assert.ok(error instanceof RedisUnreachableError);
    assert.ok(
      error.message.startsWith(`cannot reach Redis at ${url} (queue 'q') for 300 ms`),
      error.message,
    );
    return true;
  });
  assert.ok(performance.now() - started < 10_000);
  assert.equal(link.connected, false);
  assert.ok(link.awayMs() >= 300, `${link.awayMs()} ms away`);
  assert.deepEqual(told, []);
  const closing = performance.now();
  await link.close();
  // Bounded by the reconnect wait (500 ms) and the client's end; generous for a loaded machine.
  assert.ok(performance.now() - closing < 10_000, `${performance.now() - closing} ms to close`);
});

test('Redis frozen: an unanswered PING says so once unreachableMs passed; the next answer is up', async () => {
  const redis = await server();
  const { link, told, until } = connect(redis.url, 300);
  await link.ready();
  frozen.add(redis.pid);
  process.kill(redis.pid, 'SIGSTOP');
  link.probe();
  await until('frozen');
  assert.equal(link.connected, false);
  assert.match(link.unreachable().message, /has not answered a PING for 300 ms/);
  process.kill(redis.pid, 'SIGCONT');
  frozen.delete(redis.pid);
  // The PING sent while frozen is answered now: Redis is in reach again.
  await until('up', true);
  assert.equal(link.connected, true);
  assert.deepEqual(told, ['up', 'frozen', 'up']);
  await link.close();
});
