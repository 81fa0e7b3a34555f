/**
 * Case `transport`: how a batch of plain records can cross between the main thread and a worker,
 * and what each way costs each end, per record. The `records` case's orders (the inputs, about
 * 170 bytes of JSON) and their summaries (the results), in batches of 1,000:
 *
 * - structured clone of the batch array (`postMessage(batch)`: how inputs travel), and the same
 *   after the uncloneable-value check of every record (src/wire/clone.ts), as a worker sends
 *   results that are not JSON-exact;
 * - JSON text (`postMessage(JSON.stringify(batch))`, `JSON.parse` on the other side);
 * - JSON text after the exactness check (src/wire/exact-json.ts), as the worker sends results;
 * - `v8.serialize` into a buffer that is transferred, `v8.deserialize` on the other side;
 * - JSON as UTF-8 bytes in a transferred buffer (`TextEncoder`, `TextDecoder` + `JSON.parse`).
 *
 * Both ends run here, on the two ports of a `MessageChannel`: `send` is the encoding and the
 * `postMessage` call (which serializes the message there and then), `receive` is
 * `receiveMessageOnPort` (which deserializes it) and the decoding. These are the same calls, on
 * the same data, as on either side of a worker; what the main thread pays is the `send` of inputs
 * and the `receive` of results, the worker the other two.
 */
import v8 from 'node:v8';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
// The check the worker runs, from rxpool's build (dist/, what the package resolves to).
import { findUncloneable } from '../../dist/src/wire/clone.js';
import { ExactJson } from '../../dist/src/wire/exact-json.js';
import { type BenchCase, median, type Row } from '../harness.js';
import type { Order, RecordsModule, Summary } from './records.js';
import { RECORDS } from './records.js';

interface Way {
  readonly name: string;
  /** Encodes and posts one batch. */
  send(port: MessagePort, batch: readonly unknown[]): void;
  /** Takes the message off the port and decodes it. */
  receive(port: MessagePort): unknown;
}

type MessagePort = import('node:worker_threads').MessagePort;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const WAYS: readonly Way[] = [
  {
    name: 'structured clone',
    send: (port, batch) => port.postMessage(batch),
    receive: (port) => receiveMessageOnPort(port)!.message,
  },
  {
    name: 'structured clone, checked cloneable',
    send(port, batch) {
      for (const value of batch) findUncloneable(value, 'the result');
      port.postMessage(batch);
    },
    receive: (port) => receiveMessageOnPort(port)!.message,
  },
  {
    name: 'JSON text',
    send: (port, batch) => port.postMessage(JSON.stringify(batch)),
    receive: (port) => JSON.parse(receiveMessageOnPort(port)!.message),
  },
  {
    name: 'JSON text, checked exact',
    send(port, batch) {
      const check = new ExactJson();
      for (const value of batch) check.add(value);
      port.postMessage(check.encode(batch) ?? batch);
    },
    receive: (port) => JSON.parse(receiveMessageOnPort(port)!.message),
  },
  {
    name: 'v8.serialize, buffer transferred',
    send(port, batch) {
      const bytes = v8.serialize(batch);
      port.postMessage(bytes, [bytes.buffer]);
    },
    receive: (port) => v8.deserialize(receiveMessageOnPort(port)!.message),
  },
  {
    name: 'JSON bytes, buffer transferred',
    send(port, batch) {
      const bytes = encoder.encode(JSON.stringify(batch));
      port.postMessage(bytes, [bytes.buffer]);
    },
    receive: (port) => JSON.parse(decoder.decode(receiveMessageOnPort(port)!.message)),
  },
];

const BATCH = 1000;

export const transport: BenchCase = {
  id: 'transport',
  title: 'transport (a batch of records across a MessageChannel, each way of encoding it)',
  async run(settings) {
    const { quick } = settings;
    const batches = quick ? 10 : 100;
    const rounds = quick ? 3 : 15;
    const mod = (await import(RECORDS.href)) as RecordsModule;
    const orders = [...mod.records(batches * BATCH)];
    const payloads: [string, Order[][] | Summary[][]][] = [
      ['orders', []],
      ['summaries', []],
    ];
    for (let b = 0; b < batches; b++) {
      const batch = orders.slice(b * BATCH, (b + 1) * BATCH);
      (payloads[0]![1] as Order[][]).push(batch);
      (payloads[1]![1] as Summary[][]).push(batch.map(mod.summarize));
    }
    const { port1, port2 } = new MessageChannel();
    const records = batches * BATCH;
    /** ns per record of each end, one sample a round, by payload and way. */
    const samples = new Map<string, { send: number[]; receive: number[] }>();
    const key = (payload: string, way: Way) => `${payload}: ${way.name}`;
    const once = (payload: readonly unknown[][], way: Way) => {
      let send = 0;
      let receive = 0;
      for (const batch of payload) {
        let started = performance.now();
        way.send(port1, batch);
        send += performance.now() - started;
        started = performance.now();
        way.receive(port2);
        receive += performance.now() - started;
      }
      return { send: (send * 1e6) / records, receive: (receive * 1e6) / records };
    };
    try {
      for (const [payload, data] of payloads) {
        for (const way of WAYS) {
          once(data, way); // warm-up
          samples.set(key(payload, way), { send: [], receive: [] });
        }
      }
      for (let round = 0; round < rounds; round++) {
        settings.log(`transport: round ${round + 1}/${rounds}`);
        // Alternated: the order of the ways turns each round.
        for (const [payload, data] of payloads) {
          for (let i = 0; i < WAYS.length; i++) {
            const way = WAYS[(i + round) % WAYS.length]!;
            const sample = once(data, way);
            const into = samples.get(key(payload, way))!;
            into.send.push(sample.send);
            into.receive.push(sample.receive);
          }
        }
      }
    } finally {
      port1.close();
    }
    const spread = (values: number[]) =>
      ((Math.max(...values) - Math.min(...values)) / median(values)) * 100;
    const rows: Row[] = [...samples].map(([name, { send, receive }]) => ({
      contender: name,
      metrics: {
        'send ns/record': median(send),
        'send spread %': spread(send),
        'receive ns/record': median(receive),
        'receive spread %': spread(receive),
      },
      samples: send.map((ms, i) => ({ ms, receive: receive[i]! })),
    }));
    return {
      params: { records, 'records per batch': BATCH, rounds },
      rows,
      goals: [],
      notes: [
        'Both ends run on this thread, on the two ports of one MessageChannel: send = encoding + postMessage (which serializes), receive = receiveMessageOnPort (which deserializes) + decoding; medians over the rounds, ns per record.',
        'The main thread pays the send of orders (the inputs) and the receive of summaries (the results); a worker the other two.',
        '"checked exact" is what a worker does with results (src/wire/exact-json.ts): the check of every record, then JSON text (it falls back to the structured clone of the batch where the check fails, which it never does here). "checked cloneable" is what it did before (and still does for results that are not JSON-exact): the uncloneable-value check of every record (src/wire/clone.ts), then the structured clone.',
      ],
    };
  },
};
