"""Hidden aid on the real UESTC campus-card export, read through the import adapter.

The data lives outside the repository (``<repo>/../shared/datasets/uestc-card``, or
``$RISKMODEL_SHARED_DIR/datasets/uestc-card``). It reaches the detector the way any
university's export does: the ``uestc_card`` layout of :mod:`riskmodel.adapters` maps it
into contract-v1 tables (top-ups, transfers, refunds and card administration dropped with
a reason), :func:`riskmodel.contracts.load_sources` validates and pseudonymises them, and
the detector reads ``card_transactions`` and ``aid_roster`` from those tables. There is no
second, hand-written reader of the export here.

Contract v1 has no card balance, so the detector's balance features are absent on this path.

Public API::

    load_uestc_tables(folder=None, *, import_dir=None, key=None, limit_rows=None) -> dict[str, DataFrame]
    received_aid(tables) -> Series[bool]               # label per student of ``students``
    load_uestc_card(folder=None, student_ids=None, *, import_dir=None, key=None, limit_rows=None)
        -> (card, received_aid)
    evaluate_real_via_adapter(tables, cfg=None, folds=5, seed=0) -> dict   # CV AUROC / AP
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from riskmodel.alerts.config import HiddenAidConfig
from riskmodel.alerts.hidden_aid import (
    PUDetector,
    feature_columns,
    hidden_aid,
    peer_rule,
    spending_features,
    threshold_rule,
)

LAYOUT = "uestc_card"
#: Features of the plain reference model (simple per-student spending summaries).
SIMPLE_SUMMARIES = ["meals_per_month", "canteen_per_month", "total_per_month", "supermarket_per_month",
                    "meal_price_mean"]
#: The as-of date after the export's last day (2015-08-31): features use the whole export.
AS_OF = "2015-09-01"


def uestc_dir() -> Path:
    """Where the UESTC card data is expected (may not exist)."""
    env = os.environ.get("RISKMODEL_SHARED_DIR")
    base = Path(env) if env else Path(__file__).resolve().parents[3].parent / "shared"
    return base / "datasets" / "uestc-card"


def real_eval_config() -> HiddenAidConfig:
    """Detector settings for the cross-validated evaluation: features over the whole export
    (800-day window), every student with at least one canteen meal, 15 bags."""
    return HiddenAidConfig(window_days=800, min_meals=1, n_bags=15)


def _key(key: Any) -> Any:
    from riskmodel.contracts import KEY_ENV, PseudonymKey

    if key is not None:
        return key if isinstance(key, PseudonymKey) else PseudonymKey(key)
    # the evaluation keeps no pseudonym: a throwaway key unless one is configured
    return PseudonymKey(os.environ.get(KEY_ENV) or secrets.token_hex(32))


def load_uestc_tables(folder: str | Path | None = None, *, import_dir: str | Path | None = None,
                      key: Any = None, limit_rows: int | None = None) -> dict[str, pd.DataFrame]:
    """Contract-v1 tables of the UESTC export, validated and pseudonymised.

    With ``import_dir`` holding an earlier ``riskmodel import uestc_card`` (its
    ``_import_summary.json``), that import is loaded; otherwise the export in ``folder``
    (default :func:`uestc_dir`) is imported into a temporary folder first (only its first
    ``limit_rows`` card rows when given; the export is sorted by student, so a prefix holds
    whole histories). ``key`` pseudonymises ids (default: ``$RISKMODEL_PSEUDONYM_KEY``, else
    a throwaway key). Raises FileNotFoundError naming the folder when the export is absent.
    """
    from riskmodel.adapters import SUMMARY_FILE, ImportOptions, import_export
    from riskmodel.contracts import load_sources

    pkey = _key(key)
    if import_dir is not None and (Path(import_dir) / SUMMARY_FILE).is_file():
        return dict(load_sources(import_dir, key=pkey).tables)
    d = Path(folder) if folder is not None else uestc_dir()
    if not (d / "card.parquet").is_file() or not (d / "subsidy.csv").is_file():
        raise FileNotFoundError(f"UESTC card data not found in {d} (card.parquet, subsidy.csv); "
                                "set RISKMODEL_SHARED_DIR to the folder holding datasets/uestc-card")
    with tempfile.TemporaryDirectory(prefix="uestc_import_") as tmp:
        out = Path(import_dir) if import_dir is not None else Path(tmp)
        import_export(LAYOUT, d, out, pkey, options=ImportOptions(limit_rows=limit_rows, overwrite=True))
        return dict(load_sources(out, key=pkey).tables)


def received_aid(tables: Mapping[str, pd.DataFrame]) -> pd.Series:
    """Bool Series ``received_aid`` indexed by (pseudonymised) student_id of ``students``:
    True when the student is on the aid roster in any academic year. ``tables`` may also be
    a ``LoadedSources``."""
    tables = getattr(tables, "tables", tables)
    students = tables["students"]["student_id"]
    aid = tables.get("aid_roster")
    on = set(aid["student_id"]) if aid is not None else set()
    return pd.Series(students.isin(on).to_numpy(dtype=bool), index=students.to_numpy(), name="received_aid")


def load_uestc_card(folder: str | Path | None = None, student_ids: list[int] | None = None, *,
                    import_dir: str | Path | None = None, key: Any = None, limit_rows: int | None = None
                    ) -> tuple[pd.DataFrame, pd.Series]:
    """Purchases (contract-v1 ``card_transactions``: student_id, ts, merchant_id, category,
    amount) and the label Series ``received_aid`` indexed by student_id, through the adapter
    (see :func:`load_uestc_tables`). ``student_ids`` (the export's raw integer ids) keeps
    only those students; ids in the result are pseudonyms.
    """
    pkey = _key(key)
    tables = load_uestc_tables(folder, import_dir=import_dir, key=pkey, limit_rows=limit_rows)
    card, labels = tables["card_transactions"], received_aid(tables)
    if student_ids is not None:
        from riskmodel.contracts import pseudonymise_series

        keep = set(pseudonymise_series(pd.Series([str(i) for i in student_ids]), pkey))
        card = card.loc[card["student_id"].isin(keep)].reset_index(drop=True)
        labels = labels.loc[labels.index.isin(keep)]
    return card, labels


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")


def cv_received_aid(card: pd.DataFrame, labels: pd.Series, cfg: HiddenAidConfig | None = None,
                    folds: int = 5, seed: int = 0, as_of: str = AS_OF) -> dict[str, Any]:
    """Cross-validated AUROC and average precision for "received aid", from spending alone.

    Spending features (:func:`spending_features`) over ``cfg.window_days`` before ``as_of``
    for the students of ``labels`` that have purchases; the detector (PU learning: aided =
    positive, the rest unlabelled) and the plain LightGBM on :data:`SIMPLE_SUMMARIES` are
    trained on the training folds and score the held-out fold (stratified, ``seed``); the
    rules need no training (the threshold is also reported adjusted to the local meal price).
    """
    import lightgbm as lgb
    from sklearn.model_selection import StratifiedKFold

    cfg = cfg or real_eval_config()
    f = spending_features(card, as_of, cfg)
    f = f.loc[f["student_id"].isin(labels.index)].reset_index(drop=True)
    y = labels.reindex(f["student_id"]).to_numpy(dtype=bool)
    cols = feature_columns(f)
    pu, plain = np.zeros(len(f)), np.zeros(len(f))
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(f, y):
        det = PUDetector(n_bags=cfg.n_bags, seed=seed).fit(f.iloc[tr][cols], y[tr])
        pu[te] = det.predict_score(f.iloc[te][cols])
        m = lgb.LGBMClassifier(n_estimators=200, learning_rate=0.05, num_leaves=15, verbose=-1, n_jobs=1,
                               random_state=seed).fit(f.iloc[tr][SIMPLE_SUMMARIES], y[tr])
        plain[te] = np.asarray(m.predict_proba(f.iloc[te][SIMPLE_SUMMARIES]))[:, 1]
    local_price = float(f["meal_price_median"].median())
    adj = replace(cfg, threshold_spend_per_month=cfg.threshold_spend_per_month * local_price / 7.0,
                  threshold_meals_per_month=float(np.quantile(f["meals_per_month"], 0.75)))
    scores = {
        "pu_detector": pu, "plain_lightgbm_simple_summaries": plain,
        "threshold_rule_published": threshold_rule(f, cfg).to_numpy(),
        "threshold_rule_price_adjusted": threshold_rule(f, adj).to_numpy(),
        "peer_rule": peer_rule(f, cfg).to_numpy(),
    }
    res: dict[str, Any] = {"students": len(f), "aided": int(y.sum()), "aided_share": float(y.mean()),
                           "folds": folds, "n_features": len(cols), "balance_features": any(
                               c.startswith("balance") or c == "low_balance_share" for c in cols),
                           "local_median_meal_price": local_price,
                           "adjusted_rule": f">{adj.threshold_meals_per_month:.0f} meals and "
                                            f"<{adj.threshold_spend_per_month:.0f} CNY canteen a month"}
    for name, s in scores.items():
        res[name] = {"auroc": _auc(y, s), "average_precision": float(average_precision_score(y, s))}
    return res


def evaluate_real_via_adapter(tables: Mapping[str, pd.DataFrame], cfg: HiddenAidConfig | None = None,
                              folds: int = 5, seed: int = 0, as_of: str = AS_OF) -> dict[str, Any]:
    """The detector on adapter output: cross-validated AUROC / AP for "received aid" (see
    :func:`cv_received_aid`), plus one run of the production entry :func:`hidden_aid` on
    the same tables (students with unknown ``econ_hardship``) as a check that it runs.

    ``tables``: contract-v1 tables from ``load_sources`` on a ``uestc_card`` import
    (``students``, ``card_transactions``, ``aid_roster``).
    """
    cfg = cfg or real_eval_config()
    tables = getattr(tables, "tables", tables)
    res = cv_received_aid(tables["card_transactions"], received_aid(tables), cfg, folds, seed, as_of)
    cand, scores = hidden_aid(tables, as_of, cfg)
    res["hidden_aid_run"] = {"scored": len(scores), "candidates": len(cand),
                             "registered_hardship_known": int(tables["students"]["econ_hardship"].notna().sum())}
    return res
