"""Waterfall of one flag and the risk radar over the feature families (matplotlib, Agg).

Labels are Chinese when a font that renders Chinese is installed (Noto/Source Han Sans CJK,
WenQuanYi, SimHei, Microsoft YaHei, PingFang ...), else English: ``lang="auto"`` picks, and an
explicit ``lang="zh"`` without such a font falls back to English with a warning instead of
drawing empty boxes. Files are PNG or SVG (by suffix), written atomically.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import shap  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from riskmodel.explain.reasons import FAMILY_LABELS, RADAR_FAMILIES, _attr, registry_index  # noqa: E402

log = logging.getLogger(__name__)
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Micro Hei",
             "WenQuanYi Zen Hei", "SimHei", "Microsoft YaHei", "PingFang SC", "Heiti SC", "Hiragino Sans GB",
             "AR PL UMing CN", "Droid Sans Fallback", "Noto Sans CJK JP", "Noto Serif CJK SC")
FORMATS = (".png", ".svg")


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The name of an installed font that renders Chinese, or None."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in installed:
            return name
    return None


def resolve_lang(lang: str) -> str:
    """``"auto"`` -> zh when a Chinese font is available else en; ``"zh"`` falls back likewise."""
    if lang not in ("auto", "zh", "en"):
        raise ValueError(f"plot language must be 'auto', 'zh' or 'en', got {lang!r}")
    if lang == "en":
        return "en"
    if cjk_font() is None:
        if lang == "zh":
            log.warning("no font that renders Chinese is installed; drawing English labels instead")
        return "en"
    return "zh"


def _rc(lang: str) -> Any:
    rc: dict[str, Any] = {"axes.unicode_minus": False}
    if lang == "zh" and cjk_font():
        rc["font.sans-serif"] = [cjk_font(), "DejaVu Sans"]
        rc["font.family"] = "sans-serif"
    return rc


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` to ``path`` (.png or .svg) atomically (temp file + rename), close it."""
    p = Path(path)
    if p.suffix.lower() not in FORMATS:
        raise ValueError(f"plot file {p.name!r}: the suffix must be one of {', '.join(FORMATS)}")
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.stem}.", suffix=p.suffix, dir=p.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format=p.suffix.lower()[1:], dpi=dpi, bbox_inches="tight")
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
    return p


def _label(name: str, spec: Any, lang: str) -> str:
    return str(_attr(spec, f"description_{lang}") or name)


def waterfall(explanation: shap.Explanation, row: int = 0,
              registry: Mapping[str, Any] | Iterable[Any] | None = None, max_display: int = 10,
              lang: str = "auto", path: str | Path | None = None) -> Figure:
    """Waterfall of one student's log-odds: base value, the largest contributions, the rest.

    Returns the figure; with ``path`` it is also saved (PNG/SVG) and closed.
    """
    lang = resolve_lang(lang)
    reg = registry_index(registry)
    vals = np.atleast_2d(np.asarray(explanation.values, dtype=np.float64))[row]
    base = float(np.atleast_1d(np.asarray(explanation.base_values, dtype=np.float64))[row]
                 if np.ndim(explanation.base_values) else explanation.base_values)
    names = [str(f) for f in explanation.feature_names]
    order = np.argsort(-np.abs(vals))
    shown = order[: max_display - 1] if len(order) > max_display else order
    rest = float(vals[order[len(shown):]].sum()) if len(order) > len(shown) else None
    labels = [_label(names[j], reg.get(names[j]), lang) for j in shown]
    contrib = [float(vals[j]) for j in shown]
    if rest is not None:
        labels.append(f"其余{len(order) - len(shown)}项" if lang == "zh" else f"{len(order) - len(shown)} other features")
        contrib.append(rest)
    with plt.rc_context(_rc(lang)):
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(contrib) + 1.6))
        pos = base
        ys = np.arange(len(contrib))[::-1]
        for y, c in zip(ys, contrib, strict=True):
            ax.barh(y, c, left=pos, color="#d62728" if c > 0 else "#1f77b4", height=0.6)
            ax.text(pos + c, y, f" {c:+.2f}", va="center", ha="left" if c > 0 else "right", fontsize=8)
            pos += c
        ax.set_yticks(ys, labels, fontsize=8)
        ax.axvline(base, color="grey", lw=0.8, ls="--")
        ax.axvline(pos, color="black", lw=0.8)
        if lang == "zh":
            ax.set_xlabel(f"风险对数几率（基线 {base:.2f} → 本人 {pos:.2f}）")
            ax.set_title("各因素对风险的贡献")
        else:
            ax.set_xlabel(f"log-odds of risk (base {base:.2f} -> this student {pos:.2f})")
            ax.set_title("What moved this student's risk")
        fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def risk_radar(family_values: Mapping[str, float], peer_values: Mapping[str, float] | None = None,
               lang: str = "auto", path: str | Path | None = None,
               title: str | None = None) -> Figure:
    """Radar over the seven behaviour families of how much each pushes the risk (log-odds).

    ``family_values``: family -> summed contribution (see
    :func:`riskmodel.explain.family_contributions`); families absent count 0. The dashed ring
    at 0 is "no push either way"; ``peer_values`` (e.g. the scope's mean) is drawn in grey.
    """
    lang = resolve_lang(lang)
    fams = list(RADAR_FAMILIES)
    v = np.array([float(family_values.get(f, 0.0)) for f in fams])
    pv = None if peer_values is None else np.array([float(peer_values.get(f, 0.0)) for f in fams])
    allv = np.concatenate([v, pv if pv is not None else [], [0.0]])
    lo, hi = float(min(allv.min(), 0.0)), float(max(allv.max(), 0.0))
    span = max(hi - lo, 0.5)
    lo, hi = lo - 0.15 * span, hi + 0.15 * span
    ang = np.linspace(0, 2 * np.pi, len(fams), endpoint=False)
    closed = np.append(ang, ang[0])
    with plt.rc_context(_rc(lang)):
        fig, ax = plt.subplots(figsize=(5.5, 5.5), subplot_kw={"projection": "polar"})
        ax.set_ylim(lo, hi)
        ax.plot(closed, np.zeros_like(closed), color="grey", ls="--", lw=0.8)
        if pv is not None:
            ax.plot(closed, np.append(pv, pv[0]), color="grey", lw=1.0,
                    label="同伴" if lang == "zh" else "peers")
        ax.plot(closed, np.append(v, v[0]), color="#d62728", lw=2, label="本人" if lang == "zh" else "student")
        ax.fill(closed, np.append(v, v[0]), color="#d62728", alpha=0.2)
        ax.set_xticks(ang, [FAMILY_LABELS[f][0 if lang == "zh" else 1] for f in fams])
        ax.set_title(title or ("风险雷达（对风险的推动，对数几率）" if lang == "zh" else
                               "Risk radar (push on risk, log-odds)"), pad=18)
        ax.legend(loc="lower right", bbox_to_anchor=(1.15, -0.1), fontsize=8)
    if path is not None:
        save_figure(fig, path)
    return fig
