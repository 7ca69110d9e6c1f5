"""Academic warning (学业预警) from grades, each counted from its ``published_on`` date.

Signals, per student at an as-of date (grades published strictly before it):

* first failure: the student's first-ever failed course(s), published within ``recent_days``
  (only when the data holds the student's earlier terms, or the failure is in their first
  term: a failure in the first term the data covers is not known to be a first);
* failed credits: failed credits in the latest published term above ``failed_credits_limit``;
* credits behind: earned credits below the plan (the median of the same degree, enrollment
  year and major, or credits per term from the config) by more than ``credits_behind_limit``;
* grade drop: the credit-weighted average of the latest term below the earlier terms' by
  more than ``gpa_drop_points``.

One row per student with any signal; level = number of signals (capped at 3); the reasons
name the courses and figures.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from riskmodel.alerts.common import ALERT_COLUMNS, as_details, require
from riskmodel.alerts.config import AcademicConfig


def _wavg(g: pd.DataFrame) -> float:
    s = g.dropna(subset=["score"])
    return float(np.average(s["score"], weights=s["credits"])) if len(s) else float("nan")


def academic_alerts(tables: Any, as_of: pd.Timestamp | str, cfg: AcademicConfig | None = None) -> pd.DataFrame:
    """Academic-warning alerts at ``as_of`` in the common shape (extra column ``signals``)."""
    cfg = cfg or AcademicConfig()
    as_of = pd.Timestamp(as_of).normalize()
    students = require(tables, "students", "academic warning")
    grades = require(tables, "grades", "academic warning")
    g = grades.loc[grades["published_on"] < as_of].copy()
    if g.empty:
        return pd.DataFrame(columns=[*ALERT_COLUMNS, "signals"])
    g = g.sort_values(["student_id", "published_on", "course_id"])
    found: dict[str, dict[str, Any]] = {}

    def add(sid: str, name: str, en: str, zh: str, det: dict[str, Any], since: pd.Timestamp) -> None:
        e = found.setdefault(sid, {"signals": [], "en": [], "zh": [], "det": {}, "since": since})
        e["signals"].append(name)
        e["en"].append(en)
        e["zh"].append(zh)
        e["det"][name] = det
        e["since"] = min(e["since"], since)

    fails = g.loc[~g["passed"].astype(bool)]
    if not fails.empty:
        first_day = fails.groupby("student_id")["published_on"].min()
        recent = first_day[first_day >= as_of - pd.Timedelta(days=cfg.recent_days)]
        ey = students.set_index("student_id")["enrollment_year"]
        first_term_of = {sid: f"{y}-{y + 1}-1" for sid, y in ey.items()}
        for sid, day in recent.items():
            fc = fails.loc[(fails["student_id"] == sid) & (fails["published_on"] == day)]
            term = fc["term"].min()
            earlier = (g["student_id"] == sid) & (g["term"] < term)
            if term != first_term_of.get(sid) and not earlier.any():
                continue  # no earlier grades in the data: cannot tell whether it is a first failure
            courses = ", ".join(f"{r.course_id} ({r.credits:g} credits, score "
                                f"{'-' if pd.isna(r.score) else f'{r.score:.0f}'})" for r in fc.itertuples())
            add(sid, "first_failure", f"first failed course ever: {courses}, published {day.date()}",
                f"首次挂科:{courses},{day.date()}公布", {"courses": fc["course_id"].tolist()}, day)
    # latest term per student
    last_term = g.groupby("student_id")["term"].max()
    g["is_last"] = g["term"].eq(g["student_id"].map(last_term))
    lt = g.loc[g["is_last"]]
    failed_cr = lt.loc[~lt["passed"].astype(bool)].groupby("student_id")["credits"].sum()
    for sid, cr in failed_cr[failed_cr > cfg.failed_credits_limit].items():
        term = last_term[sid]
        add(sid, "failed_credits", f"{cr:g} credits failed in term {term} (limit {cfg.failed_credits_limit:g})",
            f"{term}学期不及格学分{cr:g}(上限{cfg.failed_credits_limit:g})", {"term": term, "failed_credits": cr},
            lt.loc[lt["student_id"] == sid, "published_on"].min())
    # credits behind the plan
    best = g.sort_values("passed").drop_duplicates(["student_id", "course_id"], keep="last")
    earned = best.loc[best["passed"].astype(bool)].groupby("student_id")["credits"].sum()
    st = students.set_index("student_id")
    st = st.loc[st.index.isin(g["student_id"].unique())].copy()
    st["earned"] = earned.reindex(st.index).fillna(0.0)
    if cfg.plan == "cohort":
        st["plan"] = st.groupby(["degree_level", "enrollment_year", "major"])["earned"].transform("median")
    elif cfg.plan == "config":
        per_term = dict(cfg.plan_credits_per_term)
        n_terms = g.groupby("student_id")["term"].nunique().reindex(st.index).fillna(0)
        st["plan"] = st["degree_level"].map(per_term).fillna(0.0) * n_terms
    else:
        raise ValueError(f"academic plan must be 'cohort' or 'config', got {cfg.plan!r}")
    behind = st.loc[st["plan"] - st["earned"] > cfg.credits_behind_limit]
    for sid, r in behind.iterrows():
        add(sid, "credits_behind", f"{r['earned']:g} credits earned, {r['plan'] - r['earned']:g} behind the plan "
            f"({r['plan']:g})", f"已获学分{r['earned']:g},落后培养计划{r['plan'] - r['earned']:g}学分",
            {"earned": float(r["earned"]), "plan": float(r["plan"])}, as_of)
    # grade drop
    counts = lt.groupby("student_id").size()
    for sid, grp in g.groupby("student_id"):
        cur = grp.loc[grp["is_last"]]
        prev = grp.loc[~grp["is_last"]]
        if counts.get(sid, 0) < cfg.min_courses_term or len(prev) < cfg.min_courses_term:
            continue
        a_cur, a_prev = _wavg(cur), _wavg(prev)
        if a_prev - a_cur > cfg.gpa_drop_points:
            add(sid, "grade_drop", f"term average {a_cur:.1f} against {a_prev:.1f} before ({a_prev - a_cur:.1f} lower)",
                f"本学期平均分{a_cur:.1f},此前{a_prev:.1f}(下降{a_prev - a_cur:.1f}分)",
                {"term_average": a_cur, "earlier_average": a_prev}, cur["published_on"].min())
    rows = []
    for sid, e in found.items():
        rows.append({"student_id": sid, "alert": "academic", "as_of": as_of.date().isoformat(),
                     "level": min(3, len(e["signals"])), "since": pd.Timestamp(e["since"]).date().isoformat(),
                     "score": float(len(e["signals"])), "reason_en": "; ".join(e["en"]) + ".",
                     "reason_zh": ";".join(e["zh"]) + "。", "details": as_details(e["det"]),
                     "signals": ",".join(e["signals"])})
    out = pd.DataFrame(rows, columns=[*ALERT_COLUMNS, "signals"])
    return out.sort_values(["level", "student_id"], ascending=[False, True]).reset_index(drop=True)
