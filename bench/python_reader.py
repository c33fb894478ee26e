"""One timed scan through the gateway with the Python reader (python/granary), for bench/gateway.ts.

    python bench/python_reader.py URL TABLE COLUMNS [--partitions JSON] [--token-file F] [--job J]

Prints one JSON line: rows, the Arrow buffer bytes of the batches, seconds from the request to
the last batch, and the number of batches. The batches are only counted, as pyarrow holds them:
what is measured is the stream into pyarrow, not what a training step does after.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

import granary  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("table")
    parser.add_argument("columns", help="comma-separated")
    parser.add_argument("--partitions", help='the gateway\'s predicates as JSON, e.g. {"ds": {"gte": "2026-11-02"}}')
    parser.add_argument("--token-file")
    parser.add_argument("--job")
    args = parser.parse_args()
    partitions = json.loads(args.partitions) if args.partitions else None
    token = Path(args.token_file).read_text().strip() if args.token_file else None
    rows = 0
    size = 0
    batches = 0
    started = time.perf_counter()
    for batch in granary.scan(args.url, args.table, columns=args.columns.split(","), partitions=partitions, token=token, job=args.job):
        rows += batch.num_rows
        size += batch.nbytes
        batches += 1
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": rows, "bytes": size, "seconds": seconds, "batches": batches}))


if __name__ == "__main__":
    main()
