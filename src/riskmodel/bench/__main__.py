"""Run the benchmarks: ``python -m riskmodel.bench [--only NAME] [--scale full|small]``.

Every module ``riskmodel.bench.<name>`` with a ``run(out_dir, scale)`` function is a
benchmark. Each runs in its own process; results go to ``experiments/bench_<name>.json``
and a summary table to ``experiments/BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import platform
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import riskmodel.bench as bench_pkg


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(bench_pkg.__path__) if not m.name.startswith("_"))


def run_one(name: str, out_dir: Path, scale: str) -> dict:
    mod = importlib.import_module(f"riskmodel.bench.{name}")
    result = mod.run(out_dir, scale)
    result.setdefault("benchmark", name)
    result["scale"] = scale
    result["machine"] = f"{platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}"
    result["recorded_at"] = datetime.now().isoformat(timespec="seconds")
    bench_pkg.write_result(out_dir, name, result)
    return result


def write_summary(out_dir: Path) -> Path:
    lines = ["# Benchmarks", "", "Produced by `make bench` (`python -m riskmodel.bench`). "
             "Each row links to its JSON file with every figure.", ""]
    for path in sorted(out_dir.glob("bench_*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        lines.append(f"## {data.get('benchmark', path.stem)} ({data.get('scale')}, {data.get('recorded_at')})")
        lines.append("")
        lines.append("| figure | value |")
        lines.append("|---|---|")
        for k, v in data.items():
            if k in ("benchmark", "scale", "recorded_at"):
                continue
            if isinstance(v, float):
                v = f"{v:,.3f}"
            lines.append(f"| {k} | {v} |")
        lines.append("")
    path = out_dir / "BENCHMARKS.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, default=Path("experiments"))
    p.add_argument("--only", action="append", help="run only these benchmarks")
    p.add_argument("--scale", default="full", choices=["full", "small"])
    p.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    names = args.only or available()
    if args.in_process:
        for name in names:
            print(json.dumps(run_one(name, args.out, args.scale), indent=2, default=str))
        return 0
    failed = []
    for name in names:
        print(f"== benchmark {name} ({args.scale})", flush=True)
        rc = subprocess.call([sys.executable, "-m", "riskmodel.bench", "--in-process", "--only", name,
                              "--out", str(args.out), "--scale", args.scale])
        if rc:
            failed.append(name)
    print(f"summary: {write_summary(args.out)}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
