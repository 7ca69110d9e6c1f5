"""Integrated gradients (captum) for the sequence model, in the same Explanation shape.

The path runs in the model's own standardised input space from the "average day" (zero after
standardisation, i.e. each channel at its training mean) to the student's days, with the
observed-day mask held fixed, and is attributed from the model's logit (log-odds before the
calibrator). Attributions are summed over days per channel -> ``values`` (n, n_channels), and
also per week counted back from the as-of date -> ``weekly`` (n, n_weeks, n_channels), week 0
being the 7 days just before as-of. Completeness: ``values.sum(1) + base_values`` equals the
logit up to the integration error reported in ``delta`` (Gauss-Legendre, ``n_steps`` points).

shap's DeepExplainer does not support GRU layers, hence integrated gradients.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import shap
import torch

from riskmodel.explain.shapley import OUTPUT_NAME


@dataclass(frozen=True)
class SequenceExplanation:
    """Per-channel Explanation plus the per-week split and the completeness error.

    ``explanation``: ``shap.Explanation`` (n, n_channels), ``data`` = each channel's mean over
    the student's observed days of the last ``recent_days`` (NaN when none);
    ``weekly``: (n, n_weeks, n_channels) attributions per week before as-of (week 0 = last 7
    days; the oldest week holds any remainder days); ``delta``: (n,) logit minus
    (sum of attributions + base value).
    """

    explanation: shap.Explanation
    weekly: np.ndarray
    delta: np.ndarray


def _recent_mean(x: np.ndarray, m: np.ndarray, recent_days: int) -> np.ndarray:
    xs = x[:, -recent_days:, :].astype(np.float64)
    ms = m[:, -recent_days:].astype(bool)
    xs = np.where(ms[:, :, None], xs, np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(xs, axis=1)


def week_sums(per_day: np.ndarray) -> np.ndarray:
    """Sum ``(n, days, c)`` attributions into ``(n, weeks, c)`` counted back from the last day.

    Week 0 is the last 7 days; the oldest week also takes the ``days % 7`` leftover days.
    """
    n, days, c = per_day.shape
    n_weeks = max(1, days // 7)
    out = np.zeros((n, n_weeks, c), dtype=np.float64)
    for w in range(n_weeks):
        hi = days - 7 * w
        lo = 0 if w == n_weeks - 1 else hi - 7
        out[:, w, :] = per_day[:, lo:hi, :].sum(axis=1)
    return out


def integrated_gradients(model, x: np.ndarray, mask: np.ndarray, n_steps: int = 48,  # type: ignore[no-untyped-def]
                         instance_names: list[str] | None = None, recent_days: int = 14,
                         batch_size: int = 256) -> SequenceExplanation:
    """Integrated gradients of a fitted :class:`~riskmodel.models.sequence.SequenceCrisisModel`.

    ``x``: (n, days, channels) raw daily values (NaN unknown), ``mask``: (n, days) observed
    days, both exactly as the model scores them (the ``days`` before as-of). Returns a
    :class:`SequenceExplanation`; see the module doc for the baseline and units.
    """
    from captum.attr import IntegratedGradients

    model._check_fitted()
    x = np.asarray(x, dtype=np.float32)
    mask = np.asarray(mask, dtype=np.float32)
    if x.ndim != 3 or mask.shape != x.shape[:2]:
        raise ValueError(f"explain_sequence: expected values (n, days, channels) and mask (n, days), got "
                         f"{x.shape} and {mask.shape}")
    if x.shape[2] != len(model.feature_names_in_):
        raise ValueError(f"explain_sequence: got {x.shape[2]} channels, the model was fitted on "
                         f"{len(model.feature_names_in_)}")
    net = model.net_
    net.eval()
    prev = torch.get_num_threads()
    torch.set_num_threads(max(1, int(getattr(model, "num_threads", 1))))
    per_day, base, logit = [], [], []
    try:
        ig = IntegratedGradients(lambda z, mk: net(z, mk))
        for start in range(0, len(x), batch_size):
            zt, mt = model._prep(x[start:start + batch_size], mask[start:start + batch_size])
            b = torch.zeros_like(zt)
            attr = ig.attribute(zt, baselines=b, additional_forward_args=(mt,), n_steps=n_steps,
                                method="gausslegendre")
            with torch.no_grad():
                base.append(net(b, mt).numpy().astype(np.float64))
                logit.append(net(zt, mt).numpy().astype(np.float64))
            per_day.append(attr.detach().numpy().astype(np.float64))
    finally:
        torch.set_num_threads(prev)
    pdays = np.concatenate(per_day) if per_day else np.zeros((0,) + x.shape[1:])
    base_v = np.concatenate(base) if base else np.zeros(0)
    logit_v = np.concatenate(logit) if logit else np.zeros(0)
    values = pdays.sum(axis=1)
    expl = shap.Explanation(values=values, base_values=base_v, data=_recent_mean(x, mask, recent_days),
                            feature_names=[str(c) for c in model.feature_names_in_],
                            instance_names=instance_names, output_names=OUTPUT_NAME)
    return SequenceExplanation(explanation=expl, weekly=week_sums(pdays),
                               delta=logit_v - (values.sum(axis=1) + base_v))
