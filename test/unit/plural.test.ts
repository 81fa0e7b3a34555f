/** The examples' counts with their nouns: singular for exactly one, else plural. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { plural } from '../../examples/plural.js';

test('plural: "1 thread", "0 threads", "2 threads"; an irregular plural; a formatted count', () => {
  assert.equal(plural(1, 'thread'), '1 thread');
  assert.equal(plural(0, 'thread'), '0 threads');
  assert.equal(plural(2, 'thread'), '2 threads');
  assert.equal(plural(1, 'child', 'children'), '1 child');
  assert.equal(plural(3, 'child', 'children'), '3 children');
  assert.equal(plural(1000, 'line', 'lines', '1,000'), '1,000 lines');
});
