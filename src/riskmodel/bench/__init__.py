"""Benchmarks (`make bench`): speed and memory targets, measured, written to experiments/.

Each benchmark module in this package defines ``run(out_dir: Path, scale: str) -> dict``
returning the figures it measured; ``python -m riskmodel.bench`` runs them in separate
processes (so peak memory is per benchmark) and writes ``experiments/bench_<name>.json``
and ``experiments/BENCHMARKS.md``.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@dataclass
class Measurement:
    wall_s: float = 0.0
    peak_rss_mb: float = 0.0


@contextmanager
def measure() -> Iterator[Measurement]:
    """Wall time and the peak RSS (sampled every 50 ms, children included) of a block."""
    import threading

    m = Measurement()
    proc = psutil.Process()
    stop = threading.Event()
    peak = [0.0]

    def sample() -> None:
        while not stop.is_set():
            try:
                rss = proc.memory_info().rss
                for child in proc.children(recursive=True):
                    with suppress(psutil.Error):
                        rss += child.memory_info().rss
                peak[0] = max(peak[0], rss / 2**20)
            except psutil.Error:
                pass
            stop.wait(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    start = time.perf_counter()
    try:
        yield m
    finally:
        m.wall_s = time.perf_counter() - start
        stop.set()
        t.join()
        m.peak_rss_mb = peak[0]


def write_result(out_dir: Path, name: str, result: dict[str, Any]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"bench_{name}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    return path


BenchFn = Callable[[Path, str], dict[str, Any]]
