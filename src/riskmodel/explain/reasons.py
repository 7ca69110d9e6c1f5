"""Reason codes: the contributions that raise a student's risk, as sentences in zh and en.

Rules (each one tested):

* only features the model actually used (:func:`riskmodel.explain.used_features`) may be
  reasons, and only those with a positive contribution (they raise the log-odds);
* contributions are grouped by feature family (sleep and routine, diet, social, study,
  finance, census, academic, context); families are ranked by the sum of their positive
  contributions and each family speaks through its largest contribution;
* a sentence never contradicts its contribution: when the registry says which direction is
  concerning (``concerning`` = ``"high"`` or ``"low"``), the student's value must lie on that
  side of their own usual value or of the peer norm -- of a reference the sentence shows --
  else the feature is not used as a reason
  (a tree may give weight to an unremarkable value through an interaction; no sentence can
  honestly say "more than usual" then); ``either`` features (change scores) pass, ``none``
  features and the ``context`` family (calendar, leave, data coverage) are never reasons;
* sentences come from the feature registry's ``reason_zh`` / ``reason_en`` templates with
  ``{value}``, ``{usual}`` (the student's own usual value) and ``{peer}`` (the peer norm).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import shap

FAMILIES: tuple[str, ...] = ("sleep_routine", "diet", "social", "study", "finance", "census", "academic",
                             "context")
#: The families drawn on the risk radar (context is not a behaviour).
RADAR_FAMILIES: tuple[str, ...] = FAMILIES[:-1]
FAMILY_LABELS: dict[str, tuple[str, str]] = {
    "sleep_routine": ("作息与归寝", "sleep and routine"),
    "diet": ("饮食", "diet"),
    "social": ("社交", "social"),
    "study": ("学习", "study"),
    "finance": ("消费", "finance"),
    "census": ("心理普查", "census"),
    "academic": ("学业", "academic"),
    "context": ("背景", "context"),
}
_UNKNOWN = {"zh": "未知", "en": "unknown"}


@dataclass(frozen=True)
class Reason:
    """One reason a student was ranked high.

    ``contribution``: the feature's log-odds contribution; ``family_contribution``: the sum of
    the positive contributions of its family; ``value`` / ``usual`` / ``peer``: the student's
    value, their own usual value, the peer norm (NaN when unknown); ``week``: for the sequence
    model, the week before as-of (0 = last 7 days) that contributed most, else None.
    """

    feature: str
    family: str
    contribution: float
    family_contribution: float
    value: float
    usual: float
    peer: float
    text_zh: str
    text_en: str
    week: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def registry_index(features: Mapping[str, Any] | Iterable[Any] | None) -> dict[str, Any]:
    """A ``name -> spec`` dict from the feature registry (a dict or a sequence of specs)."""
    if features is None:
        return {}
    if isinstance(features, Mapping):
        return {str(k): v for k, v in features.items()}
    out: dict[str, Any] = {}
    for f in features:
        spec: Any = f
        out[str(spec.name)] = spec
    return out


def _attr(spec: Any, name: str, default: Any = None) -> Any:
    if spec is None:
        return default
    if isinstance(spec, Mapping):
        return spec.get(name, default)
    return getattr(spec, name, default)


def family_of(name: str, spec: Any) -> str:
    """The family of a feature: the registry's, else ``"context"``."""
    fam = _attr(spec, "family")
    return str(fam) if fam in FAMILIES else "context"


def format_value(v: float, unit: str | None, lang: str) -> str:
    """A number as a sentence shows it: counts as integers, shares as percent, clock times
    (units ``clock`` in hours, or ``min after HH:MM``) as HH:MM."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return _UNKNOWN[lang]
    v = float(v)
    u = (unit or "").lower()
    if u in ("share", "fraction", "ratio", "proportion"):
        return f"{100 * v:.0f}%"
    if u in ("hour_of_day", "clock", "time_of_day"):
        return _clock(60 * v)
    if u.startswith("min after "):  # a clock time kept as minutes after a reference time
        hh, _, mm = u[len("min after "):].partition(":")
        try:
            return _clock(60 * int(hh) + int(mm or 0) + v)
        except ValueError:
            pass
    if abs(v - round(v)) < 0.05 and abs(v) >= 1 or v == 0:
        num = f"{int(round(v))}"
    else:
        num = f"{v:.1f}" if abs(v) >= 1 else f"{v:.2f}"
    if u in ("min", "min/day"):  # durations say their unit
        return f"{num}分钟" if lang == "zh" else f"{num} min"
    return num


def _clock(minutes: float) -> str:
    """Minutes after midnight as HH:MM (wrapping past midnight: 1,530 -> 01:30)."""
    total = int(round(minutes)) % (24 * 60)
    return f"{total // 60:02d}:{total % 60:02d}"


_HIGH = ("high", "higher")
#: A value must differ from its reference by more than this (relative, at least absolute)
#: to count as beyond it: float noise never decides a reason.
DIRECTION_TOL = 1e-6
_LOW = ("low", "lower")


def _sign(concerning: Any) -> int:
    return 1 if concerning in _HIGH else (-1 if concerning in _LOW else 0)


def direction_ok(value: np.ndarray, usual: np.ndarray, peer: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """Whether a sentence about each value would agree with its concerning direction.

    ``sign`` per feature: +1 when higher values are concerning, -1 when lower, 0 when either
    or none. A signed feature passes when its value is beyond (in the concerning direction)
    the student's usual value or the peer norm (by more than :data:`DIRECTION_TOL`); when both are unknown it passes; a missing
    value never passes. Arrays broadcast (rows x features).
    """
    with np.errstate(invalid="ignore"):
        tol_u = DIRECTION_TOL * np.maximum(1.0, np.abs(usual))
        tol_p = DIRECTION_TOL * np.maximum(1.0, np.abs(peer))
        hi = (value > usual + tol_u) | (value > peer + tol_p)
        lo = (value < usual - tol_u) | (value < peer - tol_p)
    no_ref = np.isnan(usual) & np.isnan(peer)
    signed_ok = ~np.isnan(value) & (no_ref | np.where(sign > 0, hi, lo))
    return np.where(sign == 0, True, signed_ok)


def without_unknown_references(tpl: str, unknown: Collection[str]) -> str:
    """``tpl`` without the bracketed clauses that show an unknown reference.

    A reason sentence ends with its references in brackets, clause by clause: "（本人此前通常为
    {usual}，同伴为{peer}）" / "(usually {usual}; peers {peer})". A clause whose placeholder is in
    ``unknown`` is left out, and the brackets with it when no clause is left: a counselor reads
    "2 nights", not "2 nights (usually unknown)"."""
    for open_, close, sep in (("（", "）", "，"), ("(", ")", "; ")):
        start, end = tpl.rfind(open_), tpl.rfind(close)
        if start < 0 or end < start:
            continue
        clauses = [c for c in tpl[start + 1:end].split(sep) if not any("{" + u + "}" in c for u in unknown)]
        tpl = tpl[:start] + (open_ + sep.join(clauses) + close if clauses else "") + tpl[end + 1:]
    return tpl


def sentence(name: str, spec: Any, value: float, usual: float, peer: float, lang: str,
             week: int | None = None) -> str:
    """The reason sentence of one feature in ``lang`` ("zh" or "en"); a reference that is
    unknown (NaN: no own history, no peers) is left out rather than shown as unknown."""
    unit = _attr(spec, "unit")
    fmt = {k: format_value(v, unit, lang) for k, v in (("value", value), ("usual", usual), ("peer", peer))}
    unknown = [k for k, v in (("usual", usual), ("peer", peer)) if v is None or math.isnan(float(v))]
    tpl = _attr(spec, f"reason_{lang}")
    if not tpl:
        desc = _attr(spec, f"description_{lang}") or name
        tpl = (f"{desc}：{{value}}（本人此前通常为{{usual}}，同伴一般为{{peer}}）" if lang == "zh"
               else f"{desc}: {{value}} (usually {{usual}}; peers {{peer}})")
    tpl = without_unknown_references(str(tpl), unknown)
    try:
        text = tpl.format(**fmt)
    except (KeyError, IndexError, ValueError):
        text = tpl
    if week is not None:
        if lang == "zh":
            text += "，主要在最近一周" if week == 0 else f"，主要在{week}周前"
        else:
            text += ", mostly in the last week" if week == 0 else f", mostly {week} week(s) earlier"
    return text


def _mentions(spec: Any, ref: str) -> bool:
    """Whether the reason sentence of ``spec`` shows ``{ref}`` (the fallback shows both)."""
    tpl = _attr(spec, "reason_en") or _attr(spec, "reason_zh")
    return True if not tpl else "{" + ref + "}" in str(tpl)


def _col(frame: pd.DataFrame | None, names: list[str], n: int) -> np.ndarray:
    if frame is None:
        return np.full((n, len(names)), np.nan)
    return frame.reindex(columns=names).to_numpy(np.float64, na_value=np.nan)


def reasons_for(
    explanation: shap.Explanation,
    used: Iterable[str],
    registry: Mapping[str, Any] | Iterable[Any] | None,
    usual: pd.DataFrame | None = None,
    peer: pd.Series | None = None,
    top_k: int = 3,
    weekly: np.ndarray | None = None,
    min_contribution: float = 1e-6,
    exclude_families: Iterable[str] = ("context",),
) -> list[list[Reason]]:
    """Up to ``top_k`` reasons (one per family) for each row of ``explanation``.

    ``usual``: the students' own usual values (rows aligned with the explanation, columns by
    feature name; NaN unknown); ``peer``: the peer norm per feature; ``weekly``: the sequence
    model's (n, weeks, channels) attributions, to say when. Features of ``exclude_families``
    (by default ``context``: calendar, leave and data coverage, not the student's behaviour)
    and features declared ``concerning="none"`` are never reasons. Vectorised over rows; only
    the chosen reasons are turned into text.
    """
    names = [str(f) for f in explanation.feature_names]
    reg = registry_index(registry)
    vals = np.atleast_2d(np.asarray(explanation.values, dtype=np.float64))
    n, p = vals.shape
    data = (np.atleast_2d(np.asarray(explanation.data, dtype=np.float64)) if explanation.data is not None
            else np.full_like(vals, np.nan))
    us = _col(usual.reset_index(drop=True) if usual is not None else None, names, n)
    pe = (peer.reindex(names).to_numpy(np.float64, na_value=np.nan) if peer is not None
          else np.full(p, np.nan))
    used_set = set(map(str, used))
    excluded = set(exclude_families)
    specs = [reg.get(nm) for nm in names]
    fam = np.array([family_of(nm, sp) for nm, sp in zip(names, specs, strict=True)])
    sign = np.array([_sign(_attr(sp, "concerning")) for sp in specs])
    eligible = np.array([nm in used_set and f not in excluded and _attr(sp, "concerning") != "none"
                         for nm, f, sp in zip(names, fam, specs, strict=True)], dtype=bool)
    # a sentence can only be checked against the references it shows: a template without
    # {peer} (or {usual}) is not justified by the student's standing against peers (or self)
    says_usual = np.array([_mentions(sp, "usual") for sp in specs], dtype=bool)
    says_peer = np.array([_mentions(sp, "peer") for sp in specs], dtype=bool)
    us_shown = np.where(says_usual[None, :], us, np.nan)
    pe_shown = np.where(says_peer, pe, np.nan)
    ok = eligible[None, :] & (vals > min_contribution) & direction_ok(data, us_shown, pe_shown[None, :],
                                                                      sign[None, :])
    pos = np.where(ok, vals, 0.0)
    fams = [f for f in FAMILIES if (fam == f).any()]
    if not fams:
        return [[] for _ in range(n)]
    onehot = np.stack([(fam == f) for f in fams], axis=1).astype(np.float64)  # (p, F)
    totals = pos @ onehot  # (n, F)
    best_j = np.zeros((n, len(fams)), dtype=np.int64)
    for k, f in enumerate(fams):
        cols = np.flatnonzero(fam == f)
        best_j[:, k] = cols[np.argmax(pos[:, cols], axis=1)]
    order = np.argsort(-totals, axis=1, kind="stable")[:, :top_k]
    out: list[list[Reason]] = []
    for i in range(n):
        row = []
        for k in order[i]:
            if totals[i, k] <= 0:
                break
            j = int(best_j[i, k])
            week = int(np.argmax(weekly[i, :, j])) if weekly is not None else None
            v, u, q = float(data[i, j]), float(us[i, j]), float(pe[j])
            row.append(Reason(feature=names[j], family=fams[k], contribution=float(vals[i, j]),
                              family_contribution=float(totals[i, k]), value=v, usual=u, peer=q,
                              text_zh=sentence(names[j], specs[j], v, u, q, "zh", week),
                              text_en=sentence(names[j], specs[j], v, u, q, "en", week), week=week))
        out.append(row)
    return out


def family_contributions(explanation: shap.Explanation,
                         registry: Mapping[str, Any] | Iterable[Any] | None) -> pd.DataFrame:
    """Sum of contributions per family, one row per explained student (log-odds).

    Columns: every family in :data:`FAMILIES` (0 where the model has no feature of it).
    """
    names = [str(f) for f in explanation.feature_names]
    reg = registry_index(registry)
    vals = np.atleast_2d(np.asarray(explanation.values, dtype=np.float64))
    fam = np.array([family_of(nm, reg.get(nm)) for nm in names])
    return pd.DataFrame({f: vals[:, fam == f].sum(axis=1) for f in FAMILIES})
