"""Point-in-time property: records dated on or after as-of t never change a feature at t."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features_campus import loaded_hand_campus
from riskmodel.features import FeatureConfig, build_features, weekly_as_of_dates
from riskmodel.features.asof import daily_row_known, normalise_as_of, record_known

pytestmark = pytest.mark.slow

T = pd.Timestamp("2024-03-11")
CFG = FeatureConfig(windows=(7, 14))  # every aggregate kind, a smaller query


@pytest.fixture(scope="module")
def base():  # type: ignore[no-untyped-def]
    loaded, ids = loaded_hand_campus()
    feats = build_features(loaded, [T], CFG)
    return loaded, ids, feats


_minutes = st.integers(min_value=0, max_value=6 * 24 * 60)  # from t to t + 6 days


@st.composite
def future_records(draw, ids: dict[str, str]):  # type: ignore[no-untyped-def]
    """Appended records dated on/after t, and changes to records already dated on/after t."""
    who = st.sampled_from(sorted(ids.values()))
    at = lambda m: T + pd.Timedelta(minutes=m)  # noqa: E731
    door = draw(st.lists(st.tuples(who, _minutes, st.sampled_from(["in", "out"])), max_size=6))
    card = draw(st.lists(st.tuples(who, _minutes, st.sampled_from(["canteen", "supermarket", "bathhouse"]),
                                   st.floats(0.5, 80)), max_size=6))
    lib = draw(st.lists(st.tuples(who, _minutes), max_size=3))
    net = draw(st.lists(st.tuples(who, _minutes, st.integers(1, 600)), max_size=3))
    grades = draw(st.lists(st.tuples(who, st.integers(0, 20), st.booleans()), max_size=3))
    census = draw(st.lists(st.tuples(who, st.integers(0, 20), st.integers(0, 3)), max_size=2))
    leave = draw(st.lists(st.tuples(who, _minutes, st.integers(60, 5000)), max_size=2))
    bump = draw(st.floats(0.1, 50))  # change the amount of every card record dated >= t
    flip = draw(st.booleans())  # flip the direction of every door record dated >= t
    return {
        "door_events": pd.DataFrame([(s, at(m), "B1", d) for s, m, d in door],
                                    columns=["student_id", "ts", "building", "direction"]),
        "card_transactions": pd.DataFrame([(s, at(m), "C02", c, a) for s, m, c, a in card],
                                          columns=["student_id", "ts", "merchant_id", "category", "amount"]),
        "library_events": pd.DataFrame([(s, at(m), "entry") for s, m in lib], columns=["student_id", "ts", "kind"]),
        "network_sessions": pd.DataFrame([(s, at(m), at(m + d), None, None) for s, m, d in net],
                                         columns=["student_id", "start_ts", "end_ts", "building", "bytes"]),
        "grades": pd.DataFrame([(s, "2023-2024-2", f"Z{d}", 3.0, 40.0 if not p else 95.0, p,
                                 T + pd.Timedelta(days=d)) for s, d, p in grades],
                               columns=["student_id", "term", "course_id", "credits", "score", "passed",
                                        "published_on"]),
        "census": pd.DataFrame([(s, T + pd.Timedelta(days=d), "PHQ-9", 27.0, True, lv) for s, d, lv in census],
                               columns=["student_id", "assessed_on", "instrument", "total_score",
                                        "key_item_positive", "screen_level"]),
        "leave_records": pd.DataFrame([(s, at(m), at(m + d), "sick") for s, m, d in leave],
                                      columns=["student_id", "start_ts", "end_ts", "kind"]),
    }, bump, flip


def _perturb(tables: dict[str, pd.DataFrame], extra: dict[str, pd.DataFrame], bump: float,
             flip: bool) -> dict[str, pd.DataFrame]:
    out = dict(tables)
    card = tables["card_transactions"].copy()
    later = card["ts"] >= T
    card.loc[later, "amount"] = card.loc[later, "amount"] + bump
    door = tables["door_events"].copy()
    if flip:
        late = door["ts"] >= T
        door.loc[late, "direction"] = door.loc[late, "direction"].map({"in": "out", "out": "in"})
    out["card_transactions"], out["door_events"] = card, door
    for name, df in extra.items():
        if len(df):
            base = out[name]
            out[name] = pd.concat([base, df.astype({c: base[c].dtype for c in df.columns
                                                    if c in base and base[c].dtype != object})],
                                  ignore_index=True)
    return out


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_records_on_or_after_as_of_never_change_features(base, data) -> None:  # type: ignore[no-untyped-def]
    loaded, ids, before = base
    extra, bump, flip = data.draw(future_records(ids))
    tables = _perturb(loaded.tables, extra, bump, flip)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        after = build_features(tables, [T], CFG)
    pd.testing.assert_frame_equal(before, after, check_exact=False, rtol=1e-12, atol=1e-12)


def test_grade_published_after_as_of_does_not_count(base) -> None:  # type: ignore[no-untyped-def]
    loaded, ids, before = base
    a = ids["A"]
    late_fail = pd.DataFrame({"student_id": [a], "term": ["2023-2024-2"], "course_id": ["Q1"], "credits": [5.0],
                              "score": [10.0], "passed": [False], "published_on": [T]})
    tables = dict(loaded.tables)
    tables["grades"] = pd.concat([tables["grades"], late_fail], ignore_index=True)
    after = build_features(tables, [T, T + pd.Timedelta(days=1)], CFG)
    at_t = after[(after["student_id"] == a) & (after["as_of"] == T)].iloc[0]
    next_day = after[(after["student_id"] == a) & (after["as_of"] == T + pd.Timedelta(days=1))].iloc[0]
    assert at_t["academic__failed_courses__all"] == 0.0  # published on t: not yet known
    assert next_day["academic__failed_courses__all"] == 1.0  # known the day after
    assert next_day["academic__first_failure__28d"] == 1.0


def test_asof_rule_helpers() -> None:
    assert bool(record_known(pd.Timestamp("2024-03-10 23:59"), T)) is True
    assert bool(record_known(T, T)) is False
    assert daily_row_known(10, 11) and not daily_row_known(11, 11)
    assert [d.weekday() for d in weekly_as_of_dates("2024-03-01", "2024-03-31")] == [0] * 4
    with pytest.raises(ValueError, match="midnight"):
        normalise_as_of([pd.Timestamp("2024-03-11 08:00")])
    with pytest.raises(ValueError, match="no as-of"):
        normalise_as_of([])
