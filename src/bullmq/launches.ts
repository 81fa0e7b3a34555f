/**
 * The batches out, one job each, and the two paths by which each one's end is found:
 * - the fast path: the queue's events stream (./events.ts), read by the connection;
 * - the reconcile pass: every `reconcileMs` (and at once after every reconnect) the state of every
 *   outstanding job is read (`Job.fromId`). BullMQ's events stream is capped and drops events
 *   under load, and a Redis restart loses the stream: the pass alone always ends every batch.
 * Whichever path sees the end first settles the batch, once (what a state means: ./reconcile.ts);
 * its job is then removed. A job that a worker still runs cannot be removed (BullMQ keeps a
 * locked job): it stays an orphan, removed by a later pass once it ended.
 */
import { performance } from 'node:perf_hooks';
import { Job } from 'bullmq';
import type { BatchOutcome, ValuesListener } from '../executor/contract.js';
import { type Connection, RedisUnreachableError } from './connection.js';
import type { JobEvent } from './events.js';
import { type BatchJobData, JOB_NAME } from './job.js';
import {
  blameAll,
  completedOutcome,
  crashedOutcome,
  judgeEvent,
  judgeJob,
  message,
  refusedOutcome,
  type Verdict,
} from './reconcile.js';
import { within } from './within.js';

/**
 * How long closing waits for the stopped jobs of settled launches to end, to remove them (a
 * cancelled job ends within moments; one whose worker does not answer is left to the workers'
 * `removeOnFail` age).
 */
const ORPHANS_MS = 3000;

/** One launch of a batch: one job. */
export interface Launch {
  readonly id: string;
  /** The stream's id as cancel messages name it. */
  readonly stream: string;
  readonly count: number;
  readonly sentAt: number;
  readonly report: (outcome: BatchOutcome) => void;
  /** A flat batch: where each item's values go, all of them when its job completes. */
  readonly values: ValuesListener | undefined;
  /** The job is in Redis (its `add` resolved). */
  added: boolean;
  /** A worker took it (an `active` event or its state). */
  active: boolean;
  settled: boolean;
}

/** Counters for tests and troubleshooting: which path ended the batches. */
export interface BullmqExecutorCounters {
  /** Batches ended by an event of the queue's events stream. */
  readonly byEvent: number;
  /** Batches ended by the reconcile pass (the event missed, or events off). */
  readonly byReconcile: number;
  /** Jobs found gone from Redis (a restart without persistence): their batches went again. */
  readonly lost: number;
  /** Jobs whose worker died under them: their batches went again. */
  readonly crashed: number;
  /** Workers connected to the queue, as the last reconcile pass read them. */
  readonly workers: number;
}

type Path = 'byEvent' | 'byReconcile';

export class Launches {
  private readonly out = new Map<string, Launch>();
  /** Jobs settled while still in Redis (cancelled while running): removed once they end. */
  private readonly orphans = new Set<string>();
  private readonly counts = { byEvent: 0, byReconcile: 0, lost: 0, crashed: 0 };
  private seen = 0;
  private reconciling: Promise<void> | undefined;
  private again = false;
  private idle: (() => void) | undefined;

  /** `grew`: more workers are connected to the queue than the last pass saw. */
  constructor(
    private readonly link: Connection,
    private readonly grew: () => void,
  ) {}

  /** Workers connected to the queue, as the last pass read them. */
  get workers(): number {
    return this.seen;
  }

  /** Every launch out, not yet settled. */
  all(): Launch[] {
    return [...this.out.values()];
  }

  /** Sends the launch's job; a job that cannot be added blames every item. */
  add(launch: Launch, data: BatchJobData): void {
    this.out.set(launch.id, launch);
    this.link.queue.add(JOB_NAME, data, { jobId: launch.id }).then(
      () => {
        launch.added = true;
        if (launch.settled) this.orphan(launch.id);
      },
      (error: unknown) => {
        const cannot = new RedisUnreachableError(
          `cannot add the batch's job to queue '${this.link.queue.name}' at ${this.link.url}: ${message(error)}`,
        );
        this.settle(launch, blameAll(launch.count, cannot));
      },
    );
  }

  /** Reports once, drops the launch and removes its job (or keeps it to remove once it ends). */
  settle(launch: Launch, outcome: BatchOutcome): void {
    if (launch.settled) return;
    launch.settled = true;
    this.out.delete(launch.id);
    if (launch.added) this.orphan(launch.id);
    // Never synchronously from run() or abort(): every path here is a callback or after one.
    queueMicrotask(() => launch.report(outcome));
    if (this.out.size === 0 && this.idle) {
      const idle = this.idle;
      this.idle = undefined;
      idle();
    }
  }

  /** Every batch out ends `unsendable`, with `error` on each item. */
  failAll(error: Error): void {
    for (const launch of this.all()) this.settle(launch, blameAll(launch.count, error));
  }

  /** Resolves once no launch is out. */
  async whenIdle(): Promise<void> {
    if (this.out.size === 0) return;
    await new Promise<void>((resolve) => {
      const before = this.idle;
      this.idle = () => {
        before?.();
        resolve();
      };
    });
  }

  /** Jobs out that a worker runs (`busy`), and items in jobs that none runs yet (`queued`). */
  stats(): { busy: number; queued: number } {
    let busy = 0;
    let queued = 0;
    for (const launch of this.out.values()) {
      if (launch.active) busy++;
      else queued += launch.count;
    }
    return { busy, queued };
  }

  counters(): BullmqExecutorCounters {
    return { ...this.counts, workers: this.seen };
  }

  /** An entry of the events stream: the fast path. */
  onEvent(event: JobEvent): void {
    // An event may come before `add` resolves: the id is this launch's alone, so it counts.
    const launch = event.jobId === undefined ? undefined : this.out.get(event.jobId);
    if (!launch) return;
    const verdict = judgeEvent(event);
    if (verdict) this.apply(launch, verdict, 'byEvent');
  }

  /** Reads every outstanding job's state now, or once more after the pass under way. */
  reconcile(): Promise<void> {
    if (this.reconciling) {
      this.again = true;
      return this.reconciling;
    }
    this.reconciling = this.pass()
      .catch((error: unknown) => this.link.problem(error))
      .finally(() => {
        this.reconciling = undefined;
        if (this.again && !this.link.stopped) {
          this.again = false;
          void this.reconcile();
        }
      });
    return this.reconciling;
  }

  /** Before the connection closes: the pass under way ends, and the orphans are removed. */
  async close(): Promise<void> {
    // A pass on a frozen Redis never ends: its commands fail once the clients have ended.
    if (this.reconciling)
      await within(
        this.reconciling.catch(() => {}),
        1000,
      );
    if (this.link.connected && this.orphans.size > 0) {
      await within(
        this.removeOrphans(ORPHANS_MS).catch(() => {}),
        ORPHANS_MS + 500,
      );
    }
  }

  private apply(launch: Launch, verdict: Verdict, by: Path): void {
    switch (verdict.type) {
      case 'waiting':
        return;
      case 'active':
        launch.active = true;
        return;
      case 'fetch':
        void this.fetchCompleted(launch);
        return;
      case 'completed': {
        const outcome = completedOutcome(
          verdict.result,
          launch.count,
          launch.sentAt,
          performance.now(),
          launch.values,
        );
        if (outcome.type === 'done') this.counts[by]++;
        this.settle(launch, outcome);
        return;
      }
      case 'crashed':
        this.counts.crashed++;
        this.counts[by]++;
        this.settle(launch, crashedOutcome(verdict.worker));
        return;
      case 'aborted':
        this.settle(launch, { type: 'aborted' });
        return;
      case 'refused':
        this.counts[by]++;
        this.settle(launch, refusedOutcome(launch.count, verdict.reason));
        return;
      case 'lost':
        this.counts.lost++;
        this.settle(launch, { type: 'lost' });
        return;
    }
  }

  /** A `completed` event: the outcomes are in the job's data, not in the event. */
  private async fetchCompleted(launch: Launch): Promise<void> {
    let job: Job | undefined;
    try {
      job = await Job.fromId(this.link.queue, launch.id);
    } catch (error) {
      // Out of reach: the reconcile pass after the reconnect reads it.
      this.link.problem(error);
      return;
    }
    if (launch.settled) return;
    this.apply(
      launch,
      job === undefined ? { type: 'lost' } : { type: 'completed', result: job.data },
      'byEvent',
    );
  }

  private async pass(): Promise<void> {
    const { queue } = this.link;
    const launches = this.all().filter((launch) => launch.added);
    const orphans = [...this.orphans];
    const [jobs, stale, workers] = await Promise.all([
      Promise.all(launches.map((launch) => Job.fromId(queue, launch.id))),
      Promise.all(orphans.map((id) => Job.fromId(queue, id))),
      queue.getWorkersCount(),
    ]);
    this.link.up();
    launches.forEach((launch, i) => {
      if (!launch.settled) this.apply(launch, judgeJob(jobs[i]), 'byReconcile');
    });
    orphans.forEach((id, i) => {
      const job = stale[i];
      if (job === undefined) this.orphans.delete(id);
      else if (job.finishedOn || job.stalledCounter > 0) this.orphan(id);
    });
    if (workers !== this.seen) {
      const more = workers > this.seen;
      this.seen = workers;
      if (more) this.grew();
    }
  }

  /** Removes a settled launch's job; one still running stays an orphan until it ends. */
  private orphan(id: string): void {
    this.orphans.add(id);
    this.link.queue.remove(id).then(
      (removed) => {
        if (removed === 1) this.orphans.delete(id);
      },
      () => {},
    );
  }

  /**
   * Removes the jobs of settled launches. One that a worker still runs (cancelled, it ends within
   * moments) cannot be removed yet: it is tried again until it ended, for `ms` at most.
   */
  private async removeOrphans(ms: number): Promise<void> {
    const { queue } = this.link;
    const deadline = performance.now() + ms;
    while (this.orphans.size > 0 && performance.now() < deadline) {
      await Promise.all(
        [...this.orphans].map(async (id) => {
          const removed = await queue.remove(id);
          if (removed === 1 || (await Job.fromId(queue, id)) === undefined) {
            this.orphans.delete(id);
          }
        }),
      );
      if (this.orphans.size > 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
