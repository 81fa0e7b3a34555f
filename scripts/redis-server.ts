/**
 * A local `redis-server` for the BullMQ tests, the `remote` bench case and the cluster example:
 * started on a free port of 127.0.0.1, without persistence, in a directory of its own; stopped by
 * its pid (never by name: other runs may have servers of their own). It can be stopped and started
 * again on the same port (a Redis restart mid-stream).
 *
 * `scripts/ensure-redis.sh` (run by `npm run test:run` and `npm run example:cluster`) installs the
 * server when it is missing; if it is still missing here, {@link startRedis} throws: the tests
 * never skip.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { reapWith } from './reaper.js';

const HOST = '127.0.0.1';
const READY_MS = 10_000;

export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>`, or `rediss://` with {@link StartOptions.tls} */
  readonly url: string;
  /** With {@link StartOptions.tls}: the path of the CA certificate (PEM) that signed the server's. */
  readonly caFile: string | undefined;
  /** The server's pid (changes on {@link RedisServer.restart}). */
  readonly pid: number;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s); resolves once it has exited. */
  stop(): Promise<void>;
  /** Starts it again on the same port (after {@link RedisServer.stop}, or stops it first). */
  restart(): Promise<void>;
  /** Stops it and removes its directory. Safe to call twice. */
  close(): Promise<void>;
}

/** The path of `redis-server`, or a clear error (never a skip). */
function serverPath(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(
      'redis-server is not installed: run scripts/ensure-redis.sh (as root, with apt) or ' +
        '`apt-get install redis-server`; the BullMQ tests need a real Redis',
    );
  }
}

/** A port that was free a moment ago on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Whether the server on `port` answers PING with PONG. */
function pings(port: number, ca: string | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const socket =
      ca === undefined ? new Socket() : tlsConnect({ host: HOST, port, ca, servername: undefined });
    let answer = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('data', (chunk) => {
      answer += chunk.toString();
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
    if (ca === undefined) socket.connect(port, HOST, () => socket.write('PING\r\n'));
    else socket.once('secureConnect', () => socket.write('PING\r\n'));
  });
}

export interface StartOptions {
  /**
   * Serve TLS only (`rediss://`), with a certificate for 127.0.0.1 signed by a CA made for this
   * server (`caFile`); clients are not asked for certificates.
   */
  readonly tls?: boolean;
}

/** A CA and a certificate for 127.0.0.1 signed by it, made with openssl in `dir`. */
function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=rxpool test CA',
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.pem'),
  );
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    file('server.key'),
    '-out',
    file('server.csr'),
  );
  openssl(
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-days',
    '1',
    '-out',
    file('server.pem'),
    '-extfile',
    file('san.ext'),
  );
  return { ca: file('ca.pem'), cert: file('server.pem'), key: file('server.key') };
}

/** Starts a redis-server on a free port of 127.0.0.1 and waits until it answers. */
export async function startRedis(options: StartOptions = {}): Promise<RedisServer> {
  const binary = serverPath();
  const dir = mkdtempSync(join(tmpdir(), 'rxpool-redis-'));
  const port = await freePort();
  const certs = options.tls ? makeCertificates(dir) : undefined;
  const ca = certs && readFileSync(certs.ca, 'utf8');
  const listen = certs
    ? [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        certs.cert,
        '--tls-key-file',
        certs.key,
        '--tls-ca-cert-file',
        certs.ca,
        '--tls-auth-clients',
        'no',
      ]
    : ['--port', String(port)];
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let log = '';

  const start = async () => {
    log = '';
    const proc = spawn(
      binary,
      [
        ...listen,
        '--bind',
        HOST,
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--daemonize',
        'no',
        '--protected-mode',
        'yes',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = proc;
    proc.stdout!.on('data', (chunk) => {
      log = (log + chunk).slice(-4000);
    });
    proc.stderr!.on('data', (chunk) => {
      log = (log + chunk).slice(-4000);
    });
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    // A test process that ends without closing (an uncaught failure, a signal, SIGKILL) takes
    // its server along: at once on a normal exit, through the watchdog otherwise.
    const reaper = reapWith(proc.pid!);
    proc.once('exit', () => reaper.release());
    // The tests must not keep the process alive through the server's handles.
    proc.unref();
    (proc.stdout as unknown as { unref?: () => void }).unref?.();
    (proc.stderr as unknown as { unref?: () => void }).unref?.();
    const deadline = Date.now() + READY_MS;
    while (!(await pings(port, ca))) {
      if (proc.exitCode !== null || proc.signalCode !== null || Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`redis-server did not start on port ${port}:\n${log}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  const stop = async () => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    // By its pid, never by name: other test runs may have servers of their own.
    process.kill(proc.pid!, 'SIGTERM');
    const timer = setTimeout(() => {
      if (proc.exitCode === null && proc.signalCode === null) process.kill(proc.pid!, 'SIGKILL');
    }, 5000);
    await exited;
    clearTimeout(timer);
  };

  await start();
  let closed = false;
  return {
    port,
    url: `${certs ? 'rediss' : 'redis'}://${HOST}:${port}`,
    caFile: certs?.ca,
    get pid() {
      return child!.pid!;
    },
    stop,
    async restart() {
      await stop();
      await start();
    },
    async close() {
      if (closed) return;
      closed = true;
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
