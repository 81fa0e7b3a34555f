"""The Python anchor of the trivial-items case: multiprocessing.Pool over x*x.

Starts a Pool, warms it up (every worker process has run an item), then times only the map
itself and prints one line of JSON: {"mode", "items", "processes", "seconds", "itemsPerSec", ...}.

  python3 pool_map.py --mode map  --items 300000 --processes 2   # Pool.map, default chunking
  python3 pool_map.py --mode imap --items 10000  --processes 2   # Pool.imap(chunksize=1)
"""

import argparse
import json
import multiprocessing
import platform
import time


def square(x):
    return x * x


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["map", "imap"], required=True)
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--processes", type=int, default=None)
    args = parser.parse_args()

    items = range(args.items)
    expected = sum(x * x for x in items)
    with multiprocessing.Pool(processes=args.processes) as pool:
        processes = pool._processes
        # Warm up: start-up is not timed; every worker gets at least one chunk.
        pool.map(square, range(processes * 16), chunksize=1)

        # Timed until the results are in a list; they are checked after the clock stops.
        started = time.perf_counter()
        if args.mode == "map":
            results = pool.map(square, items)
        else:
            results = list(pool.imap(square, items, chunksize=1))
        seconds = time.perf_counter() - started
        total = sum(results)

    if total != expected:
        raise SystemExit(f"wrong sum: {total} != {expected}")
    print(
        json.dumps(
            {
                "mode": args.mode,
                "items": args.items,
                "processes": processes,
                "seconds": seconds,
                "itemsPerSec": args.items / seconds,
                "python": platform.python_version(),
                "startMethod": multiprocessing.get_start_method(),
            }
        )
    )


if __name__ == "__main__":
    main()
