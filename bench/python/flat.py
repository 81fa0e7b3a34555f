"""The Python anchor of the flat case: a task whose item gives many values. Python's Pool cannot
stream a generator from a worker (a generator cannot be pickled), so f returns the item's values as
a list, and the caller flattens `pool.imap`'s lists: chain.from_iterable(pool.imap(f, items,
chunksize)). Each value costs about --work-us microseconds (a spin on the clock, as
bench/workers/flat.mjs does).

Starts a Pool, warms it up, then times only the loop over the values and prints one line of JSON:
{"items", "values", "processes", "chunksize", "seconds", "checksum"}.

  python3 flat.py --items 2000 --values 200 --work-us 1 --processes 2 --chunksize 4
"""

import argparse
import json
import multiprocessing
import time
from functools import partial
from itertools import chain


def spin(us):
    if us <= 0:
        return
    end = time.perf_counter() + us / 1e6
    while time.perf_counter() < end:
        pass


def f(item, count, work_us):
    out = []
    for i in range(count):
        spin(work_us)
        out.append({"item": item, "i": i, "v": (item * 31 + i * 7) % 1000})
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--values", type=int, required=True)
    parser.add_argument("--work-us", type=float, required=True)
    parser.add_argument("--processes", type=int, default=None)
    parser.add_argument("--chunksize", type=int, default=1)
    args = parser.parse_args()

    task = partial(f, count=args.values, work_us=args.work_us)
    with multiprocessing.Pool(processes=args.processes) as pool:
        processes = pool._processes
        list(pool.imap(task, range(processes * 4), chunksize=1))
        started = time.perf_counter()
        total = 0
        n = 0
        for value in chain.from_iterable(
            pool.imap(task, range(args.items), chunksize=args.chunksize)
        ):
            total += value["v"]
            n += 1
        seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "items": args.items,
                "values": n,
                "processes": processes,
                "chunksize": args.chunksize,
                "seconds": seconds,
                "checksum": total,
            }
        )
    )


if __name__ == "__main__":
    main()
