"""Put/get throughput and latency of 0.56 MB envelopes on every storage backend, in one run.

Prints ONE JSON object and writes the same to benchmarks/results/storage.json.  The js-ipfs
daemon (node_modules) is started in a temporary repository when installed; a Kubo ``ipfs`` on
PATH is measured too.  Compare ratios within one run, not absolute numbers across machines.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Run as a script (`python benchmarks/storage_bench.py`), the project root is not on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage import (  # noqa: E402
    ContentId,
    ContentStore,
    EmbeddedStore,
    IpfsStore,
    MemoryStore,
    compute_cid,
)
from storage.devdaemon import LocalDaemon, jsipfs_binary, kubo_binary  # noqa: E402

# A 140,106-parameter model (the paper's MLP) as 4-byte ring elements, plus AEAD overhead.
ENVELOPE_BYTES = 140_106 * 4 + 28
OBJECTS = 30
WARMUP = 3
RESULTS = Path(__file__).resolve().parent / "results" / "storage.json"


def _timed(func: Callable[[], object]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def _summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 3),
        "throughput_mb_s": round(len(ordered) * ENVELOPE_BYTES / sum(ordered) / 1e6, 2),
    }


def measure(store: ContentStore) -> dict[str, Any]:
    """Put then get OBJECTS fresh random envelopes; return latency/throughput summaries."""
    envelopes = [os.urandom(ENVELOPE_BYTES) for _ in range(OBJECTS + WARMUP)]
    cids: list[ContentId] = []
    put_times = []
    for data in envelopes:
        start = time.perf_counter()
        cids.append(store.put(data))
        put_times.append(time.perf_counter() - start)
    get_times = []
    for cid, data in zip(cids, envelopes, strict=True):
        start = time.perf_counter()
        fetched = store.get(cid)
        get_times.append(time.perf_counter() - start)
        if fetched != data:
            raise RuntimeError(f"{store!r} returned wrong bytes for {cid}")
    put_times, get_times = put_times[WARMUP:], get_times[WARMUP:]
    for cid in cids:
        store.unpin(cid)
    gc_seconds = _timed(store.gc)
    return {
        "put": _summary(put_times),
        "get": _summary(get_times),
        "gc_ms": round(gc_seconds * 1000, 3),
    }


def main() -> None:
    """Run every available backend and print/write one JSON object."""
    results: dict[str, Any] = {
        "benchmark": "storage",
        "object_bytes": ENVELOPE_BYTES,
        "objects": OBJECTS,
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "backends": {},
    }
    sample = os.urandom(ENVELOPE_BYTES)
    cid_times = [_timed(lambda: compute_cid(sample)) for _ in range(20)]
    results["compute_cid"] = _summary(cid_times)
    backends: dict[str, Any] = results["backends"]
    with tempfile.TemporaryDirectory(prefix="fppdl-storage-bench-") as tmp:
        backends["memory"] = measure(MemoryStore())
        backends["embedded"] = measure(EmbeddedStore(Path(tmp) / "embedded"))
        backends["embedded_no_fsync"] = measure(
            EmbeddedStore(Path(tmp) / "embedded-nofsync", durable=False)
        )
        for kind, binary in (("jsipfs", jsipfs_binary()), ("kubo", kubo_binary())):
            if binary is None:
                backends[kind] = {"skipped": f"{kind} not installed"}
                continue
            with LocalDaemon(binary, Path(tmp) / kind) as daemon:
                store = IpfsStore(daemon.api)
                try:
                    backends[kind] = measure(store)
                finally:
                    store.close()
    memory_put = backends["memory"]["put"]["median_ms"]
    results["put_median_vs_memory"] = {
        name: round(entry["put"]["median_ms"] / memory_put, 2)
        for name, entry in backends.items()
        if "put" in entry and memory_put > 0
    }
    text = json.dumps(results, indent=2)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
