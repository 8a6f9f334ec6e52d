"""Child process for the JSONL store's multi-process and kill -9 tests.

``python jsonl_child.py DIR flood PREFIX``: writes batches as fast as it can, flushes after
each, prints ``ack N`` once batch N (and all before it) is acknowledged by flush().
``python jsonl_child.py DIR count PREFIX N``: writes N interactions and N feedback in
batches of 50, closes, prints ``done``.
"""

from __future__ import annotations

import sys

from rlhf_otel.stores.jsonl import JsonlStore
from tests.stores.jsonl_support import feedback, interaction

BATCH = 25


def main() -> None:
    data_dir, mode, prefix = sys.argv[1:4]
    if mode == "flood":
        store = JsonlStore(data_dir, max_file_size_mb=0.03, compress=True)
        n = 0
        while True:
            its = [interaction(n * BATCH + k, f"{prefix}-i") for k in range(BATCH)]
            fbs = [feedback(n * BATCH + k, its[k].id, f"{prefix}-f") for k in range(BATCH)]
            store.write(its, fbs)
            if store.flush():
                sys.stdout.write(f"ack {n}\n")
                sys.stdout.flush()
            n += 1
    count = int(sys.argv[4])
    with JsonlStore(data_dir, max_file_size_mb=0.02, compress=True, fsync="none") as store:
        for start in range(0, count, 50):
            its = [interaction(k, f"{prefix}-i") for k in range(start, min(count, start + 50))]
            fbs = [
                feedback(k, its[j].id, f"{prefix}-f")
                for j, k in enumerate(range(start, min(count, start + 50)))
            ]
            store.write(its, fbs)
    print("done", flush=True)


if __name__ == "__main__":
    main()
