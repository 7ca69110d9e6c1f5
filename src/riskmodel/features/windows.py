"""Window features per student and as-of date from the daily table (ibis, backend-neutral).

Method (exact, any as-of dates, any windows): the window of w days before as-of t is the
days ``[t-w, t-1]`` (:func:`riskmodel.features.asof.last_known_day`). With cumulative sums
C(x) = sum of a term over daily rows with day <= x, the window sum is C(t-1) - C(t-1-w).
Only the C values at the *lookup days* {t-1-o} are needed, so the daily rows are first summed
into segments between consecutive lookup days (weekly blocks for Monday as-of dates), the
segments are cumulated, and each offset o is one join. No range join over days, no frame
window over every day.

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
from riskmodel.features.backends import small_table
from riskmodel.features.config import FeatureConfig
from riskmodel.features.registry import CHANNELS_BY_NAME, FeatureSpec

MIN_BLOCK_DAYS = 3
MIN_TREND_DAYS = 3
MAD_SCALE = 1.4826

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


def _spans(cfg: FeatureConfig, specs: Sequence[FeatureSpec]) -> tuple[list[int], list[tuple[int, int, int]]]:
    """(window lengths, change spans (k, hi offset, lo offset); k = -1 is the recent window)."""
    windows = sorted({int(s.window_days) for s in specs if s.aggregate != "change_z"})  # type: ignore[arg-type]
    change: list[tuple[int, int, int]] = []
    if any(s.aggregate == "change_z" for s in specs):
        r, b = cfg.change_recent_days, cfg.change_block_days
        change = [(-1, 0, r)] + [(k, r + b * k, r + b * (k + 1)) for k in range(cfg.change_blocks)]
    return windows, change


def _span_keys(plan: pd.DataFrame, spans: Sequence[tuple[int, int, int]]) -> pd.DataFrame:
    seg = plan.set_index(["as_of_day", "offset"])["seg"]
    rows = []
    for t in plan["as_of_day"].unique():
        for k, hi, lo in spans:
            rows.append((int(t), int(k), int(seg[(t, hi)]), int(seg[(t, lo)])))
    return pd.DataFrame(rows, columns=["as_of_day", "span", "seg_hi", "seg_lo"])


def _span_deltas(cum: ir.Table, keys: pd.DataFrame, terms: Sequence[tuple[str, str]], con: Any = None) -> ir.Table:
    """Long table (student_id, as_of_day, span, <term deltas>): C(seg_hi) - C(seg_lo).

    A student/as-of/span whose hi segment precedes the data has no row (all its windows are
    empty: the features come out NULL after the final left join).
    """
    k = small_table(con, keys)
    names = [_tname(a, c) for a, c in terms]
    hi = cum.join(k, cum.seg == k.seg_hi).select("student_id", "as_of_day", "span", "seg_lo",
                                                 *[cum[n] for n in names])
    lo = cum.select("student_id", seg_lo=cum.seg, **{f"{n}__lo": cum[n] for n in names})
    j = hi.left_join(lo, ["student_id", "seg_lo"])
    return j.select("student_id", "as_of_day", "span",
                    **{n: j[n] - j[f"{n}__lo"].fill_null(0.0) for n in names})


def window_features_expr(daily: ir.Table, students_asof: ir.Table, as_of_days: Sequence[int],
                         first_day: int, last_day: int, specs: Sequence[FeatureSpec],
                         cfg: FeatureConfig, cache: bool = True, con: Any = None) -> ir.Table:
    """Window features: a table keyed by (student_id, as_of_day) with one column per spec.

    ``daily`` must be dense (every student, every day ``first_day..last_day``) and
    ``last_day`` >= max(as_of_days) - 1; ``students_asof`` holds (student_id, as_of_day).
    """
    specs = [s for s in specs if s.aggregate in WINDOW_AGGS]
    windows, change_spans = _spans(cfg, specs)
    offsets = sorted({0, *windows, *(o for _, hi, lo in change_spans for o in (hi, lo))})
    lookup_days, plan = lookup_plan(as_of_days, offsets)
    segmap = small_table(con, segment_map(first_day, last_day, lookup_days))

    base_terms: set[tuple[str, str]] = set()
    change_terms: set[tuple[str, str]] = set()
    for s in specs:
        (change_terms if s.aggregate == "change_z" else base_terms).update(_terms_for(s))
    all_terms = sorted(base_terms | change_terms)

    d = daily.join(segmap, "day")
    i = (d.day - first_day).cast("float64")
    g = d.group_by(["student_id", "seg"]).aggregate(
        **{_tname(k, c): _term_expr(d, k, c, i).sum() for k, c in all_terms})
    w = ibis.window(group_by=g.student_id, order_by=g.seg, rows=(None, 0))
    cum = g.select("student_id", "seg", **{_tname(k, c): g[_tname(k, c)].sum().over(w) for k, c in all_terms})
    if cache:
        cum = cum.cache()

    res = students_asof
    win_specs = [s for s in specs if s.aggregate != "change_z"]
    if win_specs:
        long = _span_deltas(cum, _span_keys(plan, [(wd, 0, wd) for wd in windows]), sorted(base_terms), con)
        if cache:  # materialise: otherwise the deltas are inlined into every formula that uses them
            long = long.cache()
        stems: dict[str, FeatureSpec] = {}
        for s in win_specs:
            stems.setdefault(s.name.rsplit("__", 1)[0], s)
        vals = long.select("student_id", "as_of_day", "span",
                           **{stem.replace("__", "_x_"): _formula(long, s) for stem, s in stems.items()})
        if cache:
            vals = vals.cache()
        for wd in windows:  # one join per window (a FILTERed pivot of 170 aggregates is slower)
            part = vals.filter(vals.span == wd)
            res = _left(res, part.select("student_id", "as_of_day", **{
                s.name: part[s.name.rsplit("__", 1)[0].replace("__", "_x_")]
                for s in win_specs if s.window_days == wd}))
    ch_specs = [s for s in specs if s.aggregate == "change_z"]
    if ch_specs:
        long = _span_deltas(cum, _span_keys(plan, change_spans), sorted(change_terms), con)
        res = _left(res, _change_z(long.cache() if cache else long, ch_specs, cfg, cache))
    return res.select("student_id", "as_of_day", *[res[s.name].cast("float64").name(s.name) for s in specs])


def _left(a: ir.Table, b: ir.Table) -> ir.Table:
    j = a.left_join(b, ["student_id", "as_of_day"])
    drop = [c for c in j.columns if c.endswith("_right")]
    return j.drop(*drop) if drop else j


def _formula(t: ir.Table, s: FeatureSpec) -> ir.NumericValue:
    """One window aggregate from the term deltas of a long table row."""
    null = ibis.null("float64")
    a = s.aggregate

    def tv(kind: str, ch: str) -> ir.NumericValue:
        return t[_tname(kind, ch)]

    if a in ("mean", "sum", "std", "trend"):
        n, sm = tv("n", s.channel), tv("s", s.channel)  # type: ignore[arg-type]
        if a == "mean":
            return ibis.ifelse(n > 0, sm / n, null)
        if a == "sum":
            return ibis.ifelse(n > 0, sm, null)
        if a == "std":
            var = (tv("q", s.channel) - sm * sm / n) / (n - 1)  # type: ignore[arg-type]
            return ibis.ifelse(n >= 2, ibis.greatest(var, 0.0).sqrt(), null)
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


def _change_z(long: ir.Table, specs: Sequence[FeatureSpec], cfg: FeatureConfig, cache: bool = True) -> ir.Table:
    """Robust change z-scores from the long table of recent (span -1) and weekly block deltas.

    Median and MAD are exact aggregates (DuckDB ``median``, Spark ``percentile``: both
    interpolate between the two middle values), computed in two group-bys.
    """
    null = ibis.null("float64")
    blocks = long.filter(long.span >= 0)
    means = {}
    for s in specs:
        n, sm = blocks[_tname("n", s.channel)], blocks[_tname("s", s.channel)]  # type: ignore[arg-type]
        means[f"m__{s.name}"] = ibis.ifelse(n >= MIN_BLOCK_DAYS, sm / n, null)
    blocks = blocks.select("student_id", "as_of_day", **means)
    if cache:
        blocks = blocks.cache()
    key = ["student_id", "as_of_day"]
    med = blocks.group_by(key).aggregate(**{f"med__{s.name}": blocks[f"m__{s.name}"].median() for s in specs},
                                          **{f"cnt__{s.name}": blocks[f"m__{s.name}"].count() for s in specs})
    if cache:
        med = med.cache()
    j = blocks.join(med, key)
    mad = j.group_by(key).aggregate(**{f"mad__{s.name}": (j[f"m__{s.name}"] - j[f"med__{s.name}"]).abs().median()
                                       for s in specs})
    rec_rows = long.filter(long.span == -1)
    recent = rec_rows.select("student_id", "as_of_day", **{
        f"rec__{s.name}": ibis.ifelse(rec_rows[_tname("n", s.channel)] > 0,  # type: ignore[arg-type]
                                      rec_rows[_tname("s", s.channel)] / rec_rows[_tname("n", s.channel)],  # type: ignore[arg-type]
                                      null) for s in specs})
    t = med.join(mad, key).join(recent, key)
    cols = {}
    for s in specs:
        floor = CHANNELS_BY_NAME[s.channel].scale_floor  # type: ignore[index]
        z = (t[f"rec__{s.name}"] - t[f"med__{s.name}"]) / (MAD_SCALE * t[f"mad__{s.name}"] + floor)
        cols[s.name] = ibis.ifelse(t[f"cnt__{s.name}"] >= cfg.change_min_blocks, z, null)
    return t.select("student_id", "as_of_day", **cols)
