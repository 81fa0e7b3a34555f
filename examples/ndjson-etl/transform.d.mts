/**
 * The types of `transform.mjs`, the worker side of the ETL, which is plain JavaScript so that the
 * workers need no TypeScript loader. TypeScript reads this file for every module that imports
 * `./transform.mjs`.
 */

/** A purchase, as the input file holds it. */
export interface Order {
  readonly id: number;
  /** ISO 8601 time of the order. */
  readonly ts: string;
  readonly user: { readonly name: string; readonly email: string; readonly country: string };
  readonly amount: number;
  readonly currency: string;
  readonly items: readonly { readonly sku: string; readonly qty: number; readonly price: number }[];
  readonly tags: readonly string[];
}

/** An order with what {@link enrich} adds. */
export interface EnrichedOrder extends Order {
  /** `amount` in euros, rounded to the cent. */
  readonly amountEur: number;
  /** The part of the email after the `@`. */
  readonly emailDomain: string;
  /** A pseudonymous key for the user: FNV-1a of the lower-cased email, 8 hex digits. */
  readonly userKey: string;
  /** The UTC day (`YYYY-MM-DD`) and weekday of `ts`. */
  readonly day: string;
  readonly weekday: string;
  /** Units over all items. */
  readonly units: number;
  /** Whether the items' prices add up to `amount` (to the cent). */
  readonly itemsMatchAmount: boolean;
  readonly segment: 'small' | 'medium' | 'large';
}

/** Euros per unit of each accepted currency. */
export declare const RATES: Readonly<Record<string, number>>;

/** A record that parsed but breaks a rule. */
export declare class ValidationError extends Error {
  override readonly name: 'ValidationError';
  /** The field at fault, as a path (`user.email`). */
  readonly field: string;
  constructor(field: string, expected: string, got: unknown);
}

/** Checks every rule of an {@link Order}; throws a {@link ValidationError} at the first broken. */
export declare function validate(value: unknown): Order;

/** Adds the derived fields of an {@link EnrichedOrder}. */
export declare function enrich(order: Order): EnrichedOrder;

/** The task: one input line in, one output line out (without its newline). */
export declare function transformLine(line: string): string;
