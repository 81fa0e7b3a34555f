/**
 * The in-flight window of a stream: how many items it holds (admitted and not yet emitted, never
 * more than `concurrency`), and the backlog of inputs pushed beyond it (a push source faster than
 * the window), kept in pages until there is room.
 *
 * Inputs are stored once, in pages: arrays of up to {@link PAGE_SIZE} inputs that the engine's
 * chunks view, whether an input is admitted at once or waits in the backlog first.
 */
import { Deque } from './deque.js';

/** Most inputs in one page, so most items in one chunk. */
export const PAGE_SIZE = 4096;

export class Window<In> {
  /** Items admitted and not yet emitted: the engine counts them in and out. */
  held = 0;
  /** Inputs pushed and not yet admitted. */
  backlog = 0;
  /** The page that pushed inputs go into. */
  private page: In[] | undefined;
  /** The backlog's inputs are the end of these pages, from `waitingFrom` in the first. */
  private readonly waiting = new Deque<In[]>();
  private waitingFrom = 0;

  constructor(
    /** The most items held. */
    readonly concurrency: number,
  ) {}

  /** How many more inputs the window takes now. */
  get room(): number {
    return this.concurrency - this.held - this.backlog;
  }

  /** Whether an input pushed now may be admitted at once (nothing waits before it). */
  get open(): boolean {
    return this.held < this.concurrency && this.backlog === 0;
  }

  /** Stores a pushed input; returns its page (it is the page's last). */
  store(input: In): In[] {
    let page = this.page;
    if (page === undefined || page.length === PAGE_SIZE) {
      page = [];
      this.page = page;
    }
    page.push(input);
    return page;
  }

  /** The input just stored in `page` is not admitted: it joins the backlog. */
  defer(page: In[]): void {
    if (this.backlog === 0) {
      this.waiting.push(page);
      this.waitingFrom = page.length - 1;
    } else if (page.length === 1) {
      this.waiting.push(page);
    }
    this.backlog++;
  }

  /**
   * Admits from the backlog as much as there is room for, in runs of one page: `admit` is called
   * with each run, `page[from..to)`, and counts its items in `held`.
   */
  release(admit: (page: In[], from: number, to: number) => void): void {
    while (this.backlog > 0 && this.held < this.concurrency) {
      const page = this.waiting.peek()!;
      const from = this.waitingFrom;
      const count = Math.min(page.length - from, this.concurrency - this.held);
      admit(page, from, from + count);
      this.backlog -= count;
      this.waitingFrom += count;
      if (this.waitingFrom === page.length) {
        this.waiting.shift();
        this.waitingFrom = 0;
      }
    }
  }

  /** Forgets the backlog and what is held (the stream stopped). */
  clear(): void {
    this.waiting.clear();
    this.page = undefined;
    this.backlog = 0;
    this.held = 0;
  }
}
