/**
 * Placement: which link a batch goes to, and how many workers' worth of batches may be out
 * (`activeLinks`). A pure component with an injected clock, as `BatchSizer` is: the thread
 * executor feeds it what happens (a batch posted, the worker time a batch reported, a batch
 * moved), and asks it where a batch goes, how many batches may be out, and whether a batch that
 * waits should move.
 *
 * - **active links** (`activeLinks`): the links that take short batches. All of them while the workers are busy; fewer
 *   while they are mostly idle *because the main thread is busy* (`ranFor`): items that take the
 *   workers far less time than the main thread spends on each (sending, emitting) leave two
 *   workers on two cores idle most of the time, and fewer, larger batches then cost the main
 *   thread fewer messages (and each wake-up of a worker can take a core the main thread needs).
 *   Workers idle while the main thread is idle too wait on something fewer links cannot fix (a
 *   slow input, a worker still starting, a main thread that lost its core on a loaded machine):
 *   narrowing then only leaves one worker doing the work of two (`rxpool map`'s short blocks
 *   went to one worker for many blocks' time on a loaded machine).
 * - **depth**: a link holds two batches, one running and a short one waiting behind it, so that its
 *   worker goes straight on to the next while the main thread handles the results of the last.
 *   A long batch (or one of unknown length) never waits behind another.
 * - **steal**: a batch that has waited `STEAL_AFTER_MS` behind another on its link, not started,
 *   moves to an idle link (a batch thought short that turns out long then holds up only itself).
 */
import type { EventLoopUtilization } from 'node:perf_hooks';
import { TARGET_BATCH_MS } from '../executor/targets.js';

/** Batches a link holds at once: one running, one waiting behind it. */
export const DEPTH = 2;
/** A batch expected to run this long or less may wait behind another on a link. */
const SHORT_BATCH_MS = 2 * TARGET_BATCH_MS;
/** How often (ms with batches out) placement looks at how busy the workers are (see `ranFor`). */
const ADAPT_MS = 4;
/**
 * Busier than this (the share of their time spent running items) for `GROW_WINDOWS` windows in a
 * row: one more worker's worth.
 */
const GROW_ABOVE = 0.6;
const GROW_WINDOWS = 3;
/**
 * Less busy than this with one worker's worth fewer, in a window in which the main thread's event
 * loop ran more than `MAIN_BUSY_ABOVE` of the time (it is what the workers wait on): one fewer.
 * Trivial items keep the main thread busy nearly all of each window; `rxpool map`'s blocks far
 * less, more only while it starts or loses its core.
 */
const SHRINK_BELOW = 0.4;
export const MAIN_BUSY_ABOVE = 0.8;
/** A batch that has waited this long behind another on its link moves to an idle link. */
export const STEAL_AFTER_MS = SHORT_BATCH_MS;

/** What placement knows of a link: how many batches it holds (posted, not answered). */
export interface LinkLoad {
  readonly held: number;
}

export interface PlacementClock {
  /** Milliseconds, monotonic. */
  now(): number;
  /**
   * How busy this thread's event loop has been: since it started, or since `since` was taken
   * (`performance.eventLoopUtilization`'s API; only `utilization` is read of a difference).
   */
  eventLoopUtilization(since?: EventLoopUtilization): EventLoopUtilization;
}

export class Placement {
  /** How many links take short batches (workers' worth of batches out): `size` to begin with. */
  private linksNow: number;
  /** Worker time reported, and time with batches out (counted up to `countingSince`, 0: not). */
  private busyMs = 0;
  private countedMs = 0;
  private countingSince = 0;
  /** Windows in a row in which the workers were busier than `GROW_ABOVE`. */
  private busyWindows = 0;
  /** The main thread's event loop at the start of the window. */
  private loopAt: EventLoopUtilization | undefined;

  constructor(
    readonly size: number,
    private readonly clock: PlacementClock = performance,
  ) {
    this.linksNow = size;
  }

  /** How many links take short batches: the workers' worth of batches that may be out. */
  get activeLinks(): number {
    return this.linksNow;
  }

  now(): number {
    return this.clock.now();
  }

  /** Batches that may be out: `DEPTH` a link, for `activeLinks` links. */
  capacity(): number {
    return this.linksNow * DEPTH;
  }

  /** Whether a batch expected to take `expectedMs` (unknown: `undefined`) may wait behind another. */
  isShort(expectedMs: number | undefined): boolean {
    return expectedMs !== undefined && expectedMs <= SHORT_BATCH_MS;
  }

  /**
   * A batch is being placed. One of unknown or long run time may need every worker (items that
   * wait for each other, a stream of heavy items starting): every link opens again, until
   * `ranFor` sees them idle.
   */
  placing(short: boolean): void {
    if (!short) this.linksNow = this.size;
  }

  /**
   * The link a batch goes to: an idle one; or, for a short batch, the one of the first `activeLinks`
   * that holds fewest (fewer than `DEPTH`). `undefined`: none has room, the batch waits (parks).
   */
  choose<L extends LinkLoad>(links: Iterable<L>, short: boolean): L | undefined {
    let target: L | undefined;
    let least = DEPTH;
    let index = 0;
    for (const link of links) {
      if (short && index++ === this.linksNow) break;
      const { held } = link;
      if (held === 0) return link;
      if (short && held < least) {
        target = link;
        least = held;
      }
    }
    return target;
  }

  /** A batch was posted to a link (at `now()`): time with batches out counts from now. */
  posted(at: number): void {
    if (this.countingSince !== 0) return;
    this.countingSince = at;
    if (this.countedMs === 0) this.loopAt = this.clock.eventLoopUtilization();
  }

  /**
   * A batch reported `ms` of worker time. Every `ADAPT_MS` with batches out: one more worker's
   * worth if the workers were busy most of that time (`GROW_WINDOWS` windows in a row: one busy
   * spell, a batch that met a collection, a worker that lost its core, is not load), or one fewer
   * if they could have run it all with one fewer and still been mostly idle while the main thread
   * was busy (the workers wait on it, and fewer, larger batches cost it less). `anyHeld`: a link
   * still holds a batch.
   */
  ranFor(ms: number, anyHeld: boolean): void {
    this.busyMs += ms;
    this.count(anyHeld);
    if (this.countedMs < ADAPT_MS) return;
    const links = this.linksNow;
    const busy = this.busyMs / (this.countedMs * links);
    // The main thread's share of the window spent running (not waiting for events).
    const mainBusy =
      this.loopAt === undefined ? 0 : this.clock.eventLoopUtilization(this.loopAt).utilization;
    this.loopAt = this.clock.eventLoopUtilization();
    this.busyWindows = busy > GROW_ABOVE ? this.busyWindows + 1 : 0;
    if (this.busyWindows >= GROW_WINDOWS && links < this.size) {
      this.linksNow++;
      this.busyWindows = 0;
    } else if (
      links > 1 &&
      (busy * links) / (links - 1) < SHRINK_BELOW &&
      mainBusy > MAIN_BUSY_ABOVE
    ) {
      this.linksNow--;
    }
    this.busyMs = 0;
    this.countedMs = 0;
  }

  /** Adds the time since the last count; stops counting if no link holds a batch. */
  count(anyHeld: boolean): void {
    if (this.countingSince === 0) return;
    const now = this.clock.now();
    this.countedMs += now - this.countingSince;
    this.countingSince = anyHeld ? now : 0;
  }

  /** Whether a batch posted at `postedAt`, waiting behind another, has waited long enough to move. */
  overdue(postedAt: number): boolean {
    return this.clock.now() - postedAt >= STEAL_AFTER_MS;
  }

  /** A batch moved to an idle link: that link's worker is needed, one more worker's worth. */
  stole(): void {
    this.linksNow = Math.min(this.size, this.linksNow + 1);
  }
}
