/**
 * Rounds of hellos: how thread workers get their links. A thread worker takes its batches over a
 * `MessagePort` of its own, given once by a hello (a task of the worker host): a batch then costs
 * one message each way, where a task of the host would add tens of microseconds of bookkeeping on
 * both sides (a task record, a wake-up from `Atomics.wait`, a read of the worker's memory use).
 *
 * A round sends a hello to every worker at once, each with a new port. The host gives each to a
 * worker that holds no task, and each worker holds its hello until all have answered: so every
 * worker gets one, those that had no link take theirs (new workers are started for the hellos
 * that wait), and the others just answer. Then all hellos are released.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type {
  BroadcastReply,
  FlatValues,
  Hello,
  HelloReply,
  LinkReply,
  Release,
  TornDown,
} from '../wire/messages.js';
import { WorkerLink } from './runtime/thread-worker.js';
import type { WorkerHost } from './worker-host.js';

/** What a round of hellos asks of the thread executor. */
export interface HelloHost {
  readonly host: WorkerHost;
  /** How many hellos a round sends: one a worker the pool needs. */
  hellos(): number;
  /** A worker took its hello's port: `link` is its link from now on. */
  adopt(link: WorkerLink): void;
  /** A reply on a link. */
  answer(link: WorkerLink, reply: LinkReply | TornDown | BroadcastReply | FlatValues): void;
  /**
   * The round is over: `adopted` workers took a link; `failure`, what a hello's task failed with
   * (if one did); `startFailure`, why a worker of the round could not start (if one could not).
   */
  roundOver(adopted: number, failure: unknown, startFailure: Error | undefined): void;
}

export class Hellos {
  /** A round is out. */
  private out = false;
  /** What waits for the round out to end (see `round`). */
  private readonly waiting: (() => void)[] = [];
  /** Stops the hellos of the round out that no worker has answered (see `cannotStart`). */
  private readonly unanswered = new Set<AbortController>();
  /** Why a worker of the round out could not start, if one could not. */
  private startFailure: Error | undefined;

  constructor(private readonly to: HelloHost) {}

  /** Whether a round is out. */
  get greeting(): boolean {
    return this.out;
  }

  /** Resolves once a round has ended (one is started if none is out). */
  round(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.greet();
    });
  }

  /**
   * A worker died before it was ready: the hellos no worker answered are stopped (the host starts
   * no other worker for them), and the round ends; `error` goes to `roundOver`.
   */
  cannotStart(error: Error): void {
    if (!this.out) return;
    this.startFailure ??= error;
    const stops = [...this.unanswered];
    this.unanswered.clear();
    for (const stop of stops) stop.abort();
  }

  /** Starts a round of hellos, unless one is out (or the host is closed). */
  greet(): void {
    const { host } = this.to;
    if (!host.open) {
      for (const resolve of this.waiting.splice(0)) resolve();
      return;
    }
    if (this.out) return;
    this.out = true;
    const answered: MessagePort[] = [];
    const hellos = this.to.hellos();
    let pending = hellos;
    let adopted = 0;
    let failure: unknown;
    const settled = () => {
      if (--pending > 0) return;
      this.out = false;
      for (const resolve of this.waiting.splice(0)) resolve();
      for (const port of answered) port.postMessage({ release: true } satisfies Release);
      const startFailure = this.startFailure;
      this.startFailure = undefined;
      this.to.roundOver(adopted, failure, startFailure);
    };
    for (let i = 0; i < hellos; i++) {
      const { port1, port2 } = new MessageChannel();
      let link: WorkerLink | undefined;
      let replied = false;
      const stop = new AbortController();
      this.unanswered.add(stop);
      port1.on('message', (message: HelloReply | LinkReply) => {
        if (link) {
          this.to.answer(link, message as LinkReply | FlatValues);
          return;
        }
        if (replied) return;
        replied = true;
        this.unanswered.delete(stop);
        answered.push(port1);
        const hello = message as HelloReply;
        if (hello.adopted) {
          adopted++;
          // A worker the host may have started after its last look: its exit must be watched
          // before it gets a batch (a silent `process.exit` would hang it).
          host.watchNewWorkers();
          link = new WorkerLink(hello.threadId, port1, (l, reply) => this.to.answer(l, reply));
          this.to.adopt(link);
        }
        settled();
      });
      port1.unref();
      host
        .run({ hello: port2 } satisfies Hello, { transferList: [port2], signal: stop.signal })
        .then(
          () => {},
          (error: unknown) => {
            if (replied) return;
            replied = true;
            this.unanswered.delete(stop);
            failure = error;
            port1.close();
            settled();
          },
        );
    }
  }
}
