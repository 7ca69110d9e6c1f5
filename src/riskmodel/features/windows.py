"""Window features per student and as-of date from the daily table (ibis, backend-neutral).

Method (exact, any as-of dates, any windows): the window of w days before as-of t is the
days ``[t-w, t-1]`` (:func:`riskmodel.features.asof.last_known_day`). With cumulative sums
C(x) = sum of a term over daily rows with day <= x, the window sum is C(t-1) - C(t-1-w).
Only the C values at the *lookup days* {t-1-o} are needed, so the daily rows are first summed
into segments between consecutive lookup days (weekly blocks for Monday as-of dates), the
segments are cumulated, and each window length is one join that fetches C(t-1-w) beside
C(t-1), carrying only the terms that window needs. No range join over days, no frame window
over every day. The change blocks are block sums per segment, fanned out to the as-of dates
that use them; with evenly spaced lookup days (weekly as-of dates) on DuckDB, their median
and MAD are window aggregates over the segment rows, else two group-bys (same values).

On DuckDB (``FeatureConfig.numpy_kernels``) the same method runs as numpy kernels on the
students x segments grid of running sums (:mod:`riskmodel.features.windows_grid`): segment
sums by ``bincount``, the joins as column indexing, the formulas of
:mod:`riskmodel.features.window_math` (written once for both), median and MAD by one sort.
Spark and ``numpy_kernels=False`` run the ibis expressions below.

A std below the rounding noise of its running sums
(:data:`~riskmodel.features.window_math.STD_REL_NOISE` of the running sum of squares) is 0,
so constant windows give exactly 0 whatever the summation order.

Terms per channel x (NULL when unobserved): n = [x not null], s = x, q = x^2, and for trends
n*i, n*i^2, s*i with i the day number in the period. Aggregates:

* mean = S/N, sum = S (NULL when N = 0), std = sample standard deviation (N >= 2),
* trend = least-squares slope of x on day, times 7 (change per week; N >= 3),
* entropy = Shannon entropy (nats) of the bin-channel totals,
* share_alone = 1 - shared meals / meals, observed_days = days the source was observed,
* change_z = (mean of last ``recent`` days - median of the weekly means of the ``baseline``
  days before) / (1.4826 * MAD of those weekly means + the channel's floor); weekly means
  need >= ``MIN_BLOCK_DAYS`` observed days, the z needs >= ``change_min_blocks`` weeks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from riskmodel.features.asof import last_known_day
from riskmodel.features.backends import arrow_view, is_duckdb, small_table, temp_arrow_table
from riskmodel.features.config import FeatureConfig
from riskmodel.features.registry import CHANNELS_BY_NAME, FeatureSpec
from riskmodel.features.window_math import (
    MIN_BLOCK_DAYS,
    change_z,
    formula,
    terms_for,
    tname,
)
from riskmodel.features.windows_grid import daily_segment_sums, segment_sums, window_features_grid

WINDOW_AGGS = ("mean", "sum", "std", "trend", "entropy", "share_alone", "observed_days", "change_z")


def _term_expr(daily: ir.Table, kind: str, ch: str, i: ir.NumericValue) -> ir.NumericValue:
    x = daily[ch].cast("float64")
    n = ibis.ifelse(x.notnull(), 1.0, 0.0)
    s = x.fill_null(0.0)
    return {"n": n, "s": s, "q": s * s, "ni": n * i, "nii": n * i * i, "si": s * i}[kind]


def lookup_plan(as_of_days: Sequence[int], offsets: Sequence[int]) -> tuple[np.ndarray, pd.DataFrame]:
    """Sorted lookup days and a frame (as_of_day, offset, seg) of which segment each uses."""
    rows = [(t, o, last_known_day(t) - o) for t in as_of_days for o in offsets]
    plan = pd.DataFrame(rows, columns=["as_of_day", "offset", "lookup_day"])
    lookup_days = np.unique(plan["lookup_day"].to_numpy())
    plan["seg"] = np.searchsorted(lookup_days, plan["lookup_day"].to_numpy())
    return lookup_days, plan


def segment_map(first_day: int, last_day: int, lookup_days: np.ndarray) -> pd.DataFrame:
    """day -> segment: segment k holds the days in (lookup_days[k-1], lookup_days[k]]."""
    days = np.arange(first_day, last_day + 1, dtype="int64")
    seg = np.searchsorted(lookup_days, days, side="left")
    keep = seg < len(lookup_days)
    return pd.DataFrame({"day": days[keep], "seg": seg[keep].astype("int64")})


def _spans(cfg: FeatureConfig, specs: Sequence[FeatureSpec]) -> tuple[list[int], int | None, list[tuple[int, int]]]:
    """(window lengths, recent window of the change scores, change blocks as (hi, lo) offsets)."""
    windows = sorted({int(s.window_days) for s in specs if s.aggregate != "change_z"})  # type: ignore[arg-type]
    if not any(s.aggregate == "change_z" for s in specs):
        return windows, None, []
    r, b = cfg.change_recent_days, cfg.change_block_days
    return windows, r, [(r + b * k, r + b * (k + 1)) for k in range(cfg.change_blocks)]


def window_features_expr(daily: ir.Table, as_of_days: Sequence[int],
                         first_day: int, last_day: int, specs: Sequence[FeatureSpec],
                         cfg: FeatureConfig, cache: bool = True, con: Any = None,
                         daily_arrow: Any = None) -> ir.Table:
    """Window features: a table keyed by (student_id, as_of_day) with one column per spec.

    ``daily`` must be dense (every student, every day ``first_day..last_day``) and
    ``last_day`` >= max(as_of_days) - 1. A student and as-of date whose last known day
    precedes ``first_day`` has no row: the caller's left join makes its features NULL.

    Plan: one group-by of the daily rows into segments, one running sum per term, then one
    row per student and as-of date with the cumulative terms at its last known day, and
    one join per window length that fetches the cumulative terms w days earlier. Every
    join carries only the terms its window needs. On DuckDB (``cfg.numpy_kernels``) the
    same steps run as numpy kernels on the students x segments grid
    (:mod:`riskmodel.features.windows_grid`); ``daily_arrow`` may hand it the daily table
    already in memory (an Arrow table of ``daily``).
    """
    specs = [s for s in specs if s.aggregate in WINDOW_AGGS]
    win_specs = [s for s in specs if s.aggregate != "change_z"]
    ch_specs = [s for s in specs if s.aggregate == "change_z"]
    windows, recent, blocks = _spans(cfg, specs)
    offsets = sorted({0, *windows, *([recent] if recent else []), *(o for span in blocks for o in span)})
    lookup_days, plan = lookup_plan(as_of_days, offsets)
    segmap = small_table(con, segment_map(first_day, last_day, lookup_days))

    # the terms each lookback offset needs
    need: dict[int, set[tuple[str, str]]] = {}
    for s in win_specs:
        need.setdefault(int(s.window_days), set()).update(terms_for(s))  # type: ignore[arg-type]
    change_terms: set[tuple[str, str]] = set()
    for s in ch_specs:
        change_terms.update(terms_for(s))
    if recent:
        need.setdefault(recent, set()).update(change_terms)
    all_terms = sorted(set().union(*need.values(), change_terms))

    d = daily.join(segmap, "day")
    i = (d.day - first_day).cast("float64")
    g = d.group_by(["student_id", "seg"]).aggregate(
        **{tname(k, c): _term_expr(d, k, c, i).sum() for k, c in all_terms})
    names = [tname(k, c) for k, c in all_terms]
    sums = None
    workers = cfg.threads or os.cpu_count() or 1
    if cache and is_duckdb(con) and cfg.numpy_kernels:
        if daily_arrow is None:
            read = sorted({"student_id", "day", *(c for _, c in all_terms)})
            daily_arrow = con.to_pyarrow(daily.select(*read))
        sums = daily_segment_sums(daily_arrow, first_day, last_day, lookup_days, all_terms, workers=workers)
        del daily_arrow
    if sums is None and cache and is_duckdb(con):
        sums = segment_sums(con.to_pyarrow(g.order_by(["student_id", "seg"])), names)
    if sums is not None and cfg.numpy_kernels:
        seg_by = {(int(t), int(o)): int(k) for t, o, k in plan[["as_of_day", "offset", "seg"]].itertuples(index=False)}
        floors = {str(s.channel): CHANNELS_BY_NAME[str(s.channel)].scale_floor for s in ch_specs}
        return arrow_view(con, window_features_grid(sums, as_of_days, seg_by, need, specs, recent, blocks,
                                                    lookup_days, floors, cfg.change_min_blocks, workers=workers),
                          "rm_window_features")
    cum = temp_arrow_table(con, sums.table(), "rm_running_sums") if sums is not None else None
    if cum is None:
        w = ibis.window(group_by=g.student_id, order_by=g.seg, rows=(None, 0))
        cum = g.select("student_id", "seg", **{n: g[n].sum().over(w) for n in names})
        if cache:
            cum = cum.cache()

    seg_of = plan.set_index(["as_of_day", "offset"])["seg"]
    asof_list = sorted({int(t) for t in plan["as_of_day"]})
    keys = small_table(con, pd.DataFrame({
        "as_of_day": np.asarray(asof_list, dtype="int64"),
        **{f"seg_{o}": np.asarray([int(seg_of[(t, o)]) for t in asof_list], dtype="int64") for o in offsets}}))
    hi_terms = sorted(set().union(*need.values())) if need else []
    hi = cum.join(keys, cum.seg == keys.seg_0).select(
        "student_id", "as_of_day", *[keys[f"seg_{o}"] for o in sorted(need)],
        **{f"{tname(k, c)}__0": cum[tname(k, c)] for k, c in hi_terms})
    for o in sorted(need):
        lo = cum.select(student_id_lo=cum.student_id, seg_lo=cum.seg,
                        **{f"{tname(k, c)}__{o}": cum[tname(k, c)] for k, c in sorted(need[o])})
        hi = hi.left_join(lo, [hi.student_id == lo.student_id_lo, hi[f"seg_{o}"] == lo.seg_lo]).drop(
            "student_id_lo", "seg_lo")

    def delta(o: int) -> Any:
        def tv(kind: str, ch: str) -> ir.NumericValue:
            return hi[f"{tname(kind, ch)}__0"] - hi[f"{tname(kind, ch)}__{o}"].fill_null(0.0)
        return tv

    def total(kind: str, ch: str) -> ir.NumericValue:
        return hi[f"{tname(kind, ch)}__0"]

    cols = {s.name: formula(delta(int(s.window_days)), s, total) for s in win_specs}  # type: ignore[arg-type]
    if recent:
        tv = delta(recent)
        null = ibis.null("float64")
        for s in ch_specs:
            n, sm = tv("n", s.channel), tv("s", s.channel)  # type: ignore[arg-type]
            cols[f"rec__{s.name}"] = ibis.ifelse(n > 0, sm / n, null)
    res = hi.select("student_id", "as_of_day", **cols)
    if ch_specs:
        if cache:
            res = res.cache()
        res = _left(res, _change_z(cum, plan, lookup_days, blocks, ch_specs, con, cache))
        res = res.mutate(**{s.name: change_z(
            res[f"rec__{s.name}"], res[f"med__{s.name}"], res[f"mad__{s.name}"], res[f"cnt__{s.name}"],
            CHANNELS_BY_NAME[s.channel].scale_floor, cfg.change_min_blocks)  # type: ignore[index]
            for s in ch_specs})
    return res.select("student_id", "as_of_day", *[res[s.name].cast("float64").name(s.name) for s in specs])


def _left(a: ir.Table, b: ir.Table) -> ir.Table:
    j = a.left_join(b, ["student_id", "as_of_day"])
    drop = [c for c in j.columns if c.endswith("_right")]
    return j.drop(*drop) if drop else j


@ibis.udf.agg.builtin(name="mad")
def _duckdb_mad(x: float) -> float:  # type: ignore[empty-body]
    """DuckDB's median absolute deviation (median of |x - median(x)|, interpolated)."""


def _weekly_blocks(con: Any, lookup_days: np.ndarray, width: int) -> bool:
    """True when the window fast path of the change statistics applies (DuckDB, and the
    lookup days are evenly ``width`` apart, as for weekly as-of dates)."""
    return (getattr(con, "name", None) == "duckdb" and len(lookup_days) > 1
            and bool(np.all(np.diff(lookup_days) == width)))


def _change_z(cum: ir.Table, plan: pd.DataFrame, lookup_days: np.ndarray,
              blocks: Sequence[tuple[int, int]], specs: Sequence[FeatureSpec], con: Any,
              cache: bool = True) -> ir.Table:
    """Median, MAD and count of the baseline block means per (student_id, as_of_day).

    A block (hi, lo) of as-of t holds the days ``[t-1-lo+1, t-1-hi]``; its sums are
    C(seg(t, hi)) - C(seg(t, lo)). Block sums are computed once per lookup segment (the
    block ending there), then fanned out to the as-of dates that use them. Median and MAD
    are exact aggregates (DuckDB ``median``, Spark ``percentile``: both interpolate between
    the two middle values), computed in two group-bys.
    """
    null = ibis.null("float64")
    size = {hi - lo for hi, lo in blocks}
    if len(size) != 1:  # pragma: no cover - FeatureConfig makes blocks equal
        raise ValueError("change blocks must all have the same length")
    width = -size.pop()
    pos = {int(day): k for k, day in enumerate(lookup_days)}
    prev = pd.DataFrame([(k, pos[int(day) - width]) for k, day in enumerate(lookup_days)
                         if int(day) - width in pos], columns=["seg_b", "seg_prev"])
    terms = sorted({(kind, str(s.channel)) for s in specs for kind in ("n", "s")})
    p = small_table(con, prev.astype("int64"))
    hi = cum.join(p, cum.seg == p.seg_b).select("student_id", "seg", "seg_prev",
                                                   *[cum[tname(k, c)] for k, c in terms])
    lo = cum.select(student_id_lo=cum.student_id, seg_lo=cum.seg,
                    **{f"{tname(k, c)}__lo": cum[tname(k, c)] for k, c in terms})
    j = hi.left_join(lo, [hi.student_id == lo.student_id_lo, hi.seg_prev == lo.seg_lo])

    def bsum(kind: str, ch: str) -> ir.NumericValue:
        return j[tname(kind, ch)] - j[f"{tname(kind, ch)}__lo"].fill_null(0.0)

    means = {}
    for s in specs:
        n, sm = bsum("n", s.channel), bsum("s", s.channel)  # type: ignore[arg-type]
        means[f"m__{s.name}"] = ibis.ifelse(n >= MIN_BLOCK_DAYS, sm / n, null)
    bm = j.select("student_id", "seg", **means)
    seg_of = plan.set_index(["as_of_day", "offset"])["seg"]
    key = ["student_id", "as_of_day"]
    if _weekly_blocks(con, lookup_days, width):
        # every lookup day is one block after the previous: the blocks of as-of t are the
        # len(blocks) rows of bm ending at seg(t, recent), so median and MAD are window
        # aggregates over bm rows (DuckDB's merge-sort-tree quantiles and ``mad``)
        if cache:
            bm = bm.cache()
        w = ibis.window(group_by=bm.student_id, order_by=bm.seg, rows=(-(len(blocks) - 1), 0))
        stats = bm.select("student_id", "seg", **{
            k: v for s in specs for k, v in (
                (f"med__{s.name}", bm[f"m__{s.name}"].median().over(w)),
                (f"cnt__{s.name}", bm[f"m__{s.name}"].count().over(w)),
                (f"mad__{s.name}", _duckdb_mad(bm[f"m__{s.name}"]).over(w)))})
        ends = pd.DataFrame([(int(t), int(seg_of[(t, blocks[0][0])])) for t in sorted(set(plan["as_of_day"]))],
                            columns=["as_of_day", "seg_f"])
        e = small_table(con, ends.astype("int64"))
        return stats.join(e, stats.seg == e.seg_f).select("student_id", "as_of_day", *[
            c for s in specs for c in (f"med__{s.name}", f"cnt__{s.name}", f"mad__{s.name}")])
    fan = pd.DataFrame([(int(t), int(seg_of[(t, hi_o)])) for t in sorted(set(plan["as_of_day"]))
                        for hi_o, _ in blocks], columns=["as_of_day", "seg_f"])
    f = small_table(con, fan.astype("int64"))
    long = bm.join(f, bm.seg == f.seg_f).select("student_id", "as_of_day", *[f"m__{s.name}" for s in specs])
    if cache:
        long = long.cache()
    med = long.group_by(key).aggregate(**{f"med__{s.name}": long[f"m__{s.name}"].median() for s in specs},
                                        **{f"cnt__{s.name}": long[f"m__{s.name}"].count() for s in specs})
    if cache:
        med = med.cache()
    jm = long.join(med, key)
    mad = jm.group_by(key).aggregate(**{f"mad__{s.name}": (jm[f"m__{s.name}"] - jm[f"med__{s.name}"]).abs().median()
                                        for s in specs})
    return med.join(mad, key)
