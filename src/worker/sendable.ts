/**
 * A batch's reply that cannot be sent whole: the host glue (host.ts) calls {@link sendable} when
 * posting a reply throws (thread) or when its check of a child's channel serialization throws
 * (process), so that the items at fault fail alone and the worker lives.
 */

import { type Carrier, serializeError } from '../wire/error.js';
import type { BatchResponse, WireError } from '../wire/messages.js';

/**
 * A response as it can be sent, when `copy` (what sending it does to it: a structured clone, or a
 * child process's serialization) threw for the whole of it. A result can pass every check and
 * still fail to copy on the way out (a getter that gives a value when the check reads it and
 * throws when the copy does; a value changed after it was checked): each result and failure is
 * copied alone, and one that fails becomes its item's failure, with what the copy threw as its
 * cause (not tried again, as a result that cannot be cloned); the other items' results stand. If
 * the response still cannot be copied, every item fails with why.
 */
export function sendable(
  response: BatchResponse,
  copy: (value: unknown) => void,
  carries: Carrier,
): BatchResponse {
  const { count } = response;
  const values = ArrayBuffer.isView(response.values) ? response.values : [...response.values];
  const failures: (WireError | undefined)[] = response.failures
    ? [...response.failures]
    : new Array(count);
  for (let i = 0; i < count; i++) {
    const failure = failures[i];
    if (failure !== undefined) {
      try {
        copy(failure);
      } catch {
        failures[i] = plainFailure(failure);
      }
    } else if (Array.isArray(values)) {
      try {
        copy(values[i]);
      } catch (error) {
        failures[i] = copyFailure(error, carries);
        values[i] = undefined;
      }
    }
  }
  const repaired: BatchResponse = { ...response, values, failures };
  try {
    copy(repaired);
    return repaired;
  } catch (error) {
    const why = copyFailure(error, carries);
    return { ...response, values: [], json: undefined, failures: new Array(count).fill(why) };
  }
}

/** A result's copy threw `error`: that item's failure, not retried. */
function copyFailure(error: unknown, carries: Carrier): WireError {
  return { ...serializeError(error, undefined, carries), fatal: 'clone', hint: COPY_HINT };
}

const COPY_HINT =
  'It was thrown while the result was copied to the main side, after the task returned: a ' +
  'getter in the result threw, or the result held something that cannot be copied.';

/** A failure reduced to text, which any copy takes. */
function plainFailure(wire: WireError): WireError {
  return {
    name: String(wire.name),
    message: String(wire.message),
    stack: typeof wire.stack === 'string' ? wire.stack : undefined,
    props: {},
    nonError: Boolean(wire.nonError),
    cause: undefined,
    fatal: wire.fatal,
    hint: typeof wire.hint === 'string' ? wire.hint : undefined,
  };
}
