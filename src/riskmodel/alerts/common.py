"""Shared pieces of the alerts: the output shape, calendar look-ups, small time helpers."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

#: Every alert function returns a frame with these columns (plus alert-specific extras).
ALERT_COLUMNS = ["student_id", "alert", "as_of", "level", "since", "score", "reason_en", "reason_zh", "details"]

Tables = Mapping[str, pd.DataFrame]


def table(tables: Tables | Any, name: str) -> pd.DataFrame | None:
    """The table ``name`` from a dict or a ``LoadedSources`` (None when absent)."""
    src = getattr(tables, "tables", tables)
    return src.get(name)


def require(tables: Tables | Any, name: str, what: str) -> pd.DataFrame:
    """The table ``name``, or a clear error saying which alert needs it."""
    t = table(tables, name)
    if t is None:
        raise ValueError(f"{what} needs the source table {name!r}, which is not present")
    return t


def empty_alerts(extra: Iterable[str] = ()) -> pd.DataFrame:
    """An empty frame of the alert shape."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in [*ALERT_COLUMNS, *extra]})


def excluded_dates(tables: Tables | Any, periods: Iterable[str]) -> set[pd.Timestamp]:
    """Dates whose calendar period is in ``periods`` (empty set when no calendar)."""
    cal = table(tables, "calendar")
    if cal is None or cal.empty:
        return set()
    mask = cal["period"].isin(list(periods))
    return set(pd.to_datetime(cal.loc[mask, "date"]).dt.normalize())


def period_of(tables: Tables | Any, dates: pd.Series) -> pd.Series:
    """Calendar period of each date (``"unknown"`` where the calendar has no row)."""
    cal = table(tables, "calendar")
    if cal is None or cal.empty:
        return pd.Series("unknown", index=dates.index)
    m = pd.Series(cal["period"].to_numpy(), index=pd.to_datetime(cal["date"]).dt.normalize())
    m = m[~m.index.duplicated()]
    return pd.to_datetime(dates).dt.normalize().map(m).fillna("unknown")


def as_details(d: Mapping[str, Any]) -> str:
    """Alert details as a compact JSON string (numbers rounded)."""
    def fix(v: Any) -> Any:
        if isinstance(v, float):
            return round(v, 3)
        if isinstance(v, pd.Timestamp):
            return v.isoformat()
        return v
    return json.dumps({k: fix(v) for k, v in d.items()}, ensure_ascii=False, default=str)


def hours(h: float) -> pd.Timedelta:
    return pd.Timedelta(hours=float(h))
