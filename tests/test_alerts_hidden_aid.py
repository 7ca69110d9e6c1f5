"""Hidden aid: the planted cheap, frequent eater is found; the delivery-eater decoy is not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskmodel.alerts.config import HiddenAidConfig
from riskmodel.alerts.hidden_aid import (
    NotFittedError,
    PUDetector,
    hidden_aid,
    meals,
    peer_rule_flag,
    spending_features,
    threshold_rule,
)
from test_alerts_campus import load, pid, routine_campus, sid

ROSTER = [0, 3, 6, 12, 15, 18, 21]
HIDDEN, DECOY, REGISTERED = 24, 9, 27


def _plan(i: int, d: int, _x: pd.Timestamp) -> dict:
    if i in ROSTER or i in (HIDDEN, REGISTERED):
        return {"meal_price": 5.5 + 0.1 * (i % 4), "supermarket": 2.0}
    if i == DECOY:  # orders delivery: rarely in the canteen, spends little on the card
        return {"meals": (12.0,) if d % 2 == 0 else (), "supermarket": 4.0}
    return {"meal_price": 10.0 + 0.4 * (i % 6), "supermarket": 12.0 + i % 5}


@pytest.fixture(scope="module")
def campus():
    frames = routine_campus(n=30, days=56, plan=_plan)
    frames["aid_roster"] = pd.DataFrame({"student_id": [sid(i) for i in ROSTER],
                                         "academic_year": ["2023-2024"] * len(ROSTER), "level": [2] * len(ROSTER)})
    frames["students"].loc[REGISTERED, "econ_hardship"] = True
    return load(frames)


CFG = HiddenAidConfig(window_days=60, min_meals=20, n_bags=8, n_candidates=3,
                      threshold_meals_per_month=60, threshold_spend_per_month=420)


def test_planted_hidden_hardship_student_is_the_top_candidate(campus) -> None:
    cand, scores = hidden_aid(campus, "2024-04-30", CFG)
    assert cand.iloc[0]["student_id"] == pid(HIDDEN)
    assert pid(DECOY) not in set(cand["student_id"])
    assert pid(REGISTERED) not in set(cand["student_id"])  # registered: already known
    assert not set(cand["student_id"]) & {pid(i) for i in ROSTER}
    assert "below peers" in cand.iloc[0]["reason_en"] and "同学" in cand.iloc[0]["reason_zh"]
    by = scores.set_index("student_id")
    assert by.loc[pid(HIDDEN), "pu_score"] > by.loc[pid(DECOY), "pu_score"]


def test_rules_flag_the_cheap_frequent_eater_not_the_decoy(campus) -> None:
    f = spending_features(campus["card_transactions"], "2024-04-30", HiddenAidConfig(window_days=60, min_meals=5))
    f = f.set_index("student_id")
    thr = threshold_rule(f.reset_index(), CFG).set_axis(f.index)
    peer = peer_rule_flag(f.reset_index(), CFG).set_axis(f.index)
    assert thr[pid(HIDDEN)] == 1 and thr[pid(DECOY)] == 0
    assert bool(peer[pid(HIDDEN)]) and not bool(peer[pid(DECOY)])


def test_meals_merge_close_swipes_and_features_ignore_later_records() -> None:
    card = pd.DataFrame({"student_id": ["a", "a", "a", "b"],
                         "ts": pd.to_datetime(["2024-01-01 12:00", "2024-01-01 12:10", "2024-01-01 18:00",
                                               "2024-01-01 12:05"]),
                         "category": "canteen", "amount": [5.0, 2.0, 8.0, 9.0]})
    m = meals(card, 30)
    assert m.loc[m["student_id"] == "a", "amount"].tolist() == [7.0, 8.0]
    later = pd.concat([card, card.assign(ts=card["ts"] + pd.Timedelta(days=30), amount=100.0)])
    cfg = HiddenAidConfig(window_days=10, min_meals=1)
    a = spending_features(card, "2024-01-05", cfg)
    b = spending_features(later, "2024-01-05", cfg)
    pd.testing.assert_frame_equal(a, b)


def test_pu_detector_errors_say_what_to_do() -> None:
    X = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) % 3})
    with pytest.raises(NotFittedError, match="fit"):
        PUDetector().predict_score(X)
    det = PUDetector(n_bags=2).fit(X, np.arange(20) > 14)
    with pytest.raises(ValueError, match="feature names"):
        det.predict_score(X[["b", "a"]])
    with pytest.raises(ValueError, match="positives"):
        PUDetector().fit(X, np.zeros(20, dtype=bool))
    assert det.oob_score_.shape == (20,)
