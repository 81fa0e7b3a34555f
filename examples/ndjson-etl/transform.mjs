// @ts-check
/**
 * The work that runs in the workers: parse, validate and enrich one NDJSON line. A line that is
 * not JSON throws the `SyntaxError` of `JSON.parse`; a record that breaks a rule throws a
 * `ValidationError` naming the field. `task(new URL('./transform.mjs', import.meta.url),
 * 'transformLine')` names it; the smoke test calls the same functions on this thread.
 *
 * It is plain JavaScript so that the workers load it as it is: a `.ts` task module would make
 * every worker register tsx, which costs each one about 10 MB (see the README's "Memory"). Its
 * types are in `transform.d.mts`, which TypeScript reads for the modules that import this one;
 * the JSDoc below checks this file against them in an editor (`@ts-check`).
 */

/** @import { EnrichedOrder, Order } from './transform.mjs' */

/** @type {Readonly<Record<string, number>>} */
export const RATES = {
  EUR: 1,
  USD: 0.92,
  GBP: 1.17,
  CHF: 1.04,
  JPY: 0.0061,
  SEK: 0.087,
};

export class ValidationError extends Error {
  /** @override */
  name = 'ValidationError';

  /**
   * @param {string} field
   * @param {string} expected
   * @param {unknown} got
   */
  constructor(field, expected, got) {
    super(`${field}: expected ${expected}, got ${JSON.stringify(got) ?? 'nothing'}`);
    this.field = field;
  }
}

const EMAIL = /^[^@\s]+@[^@\s]+\.[a-z]{2,}$/i;
const COUNTRY = /^[A-Z]{2}$/;
const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/**
 * @param {unknown} value
 * @returns {Order}
 */
export function validate(value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError('(record)', 'an object', value);
  }
  const r = /** @type {Record<string, any>} */ (value);
  if (!(Number.isInteger(r.id) && r.id > 0))
    throw new ValidationError('id', 'an integer from 1', r.id);
  if (typeof r.ts !== 'string' || Number.isNaN(Date.parse(r.ts))) {
    throw new ValidationError('ts', 'an ISO 8601 time', r.ts);
  }
  const user = r.user;
  if (user === null || typeof user !== 'object')
    throw new ValidationError('user', 'an object', user);
  if (typeof user.name !== 'string' || user.name === '') {
    throw new ValidationError('user.name', 'a name', user.name);
  }
  if (typeof user.email !== 'string' || !EMAIL.test(user.email)) {
    throw new ValidationError('user.email', 'an email address', user.email);
  }
  if (typeof user.country !== 'string' || !COUNTRY.test(user.country)) {
    throw new ValidationError('user.country', 'a two-letter country code', user.country);
  }
  if (!(typeof r.amount === 'number' && Number.isFinite(r.amount) && r.amount >= 0)) {
    throw new ValidationError('amount', 'a number from 0 up', r.amount);
  }
  if (typeof r.currency !== 'string' || !Object.hasOwn(RATES, r.currency)) {
    throw new ValidationError('currency', `one of ${Object.keys(RATES).join(', ')}`, r.currency);
  }
  if (!Array.isArray(r.items) || r.items.length === 0) {
    throw new ValidationError('items', 'a list of at least one item', r.items);
  }
  r.items.forEach((item, i) => {
    if (item === null || typeof item !== 'object') {
      throw new ValidationError(`items[${i}]`, 'an object', item);
    }
    if (typeof item.sku !== 'string' || item.sku === '') {
      throw new ValidationError(`items[${i}].sku`, 'a SKU', item.sku);
    }
    if (!(Number.isInteger(item.qty) && item.qty >= 1)) {
      throw new ValidationError(`items[${i}].qty`, 'an integer from 1', item.qty);
    }
    if (!(typeof item.price === 'number' && item.price >= 0)) {
      throw new ValidationError(`items[${i}].price`, 'a number from 0 up', item.price);
    }
  });
  if (!(Array.isArray(r.tags) && r.tags.every((tag) => typeof tag === 'string'))) {
    throw new ValidationError('tags', 'a list of strings', r.tags);
  }
  return /** @type {Order} */ (r);
}

/**
 * @param {Order} order
 * @returns {EnrichedOrder}
 */
export function enrich(order) {
  const rate = /** @type {number} */ (RATES[order.currency]); // validate checked the currency
  const amountEur = Math.round(order.amount * rate * 100) / 100;
  const email = order.user.email.toLowerCase();
  const date = new Date(order.ts);
  let units = 0;
  let cents = 0;
  for (const item of order.items) {
    units += item.qty;
    cents += Math.round(item.qty * item.price * 100);
  }
  return {
    ...order,
    amountEur,
    emailDomain: email.slice(email.indexOf('@') + 1),
    userKey: fnv1a(email),
    day: date.toISOString().slice(0, 10),
    weekday: /** @type {string} */ (WEEKDAYS[date.getUTCDay()]),
    units,
    itemsMatchAmount: cents === Math.round(order.amount * 100),
    segment: amountEur < 50 ? 'small' : amountEur < 500 ? 'medium' : 'large',
  };
}

/**
 * @param {string} line
 * @returns {string}
 */
export function transformLine(line) {
  return JSON.stringify(enrich(validate(JSON.parse(line))));
}

/**
 * FNV-1a, 32 bits, as 8 hex digits.
 * @param {string} text
 */
function fnv1a(text) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, '0');
}
