"""Temporal splits with an embargo so that no label window crosses from one part to another.

A snapshot at ``t`` looks at labels in ``[t, t + horizon)``. Two parts A (earlier) and B
(later) are embargoed when ``max(A) + horizon <= min(B)``: the last label day of A is before
the first as-of of B, so no crisis is the label of a row in both parts, and nothing that B is
scored on has been seen as a label in A.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SplitConfig:
    """Where the temporal split falls.

    ``kind``: ``"fraction"`` splits the sorted as-of dates by ``valid_fraction`` and
    ``test_fraction`` (of the as-of weeks); ``"dates"`` uses ``valid_start`` and ``test_start``
    (ISO dates; the train part ends ``gap_days`` before valid, valid ends ``gap_days`` before
    test); ``"year"`` tests on the last academic year in the data (starting
    ``year_start_month``/1) and validates on the last ``valid_fraction`` of the rest.
    ``gap_days`` is the embargo; it is raised to the label horizon when smaller.

    ``test_students`` is the share of students held out for testing (DESIGN: students never
    straddle train and test): their rows can only be test rows, the other students' rows only
    train or valid rows. Which students are held out is a keyed hash of the (pseudonymised)
    id and ``student_seed``, so it is stable across runs and data refreshes. 0 = split by
    time only (not the evaluation protocol; for diagnostics).
    """

    kind: str = "fraction"
    valid_fraction: float = 0.2
    test_fraction: float = 0.25
    valid_start: str | None = None
    test_start: str | None = None
    gap_days: int = 28
    year_start_month: int = 9
    test_students: float = 0.5
    student_seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.test_students) < 1.0:
            raise ValueError(f"SplitConfig.test_students must be in [0, 1), got {self.test_students!r}")
        if self.kind not in ("fraction", "dates", "year"):
            raise ValueError(f"SplitConfig.kind must be 'fraction', 'dates' or 'year', got {self.kind!r}")
        if self.kind == "dates" and (self.valid_start is None or self.test_start is None):
            raise ValueError("SplitConfig.kind='dates' needs valid_start and test_start")


@dataclass(frozen=True)
class TemporalSplit:
    """As-of dates of each part (sorted, disjoint, embargoed)."""

    train: pd.DatetimeIndex
    valid: pd.DatetimeIndex
    test: pd.DatetimeIndex
    gap_days: int

    def part_of(self, as_of: pd.Series) -> pd.Series:
        """'train' / 'valid' / 'test' / '' (embargoed) per as-of value."""
        a = pd.to_datetime(as_of)
        out = pd.Series("", index=as_of.index, dtype=object)
        for name in ("train", "valid", "test"):
            out[a.isin(getattr(self, name))] = name
        return out

    def describe(self, students: dict[str, int] | None = None) -> dict[str, str]:
        """Per part: first..last as-of and the number of weeks (and of students, when given)."""
        d = {}
        for name in ("train", "valid", "test"):
            idx = getattr(self, name)
            n = f", {students[name]:,} students" if students and name in students else ""
            d[name] = f"{idx.min().date()}..{idx.max().date()} ({len(idx)} weeks{n})" if len(idx) else "empty"
        return d


def _academic_year(d: pd.DatetimeIndex, start_month: int) -> np.ndarray:
    return np.where(d.month >= start_month, d.year, d.year - 1)


def _embargo_cut(dates: pd.DatetimeIndex, first_later: pd.Timestamp, gap: int) -> pd.DatetimeIndex:
    return dates[dates + pd.Timedelta(days=gap) <= first_later]


def temporal_split(as_of_dates: pd.DatetimeIndex, cfg: SplitConfig, horizon_days: int) -> TemporalSplit:
    """Split as-of dates into train < valid < test with an embargo of ``max(gap, horizon)`` days.

    Raises ``ValueError`` naming the part when a part comes out empty (too little data for the
    split and the embargo).

    Examples
    --------
    >>> d = pd.date_range("2024-01-01", periods=40, freq="7D")
    >>> s = temporal_split(d, SplitConfig(), horizon_days=28)
    >>> bool(s.train.max() + pd.Timedelta(days=28) <= s.valid.min())
    True
    """
    dates = pd.DatetimeIndex(pd.to_datetime(as_of_dates)).unique().sort_values()
    gap = max(int(cfg.gap_days), int(horizon_days))
    if cfg.kind == "fraction":
        n = len(dates)
        n_test = max(1, int(round(n * cfg.test_fraction)))
        n_valid = max(1, int(round(n * cfg.valid_fraction)))
        test = dates[n - n_test:]
        valid_pool = _embargo_cut(dates[: n - n_test], test.min(), gap) if n_test < n else dates[:0]
        valid = valid_pool[len(valid_pool) - n_valid:] if len(valid_pool) > n_valid else valid_pool[-1:]
        train = _embargo_cut(valid_pool, valid.min(), gap) if len(valid) else valid_pool[:0]
    elif cfg.kind == "dates":
        vs, ts = pd.Timestamp(cfg.valid_start), pd.Timestamp(cfg.test_start)
        if not vs < ts:
            raise ValueError(f"SplitConfig: valid_start {vs.date()} must be before test_start {ts.date()}")
        test = dates[dates >= ts]
        valid = _embargo_cut(dates[(dates >= vs) & (dates < ts)], ts, gap)
        train = _embargo_cut(dates[dates < vs], valid.min() if len(valid) else vs, gap)
    else:
        years = _academic_year(dates, cfg.year_start_month)
        last = years.max()
        if (years < last).sum() == 0:
            raise ValueError("SplitConfig.kind='year' needs data spanning at least two academic years; "
                             f"all as-of dates fall in academic year {last}-{last + 1}")
        test = dates[years == last]
        rest = _embargo_cut(dates[years < last], test.min(), gap)
        n_valid = max(1, int(round(len(rest) * cfg.valid_fraction)))
        valid = rest[len(rest) - n_valid:]
        train = _embargo_cut(rest[: len(rest) - n_valid], valid.min(), gap) if len(valid) else rest
    split = TemporalSplit(train=train, valid=valid, test=test, gap_days=gap)
    for name in ("train", "valid", "test"):
        if len(getattr(split, name)) == 0:
            raise ValueError(f"temporal split: the {name} part is empty ({len(dates)} as-of weeks, "
                             f"embargo {gap} days, split {cfg}); use more data or smaller fractions")
    assert_no_label_overlap(split, horizon_days)
    return split


def leave_one_year_out(as_of_dates: pd.DatetimeIndex, horizon_days: int, gap_days: int = 28,
                       year_start_month: int = 9) -> list[tuple[int, pd.DatetimeIndex, pd.DatetimeIndex]]:
    """Folds ``(academic_year, train_dates, test_dates)``, one per academic year in the data.

    Training rows within the embargo on either side of the test year are dropped: a train
    as-of ``t`` before the test year needs ``t + gap <= first test as-of``; one after it needs
    ``t >= last test as-of + gap``. Returns an empty list when the data spans one year only.
    """
    dates = pd.DatetimeIndex(pd.to_datetime(as_of_dates)).unique().sort_values()
    gap = max(int(gap_days), int(horizon_days))
    years = _academic_year(dates, year_start_month)
    folds: list[tuple[int, pd.DatetimeIndex, pd.DatetimeIndex]] = []
    if len(np.unique(years)) < 2:
        return folds
    for y in np.unique(years):
        test = dates[years == y]
        before = dates[(years < y)]
        before = before[before + pd.Timedelta(days=gap) <= test.min()]
        after = dates[(years > y)]
        after = after[after >= test.max() + pd.Timedelta(days=gap)]
        folds.append((int(y), before.append(after), test))
    return folds


def held_out_students(student_ids: pd.Series | pd.Index, share: float, seed: int = 0) -> np.ndarray:
    """True for the students whose rows may only be test rows (a share ``share`` of them).

    A keyed hash of each id (``seed`` is the key), so a student's side never depends on which
    other students or rows are present, nor on row order. ``share`` 0 holds out nobody.

    Examples
    --------
    >>> ids = pd.Series([f"s{i}" for i in range(10_000)])
    >>> 0.45 < held_out_students(ids, 0.5).mean() < 0.55
    True
    """
    ids = pd.Series(np.asarray(student_ids, dtype=object)).astype(str)
    if share <= 0:
        return np.zeros(len(ids), dtype=bool)
    key = f"rm-split{int(seed):08d}"[-16:]
    h = pd.util.hash_pandas_object(ids, index=False, hash_key=key).to_numpy()
    return (h / 2.0**64) < float(share)


def assert_no_student_overlap(student_ids: pd.Series, parts: pd.Series) -> None:
    """Raise ``AssertionError`` when a student has rows in test and in train or valid."""
    sid = pd.Series(np.asarray(student_ids)).astype(str)
    p = pd.Series(np.asarray(parts))
    test = set(sid[p == "test"])
    fit = set(sid[p.isin(["train", "valid"])])
    both = test & fit
    if both:
        raise AssertionError(f"{len(both)} student(s) have rows in test and in train/valid")


def assert_no_label_overlap(split: TemporalSplit, horizon_days: int) -> None:
    """Raise ``AssertionError`` when a label window of one part reaches into a later part."""
    parts = [("train", split.train), ("valid", split.valid), ("test", split.test)]
    for i, (a_name, a) in enumerate(parts):
        for b_name, b in parts[i + 1:]:
            if len(a) and len(b) and a.max() + pd.Timedelta(days=horizon_days) > b.min():
                raise AssertionError(f"label windows of {a_name} (last as-of {a.max().date()}, horizon "
                                     f"{horizon_days} d) overlap {b_name} (first as-of {b.min().date()})")
