"""The point-in-time rule, in one place.

A record counts for as-of date ``t`` (midnight at the start of day t) only if its event time
is before ``t``:

* event tables (door, card, library, network): the event timestamp (``ts``, network
  ``start_ts``) < t. The daily table row of day d only holds events whose time is before
  d+1 00:00 (day channels: events of day d; night channels: the night ending on the
  morning of d, 12:00 on d-1 to 12:00 on d), so a daily row counts iff ``d < t``
  (:func:`daily_row_known`). The night from t-1 to t is incomplete at t and is therefore
  never used: it is row t.
* grades: ``published_on`` < t; census: ``assessed_on`` < t; leave records: ``start_ts`` < t
  (:func:`record_known`).

Every module that touches dated records calls these functions, so the rule is stated once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

DAY_S = 86_400
HOUR_S = 3_600
#: a night channel of day d reads [d-1 12:00, d 12:00): shifting a time by this much puts it
#: on the day of the night it belongs to
NIGHT_SHIFT_S = 12 * HOUR_S
EPOCH = pd.Timestamp("1970-01-01")


def record_known(event_time, as_of):  # type: ignore[no-untyped-def]
    """Boolean ibis (or pandas) expression: a record with ``event_time`` counts at ``as_of``.

    Both arguments are timestamps, or both are day indices (days since 1970-01-01, where a
    record of day d has event time >= d 00:00 and day t means t 00:00).
    """
    return event_time < as_of


def daily_row_known(day, as_of_day):  # type: ignore[no-untyped-def]
    """A daily-table row of day ``day`` counts at as-of day ``as_of_day`` (day indices).

    Valid because every channel's event window ends by day+1 00:00 <= as-of 00:00.
    """
    return record_known(day, as_of_day)


def last_known_day(as_of_day: int) -> int:
    """The last daily row that counts at ``as_of_day`` (day indices)."""
    return as_of_day - 1


def day_index(values: Iterable | pd.Series | pd.Timestamp | str) -> np.ndarray:  # type: ignore[type-arg]
    """Days since 1970-01-01 of dates (time of day dropped)."""
    ts = pd.to_datetime(pd.Series(values) if not isinstance(values, pd.Series) else values)
    return ((ts.dt.normalize() - EPOCH) // pd.Timedelta(days=1)).to_numpy(dtype="int64")


def day_to_timestamp(days: Sequence[int] | np.ndarray) -> pd.DatetimeIndex:
    """Inverse of :func:`day_index`."""
    return pd.DatetimeIndex(EPOCH + pd.to_timedelta(np.asarray(days, dtype="int64"), unit="D"))


def weekly_as_of_dates(start: str | pd.Timestamp, end: str | pd.Timestamp,
                       weekday: int = 0) -> list[pd.Timestamp]:
    """Weekly as-of dates (Mondays by default, ``weekday`` 0=Monday) in ``[start, end]``.

    Examples
    --------
    >>> [d.date().isoformat() for d in weekly_as_of_dates("2024-03-01", "2024-03-20")]
    ['2024-03-04', '2024-03-11', '2024-03-18']
    """
    start_ts, end_ts = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    if end_ts < start_ts:
        raise ValueError(f"as-of range end {end_ts.date()} is before its start {start_ts.date()}")
    first = start_ts + pd.Timedelta(days=(weekday - start_ts.weekday()) % 7)
    return list(pd.date_range(first, end_ts, freq="7D"))


def normalise_as_of(as_of_dates: Iterable) -> list[pd.Timestamp]:  # type: ignore[type-arg]
    """Sorted unique as-of dates as midnight timestamps; rejects an empty list and times of day."""
    dates = sorted({pd.Timestamp(d) for d in as_of_dates})
    if not dates:
        raise ValueError("no as-of dates given")
    odd = [d for d in dates if d != d.normalize()]
    if odd:
        raise ValueError(f"as-of dates must be dates (midnight), got {odd[0]}")
    return dates
