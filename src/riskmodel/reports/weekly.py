"""Weekly check (周查) for one node of the five-level network.

``weekly_check(scores, scope=..., previous=..., alerts=..., quality=...)`` returns one
self-contained HTML page: this week's flagged students with their reasons, the changes since
last week (new, still flagged, cleared), the night-absence / lost-contact, anomaly and academic
alerts, and the data-quality box. Every input frame is restricted to the scope first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from riskmodel.reports import charts
from riskmodel.reports.common import (
    DataQuality,
    ReportInputError,
    ReportScope,
    normalise,
    reasons_text,
    records,
    render,
)
from riskmodel.reports.i18n import text

SCORE_COLUMNS = ("student_id", "college", "grade", "class_id", "probability", "band", "as_of")
ALERT_SECTIONS = {"night_absence": "night", "lost_contact": "night", "anomaly": "anomaly",
                  "academic": "academic"}


@dataclass(frozen=True)
class WeeklyConfig:
    """lang: "zh" (default) or "en"; flag_bands: bands listed as flagged; max_rows: longest list."""

    lang: str = "zh"
    flag_bands: tuple[str, ...] = ("flag",)
    max_rows: int = 500


def _model_of(scores: pd.DataFrame) -> dict[str, str]:
    out = {}
    for col in ("model_name", "model_version"):
        if col in scores.columns and scores[col].notna().any():
            out[col] = str(scores[col].dropna().iloc[-1])
    return {"name": out.get("model_name", "—"), "version": out.get("model_version", "—")}


def attach_scope_columns(frame: pd.DataFrame | None, roster: pd.DataFrame | None) -> pd.DataFrame | None:
    """Add college/grade/class_id from ``roster`` (student_id keyed) where ``frame`` lacks them."""
    if frame is None or roster is None:
        return frame
    need = [c for c in ("college", "grade", "class_id") if c not in frame.columns and c in roster.columns]
    if not need:
        return frame
    r = roster[["student_id", *need]].drop_duplicates("student_id")
    return frame.merge(r, on="student_id", how="left")


def alert_rows(alerts: pd.DataFrame | None, lang: str, latest_only: bool = False
               ) -> dict[str, list[dict[str, Any]]]:
    """Alerts grouped by report section (night, anomaly, academic), with reason text in ``lang``;
    ``latest_only`` keeps the latest alert of each student and kind."""
    out: dict[str, list[dict[str, Any]]] = {"night": [], "anomaly": [], "academic": []}
    if alerts is None or alerts.empty:
        return out
    a = alerts.copy()
    kind_col = "kind" if "kind" in a.columns else "alert"
    if kind_col not in a.columns:
        raise ReportInputError("alerts: missing column 'kind'")
    date_col = next((c for c in ("date", "night", "as_of", "ts") if c in a.columns), None)
    rcol = next((c for c in (f"reasons_{lang}", f"reason_{lang}", "reasons", "reason") if c in a.columns), None)
    sort_cols = [c for c in (date_col, "student_id") if c]
    a = a.sort_values(sort_cols)
    if latest_only:  # one line per student and kind: the latest (a run of nights is one alert)
        a = a.drop_duplicates(["student_id", kind_col], keep="last")
    for r in a.to_dict("records"):
        kind = str(r[kind_col])
        section = ALERT_SECTIONS.get(kind, "anomaly")
        try:
            label = text(f"alert_{kind}", lang)
        except KeyError:
            label = kind
        out[section].append({"student_id": r["student_id"], "kind": label,
                             "date": r.get(date_col) if date_col else None,
                             "class_id": r.get("class_id", ""),
                             "reasons": reasons_text(r.get(rcol)) if rcol else []})
    return out


def weekly_changes(now: pd.DataFrame, previous: pd.DataFrame | None, flag_bands: tuple[str, ...]
                   ) -> dict[str, list[str]]:
    """Pseudonymous ids flagged this week and not last (new), in both (still), last only (cleared)."""
    cur = set(now.loc[now["band"].isin(flag_bands), "student_id"].astype(str))
    prev = set() if previous is None else set(
        previous.loc[previous["band"].isin(flag_bands), "student_id"].astype(str))
    return {"new": sorted(cur - prev), "still": sorted(cur & prev), "cleared": sorted(prev - cur)}


def weekly_check(scores: pd.DataFrame, *, scope: ReportScope | Any = None,
                 previous: pd.DataFrame | None = None, alerts: pd.DataFrame | None = None,
                 quality: DataQuality | None = None, roster: pd.DataFrame | None = None,
                 cfg: WeeklyConfig | None = None, generated_at: pd.Timestamp | None = None) -> str:
    """The weekly check as one self-contained HTML page (string).

    scores : this week's ``Scorer.score`` output (student_id pseudonymous, college, grade,
        class/class_id, probability, rank, band, reasons_zh, reasons_en, model_name,
        model_version, as_of) for one as-of date.
    previous : last week's scores (same shape) for the changes box; None: all flags are new.
    alerts : student_id, kind (night_absence, lost_contact, anomaly, academic), a date column,
        reasons_zh / reasons_en; scope columns are taken from ``roster`` (else ``scores``) when absent.
    quality : the data-quality box (``DataQuality.from_report(loaded.report, gate_outages)``).
    generated_at : the clock, passed in by the caller (shown on the page).
    """
    cfg = cfg or WeeklyConfig()
    sc = ReportScope.from_any(scope)
    s = normalise(scores, SCORE_COLUMNS, "scores")
    assert s is not None
    if s["as_of"].nunique() > 1:
        raise ReportInputError(f"scores: one as_of expected for a weekly check, got {s['as_of'].nunique()}")
    roster = normalise(roster, ("student_id",), "roster") if roster is not None else s
    s = sc.restrict(s)
    prev = sc.restrict(normalise(previous, ("student_id", "band", "college", "grade", "class_id"), "previous"))
    al = sc.restrict(attach_scope_columns(normalise(alerts, ("student_id",), "alerts"), roster))
    assert s is not None
    lang = cfg.lang
    as_of = pd.Timestamp(s["as_of"].iloc[0]) if len(s) else (
        pd.Timestamp(scores["as_of"].iloc[0]) if len(scores) else None)
    flagged = s[s["band"].isin(cfg.flag_bands)].sort_values("probability", ascending=False)
    rows = []
    for r in flagged.head(cfg.max_rows).to_dict("records"):
        rows.append({"student_id": r["student_id"], "class_id": r["class_id"], "grade": r["grade"],
                     "probability": r["probability"], "rank": r.get("rank"),
                     "band": text(f"band_{r['band']}", lang),
                     "reasons": reasons_text(r.get(f"reasons_{lang}"))})
    by_class = flagged.groupby("class_id").size().sort_values(ascending=False).head(30)
    chart = charts.bar_chart(list(by_class.index), list(by_class.values), text("chart_weekly_bands", lang),
                             text("count", lang))
    return render("weekly.html", lang, title=text("weekly_title", lang), scope_label=sc.label(lang),
                  as_of=as_of, generated_at=generated_at, model=_model_of(s), flagged=rows,
                  n_scored=len(s), n_flagged=len(flagged), truncated=len(flagged) > cfg.max_rows,
                  changes=weekly_changes(s, prev, cfg.flag_bands), alerts=alert_rows(al, lang, latest_only=True),
                  quality=quality, dq_tables=records(quality.tables if quality else None),
                  dq_outages=records(quality.gate_outages if quality else None), chart=chart)
