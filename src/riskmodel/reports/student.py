"""One file per student (一人一档) for a flagged student inside the caller's scope.

``student_file(student_id, as_of=..., scope=..., roster=..., daily=...)`` returns one
self-contained HTML page: the daily behaviour channels over the last weeks against the student's
own baseline, the census history, past flags and alerts with their reasons, and the risk radar.
Only records before ``as_of`` are shown (as-of rule). The id is the pseudonym.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskmodel.reports import charts
from riskmodel.reports.common import (
    OutOfScopeError,
    ReportInputError,
    ReportScope,
    normalise,
    reasons_text,
    render,
)
from riskmodel.reports.i18n import text
from riskmodel.reports.weekly import alert_rows

_ID_COLUMNS = {"student_id", "date", "as_of", "college", "grade", "class_id"}
#: Channels of the daily behaviour table drawn on the timeline by default (those present).
TIMELINE_CHANNELS = ("door_return_min", "door_away_night", "card_meals", "card_total_spend",
                     "card_meals_accompanied", "library_minutes", "network_late_min", "activity_quiet_min")


def channel_labels(columns: list[str], lang: str, max_channels: int = 8) -> dict[str, str]:
    """Timeline channels among ``columns`` with their labels from the feature registry.

    Prefers :data:`TIMELINE_CHANNELS`; without any of them, the first numeric-looking columns
    (labelled by their names).
    """
    try:
        from riskmodel.features import DAILY_CHANNELS

        labels = {c.name: (c.label_zh if lang == "zh" else c.label_en) or c.name for c in DAILY_CHANNELS}
    except ImportError:  # pragma: no cover - features always ship with riskmodel
        labels = {}
    chosen = [c for c in TIMELINE_CHANNELS if c in columns]
    if not chosen:
        chosen = [c for c in columns if c not in _ID_COLUMNS and not c.startswith("observed_")][:max_channels]
    return {c: labels.get(c, c) for c in chosen[:max_channels]}


@dataclass(frozen=True)
class StudentConfig:
    """lang; window_days: days on the timeline; baseline_days: days before the window that make
    the student's own baseline; recent_days: days compared with it for the default radar;
    max_channels: most channels drawn when ``channels`` is not given."""

    lang: str = "zh"
    window_days: int = 56
    baseline_days: int = 84
    recent_days: int = 14
    max_channels: int = 8


def own_baseline(daily: pd.DataFrame, channels: list[str], start: pd.Timestamp, end: pd.Timestamp
                 ) -> pd.DataFrame:
    """Median and quartiles of each channel over the student's days in ``[start, end)``."""
    d = daily[(daily["date"] >= start) & (daily["date"] < end)]
    q = d[channels].quantile([0.25, 0.5, 0.75]).T if len(d) else pd.DataFrame(
        np.nan, index=channels, columns=[0.25, 0.5, 0.75])
    return q.rename(columns={0.25: "q25", 0.5: "median", 0.75: "q75"})


def baseline_radar(daily: pd.DataFrame, channels: Mapping[str, str], as_of: pd.Timestamp,
                   cfg: StudentConfig) -> dict[str, float]:
    """Default radar: per channel, how far the last ``recent_days`` mean lies from the student's
    own baseline, as min(|z| / 3, 1) (0 = as usual, 1 = three baseline sds or more)."""
    recent_start = as_of - pd.Timedelta(days=cfg.recent_days)
    base_start = recent_start - pd.Timedelta(days=cfg.baseline_days)
    base = daily[(daily["date"] >= base_start) & (daily["date"] < recent_start)]
    rec = daily[(daily["date"] >= recent_start) & (daily["date"] < as_of)]
    out = {}
    for c, label in channels.items():
        sd = base[c].std()
        if len(base) < 3 or len(rec) == 0 or not np.isfinite(sd):
            out[label] = 0.0
            continue
        z = abs(rec[c].mean() - base[c].mean()) / (sd if sd > 0 else 1.0)
        out[label] = float(min(z / 3.0, 1.0)) if np.isfinite(z) else 0.0
    return out


def student_file(student_id: str, *, as_of: pd.Timestamp | str, roster: pd.DataFrame,
                 scope: ReportScope | Any = None, daily: pd.DataFrame | None = None,
                 history: pd.DataFrame | None = None, alerts: pd.DataFrame | None = None,
                 census: pd.DataFrame | None = None, radar: Mapping[str, float] | None = None,
                 channels: Mapping[str, str] | None = None, cfg: StudentConfig | None = None,
                 generated_at: pd.Timestamp | None = None) -> str:
    """One student's file as a self-contained HTML page (string).

    student_id : the pseudonym. roster : student_id, college, grade, class/class_id (the scope
    check uses it; an id outside ``scope`` raises ``OutOfScopeError`` without saying more).
    daily : the daily behaviour table (student_id, date, one column per channel).
    history : past ``Scorer.score`` rows; alerts : past alerts; census : census rows
    (assessed_on, instrument, total_score, key_item_positive, screen_level).
    radar : family or channel -> value in [0, 1] (e.g. from ``riskmodel.explain``); default
    :func:`baseline_radar`. channels : daily column -> label (default: numeric columns).
    """
    cfg = cfg or StudentConfig()
    lang = cfg.lang
    sc = ReportScope.from_any(scope)
    as_of = pd.Timestamp(as_of).normalize()
    ro = normalise(roster, ("student_id", "college", "grade", "class_id"), "roster")
    assert ro is not None
    me = ro[ro["student_id"].astype(str) == str(student_id)]
    if me.empty or not bool(sc.mask(me).all()):
        raise OutOfScopeError(text("not_in_scope", "en"))
    prof = me.iloc[0].to_dict()

    def mine(frame: pd.DataFrame | None, date_col: str, name: str) -> pd.DataFrame | None:
        f = normalise(frame, ("student_id", date_col), name)
        if f is None:
            return None
        f = f[f["student_id"].astype(str) == str(student_id)].copy()
        f[date_col] = pd.to_datetime(f[date_col])
        return f[f[date_col] < as_of].sort_values(date_col)

    d = mine(daily, "date", "daily")
    timeline = None
    radar_chart = None
    if d is not None:
        if channels is None:
            num = [c for c in d.columns if pd.api.types.is_numeric_dtype(d[c]) and not pd.api.types.is_bool_dtype(d[c])]
            channels = channel_labels(num, lang, cfg.max_channels)
        missing = [c for c in channels if c not in d.columns]
        if missing:
            raise ReportInputError(f"daily: missing channel column(s) {', '.join(missing)}")
        win_start = as_of - pd.Timedelta(days=cfg.window_days)
        base = own_baseline(d, list(channels), win_start - pd.Timedelta(days=cfg.baseline_days), win_start)
        timeline = charts.timeline_chart(d[d["date"] >= win_start], channels, base, as_of, text("timeline", lang))
        if radar is None:
            radar = baseline_radar(d, channels, as_of, cfg)
    if radar:
        radar_chart = charts.radar_chart(radar, text("radar", lang))
    hist = mine(history, "as_of", "history")
    flags = [] if hist is None else [
        {"as_of": r["as_of"], "probability": r.get("probability"),
         "band": text(f"band_{r['band']}", lang) if r.get("band") in ("flag", "watch", "none", "known")
         else r.get("band"),
         "reasons": reasons_text(r.get(f"reasons_{lang}"))}
        for r in hist[hist["band"] != "none"].sort_values("as_of", ascending=False).to_dict("records")]
    date_col = None
    if alerts is not None:
        date_col = next((c for c in ("date", "night", "as_of", "ts") if c in alerts.columns), None)
        if date_col is None:
            raise ReportInputError("alerts: needs a date column (date, night, as_of or ts)")
    al = mine(alerts, date_col, "alerts") if date_col else None
    arows = alert_rows(al, lang)
    past_alerts = sorted(arows["night"] + arows["anomaly"] + arows["academic"],
                         key=lambda r: pd.Timestamp(r["date"]) if r["date"] is not None else as_of, reverse=True)
    ce = mine(census, "assessed_on", "census")
    census_rows = [] if ce is None else ce.sort_values("assessed_on", ascending=False).to_dict("records")
    return render("student.html", lang, title=f"{text('student_title', lang)} · {student_id}",
                  scope_label=sc.label(lang), as_of=as_of, generated_at=generated_at,
                  student_id=student_id, profile=prof, timeline=timeline, radar=radar_chart,
                  flags=flags, alerts=past_alerts, census=census_rows, window_days=cfg.window_days,
                  baseline_days=cfg.baseline_days)
