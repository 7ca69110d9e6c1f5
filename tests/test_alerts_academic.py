"""Academic warning: a first failure is found; an older failure and unpublished grades are not news."""

from __future__ import annotations

import pandas as pd

from riskmodel.alerts.academic import academic_alerts
from riskmodel.alerts.config import AcademicConfig
from test_alerts_campus import load, pid, routine_campus, sid


def _grades() -> pd.DataFrame:
    rows = []
    for i in range(6):
        for term, pub in (("2023-2024-1", "2024-01-20"), ("2023-2024-2", "2024-07-15")):
            for c in range(5):
                score = 80.0 + i
                passed = True
                if i == 1 and term == "2023-2024-2" and c == 0:  # first failure, published in July
                    score, passed = 45.0, False
                if i == 2 and c == 1:  # failed before (January) and again in July: not a first
                    score, passed = 50.0, False
                if i == 3 and term == "2023-2024-2":  # sharp drop, still passing
                    score = 61.0
                rows.append((sid(i), term, f"C{term[-1]}{c}", 4.0, score, passed, pub))
    rows.append((sid(4), "2023-2024-2", "LATE1", 4.0, 30.0, False, "2024-07-30"))  # published after as-of
    return pd.DataFrame(rows, columns=["student_id", "term", "course_id", "credits", "score", "passed", "published_on"]
                        ).assign(published_on=lambda d: pd.to_datetime(d["published_on"]))


def _campus():
    frames = routine_campus(n=6, days=3, start="2024-01-02")
    frames.pop("calendar")
    frames["grades"] = _grades()
    return load(frames)


def test_first_failure_is_found_with_course_and_figures() -> None:
    a = academic_alerts(_campus(), "2024-07-20", AcademicConfig(failed_credits_limit=6))
    by = a.set_index("student_id")
    assert "first_failure" in by.loc[pid(1), "signals"]
    assert "C20" in by.loc[pid(1), "reason_en"] and "首次挂科" in by.loc[pid(1), "reason_zh"]
    assert pid(2) not in by.index  # failed before (January): July is not a first failure
    assert "grade_drop" in by.loc[pid(3), "signals"]
    assert pid(4) not in by.index  # its failure is published after the as-of date
    assert pid(0) not in by.index and pid(5) not in by.index


def test_failed_credits_and_credits_behind_use_the_limits() -> None:
    camp = _campus()
    strict = academic_alerts(camp, "2024-07-20", AcademicConfig(failed_credits_limit=3, credits_behind_limit=3))
    sig = strict.set_index("student_id")["signals"]
    assert "failed_credits" in sig[pid(1)] and "credits_behind" in sig[pid(2)]
    loose = academic_alerts(camp, "2024-07-20", AcademicConfig(failed_credits_limit=10, credits_behind_limit=20))
    assert not loose["signals"].str.contains("failed_credits|credits_behind").any()
    before = academic_alerts(camp, "2024-06-01", AcademicConfig(recent_days=200))
    assert "first_failure" in before.set_index("student_id").loc[pid(2), "signals"]
    assert pid(1) not in set(before["student_id"])


def test_a_failure_in_the_first_term_the_data_covers_is_not_called_a_first() -> None:
    frames = routine_campus(n=6, days=3, start="2024-01-02")
    frames.pop("calendar")
    frames["grades"] = _grades()
    frames["students"].loc[2, "enrollment_year"] = 2021  # earlier terms are not in the data
    a = academic_alerts(load(frames), "2024-06-01", AcademicConfig(recent_days=200))
    assert pid(2) not in set(a["student_id"])
