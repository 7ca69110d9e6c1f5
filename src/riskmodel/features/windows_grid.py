"""Window features as numpy kernels on the students x segments grid of running sums (DuckDB).

:func:`riskmodel.features.windows.window_features_expr` defines the window features with ibis:
running sums of each term per student and segment, one join per window length that fetches
the running sums w days before the as-of date, the formulas, and the change scores' medians
as window aggregates. That is what Spark runs. On DuckDB, with every student on every
segment (a dense daily table gives that), the running sums are a students x segments array
per term, so here the joins are fancy indexing of its columns, the formulas are the same
:func:`~riskmodel.features.window_math.formula` on numpy arrays, and the change scores'
medians and MADs come from one sort along the blocks axis. Tests build random daily tables
both ways and find the same features.

The as-of rule is untouched: the window of as-of t reads only the running sums at the
lookup days of t (all before t), exactly the segments the joins read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from riskmodel.features.grid_kernels import SEGMENT_TERMS, add_segment_terms, segment_term_sums
from riskmodel.features.registry import FeatureSpec
from riskmodel.features.window_math import MIN_BLOCK_DAYS, NUMPY_OPS, change_z, formula, tname


def _values_in_place(part: Any) -> tuple[np.ndarray, int, np.ndarray]:
    """(validity bitmap, its first bit, values) of a float64 Arrow array, without a copy
    when Arrow holds both buffers (the bitmap is empty when there is no NULL); otherwise a
    bitmap and values built from it."""
    validity, values = part.buffers()[:2]
    n = len(part)
    if values is not None and (part.null_count == 0 or validity is not None):
        x = np.frombuffer(values, dtype=np.float64, count=part.offset + n)[part.offset:]
        if part.null_count == 0:
            return np.zeros(0, dtype=np.uint8), 0, x
        return np.frombuffer(validity, dtype=np.uint8), part.offset, x
    valid = part.is_valid().to_numpy(zero_copy_only=False)
    return np.packbits(valid, bitorder="little"), 0, part.to_numpy(zero_copy_only=False)


@dataclass(frozen=True)
class SegmentSums:
    """Running sums of the window terms on a students x segments grid.

    ``students``: the student ids (an Arrow array, one per grid row); ``segs``: the segment
    numbers of the grid columns, ascending; ``sums``: term name -> ``(students, segs)`` array
    of the term summed over every day up to the end of the segment."""

    students: Any
    segs: np.ndarray
    sums: dict[str, np.ndarray]

    def columns(self, segs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(grid column of each of ``segs``, whether the grid has that segment)."""
        col = np.searchsorted(self.segs, segs)
        inside = col < len(self.segs)
        present = inside & (self.segs[np.minimum(col, len(self.segs) - 1)] == segs)
        return np.where(present, col, 0), present

    def table(self) -> Any:
        """The long form (student_id, seg, one column per term), rows by student then segment."""
        import pyarrow as pa

        n_students, n_segs = len(self.students), len(self.segs)
        cols: dict[str, Any] = {
            "student_id": self.students.take(pa.array(np.repeat(np.arange(n_students), n_segs))),
            "seg": pa.array(np.tile(self.segs, n_students)),
        }
        cols.update({name: pa.array(x.ravel()) for name, x in self.sums.items()})
        return pa.table(cols)


def segment_sums(tbl: Any, names: Sequence[str]) -> SegmentSums | None:
    """Running sums per student along the segments of ``tbl`` (one row per student and
    segment, sorted by student_id then seg; columns ``names`` the per-segment sums).

    Each running sum is one ``cumsum`` along the segments: the sums (up to rounding) of the
    window ``sum() over (partition by student order by seg rows unbounded preceding)``.
    None (use the window) when the rows are not a full grid (a student lacks a segment) or
    a term has NULLs: a reshape would then sum across a student boundary.
    """
    import pyarrow.compute as pc

    n_rows = tbl.num_rows
    if n_rows == 0:
        return None
    segs = np.sort(np.asarray(pc.unique(tbl.column("seg")).to_numpy(zero_copy_only=False), dtype="int64"))
    n_students = pc.count_distinct(tbl.column("student_id")).as_py()
    # (student, seg) is unique, so this count means every student has every segment: the
    # sorted rows are a students x segments grid
    if n_rows != len(segs) * n_students:
        return None
    sums = {}
    for n in names:
        col = tbl.column(n)
        if col.null_count:
            return None
        x = col.to_numpy().astype("float64", copy=False).reshape(-1, len(segs))
        sums[n] = np.cumsum(x, axis=1)
    students = tbl.column("student_id").combine_chunks().take(np.arange(0, n_rows, len(segs)))
    return SegmentSums(students, segs, sums)


def daily_segment_sums(daily: Any, first_day: int, last_day: int, lookup_days: np.ndarray,
                       terms: Sequence[tuple[str, str]], workers: int = 1) -> SegmentSums | None:
    """Running sums of the window ``terms`` per student and segment, straight from a daily
    table in memory (an Arrow table with student_id, day and the channels; any row order).

    The group-by of :func:`riskmodel.features.windows.window_features_expr` (daily rows of
    ``first_day..last_day`` summed into the segments between lookup days, terms as in its
    ``_term_expr``: n = value present, s = value or 0, q = s^2, ni / nii / si with
    i = day - ``first_day``) summed on (student, segment) keys in one compiled pass per
    channel (:func:`~riskmodel.features.grid_kernels.segment_term_sums`), then a ``cumsum``
    along the segments. None (use the group-by) when a student has no row in
    some segment (the running sums would then not be a grid) or a student id is NULL.
    Channels are summed on ``workers`` threads (same sums whatever ``workers`` is).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = daily.column("student_id")
    if daily.num_rows == 0 or ids.null_count:
        return None
    students = pc.unique(ids)
    students = students.take(pc.sort_indices(students))
    day = daily.column("day").to_numpy()
    seg = np.searchsorted(lookup_days, day, side="left")
    rows = np.flatnonzero((day >= first_day) & (day <= last_day) & (seg < len(lookup_days)))
    if len(rows) == 0:
        return None
    segs = np.unique(seg[rows])
    n_students, n_segs = len(students), len(segs)
    every = len(rows) == len(day)  # the usual case: no row to drop, no gather
    sidx = pc.index_in(ids, value_set=students).to_numpy(zero_copy_only=False).astype("int64")
    key = (sidx if every else sidx[rows]) * n_segs + np.searchsorted(segs, seg if every else seg[rows])
    if np.bincount(key, minlength=n_students * n_segs).min() == 0:
        return None
    i = ((day if every else day[rows]) - first_day).astype("float64")
    by_channel: dict[str, list[str]] = {}
    for kind, ch in terms:
        by_channel.setdefault(ch, []).append(kind)

    def channel_sums(ch: str) -> dict[str, np.ndarray]:
        col = pc.cast(daily.column(ch), pa.float64())
        kinds = by_channel[ch]
        unknown = sorted(set(kinds) - set(SEGMENT_TERMS))
        if unknown:
            raise ValueError(f"unknown window terms {unknown} for {ch!r}")
        want = np.array([k in kinds for k in SEGMENT_TERMS])
        if every:  # read each Arrow chunk's values and validity in place, no copy
            w = np.zeros((len(SEGMENT_TERMS), n_students * n_segs), np.float64)
            start = 0
            for part in col.chunks:
                end = start + len(part)
                bits, offset, x = _values_in_place(part)
                add_segment_terms(w, key[start:end], bits, offset, len(bits) > 0, x, i[start:end], want)
                start = end
        else:
            valid = col.is_valid().to_numpy(zero_copy_only=False)[rows]
            x = col.to_numpy(zero_copy_only=False)[rows]  # NaN at NULLs
            w = segment_term_sums(key, valid, x, i, want, n_students * n_segs)
        return {tname(kind, ch): np.cumsum(w[SEGMENT_TERMS.index(kind)].reshape(n_students, n_segs), axis=1)
                for kind in kinds}

    sums: dict[str, np.ndarray] = {}
    if workers > 1:  # numpy and Arrow release the GIL: channels on threads
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers, thread_name_prefix="rm-segments") as pool:
            for part in pool.map(channel_sums, by_channel):
                sums.update(part)
    else:
        for ch in by_channel:
            sums.update(channel_sums(ch))
    return SegmentSums(students, segs.astype("int64"), sums)


def _median_sorted(x: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Median along the last axis of ``x`` sorted with NaN last (``count`` values each), the
    two middle values interpolated as SQL ``median`` / ``quantile_cont(0.5)`` do; NaN when
    ``count`` is 0."""
    lo_i = np.maximum(count - 1, 0) // 2
    hi_i = count // 2
    lo = np.take_along_axis(x, lo_i[..., None], axis=-1)[..., 0]
    hi = np.take_along_axis(x, np.minimum(hi_i, x.shape[-1] - 1)[..., None], axis=-1)[..., 0]
    return np.where(count > 0, lo + (hi - lo) * 0.5, np.nan)


def robust_stats(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(median, MAD, count) of the non-NaN values along the last axis (NaN: missing block):
    the median absolute deviation is the median of ``|x - median|``, both interpolated."""
    x = np.sort(blocks, axis=-1)  # NaN last
    count = np.count_nonzero(~np.isnan(x), axis=-1)
    med = _median_sorted(x, count)
    dev = np.sort(np.abs(x - med[..., None]), axis=-1)
    return med, _median_sorted(dev, count), count


def window_features_grid(sums: SegmentSums, as_of_days: Sequence[int], seg_of: Mapping[tuple[int, int], int],
                         need: Mapping[int, set[tuple[str, str]]], specs: Sequence[FeatureSpec],
                         recent: int | None, blocks: Sequence[tuple[int, int]], lookup_days: np.ndarray,
                         scale_floors: Mapping[str, float], min_blocks: int, workers: int = 1) -> Any:
    """The window features (student_id, as_of_day, one float64 column per spec, NULL for
    NaN) as an Arrow table, rows by student then as-of date.

    ``seg_of[(t, o)]``: the segment of as-of ``t``'s lookup day ``o`` days before its last
    known day; ``need``: the terms each window length reads; ``recent`` and ``blocks``: the
    change scores' recent window and baseline blocks as (hi, lo) offsets. Rows and values of
    :func:`riskmodel.features.windows.window_features_expr`: an as-of date whose own segment
    is not on the grid has no row, a lookup before the grid's first segment reads 0.
    The formulas run on ``workers`` threads (same values whatever ``workers`` is).
    """
    import pyarrow as pa

    win_specs = [s for s in specs if s.aggregate != "change_z"]
    ch_specs = [s for s in specs if s.aggregate == "change_z"]
    asof = np.asarray(sorted(as_of_days), dtype="int64")
    col0, here = sums.columns(np.asarray([seg_of[(int(t), 0)] for t in asof], dtype="int64"))
    asof, col0 = asof[here], col0[here]
    n_students = len(sums.students)

    def lookup(o: int) -> tuple[np.ndarray, np.ndarray]:
        return sums.columns(np.asarray([seg_of[(int(t), o)] for t in asof], dtype="int64"))

    at = {o: lookup(o) for o in sorted(need)}
    if recent:
        at[recent] = lookup(recent)

    def at_0(kind: str, ch: str) -> np.ndarray:
        return sums.sums[tname(kind, ch)][:, col0]

    def delta(o: int, at_0: Callable[[str, str], np.ndarray] = at_0) -> Any:
        col, present = at[o]

        def tv(kind: str, ch: str) -> np.ndarray:
            return at_0(kind, ch) - np.where(present, sums.sums[tname(kind, ch)][:, col], 0.0)
        return tv

    def column(x: Any) -> Any:
        flat = np.broadcast_to(np.asarray(x, dtype="float64"), (n_students, len(asof))).ravel()
        return pa.array(flat, mask=np.isnan(flat))

    def window_columns(groups: Sequence[Sequence[FeatureSpec]]) -> dict[str, Any]:
        """The features of ``groups`` (the specs of one channel each): a term's students x
        as-of gathers are taken once per group and dropped after it (all of a chunk's
        would take GBs)."""
        out: dict[str, Any] = {}
        with np.errstate(all="ignore"):  # both branches of an ifelse are evaluated
            for group in groups:
                at_0_once = _memo(at_0)
                tv_by_window: dict[int, Any] = {}
                for s in group:
                    o = int(s.window_days)  # type: ignore[arg-type]
                    if o not in tv_by_window:
                        tv_by_window[o] = _memo(delta(o, at_0_once))
                    out[s.name] = column(formula(tv_by_window[o], s, at_0_once, NUMPY_OPS))
        return out

    def change_columns() -> dict[str, Any]:
        with np.errstate(all="ignore"):
            return {name: column(x) for name, x in _change_scores(
                sums, asof, seg_of, ch_specs, delta(recent) if recent else None, blocks, lookup_days,
                scale_floors, min_blocks).items()}

    by_channel: dict[str, list[FeatureSpec]] = {}
    for s in win_specs:
        by_channel.setdefault(str(s.channel), []).append(s)
    channel_groups = list(by_channel.values())
    tasks: list[Callable[[], dict[str, Any]]] = [partial(window_columns, channel_groups[k::workers])
                                                 for k in range(workers)]
    if ch_specs:
        tasks.append(change_columns)
    out: dict[str, Any] = {}
    if workers > 1:  # numpy and Arrow release the GIL: formulas on threads
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers, thread_name_prefix="rm-windows") as pool:
            for part in pool.map(lambda task: task(), tasks):
                out.update(part)
    else:
        for task in tasks:
            out.update(task())
    cols: dict[str, Any] = {
        "student_id": sums.students.take(pa.array(np.repeat(np.arange(n_students), len(asof)))),
        "as_of_day": pa.array(np.tile(asof, n_students)),
    }
    cols.update({s.name: out[s.name] for s in specs})
    return pa.table(cols)


def _memo(f: Callable[[str, str], np.ndarray]) -> Callable[[str, str], np.ndarray]:
    """``f`` computed once per (term kind, channel)."""
    seen: dict[tuple[str, str], np.ndarray] = {}

    def once(kind: str, ch: str) -> np.ndarray:
        key = (kind, ch)
        if key not in seen:
            seen[key] = f(kind, ch)
        return seen[key]
    return once


def _change_scores(sums: SegmentSums, asof: np.ndarray, seg_of: Mapping[tuple[int, int], int],
                   specs: Sequence[FeatureSpec], tv: Any, blocks: Sequence[tuple[int, int]],
                   lookup_days: np.ndarray, scale_floors: Mapping[str, float],
                   min_blocks: int) -> dict[str, np.ndarray]:
    """Change z-scores (students x as-of dates): the block of segment b holds the days since
    the lookup day one block width before b's; its mean needs ``MIN_BLOCK_DAYS`` observed
    days; the baseline of as-of t is its blocks ending at ``seg_of[(t, hi)]``."""
    width = blocks[0][1] - blocks[0][0]
    pos = {int(day): k for k, day in enumerate(lookup_days)}
    prev_seg = np.asarray([pos.get(int(lookup_days[b]) - width, -1) for b in sums.segs], dtype="int64")
    has_block = prev_seg >= 0  # the segment ends a block (its start is a lookup day)
    prev_col, prev_present = sums.columns(prev_seg)
    ends = np.asarray([[seg_of[(int(t), hi)] for hi, _ in blocks] for t in asof], dtype="int64")
    end_col, end_present = sums.columns(ends.ravel())
    end_ok = end_present & has_block[end_col]
    take = np.where(end_ok, end_col, len(sums.segs)).reshape(ends.shape)  # the extra column: NaN
    out = {}
    for s in specs:
        ch = str(s.channel)

        def block_sum(kind: str, ch: str = ch) -> np.ndarray:
            x = sums.sums[tname(kind, ch)]
            return x - np.where(prev_present, x[:, prev_col], 0.0)

        n, sm = block_sum("n"), block_sum("s")
        means = np.where(n >= MIN_BLOCK_DAYS, sm / n, np.nan)
        means = np.concatenate([means, np.full((len(means), 1), np.nan)], axis=1)
        med, mad, count = robust_stats(means[:, take])
        rn, rs = tv("n", ch), tv("s", ch)
        rec = np.where(rn > 0, rs / rn, np.nan)
        out[s.name] = change_z(rec, med, mad, count, scale_floors[ch], min_blocks, NUMPY_OPS)
    return out
