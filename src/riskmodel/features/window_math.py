"""The window aggregates' formulas, written once for two evaluators.

A window feature is a formula of window sums of a few terms (see
:mod:`riskmodel.features.windows`). :func:`formula` builds it from ``tv(kind, channel)`` (the
window sum of a term) with the operations of an :class:`Ops`: :data:`IBIS_OPS` makes an ibis
expression (what DuckDB's SQL path and Spark run), :data:`NUMPY_OPS` evaluates numpy arrays
(:mod:`riskmodel.features.windows_grid`). NULL is NaN on the numpy side; every NULL-producing
branch of a formula is an explicit ``ifelse``, so the two give the same values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np

from riskmodel.features.registry import FeatureSpec

MIN_BLOCK_DAYS = 3
MIN_TREND_DAYS = 3
MAD_SCALE = 1.4826
STD_REL_NOISE = 1e-11


@dataclass(frozen=True)
class Ops:
    """The operations a formula uses, for one evaluator."""

    null: Callable[[], Any]
    ifelse: Callable[[Any, Any, Any], Any]
    greatest: Callable[[Any, Any], Any]
    sqrt: Callable[[Any], Any]
    ln: Callable[[Any], Any]
    zero: Callable[[], Any]


IBIS_OPS = Ops(null=lambda: ibis.null("float64"), ifelse=ibis.ifelse, greatest=ibis.greatest,
               sqrt=lambda x: x.sqrt(), ln=lambda x: x.ln(), zero=lambda: ibis.literal(0.0))
"""Formulas as ibis expressions."""

NUMPY_OPS = Ops(null=lambda: np.nan, ifelse=np.where, greatest=np.maximum, sqrt=np.sqrt, ln=np.log,
                zero=lambda: 0.0)
"""Formulas on float64 arrays (NaN for NULL; call under ``np.errstate(all="ignore")``: both
branches of an ``ifelse`` are evaluated)."""


def terms_for(spec: FeatureSpec) -> set[tuple[str, str]]:
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


def tname(kind: str, ch: str) -> str:
    """Column name of a term's sums."""
    return f"{kind}__{ch}"


def formula(tv: Callable[[str, str], Any], s: FeatureSpec, total: Callable[[str, str], Any] | None = None,
            ops: Ops = IBIS_OPS) -> Any:
    """One window aggregate from the window sums ``tv(term kind, channel)`` of its terms
    (``total(kind, channel)``: the running sum up to the as-of date, for rounding noise)."""
    total = total or tv
    a = s.aggregate

    if a in ("mean", "sum", "std", "trend"):
        n, sm = tv("n", s.channel), tv("s", s.channel)  # type: ignore[arg-type]
        if a == "mean":
            return ops.ifelse(n > 0, sm / n, ops.null())
        if a == "sum":
            return ops.ifelse(n > 0, sm, ops.null())
        if a == "std":
            q = tv("q", s.channel)  # type: ignore[arg-type]
            var = (q - sm * sm / n) / (n - 1)
            # window sums are differences of running sums: their rounding noise scales with
            # the running sum of squares up to t, and it depends on where the period starts
            # and on the summation order; a variance below that noise is 0
            noise = STD_REL_NOISE * ops.greatest(q, total("q", s.channel))  # type: ignore[arg-type]
            var = ops.ifelse(var * (n - 1) <= noise, 0.0, var)
            return ops.ifelse(n >= 2, ops.sqrt(var), ops.null())
        ni, nii, si = (tv(k, s.channel) for k in ("ni", "nii", "si"))  # type: ignore[arg-type]
        den = n * nii - ni * ni
        return ops.ifelse((n >= MIN_TREND_DAYS) & (den > 0), 7.0 * (n * si - ni * sm) / den, ops.null())
    if a == "entropy":
        counts = [tv("s", b) for b in s.inputs]
        tot = sum(counts, ops.zero())
        ent = sum((ops.ifelse(c > 0, -(c / tot) * ops.ln(c / tot), 0.0) for c in counts), ops.zero())
        return ops.ifelse(tot > 0, ent, ops.null())
    if a == "share_alone":
        shared, meals = tv("s", s.inputs[0]), tv("s", s.inputs[1])
        return ops.ifelse(meals > 0, 1.0 - shared / meals, ops.null())
    if a == "observed_days":
        return tv("s", s.channel)  # type: ignore[arg-type]
    raise ValueError(f"feature {s.name}: aggregate {a!r} has no window formula")


def change_z(recent_mean: Any, median: Any, mad: Any, count: Any, scale_floor: float, min_blocks: int,
             ops: Ops = IBIS_OPS) -> Any:
    """Robust change score: (recent mean - baseline median) / (MAD_SCALE * MAD + floor), NULL
    with fewer than ``min_blocks`` baseline blocks."""
    return ops.ifelse(count >= min_blocks, (recent_mean - median) / (MAD_SCALE * mad + scale_floor), ops.null())
