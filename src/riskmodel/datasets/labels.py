"""Weekly as-of snapshots with horizon labels and the census screen known at each as-of."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class DatasetConfig:
    """How snapshots and labels are made.

    Attributes
    ----------
    horizon_days : label window length in days, starting on the as-of day (see module doc).
    min_level : a recorded crisis of at least this level is a positive.
    exclude_recent_days : students with a recorded crisis (any level) in the previous this-many
        days are left out of the snapshot (0 disables).
    warmup_days : the first as-of date is at least this many days after the data start, so the
        feature windows have history.
    weekday : 0 = Monday, the weekly check.
    sequence_days : length of the daily history given to the sequence model.
    enrollment_month, program_years : who is on the roster at an as-of date. A student is from
        the 1st of ``enrollment_month`` of their ``enrollment_year`` until June 30 of
        ``enrollment_year + program_years[degree_level]`` (the nominal length of study, 学制);
        before and after that they have no snapshot (a graduate's silence is not a warning
        sign, and a freshman before arrival has no life on campus to score). Unknown year or
        degree: always on the roster. A student who stays longer than the nominal length drops
        out of the snapshots early; ``program_years={}`` keeps everyone after enrolment.
    """

    horizon_days: int = 28
    min_level: int = 1
    exclude_recent_days: int = 180
    warmup_days: int = 28
    weekday: int = 0
    sequence_days: int = 84
    enrollment_month: int = 9
    program_years: dict = field(default_factory=lambda: {"undergraduate": 4, "master": 3, "doctoral": 5})

    def __post_init__(self) -> None:
        if not 1 <= self.enrollment_month <= 12:
            raise ValueError(f"DatasetConfig.enrollment_month must be in 1..12, got {self.enrollment_month}")
        bad = {k: v for k, v in dict(self.program_years).items() if not (isinstance(v, int) and v >= 1)}
        if bad:
            raise ValueError(f"DatasetConfig.program_years must map degree levels to whole years >= 1, got {bad}")
        if self.horizon_days < 1:
            raise ValueError(f"DatasetConfig.horizon_days must be >= 1, got {self.horizon_days}")
        if not 1 <= self.min_level <= 3:
            raise ValueError(f"DatasetConfig.min_level must be in 1..3, got {self.min_level}")
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"DatasetConfig.weekday must be in 0..6, got {self.weekday}")


def snapshot_dates(start: pd.Timestamp | str, end: pd.Timestamp | str, cfg: DatasetConfig) -> pd.DatetimeIndex:
    """Weekly as-of dates (``cfg.weekday``) with full feature history and a complete label window.

    ``start`` is the first day with data, ``end`` the last day with data (inclusive). An as-of
    date ``t`` qualifies when ``t >= start + warmup_days`` and its label window
    ``[t, t + horizon_days)`` ends on or before ``end + 1 day`` (labels are never censored).

    Examples
    --------
    >>> d = snapshot_dates("2024-09-01", "2024-12-31", DatasetConfig())
    >>> bool((d.dayofweek == 0).all()), str(d[0].date()), str(d[-1].date())
    (True, '2024-09-30', '2024-12-02')
    """
    start = pd.Timestamp(start).normalize()
    end = pd.Timestamp(end).normalize()
    first = start + pd.Timedelta(days=cfg.warmup_days)
    first = first + pd.Timedelta(days=(cfg.weekday - first.dayofweek) % 7)
    last = end + DAY - pd.Timedelta(days=cfg.horizon_days)
    if last < first:
        return pd.DatetimeIndex([], name="as_of")
    return pd.date_range(first, last, freq=pd.Timedelta(days=7), name="as_of")


def _events(crisis_events: pd.DataFrame | None) -> pd.DataFrame:
    if crisis_events is None or crisis_events.empty:
        return pd.DataFrame({"student_id": pd.Series(dtype=object),
                             "occurred_on": pd.Series(dtype="datetime64[ns]"),
                             "level": pd.Series(dtype="int64")})
    missing = {"student_id", "occurred_on", "level"} - set(crisis_events.columns)
    if missing:
        raise ValueError(f"table crisis_events: missing column(s) {sorted(missing)}")
    ev = crisis_events[["student_id", "occurred_on", "level"]].copy()
    ev["occurred_on"] = pd.to_datetime(ev["occurred_on"]).dt.normalize()
    ev["level"] = ev["level"].astype("int64")
    return ev


#: DatasetConfig fields that decide who has a snapshot, not what the inputs are
ROSTER_FIELDS = ("enrollment_month", "program_years")


def on_roster(students: pd.DataFrame, as_of: pd.Series, student_id: pd.Series, cfg: DatasetConfig) -> np.ndarray:
    """True where the student of each (``student_id``, ``as_of``) row is on the roster.

    See :class:`DatasetConfig` (``enrollment_month``, ``program_years``). Students without
    ``enrollment_year`` or ``degree_level`` columns (or with unknown values) always count.
    """
    st = students.drop_duplicates("student_id").set_index(students["student_id"].drop_duplicates().astype(str))
    year = (pd.to_numeric(st["enrollment_year"], errors="coerce") if "enrollment_year" in st
            else pd.Series(np.nan, index=st.index))
    years = (st["degree_level"].astype(str).map({str(k): float(v) for k, v in dict(cfg.program_years).items()})
             if "degree_level" in st else pd.Series(np.nan, index=st.index))
    sid = student_id.astype(str)
    y = sid.map(year).to_numpy(dtype=float)
    n = sid.map(years).to_numpy(dtype=float)
    t = pd.to_datetime(as_of).dt.normalize()
    # as-of on or after the 1st of the enrollment month; before July 1 of the final year
    t_year, t_month = t.dt.year.to_numpy(), t.dt.month.to_numpy()
    started = np.isnan(y) | ((t_year > y) | ((t_year == y) & (t_month >= cfg.enrollment_month)))
    last = y + n  # the calendar year of the final June 30
    ended = ~np.isnan(last) & ((t_year > last) | ((t_year == last) & (t_month >= 7)))
    return started & ~ended


def crisis_labels(
    students: pd.DataFrame,
    crisis_events: pd.DataFrame | None,
    as_of_dates: pd.DatetimeIndex | list,
    cfg: DatasetConfig,
) -> pd.DataFrame:
    """One row per (student, as-of) on the roster: the label and whether the student is excluded.

    Returns columns ``student_id``, ``as_of``, ``label`` (int8, 1 when a crisis of level >=
    ``min_level`` occurred on a day in ``[as_of, as_of + horizon_days)``), ``days_to_event``
    (days from as-of to the first such crisis, NaN when none) and ``excluded`` (a recorded
    crisis of any level in ``[as_of - exclude_recent_days, as_of)``). Excluded rows are kept
    so callers can count them; :func:`eligible` drops them.

    Examples
    --------
    >>> st = pd.DataFrame({"student_id": ["a", "b"]})
    >>> ev = pd.DataFrame({"student_id": ["a"], "occurred_on": ["2024-10-07"], "level": [1]})
    >>> lab = crisis_labels(st, ev, pd.DatetimeIndex(["2024-09-30", "2024-10-07", "2024-10-14"]),
    ...                     DatasetConfig())
    >>> lab.loc[lab.student_id == "a", ["label", "excluded"]].values.tolist()
    [[1, False], [1, False], [0, True]]
    """
    if "student_id" not in students.columns:
        raise ValueError("table students: missing column 'student_id'")
    as_of = pd.DatetimeIndex(pd.to_datetime(as_of_dates)).normalize().unique().sort_values()
    ids = pd.Index(students["student_id"].astype(str).unique())
    grid = pd.MultiIndex.from_product([ids, as_of], names=["student_id", "as_of"]).to_frame(index=False)
    grid = grid[on_roster(students, grid["as_of"], grid["student_id"], cfg)].reset_index(drop=True)
    grid["label"] = np.int8(0)
    grid["days_to_event"] = np.nan
    grid["excluded"] = False
    ev = _events(crisis_events)
    ev = ev[ev["student_id"].isin(ids)]
    if ev.empty or grid.empty:
        return grid
    h = cfg.horizon_days
    # event -> the as-of dates whose label window contains it: as_of in (d - h, d]
    pos = ev[ev["level"] >= cfg.min_level]
    if not pos.empty:
        pairs = pos.merge(pd.DataFrame({"as_of": as_of}), how="cross")
        pairs = pairs.assign(days_to_event=(pairs["occurred_on"] - pairs["as_of"]).dt.days.to_numpy())
        pairs = pairs[(pairs["days_to_event"] >= 0) & (pairs["days_to_event"] < h)]
        first = pairs.groupby(["student_id", "as_of"], as_index=False)["days_to_event"].min()
        grid = grid.drop(columns="days_to_event").merge(first, on=["student_id", "as_of"], how="left")
        grid["label"] = grid["days_to_event"].notna().astype("int8")
    if cfg.exclude_recent_days > 0:
        pairs = ev[["student_id", "occurred_on"]].merge(pd.DataFrame({"as_of": as_of}), how="cross")
        delta = (pairs["as_of"] - pairs["occurred_on"]).dt.days
        hit = pairs[(delta >= 1) & (delta <= cfg.exclude_recent_days)][["student_id", "as_of"]]
        hit = hit.drop_duplicates().assign(_ex=True)
        grid = grid.merge(hit, on=["student_id", "as_of"], how="left")
        grid["excluded"] = grid.pop("_ex").eq(True).to_numpy()
    return grid[["student_id", "as_of", "label", "days_to_event", "excluded"]]


def census_screen(census: pd.DataFrame | None, keys: pd.DataFrame) -> pd.DataFrame:
    """Today's practice at each as-of: the latest census assessed strictly before as-of.

    ``keys`` has ``student_id`` and ``as_of``. Returns ``keys`` plus ``screen_level`` (0..3,
    NaN when no census yet) and ``screen_key_item`` (1.0/0.0, NaN when none), in the order of
    ``keys``. Several instruments on one day: the highest level and any positive key item.
    """
    out = keys[["student_id", "as_of"]].copy()
    out["_order"] = np.arange(len(out))
    if census is None or census.empty:
        out["screen_level"] = np.nan
        out["screen_key_item"] = np.nan
        return out.drop(columns="_order")
    c = census[["student_id", "assessed_on", "screen_level", "key_item_positive"]].copy()
    c["assessed_on"] = pd.to_datetime(c["assessed_on"]).dt.normalize()
    c = (c.groupby(["student_id", "assessed_on"], as_index=False)
         .agg(screen_level=("screen_level", "max"), screen_key_item=("key_item_positive", "max")))
    # known from the day after assessment: assessed_on < as_of  <=>  assessed_on + 1 day <= as_of
    c["known_from"] = c["assessed_on"] + DAY
    c["screen_level"] = c["screen_level"].astype("float64")
    c["screen_key_item"] = c["screen_key_item"].astype("float64")
    left = out.sort_values("as_of")
    merged = pd.merge_asof(left, c.sort_values("known_from")[["student_id", "known_from", "screen_level",
                                                              "screen_key_item"]],
                           left_on="as_of", right_on="known_from", by="student_id", direction="backward")
    merged = merged.sort_values("_order").drop(columns=["_order", "known_from"])
    return merged.reset_index(drop=True)


def eligible(labels: pd.DataFrame) -> pd.DataFrame:
    """The rows that are trained on and ranked: not excluded."""
    return labels.loc[~labels["excluded"]].reset_index(drop=True)
