import type { WireError } from './messages.js';

/**
 * Rebuilds a worker's error on the main side as a real `Error`: the worker's `name`, `message`,
 * `stack`, `cause`, `code` and other own enumerable properties.
 */
export function reviveError(wire: WireError): Error {
  const error = new Error(wire.message);
  Object.defineProperty(error, 'name', {
    value: wire.name,
    writable: true,
    configurable: true,
    enumerable: false,
  });
  error.stack = wire.stack ?? `${wire.name}: ${wire.message}\n    at <worker>`;
  for (const [key, value] of Object.entries(wire.props)) {
    if (key !== 'name' && key !== 'message' && key !== 'stack') {
      (error as unknown as Record<string, unknown>)[key] = value;
    }
  }
  if (wire.cause) {
    Object.defineProperty(error, 'cause', {
      value: reviveError(wire.cause),
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
  return error;
}

/**
 * A plain object that tinypool's process runtime made of an error (it spreads own properties and
 * adds `name`, `message`, `stack`), or a string: back to an `Error`.
 */
export function reviveLoose(value: unknown): Error {
  if (value instanceof Error) return value;
  if (value !== null && typeof value === 'object') {
    const { name, message, stack, ...props } = value as Record<string, unknown>;
    return reviveError({
      name: typeof name === 'string' ? name : 'Error',
      message: typeof message === 'string' ? message : String(message),
      stack: typeof stack === 'string' ? stack : undefined,
      props,
      nonError: false,
      cause: undefined,
      fatal: undefined,
      hint: undefined,
    });
  }
  return new Error(String(value));
}
