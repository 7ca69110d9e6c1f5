"""`make demo`: the main job on the built-in simulated campus, end to end.

1. make a random pseudonymisation key in the ignored folder `.riskmodel/` (never in the repo);
2. simulate a campus (default 2,000 students, one year) as the information center would export it;
3. validate it against contract v1 (`riskmodel validate`), pseudonymise, quarantine;
4. the later stages (features, models, scoring, alerts, reports) as they exist.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from rich.console import Console

console = Console()
KEY_PATH = Path(".riskmodel") / "pseudonym.key"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path(".riskmodel/demo"))
    p.add_argument("--students", type=int, default=2000)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--start", default="2023-09-01")
    p.add_argument("--seed", type=int, default=2023)
    args = p.parse_args(argv)

    from riskmodel.cli import print_validation_report
    from riskmodel.contracts import generate_key_file, load_sources, write_quarantine
    from riskmodel.simulate import load_config, simulate_to_folder

    t0 = time.perf_counter()
    key_file = generate_key_file(KEY_PATH)
    os.environ.setdefault("RISKMODEL_PSEUDONYM_KEY_FILE", str(key_file.resolve()))
    console.rule("[bold]1. simulate a campus")
    data_dir = args.out / "data"
    cfg = load_config(students=args.students, start=args.start, days=args.days, seed=args.seed)
    summary = simulate_to_folder(cfg, data_dir)
    console.print(summary.to_table() if hasattr(summary, "to_table") else summary)
    console.rule("[bold]2. validate against contract v1")
    loaded = load_sources(data_dir, key_file=key_file)
    print_validation_report(loaded.report)
    write_quarantine(loaded, data_dir / "_quarantine")
    console.print(f"\ndemo finished in {time.perf_counter() - t0:,.0f} s; data in {data_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
