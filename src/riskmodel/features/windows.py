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

A std below the rounding noise of its running sums (:data:`STD_REL_NOISE` of the running
sum of squares) is 0, so constant windows give exactly 0 whatever the summation order.

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

from collections.abc import Sequence
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from riskmodel.features.asof import last_known_day
from riskmodel.features.backends import is_duckdb, small_table, temp_arrow_table
from riskmodel.features.config import FeatureConfig
from riskmodel.features.registry import CHANNELS_BY_NAME, FeatureSpec

MIN_BLOCK_DAYS = 3
MIN_TREND_DAYS = 3
MAD_SCALE = 1.4826
STD_REL_NOISE = 1e-11

WINDOW_AGGS = ("mean", "sum", "std", "trend", "entropy", "share_alone", "observed_days", "change_z")


def _terms_for(spec: FeatureSpec) -> set[tuple[str, str]]:
    """(term kind, channel) pairs a feature needs."""
    a, ch = spec.aggregate, spec.channel
    if a in ("mean", "sum", "change_z"):
        return {("n", ch), ("s", ch)}  # type: ignore[arg-type]
    if a == "std":
        return {("n", ch), ("s", ch), ("q", ch)}  # type: ignore[arg-type]
    if a == "trend":
        return {("n", ch), ("s", ch), ("ni", ch), ("nii", ch), ("si", ch)}  # type: ignore[arg-type]
    if a == "entropy":
        return {("s", b) for b in spec.inputs}
    if a == "share_alone":
        return {("s", spec.inputs[0]), ("s", spec.inputs[1]), ("n", spec.inputs[1])}
    if a == "observed_days":
        return {("s", ch)}  # type: ignore[arg-type]
    raise ValueError(f"feature {spec.name}: aggregate {a!r} is not a window aggregate")


def _term_expr(daily: ir.Table, kind: str, ch: str, i: ir.NumericValue) -> ir.NumericValue:
    x = daily[ch].cast("float64")
    n = ibis.ifelse(x.notnull(), 1.0, 0.0)
    s = x.fill_null(0.0)
    return {"n": n, "s": s, "q": s * s, "ni": n * i, "nii": n * i * i, "si": s * i}[kind]


def _tname(kind: str, ch: str) -> str:
    return f"{kind}__{ch}"


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
                         cfg: FeatureConfig, cache: bool = True, con: Any = None) -> ir.Table:
    """Window features: a table keyed by (student_id, as_of_day) with one column per spec.

    ``daily`` must be dense (every student, every day ``first_day..last_day``) and
    ``last_day`` >= max(as_of_days) - 1. A student and as-of date whose last known day
    precedes ``first_day`` has no row: the caller's left join makes its features NULL.

    Plan: one group-by of the daily rows into segments, one running sum per term, then one
    row per student and as-of date with the cumulative terms at its last known day, and
    one join per window length that fetches the cumulative terms w days earlier. Every
    join carries only the terms its window needs.
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
        need.setdefault(int(s.window_days), set()).update(_terms_for(s))  # type: ignore[arg-type]
    change_terms: set[tuple[str, str]] = set()
    for s in ch_specs:
        change_terms.update(_terms_for(s))
    if recent:
        need.setdefault(recent, set()).update(change_terms)
    all_terms = sorted(set().union(*need.values(), change_terms))

    d = daily.join(segmap, "day")
    i = (d.day - first_day).cast("float64")
    g = d.group_by(["student_id", "seg"]).aggregate(
        **{_tname(k, c): _term_expr(d, k, c, i).sum() for k, c in all_terms})
    names = [_tname(k, c) for k, c in all_terms]
    cum = _running_sums_in_memory(g, names, con) if cache and is_duckdb(con) else None
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
        **{f"{_tname(k, c)}__0": cum[_tname(k, c)] for k, c in hi_terms})
    for o in sorted(need):
        lo = cum.select(student_id_lo=cum.student_id, seg_lo=cum.seg,
                        **{f"{_tname(k, c)}__{o}": cum[_tname(k, c)] for k, c in sorted(need[o])})
        hi = hi.left_join(lo, [hi.student_id == lo.student_id_lo, hi[f"seg_{o}"] == lo.seg_lo]).drop(
            "student_id_lo", "seg_lo")

    def delta(o: int) -> Any:
        def tv(kind: str, ch: str) -> ir.NumericValue:
            return hi[f"{_tname(kind, ch)}__0"] - hi[f"{_tname(kind, ch)}__{o}"].fill_null(0.0)
        return tv

    def total(kind: str, ch: str) -> ir.NumericValue:
        return hi[f"{_tname(kind, ch)}__0"]

    cols = {s.name: _formula(delta(int(s.window_days)), s, total) for s in win_specs}  # type: ignore[arg-type]
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
        cfg_min = cfg.change_min_blocks
        res = res.mutate(**{s.name: ibis.ifelse(res[f"cnt__{s.name}"] >= cfg_min, (
            res[f"rec__{s.name}"] - res[f"med__{s.name}"]) / (
            MAD_SCALE * res[f"mad__{s.name}"] + CHANNELS_BY_NAME[s.channel].scale_floor),  # type: ignore[index]
            ibis.null("float64")) for s in ch_specs})
    return res.select("student_id", "as_of_day", *[res[s.name].cast("float64").name(s.name) for s in specs])


def _running_sums_in_memory(g: ir.Table, names: Sequence[str], con: Any) -> ir.Table | None:
    """Running sums over segments per student, computed with numpy (DuckDB fast path).

    ``g`` holds one row per student and segment. When every student has the same
    segments (a dense daily table always gives that) the rows form a students x segments
    grid and each running sum is one ``cumsum`` along the segments: the sums (up to
    rounding) of the window ``sum() over (partition by student order by seg rows unbounded
    preceding)``, for which DuckDB's window operator took 4.5 s for 120 terms over 530 k
    rows on the benchmark machine. Returns None (use the window) when the grid is ragged
    or a term has NULLs.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    tbl = con.to_pyarrow(g.order_by(["student_id", "seg"]))
    n_rows = tbl.num_rows
    n_seg = len(pc.unique(tbl.column("seg")))
    n_students = pc.count_distinct(tbl.column("student_id")).as_py()
    # (student, seg) is unique, so this count means every student has every segment:
    # the sorted rows are a students x segments grid
    if n_rows == 0 or n_rows != n_seg * n_students:
        return None
    cols: dict[str, Any] = {"student_id": tbl.column("student_id"), "seg": tbl.column("seg")}
    for n in names:
        col = tbl.column(n)
        if col.null_count:
            return None
        x = col.to_numpy().astype("float64", copy=False).reshape(-1, n_seg)
        cols[n] = np.cumsum(x, axis=1).ravel()
    del tbl
    return temp_arrow_table(con, pa.table(cols), "rm_running_sums")


def _left(a: ir.Table, b: ir.Table) -> ir.Table:
    j = a.left_join(b, ["student_id", "as_of_day"])
    drop = [c for c in j.columns if c.endswith("_right")]
    return j.drop(*drop) if drop else j


def _formula(tv: Any, s: FeatureSpec, total: Any = None) -> ir.NumericValue:
    """One window aggregate from the window sums ``tv(term kind, channel)`` of its terms
    (``total(kind, channel)``: the running sum up to the as-of date, for rounding noise)."""
    total = total or tv
    null = ibis.null("float64")
    a = s.aggregate

    if a in ("mean", "sum", "std", "trend"):
        n, sm = tv("n", s.channel), tv("s", s.channel)  # type: ignore[arg-type]
        if a == "mean":
            return ibis.ifelse(n > 0, sm / n, null)
        if a == "sum":
            return ibis.ifelse(n > 0, sm, null)
        if a == "std":
            q = tv("q", s.channel)  # type: ignore[arg-type]
            var = (q - sm * sm / n) / (n - 1)
            # window sums are differences of running sums: their rounding noise scales with
            # the running sum of squares up to t, and it depends on where the period starts
            # and on the summation order; a variance below that noise is 0
            noise = STD_REL_NOISE * ibis.greatest(q, total("q", s.channel))  # type: ignore[arg-type]
            var = ibis.ifelse(var * (n - 1) <= noise, 0.0, var)
            return ibis.ifelse(n >= 2, var.sqrt(), null)
        ni, nii, si = (tv(k, s.channel) for k in ("ni", "nii", "si"))  # type: ignore[arg-type]
        den = n * nii - ni * ni
        return ibis.ifelse((n >= MIN_TREND_DAYS) & (den > 0), 7.0 * (n * si - ni * sm) / den, null)
    if a == "entropy":
        counts = [tv("s", b) for b in s.inputs]
        tot = sum(counts, ibis.literal(0.0))
        ent = sum((ibis.ifelse(c > 0, -(c / tot) * (c / tot).ln(), 0.0) for c in counts), ibis.literal(0.0))
        return ibis.ifelse(tot > 0, ent, null)
    if a == "share_alone":
        shared, meals = tv("s", s.inputs[0]), tv("s", s.inputs[1])
        return ibis.ifelse(meals > 0, 1.0 - shared / meals, null)
    if a == "observed_days":
        return tv("s", s.channel)  # type: ignore[arg-type]
    raise ValueError(f"feature {s.name}: aggregate {a!r} has no window formula")


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
                                                   *[cum[_tname(k, c)] for k, c in terms])
    lo = cum.select(student_id_lo=cum.student_id, seg_lo=cum.seg,
                    **{f"{_tname(k, c)}__lo": cum[_tname(k, c)] for k, c in terms})
    j = hi.left_join(lo, [hi.student_id == lo.student_id_lo, hi.seg_prev == lo.seg_lo])

    def bsum(kind: str, ch: str) -> ir.NumericValue:
        return j[_tname(kind, ch)] - j[f"{_tname(kind, ch)}__lo"].fill_null(0.0)

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
