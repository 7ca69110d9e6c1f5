"""Charts for the reports: matplotlib (Agg) figures returned as embedded PNG data URIs.

Every function is pure: it takes small frames, draws on its own figure, closes it and returns
``data:image/png;base64,...`` text ready for an ``<img src>``; no file and no network.
Chinese labels need a CJK font (Debian: ``fonts-noto-cjk``); without one the glyphs fall back
to boxes but the chart is still drawn.
"""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "WenQuanYi Zen Hei",
                "WenQuanYi Micro Hei", "Source Han Sans SC", "AR PL UMing CN")
_FONT_DIRS = ("/usr/share/fonts/opentype/noto", "/usr/share/fonts/truetype/noto",
              "/usr/share/fonts/opentype", "/usr/share/fonts/truetype")
_PALETTE = ("#c0392b", "#2471a3", "#229954", "#d68910", "#7d3c98", "#17a589", "#5d6d7e",
            "#a04000", "#1f618d", "#b03a2e", "#117864", "#6c3483")
_cjk_checked = False


def _ensure_cjk_font() -> list[str]:
    """Register a system CJK font with matplotlib when its font cache predates the install."""
    global _cjk_checked
    names = {f.name for f in font_manager.fontManager.ttflist}
    if not _cjk_checked and not names.intersection(CJK_FAMILIES):
        _cjk_checked = True
        for d in _FONT_DIRS:
            for p in sorted(Path(d).glob("**/*CJK*")) if Path(d).is_dir() else []:
                if p.suffix.lower() in (".ttc", ".otf", ".ttf"):
                    try:
                        font_manager.fontManager.addfont(str(p))
                    except Exception:  # noqa: BLE001 - an unreadable font is simply skipped
                        continue
        names = {f.name for f in font_manager.fontManager.ttflist}
    return [f for f in CJK_FAMILIES if f in names]


@contextmanager
def _style():  # type: ignore[no-untyped-def]
    fams = _ensure_cjk_font() + ["DejaVu Sans"]
    rc: dict[RcKeyType, Any] = {"font.family": "sans-serif", "font.sans-serif": fams, "axes.unicode_minus": False,
          "figure.dpi": 100, "savefig.dpi": 100, "axes.spines.top": False, "axes.spines.right": False,
          "font.size": 9}
    with plt.rc_context(rc), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing")
        warnings.filterwarnings("ignore", message=".*findfont.*")
        yield


def fig_to_data_uri(fig: plt.Figure) -> str:
    """PNG bytes of ``fig`` as a ``data:`` URI; closes the figure."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def bar_chart(labels: Sequence[str], values: Sequence[float], title: str, xlabel: str = "") -> str:
    """Horizontal bars (one per label)."""
    with _style():
        n = max(len(labels), 1)
        fig, ax = plt.subplots(figsize=(6.0, 0.3 * n + 1.0))
        y = np.arange(len(labels))
        ax.barh(y, list(values), color=_PALETTE[1])
        ax.set_yticks(y, [str(s) for s in labels])
        ax.invert_yaxis()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        if not len(labels):
            ax.text(0.5, 0.5, "—", ha="center", va="center", transform=ax.transAxes)
        return fig_to_data_uri(fig)


def trend_chart(frame: pd.DataFrame, x: str, group: str, y: str, title: str, ylabel: str) -> str:
    """One line per ``group`` of ``y`` against ``x`` (already aggregated, NaN = suppressed)."""
    with _style():
        fig, ax = plt.subplots(figsize=(7.0, 3.0))
        shown = frame[frame.groupby(group)[y].transform(lambda v: v.notna().any()).astype(bool)]
        for i, (g, sub) in enumerate(shown.groupby(group, sort=True)):
            sub = sub.sort_values(x)
            ax.plot(sub[x].astype(str), sub[y], marker="o", ms=3, color=_PALETTE[i % len(_PALETTE)],
                    label=str(g))
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(axis="x", rotation=45)
        if shown[group].nunique() > 0:
            ax.legend(fontsize=7, ncol=min(4, shown[group].nunique()), frameon=False)
        else:
            ax.text(0.5, 0.5, "—", ha="center", va="center", transform=ax.transAxes)
        return fig_to_data_uri(fig)


def calibration_chart(bins: pd.DataFrame, title: str, xlabel: str, ylabel: str) -> str:
    """Observed rate against mean predicted probability per bin, with the diagonal."""
    with _style():
        fig, ax = plt.subplots(figsize=(4.0, 4.0))
        hi = float(max(bins["predicted"].max(), bins["observed"].max(), 0.01)) if len(bins) else 1.0
        ax.plot([0, hi], [0, hi], ls="--", color="#999999", lw=1)
        if len(bins):
            ax.scatter(bins["predicted"], bins["observed"], s=12 + 3 * np.sqrt(bins["n"]),
                       color=_PALETTE[0], zorder=3)
            ax.plot(bins["predicted"], bins["observed"], color=_PALETTE[0], lw=1)
        ax.set_xlim(0, hi * 1.05)
        ax.set_ylim(0, hi * 1.05)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        return fig_to_data_uri(fig)


def timeline_chart(daily: pd.DataFrame, channels: Mapping[str, str], baseline: pd.DataFrame,
                   as_of: pd.Timestamp, title: str) -> str:
    """Small multiples: each channel's daily value with the student's own baseline band.

    ``daily``: date + channel columns for one student; ``channels``: column -> label;
    ``baseline``: index channel, columns median, q25, q75 (from the days before the window).
    """
    cols = [c for c in channels if c in daily.columns]
    with _style():
        n = max(len(cols), 1)
        fig, axes = plt.subplots(n, 1, figsize=(7.0, 1.25 * n + 0.6), sharex=True, squeeze=False)
        for ax, c in zip(axes[:, 0], cols, strict=False):
            d = daily.sort_values("date")
            if c in baseline.index:
                b = baseline.loc[c]
                ax.axhspan(b["q25"], b["q75"], color="#dddddd", zorder=0)
                ax.axhline(b["median"], color="#999999", lw=0.8, zorder=1)
            ax.plot(d["date"], d[c], color=_PALETTE[1], lw=1, marker=".", ms=2, zorder=2)
            ax.set_ylabel(channels[c], rotation=0, ha="right", va="center", fontsize=8)
            ax.axvline(as_of, color=_PALETTE[0], lw=0.8, ls=":")
        axes[0, 0].set_title(title)
        if not cols:
            axes[0, 0].text(0.5, 0.5, "—", ha="center", va="center", transform=axes[0, 0].transAxes)
        fig.autofmt_xdate()
        return fig_to_data_uri(fig)


def radar_chart(values: Mapping[str, float], title: str, vmax: float = 1.0) -> str:
    """A risk radar: one spoke per family, value in [0, vmax] (e.g. a peer percentile)."""
    labels = list(values)
    with _style():
        fig = plt.figure(figsize=(4.2, 4.2))
        ax = fig.add_subplot(111, projection="polar")
        if labels:
            ang = np.linspace(0, 2 * np.pi, len(labels), endpoint=False)
            v = np.clip(np.array([float(values[k]) for k in labels]), 0, vmax)
            ang_c, v_c = np.r_[ang, ang[:1]], np.r_[v, v[:1]]
            ax.plot(ang_c, v_c, color=_PALETTE[0], lw=1.5)
            ax.fill(ang_c, v_c, color=_PALETTE[0], alpha=0.25)
            ax.set_xticks(ang, labels, fontsize=8)
        ax.set_ylim(0, vmax)
        ax.set_yticklabels([])
        ax.set_title(title, pad=16)
        return fig_to_data_uri(fig)
