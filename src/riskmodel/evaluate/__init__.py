"""Evaluation of crisis early warning: ranking, capacity, lead time, calibration, fairness.

The oracle (``truth/oracle_risk.parquet`` of a simulated campus) is scored beside the model
on the same rows when available; see :func:`attach_oracle`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from riskmodel.evaluate.metrics import (
    GROUP_COLUMNS,
    EvalConfig,
    EvalResult,
    calibration_curve,
    capacity_curve,
    evaluate_scores,
    event_recall,
    expected_calibration_error,
    flag_top_per_week,
    score_metrics,
)


def read_oracle(truth_dir: str | Path, key) -> pd.DataFrame | None:  # type: ignore[no-untyped-def]
    """Read ``truth/oracle_risk.parquet`` and pseudonymise its raw ids with ``key``.

    Returns ``student_id`` (pseudonymised), ``as_of``, ``oracle`` or None when absent. Only
    evaluation reads truth/; models never see it.
    """
    from riskmodel.contracts import resolve_key

    path = Path(truth_dir) / "oracle_risk.parquet"
    if not path.exists():
        return None
    o = pd.read_parquet(path)
    pkey = resolve_key(key)
    ids = o["student_id"].astype(str)
    uniq = ids.unique()
    mapping = dict(zip(uniq, (pkey.pseudonymise(u) for u in uniq), strict=True))
    return pd.DataFrame({"student_id": ids.map(mapping), "as_of": pd.to_datetime(o["as_of"]).dt.normalize(),
                         "oracle": o["oracle_risk"].astype(float)})


def attach_oracle(scored: pd.DataFrame, oracle: pd.DataFrame | None) -> pd.DataFrame:
    """Add the ``oracle`` column (left join on student_id, as_of); rows without it get NaN."""
    if oracle is None:
        return scored
    return scored.merge(oracle, on=["student_id", "as_of"], how="left")


__all__ = ["GROUP_COLUMNS", "EvalConfig", "EvalResult", "attach_oracle", "calibration_curve", "capacity_curve",
           "event_recall", "evaluate_scores", "expected_calibration_error", "flag_top_per_week", "read_oracle",
           "score_metrics"]
