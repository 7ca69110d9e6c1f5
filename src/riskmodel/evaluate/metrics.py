"""Metrics of crisis early warning on scored snapshots (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

GROUP_COLUMNS = ("gender", "college", "degree_level", "econ_hardship")


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation settings.

    capacity : share of eligible students a counselor team can reach each as-of week (top k
        per week, k = ceil(capacity * students that week)).
    top_share : the top share of rows (over the whole evaluated period) where predicted and
        observed crisis counts are compared.
    ece_bins : equal-mass bins for the expected calibration error.
    lead_window_days : an event counts as warned when flagged at an as-of within this many days
        before it (as-of in ``(d - window, d]``).
    min_group_size / min_group_positives : smaller groups are suppressed (figures NaN).
    """

    capacity: float = 0.01
    top_share: float = 0.05
    ece_bins: int = 10
    lead_window_days: int = 28
    min_group_size: int = 200
    min_group_positives: int = 5
    group_columns: tuple[str, ...] = GROUP_COLUMNS
    capacity_curve: tuple[float, ...] = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)

    def __post_init__(self) -> None:
        if not 0 < self.capacity <= 1:
            raise ValueError(f"EvalConfig.capacity must be in (0, 1], got {self.capacity}")
        if not 0 < self.top_share <= 1:
            raise ValueError(f"EvalConfig.top_share must be in (0, 1], got {self.top_share}")


def flag_top_per_week(scored: pd.DataFrame, capacity: float, score: str = "score") -> np.ndarray:
    """Boolean flag: row is in the top ``ceil(capacity * n)`` of its as-of week (ties by order)."""
    rank = scored.groupby("as_of")[score].rank(method="first", ascending=False).to_numpy()
    n = scored.groupby("as_of")[score].transform("size").to_numpy()
    return rank <= np.ceil(capacity * n)


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Weighted mean |mean predicted - observed rate| over equal-mass bins of the prediction."""
    if len(p) == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    parts = np.array_split(order, min(bins, len(p)))
    return float(sum(len(b) * abs(p[b].mean() - y[b].mean()) for b in parts if len(b)) / len(p))


def calibration_curve(p: np.ndarray, y: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Equal-mass bins: mean predicted, observed rate, count."""
    order = np.argsort(p, kind="mergesort")
    rows = [(p[b].mean(), y[b].mean(), len(b)) for b in np.array_split(order, min(bins, max(len(p), 1))) if len(b)]
    return pd.DataFrame(rows, columns=["predicted", "observed", "n"])


def event_recall(scored: pd.DataFrame, events: pd.DataFrame, flags: np.ndarray, window_days: int
                 ) -> tuple[float, float, int]:
    """Share of crises flagged at least once in the ``window_days`` before, median lead days.

    ``events``: ``student_id``, ``occurred_on`` (the positive crises). An event is countable
    when the student has at least one evaluated snapshot with as-of in ``(d - window, d]``;
    its lead time is ``d - earliest flagged as-of`` in days. Returns (recall, median lead,
    number of countable events).
    """
    if events is None or events.empty:
        return float("nan"), float("nan"), 0
    rows = scored.loc[:, ["student_id", "as_of"]].assign(_flag=flags)
    ev = events[["student_id", "occurred_on"]].drop_duplicates().reset_index(drop=True)
    ev["_eid"] = np.arange(len(ev))
    pairs = ev.merge(rows, on="student_id", how="inner")
    lead = (pd.to_datetime(pairs["occurred_on"]) - pd.to_datetime(pairs["as_of"])).dt.days.to_numpy()
    pairs = pairs.assign(lead=lead)
    pairs = pairs[(pairs["lead"] >= 0) & (pairs["lead"] < window_days)]
    if pairs.empty:
        return float("nan"), float("nan"), 0
    countable = pairs["_eid"].nunique()
    flagged = pairs[pairs["_flag"]]
    lead = flagged.groupby("_eid")["lead"].max()
    recall = len(lead) / countable
    return float(recall), float(lead.median()) if len(lead) else float("nan"), int(countable)


def score_metrics(scored: pd.DataFrame, cfg: EvalConfig, score: str = "score",
                  events: pd.DataFrame | None = None) -> dict[str, float]:
    """Every headline figure for one score column on ``scored`` (student_id, as_of, label, score).

    Scores must be calibrated probabilities for Brier, ECE and the top-share counts to mean
    anything. ``events`` (student_id, occurred_on of positive crises) enables event recall.
    """
    y = scored["label"].to_numpy(np.float64)
    p = scored[score].to_numpy(np.float64)
    n, npos = len(y), float(y.sum())
    out: dict[str, float] = {"n_rows": float(n), "n_positive": npos, "base_rate": npos / n if n else float("nan")}
    both = 0 < npos < n
    out["auroc"] = float(roc_auc_score(y, p)) if both else float("nan")
    out["auprc"] = float(average_precision_score(y, p)) if both else float("nan")
    flags = flag_top_per_week(scored, cfg.capacity, score) if n else np.zeros(0, dtype=bool)
    nflag = flags.sum()
    out["precision_at_capacity"] = float(y[flags].mean()) if nflag else float("nan")
    out["recall_at_capacity"] = float(y[flags].sum() / npos) if npos else float("nan")
    out["ppv_lift"] = out["precision_at_capacity"] / out["base_rate"] if npos else float("nan")
    out["brier"] = float(np.mean((p - y) ** 2)) if n else float("nan")
    out["ece"] = expected_calibration_error(p, y, cfg.ece_bins)
    k = int(np.ceil(cfg.top_share * n))
    top = np.argsort(-p, kind="mergesort")[:k]
    out["top_predicted"] = float(p[top].sum())
    out["top_observed"] = float(y[top].sum())
    out["top_pred_obs_ratio"] = out["top_predicted"] / out["top_observed"] if out["top_observed"] else float("nan")
    if events is not None:
        rec, lead, ne = event_recall(scored, events, flags, cfg.lead_window_days)
        out["event_recall"], out["median_lead_days"], out["n_events"] = rec, lead, float(ne)
    return out


def capacity_curve(scored: pd.DataFrame, cfg: EvalConfig, score: str = "score") -> pd.DataFrame:
    """Precision and recall when the weekly capacity varies over ``cfg.capacity_curve``."""
    y = scored["label"].to_numpy(np.float64)
    rows = []
    for c in cfg.capacity_curve:
        f = flag_top_per_week(scored, c, score)
        rows.append({"capacity": c, "precision": y[f].mean() if f.any() else np.nan,
                     "recall": y[f].sum() / y.sum() if y.sum() else np.nan})
    return pd.DataFrame(rows)


@dataclass
class EvalResult:
    """Overall figures (model and oracle side by side) and the same per subgroup."""

    overall: pd.DataFrame  # index metric; columns model, oracle (when known)
    groups: pd.DataFrame  # long: group_column, group, metric, value, oracle, overall, diff, ratio, suppressed
    group_gaps: pd.DataFrame  # per group column and metric: max-min difference and min/max ratio
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)

    def flat_metrics(self, prefix: str = "test") -> dict[str, float]:
        """``{prefix}_{metric}``, ``{prefix}_oracle_{metric}`` and ``{prefix}_group_...`` for MLflow."""
        out: dict[str, float] = {}
        for metric, row in self.overall.iterrows():
            for col in self.overall.columns:
                name = f"{prefix}_{metric}" if col == "model" else f"{prefix}_{col}_{metric}"
                out[name] = float(row[col])
        for r in self.groups.itertuples():
            key = f"{prefix}_group_{r.group_column}_{_safe(str(r.group))}_{r.metric}"
            out[key] = float(r.value)
            if not pd.isna(r.oracle):
                out[key + "_oracle"] = float(r.oracle)
        for r in self.group_gaps.itertuples():
            out[f"{prefix}_gap_{r.group_column}_{r.metric}_diff"] = float(r.max_minus_min)
            out[f"{prefix}_gap_{r.group_column}_{r.metric}_ratio"] = float(r.min_over_max)
        return {k: v for k, v in out.items() if not np.isnan(v)}


def _safe(s: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in s)


GROUP_METRICS = ("auroc", "auprc", "base_rate", "precision_at_capacity", "recall_at_capacity", "event_recall",
                 "median_lead_days", "brier", "ece", "ppv_lift")


def evaluate_scores(scored: pd.DataFrame, cfg: EvalConfig, events: pd.DataFrame | None = None,
                    groups: pd.DataFrame | None = None) -> EvalResult:
    """Evaluate ``scored`` (student_id, as_of, label, score[, oracle]) overall and by subgroup.

    ``groups``: the student roster with the columns in ``cfg.group_columns`` (joined on
    student_id). Capacity flags are always drawn in the whole week's ranking (a counselor's
    list), and subgroup figures are computed on the subgroup's rows of that ranking, so
    subgroup recall is "what share of this group's crises the one list catches".
    Groups under ``min_group_size`` rows or ``min_group_positives`` positives are suppressed.
    """
    for col in ("student_id", "as_of", "label", "score"):
        if col not in scored.columns:
            raise ValueError(f"evaluate_scores: scored frame lacks column {col!r}")
    scored = scored.reset_index(drop=True)
    score_cols = ["score"] + (["oracle"] if "oracle" in scored.columns and scored["oracle"].notna().all() else [])
    overall = pd.DataFrame({("model" if c == "score" else c): score_metrics(scored, cfg, c, events)
                            for c in score_cols})
    flags = {c: flag_top_per_week(scored, cfg.capacity, c) for c in score_cols}
    rows = []
    if groups is not None:
        g = scored[["student_id"]].merge(groups, on="student_id", how="left")
        for gcol in cfg.group_columns:
            if gcol not in g.columns:
                continue
            for val, idx in g.groupby(gcol, dropna=False).groups.items():
                idx = np.asarray(idx)
                sub = scored.iloc[idx]
                small = len(sub) < cfg.min_group_size or sub["label"].sum() < cfg.min_group_positives
                figs = {}
                for c in score_cols:
                    figs[c] = _group_figures(sub, flags[c][idx], c, cfg, events)
                for metric in GROUP_METRICS:
                    v = figs["score"].get(metric, np.nan)
                    o = figs["oracle"].get(metric, np.nan) if "oracle" in figs else np.nan
                    ov = overall.loc[metric, "model"] if metric in overall.index else np.nan
                    rows.append({"group_column": gcol, "group": str(val), "metric": metric,
                                 "value": np.nan if small else v, "oracle": np.nan if small else o,
                                 "overall": ov, "n_rows": len(sub), "suppressed": small})
    gdf = pd.DataFrame(rows, columns=["group_column", "group", "metric", "value", "oracle", "overall", "n_rows",
                                      "suppressed"])
    gdf["diff"] = gdf["value"] - gdf["overall"]
    gdf["ratio"] = gdf["value"] / gdf["overall"]
    gaps = (gdf[~gdf["suppressed"]].groupby(["group_column", "metric"])["value"]
            .agg(max_minus_min=lambda v: v.max() - v.min(), min_over_max=lambda v: v.min() / v.max() if v.max() else np.nan,
                 n_groups="count").reset_index())
    curves = {"capacity": capacity_curve(scored, cfg, "score"),
              "calibration": calibration_curve(scored["score"].to_numpy(float), scored["label"].to_numpy(float),
                                               cfg.ece_bins)}
    return EvalResult(overall=overall, groups=gdf, group_gaps=gaps, curves=curves)


def _group_figures(sub: pd.DataFrame, flags: np.ndarray, score: str, cfg: EvalConfig,
                   events: pd.DataFrame | None) -> dict[str, float]:
    y = sub["label"].to_numpy(float)
    p = sub[score].to_numpy(float)
    npos = y.sum()
    both = 0 < npos < len(y)
    out = {"base_rate": npos / len(y) if len(y) else np.nan,
           "auroc": roc_auc_score(y, p) if both else np.nan,
           "auprc": average_precision_score(y, p) if both else np.nan,
           "precision_at_capacity": y[flags].mean() if flags.any() else np.nan,
           "recall_at_capacity": y[flags].sum() / npos if npos else np.nan,
           "brier": float(np.mean((p - y) ** 2)) if len(y) else np.nan,
           "ece": expected_calibration_error(p, y, cfg.ece_bins)}
    out["ppv_lift"] = out["precision_at_capacity"] / out["base_rate"] if npos else np.nan
    if events is not None:
        ev = events[events["student_id"].isin(sub["student_id"].unique())]
        rec, lead, _ = event_recall(sub, ev, flags, cfg.lead_window_days)
        out["event_recall"], out["median_lead_days"] = rec, lead
    return out
