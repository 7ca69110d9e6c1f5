"""Monthly report (月报) for a college or the whole school.

``monthly_report(history, scope=..., month="2024-05", events=...)`` returns one self-contained
HTML page: flag counts and their trend over the months by college and by grade (groups smaller
than ``min_group_size`` students are never shown on their own), the calibration of last month's
scores against what happened within the horizon, and the model in use with its version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskmodel.reports import charts
from riskmodel.reports.common import ReportInputError, ReportScope, normalise, render
from riskmodel.reports.i18n import text

HISTORY_COLUMNS = ("student_id", "college", "grade", "class_id", "probability", "band", "as_of")


@dataclass(frozen=True)
class MonthlyConfig:
    """lang; months: how many months the trend shows; min_group_size: smallest group (distinct
    students scored that month) shown on its own; horizon_days: outcome window of a score;
    calibration_bins: equal-mass bins; flag_bands: bands counted as flags."""

    lang: str = "zh"
    months: int = 12
    min_group_size: int = 10
    horizon_days: int = 28
    calibration_bins: int = 5
    flag_bands: tuple[str, ...] = ("flag",)

    def __post_init__(self) -> None:
        if self.min_group_size < 1:
            raise ValueError(f"MonthlyConfig.min_group_size must be >= 1, got {self.min_group_size}")


def monthly_counts(history: pd.DataFrame, by: str, cfg: MonthlyConfig) -> pd.DataFrame:
    """Per month and ``by`` group: students scored, flags (student-weeks), students flagged.

    Groups with fewer than ``cfg.min_group_size`` distinct students scored in the month have
    their figures set to NaN and ``suppressed`` True.
    """
    h = history.assign(month=pd.to_datetime(history["as_of"]).dt.to_period("M").astype(str),
                       is_flag=history["band"].isin(cfg.flag_bands))
    g = h.groupby(["month", by])
    out = pd.DataFrame({
        "students": g["student_id"].nunique(),
        "flags": g["is_flag"].sum(),
        "students_flagged": h[h["is_flag"]].groupby(["month", by])["student_id"].nunique(),
    }).fillna({"students_flagged": 0}).reset_index()
    out["suppressed"] = out["students"] < cfg.min_group_size
    for c in ("students", "flags", "students_flagged"):
        out[c] = out[c].astype(float).where(~out["suppressed"])
    return out.rename(columns={by: "group"})


def outcome_labels(scored: pd.DataFrame, events: pd.DataFrame, horizon_days: int) -> pd.Series:
    """1 when the student has a recorded event in ``(as_of, as_of + horizon_days]``, else 0."""
    ev = events[["student_id", "occurred_on"]].assign(occurred_on=lambda e: pd.to_datetime(e["occurred_on"]))
    s = scored[["student_id", "as_of"]].reset_index().assign(as_of=lambda f: pd.to_datetime(f["as_of"]))
    m = s.merge(ev, on="student_id", how="inner")
    hit = (m["occurred_on"] > m["as_of"]) & (m["occurred_on"] <= m["as_of"] + pd.Timedelta(days=horizon_days))
    pos = set(m.loc[hit, "index"])
    return pd.Series([int(i in pos) for i in s["index"]], index=scored.index, name="label")


def calibration_table(scored: pd.DataFrame, labels: pd.Series, bins: int) -> pd.DataFrame:
    """Equal-mass bins of ``probability``: n, predicted (mean), observed (rate)."""
    if scored.empty:
        return pd.DataFrame(columns=["n", "predicted", "observed"])
    order = np.argsort(scored["probability"].to_numpy(float), kind="mergesort")
    p = scored["probability"].to_numpy(float)
    y = labels.to_numpy(float)
    rows = [{"n": len(b), "predicted": p[b].mean(), "observed": y[b].mean()}
            for b in np.array_split(order, min(bins, len(order))) if len(b)]
    return pd.DataFrame(rows)


def _month_bounds(month: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    p = pd.Period(month, freq="M")
    return p.start_time, (p + 1).start_time


def _table(counts: pd.DataFrame, cfg: MonthlyConfig) -> dict[str, Any]:
    months = sorted(counts["month"].unique())
    groups = sorted(counts["group"].astype(str).unique())
    cell = {(r.month, str(r.group)): r for r in counts.itertuples()}
    body = []
    for g in groups:
        row = []
        for m in months:
            r = cell.get((m, g))
            if r is None:
                row.append("")
            elif r.suppressed:
                row.append(f"<{cfg.min_group_size}")
            else:
                row.append(f"{int(r.students_flagged)} / {int(r.students)}")
        body.append({"group": g, "cells": row})
    return {"months": months, "rows": body}


def monthly_report(history: pd.DataFrame, *, scope: ReportScope | Any = None, month: str | None = None,
                   events: pd.DataFrame | None = None, model: dict[str, Any] | None = None,
                   cfg: MonthlyConfig | None = None, generated_at: pd.Timestamp | None = None) -> str:
    """The monthly report as one self-contained HTML page (string).

    history : weekly ``Scorer.score`` outputs stacked (student_id, college, grade, class_id,
        probability, band, as_of[, model_name, model_version]) up to the report month.
    month : "YYYY-MM", the report month (default: the month of the latest as_of). Nothing
        scored after the month's end is read (as-of rule).
    events : recorded crisis events (student_id pseudonymous, occurred_on) for the calibration
        of last month's scores; only those on or before the month's end are used.
    model : extra model facts to print (e.g. {"name":..., "version":..., "trained_on":...}).
    """
    cfg = cfg or MonthlyConfig()
    lang = cfg.lang
    sc = ReportScope.from_any(scope)
    if sc.level not in ("school", "college"):
        raise ReportInputError(f"monthly report is written for a college or the school, not a {sc.level}")
    h = normalise(history, HISTORY_COLUMNS, "history")
    assert h is not None
    h["as_of"] = pd.to_datetime(h["as_of"])
    if month is None:
        if h.empty:
            raise ReportInputError("history: empty and no month given")
        month = h["as_of"].max().to_period("M").strftime("%Y-%m")
    start, end = _month_bounds(month)
    h = sc.restrict(h)
    assert h is not None
    h = h[h["as_of"] < end]
    first = (pd.Period(month, freq="M") - (cfg.months - 1)).start_time
    trend_h = h[h["as_of"] >= first]
    by_college = monthly_counts(trend_h, "college", cfg) if sc.level == "school" else None
    by_grade = monthly_counts(trend_h, "grade", cfg)
    trend_charts = []
    if by_college is not None:
        trend_charts.append(charts.trend_chart(by_college, "month", "group", "students_flagged",
                                               f"{text('trend', lang)} · {text('trend_by_college', lang)}",
                                               text("students_flagged", lang)))
    trend_charts.append(charts.trend_chart(by_grade, "month", "group", "students_flagged",
                                           f"{text('trend', lang)} · {text('trend_by_grade', lang)}",
                                           text("students_flagged", lang)))
    # calibration of last month's scores against what followed (events known by month end)
    prev_start, prev_end = _month_bounds((pd.Period(month, freq="M") - 1).strftime("%Y-%m"))
    last = h[(h["as_of"] >= prev_start) & (h["as_of"] < prev_end)]
    calib: dict[str, Any] | None = None
    if events is not None and len(last) >= cfg.min_group_size:
        ev = normalise(events, ("student_id", "occurred_on"), "events")
        assert ev is not None
        ev = ev[pd.to_datetime(ev["occurred_on"]) < end]
        y = outcome_labels(last, ev, cfg.horizon_days)
        table = calibration_table(last, y, cfg.calibration_bins)
        flag = last["band"].isin(cfg.flag_bands).to_numpy()
        calib = {"table": table.to_dict("records"),
                 "chart": charts.calibration_chart(table, text("calibration", lang), text("predicted", lang),
                                                   text("observed", lang)),
                 "n_scored": len(last), "n_flags": int(flag.sum()), "n_events": int(y.sum()),
                 "ppv": float(y[flag].mean()) if flag.any() else float("nan"),
                 "base_rate": float(y.mean()),
                 "incomplete": bool((last["as_of"] + pd.Timedelta(days=cfg.horizon_days) >= end).any())}
    m = dict(model or {})
    if "model_name" in h.columns and h["model_name"].notna().any():
        latest = h.sort_values("as_of").dropna(subset=["model_name"]).iloc[-1]
        m.setdefault("name", str(latest["model_name"]))
        if "model_version" in h.columns:
            m.setdefault("version", str(latest["model_version"]))
    return render("monthly.html", lang, title=text("monthly_title", lang), scope_label=sc.label(lang),
                  month=month, generated_at=generated_at, model=m,
                  table_college=_table(by_college, cfg) if by_college is not None else None,
                  table_grade=_table(by_grade, cfg), charts=trend_charts, calib=calib,
                  min_group_size=cfg.min_group_size, horizon_days=cfg.horizon_days)
