"""Evaluation plots (matplotlib, Agg backend): precision-recall, calibration, capacity."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import precision_recall_curve  # noqa: E402

from riskmodel.evaluate.metrics import EvalConfig, calibration_curve, capacity_curve  # noqa: E402


def evaluation_figures(scored: pd.DataFrame, cfg: EvalConfig, title: str) -> dict[str, plt.Figure]:
    """``{"pr_curve.png", "calibration.png", "capacity_curve.png": Figure}`` (model and oracle)."""
    cols = ["score"] + (["oracle"] if "oracle" in scored.columns and scored["oracle"].notna().all() else [])
    y = scored["label"].to_numpy(float)
    figs = {}
    fig, ax = plt.subplots(figsize=(5, 4))
    for c in cols:
        if 0 < y.sum() < len(y):
            pr, rc, _ = precision_recall_curve(y, scored[c].to_numpy(float))
            ax.plot(rc, pr, label="model" if c == "score" else c)
    ax.axhline(y.mean() if len(y) else 0, ls=":", c="grey", label="base rate")
    ax.set(xlabel="recall", ylabel="precision", title=f"{title}: precision-recall")
    ax.legend()
    figs["pr_curve.png"] = fig
    fig, ax = plt.subplots(figsize=(5, 4))
    for c in cols:
        cc = calibration_curve(scored[c].to_numpy(float), y, cfg.ece_bins)
        ax.plot(cc["predicted"], cc["observed"], marker="o", label="model" if c == "score" else c)
    hi = float(max(scored[cols].max().max(), y.mean() * 2, 1e-3))
    ax.plot([0, hi], [0, hi], ls=":", c="grey")
    ax.set(xlabel="mean predicted risk", ylabel="observed rate", title=f"{title}: calibration")
    ax.legend()
    figs["calibration.png"] = fig
    fig, ax = plt.subplots(figsize=(5, 4))
    for c in cols:
        cap = capacity_curve(scored, cfg, c)
        ax.plot(cap["capacity"] * 100, cap["recall"], marker="o", label=("model" if c == "score" else c) + " recall")
    ax.axvline(cfg.capacity * 100, ls=":", c="grey")
    ax.set(xlabel="weekly capacity (% of students)", ylabel="recall", title=f"{title}: capacity")
    ax.set_xscale("log")
    ax.legend()
    figs["capacity_curve.png"] = fig
    for f in figs.values():
        f.tight_layout()
    return figs


def close_all(figs: dict[str, plt.Figure]) -> None:
    for f in figs.values():
        plt.close(f)


__all__ = ["close_all", "evaluation_figures", "np"]
