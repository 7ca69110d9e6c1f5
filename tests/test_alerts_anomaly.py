"""Behavioural anomaly: a collapsing routine is found; an exam-time change shared by all is not."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from riskmodel.alerts.anomaly import (
    anomaly_alerts,
    daily_channels,
    detect,
    pyod_scores,
    window_features,
)
from riskmodel.alerts.config import AnomalyConfig
from test_alerts_campus import load, pid, routine_campus

START = pd.Timestamp("2024-03-04")
COLLAPSE, COLLAPSE_DAY, EXAM_DAY = 4, 50, 52


def _plan(i: int, d: int, _x: pd.Timestamp) -> dict:
    p: dict = {}
    if d >= EXAM_DAY:  # exams: everyone studies more, eats later, goes to bed later
        p.update({"library": 9.0, "in": 22.5, "net": (21.0, 24.5), "meals": (12.5, 18.5)})
    if i == COLLAPSE and d >= COLLAPSE_DAY:  # routine collapses: stays in, skips meals, up all night
        p.update({"out": 13.0, "in": 14.0, "meals": (13.5,), "library": None, "net": (14.0, 29.0),
                  "supermarket": 0})
    return p


@pytest.fixture(scope="module")
def campus():
    return load(routine_campus(n=12, days=64, plan=_plan, seed=3))


def test_collapsing_routine_is_found_with_channels_and_since(campus) -> None:
    alerts, _ = anomaly_alerts(campus, START + pd.Timedelta(days=62), AnomalyConfig(history_days=70))
    assert alerts["student_id"].tolist() == [pid(COLLAPSE)]  # nobody else: exams hit everyone alike
    row = alerts.iloc[0]
    assert COLLAPSE_DAY <= (pd.Timestamp(row["since"]) - START).days <= COLLAPSE_DAY + 2
    changed = json.loads(row["details"])["channels"]
    assert {"meals", "night_network_hours"} <= set(changed)
    assert changed["meals"]["direction"] == "down"
    assert "since" in row["reason_en"] and "平时" in row["reason_zh"]


def test_before_the_collapse_nothing_is_flagged(campus) -> None:
    alerts, _ = anomaly_alerts(campus, START + pd.Timedelta(days=COLLAPSE_DAY), AnomalyConfig(history_days=70))
    assert alerts.empty


def test_daily_channels_are_point_in_time(campus) -> None:
    a = daily_channels(campus, START, START + pd.Timedelta(days=20))
    b = daily_channels(campus, START, START + pd.Timedelta(days=30))
    b = b.loc[b["date"] < START + pd.Timedelta(days=20)].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    row = a.loc[(a["student_id"] == pid(0)) & (a["date"] == START + pd.Timedelta(days=3))].iloc[0]
    assert row["meals"] == 3 and row["library"] == 1 and row["door_outs"] == 1
    assert 21 < row["return_hour"] < 22.2


def test_pyod_baselines_rank_the_collapsed_student_high(campus) -> None:
    daily = daily_channels(campus, START, START + pd.Timedelta(days=62))
    det = detect(daily, AnomalyConfig())
    feats = window_features(det, len(det.dates) - 1)
    for method in ("iforest", "ecod"):
        s = pyod_scores(feats, method)
        assert s.idxmax() == pid(COLLAPSE)
    with pytest.raises(ValueError, match="iforest"):
        pyod_scores(feats, "lof")
    assert np.isfinite(det.z).all()
