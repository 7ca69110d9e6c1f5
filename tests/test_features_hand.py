"""Hand-computed feature values on the three-student, two-week campus (tests/features_campus.py).

As-of t = 2024-03-18 (Monday): the windows cover days up to 03-17; 14d = 03-04 .. 03-17,
7d = 03-11 .. 03-17. Night rows are labelled by the morning they end on.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features_campus import AS_OF, loaded_hand_campus
from riskmodel.features import FEATURES, FeatureConfig, build_daily, build_features

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def campus():  # type: ignore[no-untyped-def]
    return loaded_hand_campus()


@pytest.fixture(scope="module")
def daily(campus):  # type: ignore[no-untyped-def]
    loaded, _ = campus
    return build_daily(loaded, FeatureConfig())


@pytest.fixture(scope="module")
def feats(campus):  # type: ignore[no-untyped-def]
    loaded, _ = campus
    return build_features(loaded, [pd.Timestamp("2024-03-11"), AS_OF], FeatureConfig())


def _row(feats: pd.DataFrame, sid: str, as_of: pd.Timestamp = AS_OF) -> pd.Series:
    rows = feats[(feats["student_id"] == sid) & (feats["as_of"] == as_of)]
    assert len(rows) == 1
    return rows.iloc[0]


def _day(daily: pd.DataFrame, sid: str, date: str) -> pd.Series:
    return daily[(daily["student_id"] == sid) & (daily["date"] == pd.Timestamp(date))].iloc[0]


def test_shape_and_columns(campus, feats, daily) -> None:  # type: ignore[no-untyped-def]
    _, ids = campus
    assert list(feats.columns[:2]) == ["student_id", "as_of"]
    assert list(feats.columns[2:]) == [f.name for f in FEATURES]  # every source present
    assert len(feats) == 3 * 2 and set(feats["student_id"]) == set(ids.values())
    assert (feats.dtypes.iloc[2:] == "float64").all()
    # daily: 3 students x 18 calendar days, explicit rows for days without records
    assert len(daily) == 3 * 18
    assert daily["date"].dtype == "datetime64[ns]"
    assert daily[["student_id", "date"]].equals(daily[["student_id", "date"]].sort_values(["student_id", "date"]))


def test_daily_door_and_sleep_channels(campus, daily) -> None:  # type: ignore[no-untyped-def]
    _, ids = campus
    a = ids["A"]
    # night ending 03-05: in at 22:00 on 03-04 -> 240 min after 18:00
    assert _day(daily, a, "2024-03-05")["door_return_min"] == 240.0
    # night ending 03-11: back at 01:00 -> 420
    assert _day(daily, a, "2024-03-11")["door_return_min"] == 420.0
    # night ending 03-15: no return after leaving at 08:00 on 03-14 -> away, no return time
    r = _day(daily, a, "2024-03-15")
    assert r["door_away_night"] == 1.0 and math.isnan(r["door_return_min"])
    assert _day(daily, a, "2024-03-16")["door_away_night"] == 0.0
    # first night: no earlier state known
    assert math.isnan(_day(daily, a, "2024-03-04")["door_away_night"])
    # quiet gap ending 07:30 breakfast after 22:00 return: 9.5 h; weekend (no breakfast) to 08:00 exit: 10 h
    assert _day(daily, a, "2024-03-05")["activity_quiet_min"] == pytest.approx(570.0)
    assert _day(daily, a, "2024-03-09")["activity_quiet_min"] == pytest.approx(600.0)
    # before any record the sources are unobserved: NaN, not 0
    early = _day(daily, a, "2024-03-02")
    assert not early["observed_door"] and math.isnan(early["door_in_count"])
    # B never swiped a gate: door unobserved throughout
    b = daily[daily["student_id"] == ids["B"]]
    assert not b["observed_door"].any() and b["door_in_count"].isna().all()


def test_daily_card_network_library_channels(campus, daily) -> None:  # type: ignore[no-untyped-def]
    _, ids = campus
    a, b, c = ids["A"], ids["B"], ids["C"]
    mon = _day(daily, a, "2024-03-04")
    assert (mon["card_breakfast"], mon["card_lunch"], mon["card_dinner"], mon["card_meals"]) == (1, 1, 0, 2)
    assert mon["card_canteen_spend"] == 14.0 and mon["card_meal_price"] == 7.0
    assert mon["card_meals_accompanied"] == 1.0  # lunch with roommate B within a minute
    assert _day(daily, c, "2024-03-04")["card_meals_accompanied"] == 0.0  # C is no roommate/classmate
    assert _day(daily, c, "2024-03-06")["card_supermarket_spend"] == 20.0
    assert _day(daily, b, "2024-03-04")["card_total_spend"] == 23.0
    # network 23:30 -> 01:30: 30 min on 03-12, 90 min (all late-night) on 03-13
    assert _day(daily, a, "2024-03-12")[["network_minutes", "network_late_min"]].tolist() == [30.0, 0.0]
    assert _day(daily, a, "2024-03-13")[["network_minutes", "network_late_min", "network_sessions"]].tolist() == [
        90.0, 90.0, 0.0]
    # library: entry 09:00, next event the 12:00:30 lunch -> 180.5 min
    assert _day(daily, c, "2024-03-06")["library_minutes"] == pytest.approx(180.5)


def test_sleep_routine_family(campus, feats) -> None:  # type: ignore[no-untyped-def]
    _, ids = campus
    a = _row(feats, ids["A"])
    # return times over nights 03-04..03-17: 11 x 240, one 420, 03-04 and 03-15 undefined
    assert a["door__return_min_mean__14d"] == pytest.approx(3060 / 12)
    assert a["door__return_min_mean__7d"] == pytest.approx(1620 / 6)
    assert a["door__away_night_sum__14d"] == 1.0 and a["door__away_night_sum__7d"] == 1.0
    assert a["door__first_out_min_mean__14d"] == 480.0 and a["door__first_out_min_std__14d"] == 0.0
    assert a["door__in_count_mean__14d"] == pytest.approx(13 / 14)
    assert a["door__observed_days__14d"] == 14.0
    # return-time entropy over 7 nights: six returns, five in 22-23 h and one in 01-03 h
    p = np.array([5, 1]) / 6
    assert a["door__return_time_entropy__7d"] == pytest.approx(-(p * np.log(p)).sum())
    assert a["network__late_min_mean__7d"] == pytest.approx(90 / 6)  # observed from 03-12
    b = _row(feats, ids["B"])
    assert math.isnan(b["door__return_min_mean__14d"]) and b["door__observed_days__14d"] == 0.0


def test_diet_finance_social_families(campus, feats) -> None:  # type: ignore[no-untyped-def]
    _, ids = campus
    a, b, c = (_row(feats, ids[k]) for k in "ABC")
    assert a["card__breakfast_sum__14d"] == 10.0 and a["card__breakfast_sum__7d"] == 5.0
    assert a["card__meals_mean__14d"] == pytest.approx(24 / 14)
    assert a["card__meal_price_mean__14d"] == pytest.approx(110 / 14)
    assert a["card__total_spend_mean__14d"] == pytest.approx(180 / 14)
    assert a["card__meals_alone_share__14d"] == pytest.approx(1 - 14 / 24)
    assert b["card__meals_alone_share__14d"] == pytest.approx(0.5)
    assert c["card__meals_alone_share__14d"] == pytest.approx(1.0)
    assert b["card__meal_time_entropy__14d"] == pytest.approx(math.log(2))
    pa = np.array([10, 14]) / 24
    assert a["card__meal_time_entropy__14d"] == pytest.approx(-(pa * np.log(pa)).sum())
    # meals per day are constant for B, so its trend is 0; A's is flat too (same weekly pattern)
    assert b["card__meals_trend__14d"] == pytest.approx(0.0, abs=1e-9)


def test_peer_deviation(campus, feats) -> None:  # type: ignore[no-untyped-def]
    _, ids = campus
    a, b, c = (_row(feats, ids[k]) for k in "ABC")
    assert a["card__meals_mean_vs_class__14d"] == pytest.approx(24 / 14 - 2)
    assert a["card__meals_mean_vs_room__14d"] == pytest.approx(24 / 14 - 2)
    assert b["card__meals_mean_vs_class__14d"] == pytest.approx(2 - 24 / 14)
    assert math.isnan(c["card__meals_mean_vs_class__14d"])  # alone in class K2
    assert math.isnan(c["card__meals_mean_vs_room__14d"])  # off campus
    assert math.isnan(a["door__return_min_mean_vs_room__14d"])  # roommate B has no door data


def test_study_family(campus, feats) -> None:  # type: ignore[no-untyped-def]
    _, ids = campus
    c = _row(feats, ids["C"])
    assert c["library__entries_sum__14d"] == 2.0 and c["library__entries_sum__7d"] == 1.0
    assert c["library__minutes_mean__14d"] == pytest.approx(361 / 12)  # observed from 03-06
    assert c["library__minutes_mean__7d"] == pytest.approx(180.5 / 7)
    assert math.isnan(_row(feats, ids["A"])["library__entries_sum__14d"])


def test_academic_family(campus, feats) -> None:  # type: ignore[no-untyped-def]
    _, ids = campus
    a = _row(feats, ids["A"])
    assert a["academic__failed_courses__all"] == 1.0  # M2 (03-12); X1 is published on t itself
    assert a["academic__first_failure__28d"] == 1.0
    assert a["academic__credits_behind__all"] == 2 * 20.0 - 6.0
    assert a["academic__score_mean__latest"] == 50.0
    assert a["academic__score_change__latest"] == pytest.approx(50.0 - 80.0)
    before = _row(feats, ids["A"], pd.Timestamp("2024-03-11"))
    assert before["academic__failed_courses__all"] == 0.0 and before["academic__first_failure__28d"] == 0.0
    assert math.isnan(before["academic__score_change__latest"])  # one graded term only
    assert math.isnan(_row(feats, ids["B"])["academic__failed_courses__all"])  # no grades yet


def test_census_and_context_families(campus, feats) -> None:  # type: ignore[no-untyped-def]
    _, ids = campus
    a, b = _row(feats, ids["A"]), _row(feats, ids["B"])
    # the 03-18 assessment is on t itself and does not count
    assert (a["census__total_score__latest"], a["census__key_item__latest"],
            a["census__screen_level__latest"], a["census__days_since__latest"]) == (30.0, 1.0, 2.0, 13.0)
    assert math.isnan(b["census__total_score__latest"])
    assert (a["context__is_exam__asof"], a["context__is_teaching__asof"], a["context__vacation_days__28d"]) == (
        1.0, 0.0, 2.0)
    assert b["context__leave_days__14d"] == 3.0  # 03-14, 03-15, 03-16
    assert a["context__leave_days__14d"] == 0.0  # A's leave starts on t


def test_change_z_hand_value() -> None:
    """98 days of 3 meals, then 14 days of 1 meal: z = (1 - 3) / (1.4826 * 0 + floor 0.1) = -20."""
    from riskmodel.contracts import validate_tables

    days = pd.date_range("2024-01-01", periods=112, freq="D")
    rows = []
    for i, d in enumerate(days):
        for h in ((7, 12, 18) if i < 98 else (12,)):
            rows.append(("S1", d + pd.Timedelta(hours=h), "C1", "canteen", 8.0))
    card = pd.DataFrame(rows, columns=["student_id", "ts", "merchant_id", "category", "amount"])
    students = pd.DataFrame({
        "student_id": ["S1"], "college": ["C"], "major": ["M"], "class_id": ["K"], "degree_level": ["master"],
        "enrollment_year": [2023], "gender": ["M"], "dorm_building": [None], "dorm_room": [None],
        "counselor_id": ["T"], "econ_hardship": [False], "single_parent_or_orphan": [False],
        "disability": [False], "readmitted": [False]})
    loaded = validate_tables({"students": students, "card_transactions": card}, "k" * 24)
    cfg = FeatureConfig(windows=(14,))
    with pytest.warns(UserWarning):
        f = build_features(loaded, [days[-1] + pd.Timedelta(days=1)], cfg)
    assert f["card__meals_change_z__14d"].iloc[0] == pytest.approx(-20.0)
    assert f["card__meals_mean__14d"].iloc[0] == pytest.approx(1.0)
    assert f["card__total_spend_change_z__14d"].iloc[0] == pytest.approx((8 - 24) / 3.0)
