"""The edge of the reports: gather inputs from a data folder and a Scorer, scope, audit, write.

These are the thin steps the CLI (``riskmodel report ...``) and ``make demo`` call. Scores come
from :meth:`riskmodel.scoring.Scorer.score`, which checks the caller's role and reach and
writes the audit log; alerts are restricted with :func:`riskmodel.scoping.restrict` and
audited here (one line per kind, never a student id). The pages themselves are rendered by the
pure functions of this package and written atomically.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

import pandas as pd

from riskmodel.reports.common import DataQuality, ReportScope, detect_gate_outages, write_atomic
from riskmodel.reports.monthly import MonthlyConfig, monthly_report
from riskmodel.reports.student import StudentConfig, student_file
from riskmodel.reports.weekly import WeeklyConfig, weekly_check

log = logging.getLogger(__name__)


def roster_of(students: pd.DataFrame) -> pd.DataFrame:
    """student_id, college, grade (enrollment year, text), class_id of the students table."""
    r = pd.DataFrame({"student_id": students["student_id"].astype(str), "college": students["college"].astype(str),
                      "grade": students["enrollment_year"].astype("Int64").astype(str),
                      "class_id": students["class_id"].astype(str)})
    return r


def week_alerts(scorer: Any, loaded: Any, as_of: pd.Timestamp, *, scope: str, caller: str, key: Any = None,
                nights: int = 7) -> pd.DataFrame:
    """The warnings of the week before ``as_of`` that ``caller`` may see in ``scope``.

    Night absence for each of the ``nights`` nights before ``as_of``; lost contact, behavioural
    anomaly and academic warning at ``as_of``; each through :func:`riskmodel.alerts.run_alert`
    (role check, scope, audit line). A kind whose source is absent is left out with a log line.
    """
    from riskmodel.alerts import run_alert
    from riskmodel.scoping import Scope, authenticate

    access = getattr(scorer, "_access", None)
    if access is None:
        raise ValueError("the alerts of a report need the scorer's access configuration (Scorer(access=...))")
    who = authenticate(caller, None, access)
    sc = Scope.parse(scope)
    t = pd.Timestamp(as_of).normalize()
    calls = [("night_absence", t - pd.Timedelta(days=k)) for k in range(nights, 0, -1)]
    calls += [("lost_contact", t), ("anomaly", t), ("academic", t)]
    parts = []
    for what, when in calls:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got, _gaps = run_alert(what, loaded, when, caller=who, scope=sc, audit_path=access.audit_log, key=key)
        except (ValueError, KeyError) as exc:
            log.info("%s left out of the report: %s", what, exc)
            continue
        if len(got):
            parts.append(got)
    if not parts:
        return pd.DataFrame(columns=["student_id", "alert", "as_of", "reason_zh", "reason_en"])
    return pd.concat(parts, ignore_index=True)


def feature_dates(scorer: Any, dates: Iterable[pd.Timestamp]) -> list[pd.Timestamp]:
    """The as-of dates plus the usual-value lookbacks the scorer reads for each of them."""
    cfg = getattr(scorer, "config", None)
    lookbacks = tuple(getattr(cfg, "usual_lookback_days", ()) or ())
    out = set()
    for d in dates:
        t = pd.Timestamp(d).normalize()
        out.add(t)
        out.update(t - pd.Timedelta(days=int(k)) for k in lookbacks)
    return sorted(out)


def score_weeks(scorer: Any, loaded: Any, dates: Iterable[pd.Timestamp], scope: str, caller: str,
                key: Any = None) -> pd.DataFrame:
    """Scores at each date, stacked; dates the data cannot answer are skipped with a warning.

    For tabular models the window features of every date (and its lookbacks) are built in one
    pass of the feature engine and handed to each ``score`` call, instead of one pass per date.
    """
    from riskmodel.scoring.config import ScoringError

    dates = [pd.Timestamp(d).normalize() for d in dates]
    feats = None
    if getattr(scorer, "family", "") != "sequence" and hasattr(scorer, "feature_config") and len(dates) > 1:
        from riskmodel.features import build_features

        period = getattr(loaded.report, "period", None)
        first = pd.Timestamp(period.start) if period is not None else min(dates) - pd.Timedelta(days=365)
        wanted = [d for d in feature_dates(scorer, dates) if d > first]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            feats = build_features(loaded, wanted, scorer.feature_config)
    frames = []
    for d in dates:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                kw = {} if feats is None else {"features": feats}
                frames.append(scorer.score(loaded, d, scope, caller=caller, key=key, **kw))
        except ScoringError as exc:
            log.warning("no scores at %s: %s", d.date(), exc)
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def weekly_page(scorer: Any, loaded: Any, as_of: Any, *, scope: str, caller: str, key: Any = None,
                lang: str = "zh", nights: int = 7, now: pd.Timestamp | None = None) -> str:
    """The weekly check of ``scope`` at ``as_of`` as HTML: this and last week's scores, the
    week's alerts, the data-quality box (validation report + suspected gate outages)."""
    t = pd.Timestamp(as_of).normalize()
    both = score_weeks(scorer, loaded, [t - pd.Timedelta(days=7), t], scope, caller, key)
    if both.empty or not (pd.to_datetime(both["as_of"]) == t).any():
        from riskmodel.scoring.config import ScoringError

        raise ScoringError(f"nothing could be scored at {t.date()} for {scope}")
    both_as_of = pd.to_datetime(both["as_of"])
    scores, prev = both[both_as_of == t], both[both_as_of != t]
    students = loaded.tables["students"]
    alerts = week_alerts(scorer, loaded, t, scope=scope, caller=caller, key=key, nights=nights)
    gates = detect_gate_outages(loaded.tables.get("door_events"), t - pd.Timedelta(days=7), t)
    quality = DataQuality.from_report(loaded.report, gates)
    return weekly_check(scores, scope=ReportScope.from_any(scope), previous=prev if len(prev) else None,
                        alerts=alerts, quality=quality, roster=roster_of(students), cfg=WeeklyConfig(lang=lang),
                        generated_at=now)


def monthly_page(scorer: Any, loaded: Any, month: str, *, scope: str, caller: str, key: Any = None,
                 months: int = 6, lang: str = "zh", min_group_size: int = 10,
                 now: pd.Timestamp | None = None) -> str:
    """The monthly report of ``scope`` for ``month`` ("YYYY-MM"): weekly scores (Mondays) over
    the last ``months`` months, calibrated against the recorded crisis events."""
    p = pd.Period(month, freq="M")
    first, end = (p - (months - 1)).start_time, (p + 1).start_time
    dates = pd.date_range(first, end - pd.Timedelta(days=1), freq="W-MON")
    hist = score_weeks(scorer, loaded, dates, scope, caller, key)
    if hist.empty:
        raise ValueError(f"no week between {first.date()} and {end.date()} could be scored for {scope}")
    events = loaded.tables.get("crisis_events")
    return monthly_report(hist, scope=ReportScope.from_any(scope), month=month, events=events,
                          model={"name": scorer.name, "version": scorer.version, "family": scorer.family},
                          cfg=MonthlyConfig(lang=lang, months=months, min_group_size=min_group_size,
                                            horizon_days=28), generated_at=now)


def student_page(scorer: Any, loaded: Any, student_id: str, as_of: Any, *, scope: str, caller: str,
                 key: Any = None, weeks: int = 12, nights: int = 14, lang: str = "zh",
                 now: pd.Timestamp | None = None) -> str:
    """One student's file: the Scorer's explanation (checks scope and audits), the daily table,
    past scores and alerts, census history."""
    from riskmodel.features import build_daily

    t = pd.Timestamp(as_of).normalize()
    expl = scorer.explain(student_id, t, data=loaded, caller=caller, scope=scope, key=key)
    dates = [t - pd.Timedelta(days=7 * k) for k in range(weeks, 0, -1)]
    hist = score_weeks(scorer, loaded, dates, scope, caller, key)
    hist = hist[hist["student_id"].astype(str) == str(student_id)] if len(hist) else None
    tables = loaded.tables
    daily = cast(pd.DataFrame, build_daily(loaded))  # no ``out``: the table itself
    daily = daily[daily["student_id"].astype(str) == str(student_id)]
    alerts = week_alerts(scorer, loaded, t, scope=scope, caller=caller, key=key, nights=nights)
    fam = expl.families
    top = max((abs(v) for v in fam.values()), default=0.0) or 1.0
    radar = {k: max(float(v), 0.0) / top for k, v in fam.items()}
    return student_file(student_id, as_of=t, roster=roster_of(tables["students"]), scope=None,
                        daily=daily, history=hist, alerts=alerts, census=tables.get("census"), radar=radar,
                        cfg=StudentConfig(lang=lang), generated_at=now)


def write_page(html: str, path: str | Path) -> Path:
    """Write a rendered page atomically and return its path."""
    return write_atomic(path, html)


def write_college_reports(scorer: Any, loaded: Any, out_dir: str | Path, *, caller: str, college: str | None = None,
                          as_of: Any = None, key: Any = None, months: int = 3, lang: str = "zh",
                          now: pd.Timestamp | None = None) -> dict[str, Path]:
    """Write the weekly check and the monthly report of one college (``make demo``'s last step).

    ``college`` defaults to the largest; ``as_of`` to the last Monday of the data period (the
    monthly report is for the month before it, whose outcome window has closed). Returns
    ``{"weekly": path, "monthly": path}``.
    """
    students = loaded.tables["students"]
    college = college or str(students["college"].value_counts().idxmax())
    if as_of is None:
        end = pd.Timestamp(loaded.report.period.end) if loaded.report.period is not None else pd.Timestamp.now()
        as_of = (end - pd.Timedelta(days=1)).normalize()
        as_of -= pd.Timedelta(days=as_of.weekday())
    t = pd.Timestamp(as_of).normalize()
    month = (t.to_period("M") - 1).strftime("%Y-%m")
    scope = f"college={college}"
    out = Path(out_dir)
    weekly = write_page(weekly_page(scorer, loaded, t, scope=scope, caller=caller, key=key, lang=lang, now=now),
                        out / f"weekly_{college}_{t.date()}.html")
    monthly = write_page(monthly_page(scorer, loaded, month, scope=scope, caller=caller, key=key, months=months,
                                      lang=lang, now=now), out / f"monthly_{college}_{month}.html")
    return {"weekly": weekly, "monthly": monthly}
