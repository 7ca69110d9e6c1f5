"""Benchmark of the simulator: wall time and peak memory for a campus of a given size.

``full`` = 30,000 students x 365 days (target: under 10 minutes and 8 GB on 2 cores);
``small`` = 3,000 students x 365 days. Records the realism and difficulty figures too.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from riskmodel.bench import measure
from riskmodel.simulate import load_config, simulate_to_folder

SCALES = {"full": (30_000, 365), "small": (3_000, 365)}


def run(out_dir: Path, scale: str) -> dict[str, Any]:
    """Simulate a campus of the scale into a temporary folder; return the figures."""
    students, days = SCALES[scale]
    cfg = load_config(None, students=students, days=days, start="2023-09-01", seed=7)
    tmp = Path(tempfile.mkdtemp(prefix="bench_simulate_"))
    try:
        with measure() as m:
            summary = simulate_to_folder(cfg, tmp / "campus")
        size_mb = sum(p.stat().st_size for p in (tmp / "campus").rglob("*.parquet")) / 2**20
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result: dict[str, Any] = {
        "students": students, "days": days, "wall_s": m.wall_s, "peak_rss_mb": m.peak_rss_mb,
        "target_wall_s": 600.0, "target_peak_rss_mb": 8192.0,
        "meets_target": m.wall_s < 600.0 and m.peak_rss_mb < 8192.0, "output_mb": size_mb,
        "rows_total": sum(summary.rows.values()),
    }
    for name, value in summary.as_rows():
        if not name.startswith("rows."):
            result[f"summary.{name}"] = value
    _ = out_dir
    return result
