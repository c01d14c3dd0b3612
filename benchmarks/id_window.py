"""The counted-id window (`streams.dedupe.SeenIds`) alone: bytes per id held and CPU per offer.

    python -m benchmarks.id_window [--ids 1000000] [--per-minute 20000] [--batch 300]

Offers random 63-bit digests a record (`--batch` ids) at a time, as the worker does, with event
minutes advancing every `--per-minute` ids and the horizon 25 minutes behind (grace plus margin),
and prints the memory tracemalloc sees once they are held and the CPU per offered id (a second
pass without tracemalloc, which would slow it). Numbers for docs/performance.md.
"""

from __future__ import annotations

import argparse
import random
import time
import tracemalloc

from streams.dedupe import SeenIds

FIRST_MINUTE = 29_000_000  # an epoch minute of 2025
WINDOW_MINUTES = 25


def offer_all(ids: list[int], per_minute: int, batch: int) -> SeenIds:
    seen = SeenIds()
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        minute = FIRST_MINUTE + start // per_minute
        seen.begin(chunk)
        for digest in chunk:
            seen.offer(digest, digest & 0xFFFFFFFF, minute)
        seen.end()
        seen.evict_before(minute - WINDOW_MINUTES)
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description="The counted-id window alone: memory and CPU.")
    parser.add_argument("--ids", type=int, default=1_000_000)
    parser.add_argument("--per-minute", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(2024)
    ids = [rng.getrandbits(63) for _ in range(args.ids)]

    tracemalloc.start()
    seen = offer_all(ids, args.per_minute, args.batch)
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    count = len(seen)
    del seen

    started = time.process_time()
    offer_all(ids, args.per_minute, args.batch)
    cpu = time.process_time() - started
    print(f"ids offered      {len(ids):,}")
    print(f"ids held         {count:,} (the last {WINDOW_MINUTES} minutes)")
    print(f"bytes per id     {held / count:.1f} held, {peak / count:.1f} at the peak")
    print(f"CPU per offer    {1e6 * cpu / len(ids):.2f} µs (batch search and eviction included)")


if __name__ == "__main__":
    main()
