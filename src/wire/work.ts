/**
 * What a batch says of its work and items wherever it runs (a thread, a process, a BullMQ job):
 * the shapes both sides read. Public through the executor contract, which re-exports them.
 */

/**
 * What runs: a module export by reference, or an inline function's source text (serializable).
 * With `spread`, each input is an array of arguments spread into the call (`pool.starmap`): an
 * input that is not an array fails alone with a `TypeError`.
 */
export type WorkSpec = (
  | {
      /** A module's export, imported in the worker. */
      readonly kind: 'module';
      /** The module's URL (`file:` on this machine). */
      readonly url: string;
      /** The export's name (`default` for the default export). */
      readonly name: string;
    }
  | {
      /** A self-contained function, compiled once per worker. */
      readonly kind: 'inline';
      /** The function's source text. */
      readonly source: string;
      /**
       * The module that passed the function (a URL), when its source calls `import()`: an
       * `import()` of a bare or relative specifier resolves from there, as in the caller's code
       * (from the current directory when the caller is in no module file: a REPL, `node -e`).
       */
      readonly base?: string;
    }
) & {
  /** Each input is an array of arguments spread into the call (`pool.starmap`). */
  readonly spread?: true;
};

/**
 * A run of items of a batch that are consecutive in their source and on the same attempt: what a
 * task's `context.index` and `context.attempt` are read from.
 */
export interface ItemSpan {
  /** The source index of the run's first item. */
  readonly index: number;
  /** How many items the run holds. */
  readonly count: number;
  /** Which attempt of its items this is, from 1. */
  readonly attempt: number;
}

/**
 * The trace context of an item's caller, as W3C Trace Context headers (`traceparent`, and
 * `tracestate` when there is one), plus what other propagators the caller's OpenTelemetry setup
 * registered put there (`baggage`, say). An executor that runs items elsewhere carries it to
 * where the item runs; rxpool's worker side makes it the active context while the task runs.
 */
export type TraceCarrier = Readonly<Record<string, string>>;
