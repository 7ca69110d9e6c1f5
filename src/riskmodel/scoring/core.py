"""Pure steps of scoring: who is scored, who is already known, bands, usual values, checks."""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskmodel.scoring.config import ScoringError, check_capacity

EVENT_TIME = {"door_events": "ts", "card_transactions": "ts", "library_events": "ts",
              "network_sessions": "start_ts"}
BANDS = ("flag", "watch", "none", "known")


def as_of_date(as_of: Any) -> pd.Timestamp:
    """An as-of date (midnight at the start of the day; records before it count)."""
    try:
        t = pd.Timestamp(as_of)
    except (ValueError, TypeError):
        raise ScoringError(f"as-of {as_of!r} is not a date; use YYYY-MM-DD") from None
    if t is pd.NaT or t != t.normalize():
        raise ScoringError(f"as-of {as_of!r} must be a date (midnight), e.g. 2024-11-04")
    return t.tz_localize(None) if t.tzinfo else t


def data_period(tables: Mapping[str, pd.DataFrame], period: Any = None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(first day, last day + 1)`` of the data: the validated period, else the event span.

    Raises :class:`ScoringError` when no table says when the data starts.
    """
    if period is not None:
        return pd.Timestamp(period.start).normalize(), pd.Timestamp(period.end).normalize()
    lo, hi = [], []
    for table, col in EVENT_TIME.items():
        f = tables.get(table)
        if f is not None and len(f):
            ts = pd.to_datetime(f[col])
            lo.append(ts.min())
            hi.append(ts.max())
    if not lo:
        raise ScoringError("the data has no calendar and no event table, so its period is unknown; "
                           "add calendar.csv or an event source")
    return min(lo).normalize(), max(hi).normalize() + pd.Timedelta(days=1)


def check_as_of(as_of: pd.Timestamp, start: pd.Timestamp, end: pd.Timestamp, min_history_days: int = 7) -> None:
    """Raise :class:`ScoringError` unless ``start + min_history_days <= as_of <= end``.

    ``end`` is the day after the last day of data: scoring the morning after the export is
    the usual case.
    """
    first = start + pd.Timedelta(days=min_history_days)
    if not first <= as_of <= end:
        raise ScoringError(f"as-of {as_of.date()} is outside the data: the data runs from {start.date()} to "
                           f"{(end - pd.Timedelta(days=1)).date()}, so an as-of date must lie between "
                           f"{first.date()} and {end.date()}")


def enrolled(students: pd.DataFrame, as_of: pd.Timestamp, month: int = 9) -> pd.Series:
    """Students enrolled before as-of: from the 1st of ``month`` of their enrollment year
    (unknown year: enrolled)."""
    yr = pd.to_numeric(students.get("enrollment_year"), errors="coerce") if "enrollment_year" in students \
        else pd.Series(np.nan, index=students.index)
    start = pd.to_datetime(
        {"year": yr.fillna(1900).astype(int), "month": month, "day": 1}, errors="coerce")
    return (yr.isna() | (start < as_of)).astype(bool)


def known_students(crisis_events: pd.DataFrame | None, as_of: pd.Timestamp, recent_days: int) -> pd.Index:
    """Students with a recorded crisis (any level) on a day in ``[as_of - recent_days, as_of)``."""
    if crisis_events is None or crisis_events.empty or recent_days <= 0:
        return pd.Index([], dtype=object)
    d = pd.to_datetime(crisis_events["occurred_on"]).dt.normalize()
    m = (d >= as_of - pd.Timedelta(days=recent_days)) & (d < as_of)
    return pd.Index(crisis_events.loc[m, "student_id"].astype(str).unique())


def observed_ids(tables: Mapping[str, pd.DataFrame], as_of: pd.Timestamp) -> pd.Index | None:
    """Students with at least one event of any present event source before ``as_of``.

    None when no event source is present (then every enrolled student counts as observed:
    the model can only use records such as grades and the census).
    """
    ids = []
    for table, col in EVENT_TIME.items():
        f = tables.get(table)
        if f is None:
            continue
        ts = f[col]
        ids.append(pd.Index(f.loc[(ts < as_of).to_numpy(), "student_id"].astype(str).unique()))
    if not ids:
        return None
    out = ids[0]
    for more in ids[1:]:
        out = out.union(more)
    return out


def bands(prob: np.ndarray, capacity: float, watch_multiple: float) -> tuple[np.ndarray, np.ndarray]:
    """Rank (1 = highest probability; ties broken by order) and band for ranked rows.

    The top ``capacity`` (share or count; at least one student when any is ranked) is
    ``flag``, the next ``watch_multiple`` times as many is ``watch``, the rest ``none``.
    """
    c = check_capacity(capacity)
    n = len(prob)
    order = np.argsort(-np.asarray(prob, dtype=np.float64), kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)
    n_flag = int(c) if c >= 1 and c == int(c) and c != 1.0 else int(math.ceil(c * n))
    n_flag = min(n, max(1, n_flag)) if n else 0
    n_watch = min(n - n_flag, int(math.ceil(watch_multiple * n_flag)))
    band = np.where(rank <= n_flag, "flag", np.where(rank <= n_flag + n_watch, "watch", "none"))
    return rank, band.astype(object)


def usual_values(history: pd.DataFrame, as_of: pd.Timestamp, names: Iterable[str],
                 windows: Mapping[str, int | None], lookbacks: Iterable[int]) -> pd.DataFrame:
    """Each student's own usual value per feature: the median over earlier as-of dates.

    ``history`` has ``student_id``, ``as_of`` and the features at ``as_of - k`` days for
    ``k`` in ``lookbacks``. A lookback counts for a feature only when ``k >= window`` (its
    window does not overlap the current one); features without a window use every lookback.
    Returns one row per student (index ``student_id``), NaN where no lookback is known.
    """
    names = list(names)
    lookbacks = sorted({int(k) for k in lookbacks})
    hist = history.copy()
    hist["_k"] = (as_of - pd.to_datetime(hist["as_of"])).dt.days
    hist = hist[hist["_k"].isin(lookbacks)]
    students = pd.Index(hist["student_id"].astype(str).unique(), name="student_id")
    out = pd.DataFrame(index=students, columns=names, dtype=np.float64)
    groups: dict[int, list[str]] = {}
    for nm in names:
        w = windows.get(nm)
        groups.setdefault(int(w or 0), []).append(nm)
    for w, cols in groups.items():
        cols = [c for c in cols if c in hist.columns]
        if not cols:
            continue
        part = hist.loc[hist["_k"] >= w, ["student_id", *cols]]
        if part.empty:
            continue
        med = part.groupby("student_id")[cols].median()
        out.loc[med.index, cols] = med.to_numpy(np.float64)
    return out


def write_table_atomic(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as Parquet or CSV (by suffix) to a temp file beside ``path``, then rename.

    A failure leaves no file (and an existing file untouched).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise ScoringError(f"output {p.name!r}: use a .parquet or .csv file name")
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.close(fd)
    try:
        if suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False, encoding="utf-8")
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
