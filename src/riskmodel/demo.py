"""`make demo`: the main job on the built-in simulated campus, end to end.

1. a random pseudonymisation key in the git-ignored folder `.riskmodel/` (never in the repo);
2. simulate a campus (default 2,000 students, one year) as the information center would
   export it, and print its realism and difficulty figures;
3. validate it against contract v1 (what `riskmodel validate` does): pseudonymise, quarantine;
4. the training job (the same Hydra config `riskmodel train` composes): features, the census
   screen, logistic regression, LightGBM and the sequence model, evaluated on later weeks
   beside the oracle, logged to MLflow, the best registered as `crisis-warning@champion`;
5. score the last week of the data for one college with the champion and print its top flags
   with their reasons;
6. write that college's weekly check and monthly report (HTML) and print their paths.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from rich.console import Console

if TYPE_CHECKING:
    from riskmodel.train import TrainConfig

console = Console(width=None if sys.stdout.isatty() else 160)
KEY_PATH = Path(".riskmodel") / "pseudonym.key"
CALLER = "counselling-center"


def last_term_week_as_of(calendar: pd.DataFrame, data_end: pd.Timestamp) -> pd.Timestamp:
    """The Monday that sees the campus's last teaching or exam week whole: the first Monday
    after the last teaching or exam day of ``calendar`` (columns date, period), and no later
    than ``data_end`` (the day after the data's last day). A week in the vacation would show
    a counselor everyone's vacation-time drops (no lunches, no library) as reasons.
    Falls back to the last Monday of the data when the calendar has no term day."""
    end = pd.Timestamp(data_end).normalize()
    term = pd.to_datetime(calendar.loc[calendar["period"].isin(["teaching", "exam"]), "date"])
    last_monday = end - pd.Timedelta(days=(end - pd.Timedelta(days=1)).weekday() + 1)
    term = term[term < end]
    if term.empty:
        return last_monday
    after = term.max().normalize() + pd.Timedelta(days=1)
    monday = after + pd.Timedelta(days=(7 - after.weekday()) % 7)
    return min(monday, last_monday)


def _compose_training(data_dir: Path, key_file: Path, models: str, project_root: Path) -> TrainConfig:
    from hydra import compose, initialize_config_dir

    from riskmodel.train import config_from_hydra

    conf = project_root / "conf"
    overrides = ["data=folder", f"data.folder={data_dir.resolve()}", f"data.key_file={key_file.resolve()}",
                 f"model={models}", f"project_root={project_root}"]
    with initialize_config_dir(config_dir=str(conf), version_base=None):
        cfg = compose("train", overrides=overrides)
    return config_from_hydra(cfg)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path(".riskmodel/demo"))
    p.add_argument("--students", type=int, default=2000)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--start", default="2023-09-01")
    p.add_argument("--seed", type=int, default=2023)
    p.add_argument("--models", default="[census,logreg,lgbm,sequence]")
    args = p.parse_args(argv)

    from riskmodel.cli import print_validation_report
    from riskmodel.contracts import generate_key_file, load_sources, resolve_key, write_quarantine
    from riskmodel.reports.jobs import write_college_reports
    from riskmodel.scoping import load_access_config
    from riskmodel.scoring.commands import flags_table
    from riskmodel.scoring.scorer import Scorer
    from riskmodel.simulate import load_config, simulate_to_folder
    from riskmodel.train import comparison_markdown, run_training

    project_root = Path.cwd().resolve()
    t0 = time.perf_counter()
    key_file = generate_key_file(KEY_PATH)
    os.environ["RISKMODEL_PSEUDONYM_KEY_FILE"] = str(key_file.resolve())
    key = resolve_key(key_file=key_file)

    console.rule("[bold]1. simulate a campus")
    data_dir = args.out / "data"
    summary = simulate_to_folder(
        load_config(students=args.students, start=args.start, days=args.days, seed=args.seed), data_dir)
    console.print(summary.to_table())

    console.rule("[bold]2. validate against contract v1")
    loaded = load_sources(data_dir, key=key)
    print_validation_report(loaded.report)
    write_quarantine(loaded, data_dir / "_quarantine")

    console.rule("[bold]3. train, evaluate, register (riskmodel train)")
    cfg = _compose_training(data_dir, key_file, args.models, project_root)
    result = run_training(cfg)
    console.print(comparison_markdown(result), markup=False, highlight=False)
    if result.registration is not None:
        console.print(f"registered: {result.registration}", markup=False)

    console.rule("[bold]4. score the last term week of one college with the champion")
    access = load_access_config(project_root / "conf" / "alerts" / "access.yaml")
    scorer = Scorer.from_registry("crisis-warning", alias="champion", tracking_uri=result.tracking_uri,
                                  access=access)
    students = loaded.tables["students"]
    college = str(students["college"].value_counts().idxmax())
    period = loaded.report.period
    assert period is not None, "the simulated campus always has a calendar"
    as_of = last_term_week_as_of(loaded.tables["calendar"], period.end)
    scores = scorer.score(loaded, as_of, scope=f"college={college}", caller=CALLER, key=key)
    console.print(f"as of {as_of.date()}, college {college}: {len(scores)} students scored")
    console.print(flags_table(scores, n=5, lang="en"))
    console.print(flags_table(scores, n=5, lang="zh"))

    console.rule("[bold]5. weekly check and monthly report")
    paths = write_college_reports(scorer, loaded, args.out / "reports", caller=CALLER, college=college,
                                  as_of=as_of, key=key)
    for kind, path in paths.items():
        console.print(f"{kind}: {path.resolve()}")
    console.print(f"\ndemo finished in {time.perf_counter() - t0:,.0f} s. "
                  f"MLflow: mlflow ui --backend-store-uri {result.tracking_uri}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
