"""Evaluation figures on hand-made scored frames whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskmodel.evaluate import (
    EvalConfig,
    attach_oracle,
    evaluate_scores,
    event_recall,
    expected_calibration_error,
    flag_top_per_week,
    read_oracle,
    score_metrics,
)

W1, W2 = pd.Timestamp("2024-10-07"), pd.Timestamp("2024-10-14")


def _scored() -> pd.DataFrame:
    # two weeks x 4 students; s3 is the riskiest both weeks and has the crisis
    return pd.DataFrame({
        "student_id": ["s1", "s2", "s3", "s4"] * 2,
        "as_of": [W1] * 4 + [W2] * 4,
        "label": [0, 0, 1, 0, 0, 0, 1, 1],
        "score": [0.1, 0.2, 0.9, 0.05, 0.1, 0.3, 0.8, 0.25],
    })


def test_capacity_flags_the_top_share_of_each_week() -> None:
    f = flag_top_per_week(_scored(), capacity=0.25)
    assert f.tolist() == [False, False, True, False, False, False, True, False]
    assert flag_top_per_week(_scored(), capacity=0.3).sum() == 4  # ceil(0.3 * 4) = 2 per week


def test_precision_recall_at_capacity_and_ranking() -> None:
    m = score_metrics(_scored(), EvalConfig(capacity=0.25))
    assert m["precision_at_capacity"] == 1.0
    assert m["recall_at_capacity"] == pytest.approx(2 / 3)
    assert m["base_rate"] == pytest.approx(3 / 8)
    assert m["ppv_lift"] == pytest.approx(8 / 3)
    assert m["auroc"] == pytest.approx(14 / 15)  # one negative (0.3) outranks s4's 0.25
    assert m["top_observed"] == 1.0 and m["top_predicted"] == pytest.approx(0.9)


def test_event_recall_and_lead_time() -> None:
    scored = _scored()
    events = pd.DataFrame({"student_id": ["s3", "s4", "s1"],
                           "occurred_on": pd.to_datetime(["2024-10-20", "2024-10-15", "2025-03-01"])})
    flags = flag_top_per_week(scored, 0.25)
    rec, lead, n = event_recall(scored, events, flags, window_days=28)
    # s3 flagged on W1 (13 days before) and W2; s4 never flagged; s1's event has no snapshot in window
    assert n == 2 and rec == 0.5 and lead == 13.0


def test_ece_is_zero_for_calibrated_bins_and_large_for_bad_ones() -> None:
    p = np.repeat([0.1, 0.5], 10)
    y = np.array([1] + [0] * 9 + [1] * 5 + [0] * 5)
    assert expected_calibration_error(p, y, bins=2) == pytest.approx(0.0)
    assert expected_calibration_error(np.full(20, 0.9), y, bins=2) == pytest.approx(0.9 - 0.3)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=4, max_size=60), st.integers(0, 10_000))
def test_ece_is_bounded(ps: list[float], seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = (rng.random(len(ps)) < 0.5).astype(float)
    e = expected_calibration_error(np.array(ps), y, 5)
    assert 0.0 <= e <= 1.0


def _population(n_weeks: int = 6, n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = [f"s{i}" for i in range(n)]
    rows = []
    for w in range(n_weeks):
        risk = rng.beta(1, 20, n)
        rows.append(pd.DataFrame({"student_id": ids, "as_of": W1 + pd.Timedelta(days=7 * w),
                                  "label": (rng.random(n) < risk).astype(int), "score": risk,
                                  "oracle": np.clip(risk * 1.1, 0, 1)}))
    roster = pd.DataFrame({"student_id": ids, "gender": rng.choice(["F", "M"], n),
                           "college": ["tiny"] * 5 + ["big"] * (n - 5),
                           "degree_level": "undergraduate", "econ_hardship": rng.random(n) < 0.3})
    return pd.concat(rows, ignore_index=True), roster


def test_group_figures_suppress_small_groups_and_report_gaps() -> None:
    scored, roster = _population()
    res = evaluate_scores(scored, EvalConfig(min_group_size=100, min_group_positives=3), groups=roster)
    assert list(res.overall.columns) == ["model", "oracle"]
    tiny = res.groups[(res.groups.group_column == "college") & (res.groups.group == "tiny")]
    assert tiny["suppressed"].all() and tiny["value"].isna().all()
    g = res.groups[(res.groups.group_column == "gender") & (res.groups.metric == "base_rate")]
    assert set(g.group) == {"F", "M"} and not g["suppressed"].any()
    assert np.allclose(g["diff"], g["value"] - g["overall"]) and np.allclose(g["ratio"], g["value"] / g["overall"])
    gap = res.group_gaps[(res.group_gaps.group_column == "gender") & (res.group_gaps.metric == "base_rate")]
    assert gap["max_minus_min"].iloc[0] == pytest.approx(g["value"].max() - g["value"].min())
    assert set(res.groups["group_column"]) == {"gender", "college", "degree_level", "econ_hardship"}
    flat = res.flat_metrics("test")
    assert "test_auprc" in flat and "test_oracle_auprc" in flat and "test_group_gender_F_auprc" in flat
    assert not any(np.isnan(v) for v in flat.values())
    assert not any("tiny" in k for k in flat)  # suppressed groups are not logged


def test_evaluate_needs_the_columns() -> None:
    with pytest.raises(ValueError, match="'label'"):
        evaluate_scores(_scored().drop(columns="label"), EvalConfig())
    with pytest.raises(ValueError, match="capacity"):
        EvalConfig(capacity=0)


def test_read_oracle_pseudonymises_raw_ids(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from riskmodel.contracts import PseudonymKey

    key = "test-key-0123456789abcdef"
    pd.DataFrame({"student_id": ["2024000001"], "as_of": [W1], "oracle_risk": [0.2]}).to_parquet(
        tmp_path / "oracle_risk.parquet")
    o = read_oracle(tmp_path, key)
    assert o["student_id"].tolist() == [PseudonymKey(key).pseudonymise("2024000001")]
    scored = attach_oracle(pd.DataFrame({"student_id": o["student_id"], "as_of": [W1]}), o)
    assert scored["oracle"].tolist() == [0.2]
    assert read_oracle(tmp_path / "absent", key) is None


def test_event_recall_when_no_event_has_a_snapshot_in_its_window() -> None:
    events = pd.DataFrame({"student_id": ["s3"], "occurred_on": pd.to_datetime(["2024-01-01"])})
    rec, lead, n = event_recall(_scored(), events, flag_top_per_week(_scored(), 0.25), 28)
    assert n == 0 and np.isnan(rec) and np.isnan(lead)
