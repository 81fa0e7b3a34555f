"""The Python anchor of the records case: multiprocessing.Pool.map of the same task over the same
records, as dicts.

Reads the records from an NDJSON file (untimed: they are dicts in memory before the clock starts,
as the Node contenders' records are objects in memory), starts a Pool, warms it up, then times only
`pool.map(summarize, records)` and prints one line of JSON: {"items", "processes", "seconds",
"checksum"}.

  python3 records.py --input records.ndjson --processes 2
"""

import argparse
import json
import math
import multiprocessing
import time

RATES = {"EUR": 1, "USD": 0.92, "GBP": 1.17, "CHF": 1.04, "JPY": 0.0061, "SEK": 0.087}


def summarize(r):
    return {
        "id": r["id"],
        "name": r["user"]["name"],
        "country": r["user"]["country"],
        "eur": math.floor(r["amount"] * RATES[r["currency"]] * 100) / 100,
    }


def checksum(summaries):
    total = 0
    for s in summaries:
        # Math.round in JavaScript rounds halves up; the cents here are whole numbers anyway.
        total = (total + s["id"] * 7 + int(math.floor(s["eur"] * 100 + 0.5))) % 1_000_000_007
    return total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", required=True)
    parser.add_argument("--processes", type=int, default=None)
    args = parser.parse_args()

    with open(args.input, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    with multiprocessing.Pool(processes=args.processes) as pool:
        processes = pool._processes
        pool.map(summarize, records[: processes * 16], chunksize=1)
        started = time.perf_counter()
        results = pool.map(summarize, records)
        seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "items": len(records),
                "processes": processes,
                "seconds": seconds,
                "checksum": checksum(results),
            }
        )
    )


if __name__ == "__main__":
    main()
