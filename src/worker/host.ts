/**
 * The host glue of the worker side: the only worker file that knows tinypool (the main side's is
 * src/threads/worker-host.ts). Tinypool loads this file in every worker and calls its default
 * export with each task: a batch (process runtime, one task each), or a hello that gives a thread
 * worker its link (a port on which it takes its batches for the rest of its life). It reads what
 * tinypool gives a worker through its internals, each named here with the upstream behaviour it
 * relies on and a test in test/integration/tinypool-door.test.ts (the numbers go on from the main
 * side's, src/threads/worker-host.ts):
 *
 * - (5) `process.__tinypool_state__.isChildProcess`: tinypool 2.2.0 marks a child process there
 *   (its public `Tinypool.isWorkerThread` would load tinypool's main module in every worker, a
 *   noticeable part of each worker's start). It decides the worker's id (`pid` or `threadId`) and
 *   whether results' buffers may move.
 * - (6) `workerData[1]`: tinypool 2.2.0 passes `[its own data, the pool's workerData]` to a thread
 *   worker: the control block the executor shares with every thread worker is the second.
 * - (9) A child process's IPC channel is tinypool's, and its child entry ignores a message without
 *   `__tinypool_worker_message__`: rxpool's own messages to a child (an abort of its batch) travel
 *   on it, marked `__rxpool__` (the main side sends them: src/threads/worker-host.ts, once this
 *   module said it listens).
 * - (10) Tinypool 2.2.0 stops a child process with `kill()` (SIGTERM), and SIGKILLs it a second
 *   later if it has not exited: a SIGTERM handler here runs the pool's teardown (bounded by
 *   `TEARDOWN_MS`, under that second) and exits. Installed only with a teardown: without one, a
 *   child that runs synchronous code would otherwise take that second to die.
 * - (7) A child process's reply: tinypool 2.2.0's child entry (`entry/process.js`) sends a task's
 *   result with `process.send` outside any `try`, so a result that its channel's serializer
 *   (`serialization: 'advanced'`, v8's) refuses throws uncaught there and kills the child: a
 *   `SharedArrayBuffer`, or a getter that throws when read again. A reply that is not all JSON
 *   text or packed numbers is serialized here first the same way (`channelCopy`); if that throws,
 *   the items at fault fail alone (`sendable`), and the child lives.
 *
 * A flat batch's values (./flat.ts) go back while it runs: on the link (thread runtime), or with
 * `process.send` on the child's IPC channel (process runtime), which tinypool 2.2.0 leaves to the
 * task's `channel` on the main side (its public `run` option: a message without its own mark goes
 * there), and credit and stops come back the same ways.
 */
import { DefaultSerializer } from 'node:v8';
import { type MessagePort, threadId, workerData } from 'node:worker_threads';
import type { TransferListItem } from '../types.js';
import { serializeError } from '../wire/error.js';
import type {
  Abort,
  BatchRequest,
  BatchResponse,
  Broadcast,
  BroadcastReply,
  ChildMessage,
  ExitNotice,
  FlatControl,
  Hello,
  HelloReply,
  LinkBatch,
  LinkBroadcast,
  LinkReply,
  ParentMessage,
  Release,
  TearDown,
  TornDown,
} from '../wire/messages.js';
import { ControlBlock, isFlatMessage } from '../wire/messages.js';
import { FlatGate, type FlatPost } from './flat.js';
import { type FlatIo, Runner } from './runner.js';

const isChildProcess = Boolean(
  (process as { __tinypool_state__?: { isChildProcess?: boolean } }).__tinypool_state__
    ?.isChildProcess,
);
/** The control block the executor shares with every thread worker (tinypool's `workerData[1]`). */
const shared = (Array.isArray(workerData) ? workerData[1] : undefined) as
  | { control: SharedArrayBuffer; rows: number }
  | undefined;
const workerId = isChildProcess ? process.pid : threadId;
/** This worker's batch runner. */
const runner = new Runner({
  workerId,
  sharedControl: shared?.control && new ControlBlock(shared.control, shared.rows),
  // A child process's pipe copies everything: no buffers move there, and no memory is shared.
  sharesMemory: !isChildProcess,
});

if (isChildProcess) {
  // Workaround 9: rxpool's messages on tinypool's channel.
  process.on('message', (message: ChildMessage | undefined) => {
    if (isFlatMessage(message)) control(message as unknown as FlatControl);
    else if (message?.__rxpool__ === 'abort') runner.context.abort(message.abort, message.reason);
    else if (message?.__rxpool__ === 'release') {
      released.get(message.broadcast)?.();
      released.delete(message.broadcast);
    }
  });
  // Messages sent before this module loaded would have been lost: the main side holds them
  // until it hears this.
  process.send?.({ __rxpool__: 'listening' } satisfies ParentMessage);
}

/**
 * (10) Tinypool stops a child process with SIGTERM (SIGKILL a second later): whatever the reason
 * (close, idle timeout, a recycled worker), the teardown runs first, and what it threw goes to the
 * main side; then the child dies of the signal, as it would have (its exit says it was stopped).
 * Installed once a request names a teardown: without one, SIGTERM stops a busy child at once.
 */
let onSigterm: (() => void) | undefined;
function dieOfSigterm(): void {
  if (onSigterm) process.off('SIGTERM', onSigterm);
  process.kill(process.pid, 'SIGTERM');
}
function listenForSigterm(): void {
  if (!isChildProcess || onSigterm !== undefined || !runner.lifecycle.hasTeardown()) return;
  onSigterm = () => {
    void runner.lifecycle.teardownOnce().then((error) => {
      if (error && process.send) {
        process.send({ __rxpool__: 'tornDown', error } satisfies ParentMessage, dieOfSigterm);
      } else {
        dieOfSigterm();
      }
    });
  };
  process.on('SIGTERM', onSigterm);
}

/** Child process: settles a held broadcast task, by broadcast id. */
const released = new Map<number, () => void>();

// A worker that calls `process.exit` says so first (this listener comes before any task's): in
// its batch's control row (thread), or in a message to the main side (child process), which
// gets out at once, however long the child then takes to go.
process.on('exit', (code) => {
  if (isChildProcess) process.send?.({ rxpoolExit: code } satisfies ExitNotice);
  else runner.exiting(code);
});

/** This worker's link (thread runtime), once a {@link Hello} gave it one. */
let link: MessagePort | undefined;
/** Settles the hello task that gave the link, when the main side releases it. */
let releaseLink: (() => void) | undefined;
/** The running of the newest batch that came on the link. */
let previous: Promise<void> = Promise.resolve();

/**
 * Tinypool's handler: runs a batch (process runtime), or answers a {@link Hello} (thread runtime).
 * A batch on the link costs a message each way and nothing more, where a tinypool task also costs
 * its bookkeeping on both sides (tens of microseconds).
 */
export default function handle(request: BatchRequest | Hello | Broadcast): Promise<unknown> {
  if ('hello' in request) return greet(request.hello);
  // (Each names the teardown before its first await: the SIGTERM handler can go in at once.)
  const ran =
    'broadcast' in request
      ? broadcast(request)
      : request.flat && isChildProcess
        ? runFlatChild(request)
        : runner
            .runBatch(request)
            .then(({ response }) => (isChildProcess ? checked(response) : response));
  listenForSigterm();
  return ran;
}

/** A child process's flat batch: its values go on the IPC channel as they come. */
function runFlatChild(request: BatchRequest): Promise<BatchResponse> {
  const io = flatIo(request, (message) => process.send!(message));
  return runner.runBatch(request, io).then(({ response }) => {
    finishFlat(io);
    return checked(response);
  });
}

/**
 * A child process's broadcast task (tinypool gives it one only while it runs no batch): runs the
 * work, answers on the IPC channel, and holds the task until released.
 */
function broadcast(request: Broadcast): Promise<void> {
  return runner.runOnce(request.broadcast).then(
    (outcome) =>
      new Promise<void>((resolve) => {
        released.set(request.broadcast.id, resolve);
        const reply: BroadcastReply = { broadcast: request.broadcast.id, workerId, ...outcome };
        process.send?.({ __rxpool__: 'broadcast', ...reply } satisfies ParentMessage);
      }),
  );
}

/**
 * What tinypool's child entry serializes a reply with (Node's `ChildProcessSerializer` for
 * `serialization: 'advanced'`): v8's serializer, views written by value, other host objects as
 * plain objects.
 */
class ChannelCopy extends DefaultSerializer {
  /** v8's hook for host objects (Node's serializers define it; its types do not name it). */
  _writeHostObject(object: object): void {
    if (ArrayBuffer.isView(object)) {
      (DefaultSerializer.prototype as unknown as HostObjects)._writeHostObject.call(this, object);
    } else {
      this.writeValue({ ...object });
    }
  }
}

interface HostObjects {
  _writeHostObject(object: object): void;
}

/** Serializes `value` as the child's channel will; throws what that throws. */
function channelCopy(value: unknown): void {
  const serializer = new ChannelCopy();
  serializer.writeHeader();
  serializer.writeValue(value);
  serializer.releaseBuffer();
}

/**
 * A child process's reply, as its channel can send it (see the header). JSON text and packed
 * numbers cannot fail: a reply of those alone is not serialized twice.
 */
function checked(response: BatchResponse): BatchResponse {
  if (
    response.failures === null &&
    (response.json !== undefined || !Array.isArray(response.values))
  ) {
    return response;
  }
  try {
    channelCopy(response);
    return response;
  } catch {
    return runner.sendable(response, channelCopy);
  }
}

/** Flat batches on this worker, by key, from when they came until they end. */
const gates = new Map<number, FlatGate>();
/** The highest key of a flat batch that ended here: a later message for it is late. */
let lastEnded = -1;

function flatIo(request: BatchRequest, post: FlatPost): FlatIo {
  const { key, highWaterMark } = request.flat!;
  let gate = gates.get(key);
  if (gate) {
    // Made by a stop that came before the batch ran.
    gate.highWaterMark = highWaterMark;
  } else {
    gate = new FlatGate(key, highWaterMark);
    gates.set(key, gate);
  }
  return { gate, post };
}

function finishFlat(io: FlatIo): void {
  gates.delete(io.gate.key);
  if (io.gate.key > lastEnded) lastEnded = io.gate.key;
}

/** Credit or a stop for a flat batch (it may come before the batch, in a child process). */
function control(message: FlatControl): void {
  let gate = gates.get(message.flatKey);
  if (!gate) {
    if (message.flatKey <= lastEnded) return;
    gate = new FlatGate(message.flatKey, 0);
    gates.set(message.flatKey, gate);
  }
  if (message.stop) gate.stop();
  else if (message.grant !== undefined) gate.grant(message.position ?? 0, message.grant);
}

/** Takes `port` as this worker's link if it has none; settles once the main side releases it. */
function greet(port: MessagePort): Promise<void> {
  return new Promise((resolve) => {
    const adopted = link === undefined;
    if (adopted) {
      link = port;
      releaseLink = resolve;
      port.on(
        'message',
        (message: LinkBatch | Release | Abort | TearDown | LinkBroadcast | FlatControl) => {
          if (isFlatMessage(message)) {
            control(message);
          } else if ('release' in message) {
            releaseLink?.();
            releaseLink = undefined;
          } else if ('abort' in message) {
            runner.context.abort(message.abort, message.reason);
          } else if ('broadcastNow' in message) {
            const request = message.broadcastNow;
            const ran = previous.then(() => runner.runOnce(request));
            previous = ran.then((outcome) =>
              port.postMessage({
                broadcast: request.id,
                workerId,
                ...outcome,
              } satisfies BroadcastReply),
            );
          } else if ('tearDownNow' in message) {
            // After the batches it holds: the main side is about to stop this worker.
            previous = previous
              .then(() => runner.lifecycle.teardownOnce())
              .then((error) => port.postMessage({ tornDown: true, error } satisfies TornDown));
          } else {
            run(port, message);
          }
        },
      );
    } else {
      port.once('message', () => {
        port.close();
        resolve();
      });
    }
    port.postMessage({ threadId: workerId, adopted } satisfies HelloReply);
  });
}

/**
 * Whether the event loop has turned since the last batch started. Node delivers a port's messages
 * in one loop, up to 1,000 at a time, for as long as more are waiting: a link that the main side
 * keeps two batches deep would hold this worker in that loop batch after batch, and its other
 * port, tinypool's, would go unread for seconds (a hello that every worker must answer before a
 * worker that replaces a dead one gets its link: recovery stalled until every worker had died).
 */
let turned = true;

function turn(): void {
  turned = true;
}

/**
 * Runs the batches of the link one after the other, in the order they came, and answers each as
 * soon as it ends (before the next starts, so that a batch that never ends holds no other's reply).
 * A batch that follows another at once lets the event loop turn first (see `turned`).
 */
function run(port: MessagePort, batch: LinkBatch): void {
  previous = previous.then(async () => {
    if (!turned) await new Promise(setImmediate);
    turned = false;
    setImmediate(turn);
    let reply: LinkReply;
    let transferList: TransferListItem[] | undefined;
    const io =
      batch.flat && flatIo(batch, (message, list) => port.postMessage(message, list ?? []));
    try {
      const ran = await runner.runBatch(batch, io);
      reply = { id: batch.id, response: ran.response };
      transferList = ran.transferList;
    } catch (error) {
      // runBatch reports every item's failure itself; this would be a bug in it. The batch fails
      // as a whole, and the link goes on with the next.
      reply = { id: batch.id, broken: serializeError(error, undefined) };
    }
    if (io) finishFlat(io);
    try {
      port.postMessage(reply, transferList ?? []);
      return;
    } catch (error) {
      if (!('response' in reply)) {
        port.postMessage({ id: batch.id, broken: serializeError(error, undefined) });
        return;
      }
    }
    // A result that failed to copy only now (a getter that throws when the copy reads it): the
    // items at fault fail alone. Each is copied alone to find them; an item that moves a
    // MessagePort would be blamed too, as it cannot be copied without its transfer list.
    const response = runner.sendable(reply.response, structuredClone);
    try {
      port.postMessage({ id: batch.id, response } satisfies LinkReply, transferList ?? []);
    } catch (error) {
      port.postMessage({
        id: batch.id,
        broken: serializeError(error, undefined),
      } satisfies LinkReply);
    }
  });
}
