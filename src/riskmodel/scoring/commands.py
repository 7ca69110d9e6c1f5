"""The edge behind ``riskmodel score`` and ``riskmodel explain``: parse, load, call, print.

Kept out of ``cli.py`` so the command functions there stay a few lines each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from riskmodel.scoring.config import ScoringConfig, ScoringError
from riskmodel.scoring.core import write_table_atomic
from riskmodel.scoring.scorer import Scorer

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_ACCESS = PROJECT_ROOT / "conf" / "alerts" / "access.yaml"


def model_uri(spec: str) -> str:
    """``name@alias`` -> ``models:/name@alias``; ``name/3`` -> ``models:/name/3``; URIs and
    existing paths unchanged."""
    if spec.startswith(("models:/", "runs:/")) or "://" in spec or Path(spec).exists():
        return spec
    return f"models:/{spec}"


def make_scorer(model: str, access: Path | None, tracking_uri: str | None, capacity: float | None = None) -> Scorer:
    """A Scorer for a model spec with the caller registry of ``access`` (YAML)."""
    from riskmodel.scoping import load_access_config

    acc = load_access_config(access or DEFAULT_ACCESS)
    cfg = ScoringConfig() if capacity is None else ScoringConfig(capacity=capacity)
    return Scorer.from_uri(model_uri(model), tracking_uri=tracking_uri, access=acc, config=cfg)


def run_score(model: str, data: Path, as_of: str, scope: str | None, out: Path, caller: str,
              capacity: float | None, key_file: Path | None, access: Path | None,
              tracking_uri: str | None) -> pd.DataFrame:
    """Score and write ``out`` atomically (.parquet or .csv); return the scores."""
    from riskmodel.contracts import resolve_key

    if out.suffix.lower() not in (".parquet", ".csv"):
        raise ScoringError(f"output {out.name!r}: use a .parquet or .csv file name")
    key = resolve_key(key_file=key_file)
    scorer = make_scorer(model, access, tracking_uri, capacity)
    scores = scorer.score(data, as_of, scope=scope, caller=caller, key=key)
    write_table_atomic(scores, out)
    return scores


def run_explain(student: str, model: str, data: Path, as_of: str, caller: str, scope: str | None,
                key_file: Path | None, access: Path | None, tracking_uri: str | None,
                plot: Path | None = None, waterfall: Path | None = None) -> Any:
    """Explain one student; optionally save the radar and the waterfall."""
    from riskmodel.contracts import resolve_key

    key = resolve_key(key_file=key_file)
    scorer = make_scorer(model, access, tracking_uri)
    one = scorer.explain(student, as_of, data=data, caller=caller, scope=scope, key=key)
    if plot is not None:
        one.radar(plot)
    if waterfall is not None:
        one.waterfall(waterfall)
    return one


def flags_table(scores: pd.DataFrame, n: int = 10, lang: str = "en") -> Any:
    """A rich table of the top ``n`` flags (pseudonymous ids) with their reasons."""
    from rich.table import Table

    top = scores[scores["band"] == "flag"].head(n)
    t = Table(title=f"Top flags ({len(top)} of {int((scores['band'] == 'flag').sum())})", show_lines=True)
    for col in ("rank", "student (pseudonym)", "college", "class", "probability", "reasons"):
        t.add_column(col, overflow="fold")
    for _, r in top.iterrows():
        t.add_row(str(r["rank"]), str(r["student_id"]), str(r["college"]), str(r["class_id"]),
                  f"{r['probability']:.3f}", str(r[f"reasons_{lang}"]).replace("; ", "\n").replace("；", "\n"))
    return t
