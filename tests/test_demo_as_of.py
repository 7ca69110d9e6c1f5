"""The demo scores the last term week, not a vacation week."""

from __future__ import annotations

import pandas as pd

from riskmodel.demo import last_term_week_as_of


def _calendar(start: str, periods: list[tuple[str, int]]) -> pd.DataFrame:
    labels = [p for p, n in periods for _ in range(n)]
    return pd.DataFrame({"date": pd.date_range(start, periods=len(labels), freq="D"), "period": labels})


def test_the_monday_after_the_last_exam_day() -> None:
    # Monday 2024-06-03: two weeks of teaching, a week of exams ending Sunday 06-23, then vacation
    cal = _calendar("2024-06-03", [("teaching", 14), ("exam", 7), ("vacation", 60)])
    as_of = last_term_week_as_of(cal, cal["date"].max() + pd.Timedelta(days=1))
    assert as_of == pd.Timestamp("2024-06-24") and as_of.weekday() == 0
    week = cal[(cal["date"] >= as_of - pd.Timedelta(days=7)) & (cal["date"] < as_of)]
    assert set(week["period"]) == {"exam"}  # the scored week is the term's last, whole


def test_a_term_ending_mid_week_is_seen_whole() -> None:
    cal = _calendar("2024-06-03", [("teaching", 10), ("vacation", 30)])  # last teaching day Wed 06-12
    assert last_term_week_as_of(cal, pd.Timestamp("2024-07-03")) == pd.Timestamp("2024-06-17")


def test_never_after_the_data_and_a_fallback_without_term_days() -> None:
    cal = _calendar("2024-06-03", [("teaching", 30)])
    end = pd.Timestamp("2024-06-20")  # data stop on Wednesday 06-19
    assert last_term_week_as_of(cal, end) == pd.Timestamp("2024-06-17")
    vacation = _calendar("2024-07-01", [("vacation", 40)])
    assert last_term_week_as_of(vacation, pd.Timestamp("2024-08-10")) == pd.Timestamp("2024-08-05")
