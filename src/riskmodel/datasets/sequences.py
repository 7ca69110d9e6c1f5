"""Daily-history inputs for the sequence model, sliced lazily when a batch is drawn.

The daily behaviour table (``student_id``, ``date``, observed flags, channels) is turned once
into one dense array ``values[student, day, channel]`` (float32, NaN where unknown) with a
day mask ``observed[student, day]``, padded in front with ``sequence_days`` empty days. A
snapshot ``(student, as_of)`` is two integers; its input is the slice of the
``sequence_days`` days strictly before ``as_of`` -- cut from the dense array only when a
batch asks for it. Nothing of size ``snapshots x days x channels`` is ever built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class SequenceStore:
    """Dense per-student daily arrays and the index to find a snapshot's history."""

    values: np.ndarray  # (n_students, pad + n_days, n_channels) float32, NaN = unknown
    observed: np.ndarray  # (n_students, pad + n_days) bool
    student_index: pd.Index
    start: pd.Timestamp  # date of the first real day (array position ``pad``)
    channels: list[str]
    pad: int

    @property
    def sequence_days(self) -> int:
        return self.pad

    def positions(self, student_id: pd.Series, as_of: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Integer (student row, end day) of each snapshot; end is exclusive (the as-of day).

        Raises ``KeyError`` naming how many snapshot students the daily table lacks.
        """
        s = self.student_index.get_indexer(student_id.astype(str))
        if (s < 0).any():
            raise KeyError(f"daily table: {(s < 0).sum()} snapshot row(s) refer to students absent from "
                           "the daily behaviour table")
        end = ((pd.to_datetime(as_of) - self.start).dt.days.to_numpy() + self.pad).astype(np.int64)
        end = np.clip(end, self.pad, self.values.shape[1])
        return s.astype(np.int64), end

    def batch(self, s: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Slice ``(len(s), days, channels)`` values and ``(len(s), days)`` masks for snapshots."""
        offs = np.arange(-self.pad, 0, dtype=np.int64)
        days = end[:, None] + offs[None, :]
        return self.values[s[:, None], days], self.observed[s[:, None], days]


def build_sequence_store(daily: pd.DataFrame, sequence_days: int = 84,
                         students: pd.Index | None = None,
                         dtype: type = np.float32) -> SequenceStore:
    """Pivot the daily table into one dense array per student (see module doc).

    Channels are every column but ``student_id`` and ``date`` (booleans become 0/1). The day
    mask is true when any boolean column (the observed flags) is true, or -- without flags --
    when any channel is known. Days absent from the table are unknown and masked.
    """
    for col in ("student_id", "date"):
        if col not in daily.columns:
            raise ValueError(f"daily table: missing column {col!r}")
    channels = [c for c in daily.columns if c not in ("student_id", "date")]
    if not channels:
        raise ValueError("daily table: no channel columns besides student_id and date")
    flags = [c for c in channels if pd.api.types.is_bool_dtype(daily[c])]
    dates = pd.to_datetime(daily["date"]).dt.normalize()
    sid = (pd.Index(sorted(daily["student_id"].astype(str).unique())) if students is None
           else pd.Index(students.astype(str)))
    start = dates.min() if len(daily) else pd.Timestamp("1970-01-01")
    n_days = int((dates.max() - start).days) + 1 if len(daily) else 0
    vals: np.ndarray = np.full((len(sid), sequence_days + n_days, len(channels)), np.nan, dtype=dtype)
    obs = np.zeros((len(sid), sequence_days + n_days), dtype=bool)
    step = 1_000_000  # rows per block: a whole campus never gets a second float64 copy
    for lo in range(0, len(daily), step):
        d = daily.iloc[lo:lo + step]
        si = sid.get_indexer(d["student_id"].astype(str))
        keep = si >= 0
        di = (dates.iloc[lo:lo + step] - start).dt.days.to_numpy() + sequence_days
        mat = d[channels].astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
        vals[si[keep], di[keep]] = mat[keep].astype(dtype)
        if flags:
            seen = d[flags].fillna(False).to_numpy(dtype=bool).any(axis=1)
        else:
            seen = ~np.isnan(mat).all(axis=1)
        obs[si[keep], di[keep]] = seen[keep]
    return SequenceStore(values=vals, observed=obs, student_index=sid, start=start,
                         channels=channels, pad=sequence_days)


class SequenceBatchDataset:
    """A map-style torch-compatible Dataset over snapshots of a :class:`SequenceStore`.

    ``ds[i]`` -> ``(x (days, channels) float32, mask (days,) float32, y float32)``;
    ``ds.batch(idx)`` slices many at once (what the training loop uses).
    """

    def __init__(self, store: SequenceStore, student_id: pd.Series, as_of: pd.Series,
                 y: np.ndarray | None = None):
        self.store = store
        self.s, self.end = store.positions(student_id.reset_index(drop=True), as_of.reset_index(drop=True))
        self.y = (np.zeros(len(self.s), dtype=np.float32) if y is None
                  else np.asarray(y, dtype=np.float32).reshape(-1))
        if len(self.y) != len(self.s):
            raise ValueError(f"SequenceBatchDataset: {len(self.s)} snapshots but {len(self.y)} labels")

    def __len__(self) -> int:
        return len(self.s)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray, np.float32]:
        x, m = self.store.batch(self.s[i:i + 1], self.end[i:i + 1])
        return x[0], m[0].astype(np.float32), self.y[i]

    def batch(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, m = self.store.batch(self.s[idx], self.end[idx])
        return x, m.astype(np.float32), self.y[idx]
