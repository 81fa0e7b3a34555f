import type { Clock } from '../../src/engine/clock.js';

/** A clock whose time moves only when `run()` fires its timers, earliest first. */
export class VirtualClock implements Clock {
  private time = 0;
  private seq = 0;
  private timers: { at: number; seq: number; fn: () => void }[] = [];

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): () => void {
    const timer = { at: this.time + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return () => {
      const i = this.timers.indexOf(timer);
      if (i >= 0) this.timers.splice(i, 1);
    };
  }

  /** Fires timers until none is left (or `limit` fired, against runaway loops). */
  run(limit = 1_000_000): void {
    for (let fired = 0; this.timers.length > 0; fired++) {
      if (fired >= limit) throw new Error('VirtualClock: too many timers');
      let next = 0;
      for (let i = 1; i < this.timers.length; i++) {
        const t = this.timers[i]!;
        const best = this.timers[next]!;
        if (t.at < best.at || (t.at === best.at && t.seq < best.seq)) next = i;
      }
      const [timer] = this.timers.splice(next, 1);
      this.time = timer!.at;
      timer!.fn();
    }
  }
}
