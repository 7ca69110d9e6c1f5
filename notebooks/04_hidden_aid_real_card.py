# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 4. Hidden aid (隐性资助) on real campus-card data
#
# The UESTC campus-card export (purchases and who received a subsidy) is not shipped: it is
# read from `../shared/datasets/uestc-card` (or `$RISKMODEL_SHARED_DIR/datasets/uestc-card`).
# When the folder is absent this notebook says so and stops cleanly: every later cell checks
# `AVAILABLE`. Only counts and scores are printed, never an id.
#
# The roster of aided students is positive-unlabelled in practice: we hide most recipients,
# fit the PU detector on the few left "known", and ask how well it finds the hidden ones,
# beside the published threshold rule (more than 60 canteen meals and under 420 CNY a month).

# %%
import os

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from riskmodel.alerts.config import HiddenAidConfig
from riskmodel.alerts.hidden_aid import (
    PUDetector,
    feature_columns,
    peer_rule,
    spending_features,
    threshold_rule,
)
from riskmodel.alerts.real_card import load_uestc_card, uestc_dir

FOLDER = uestc_dir()
AVAILABLE = (FOLDER / "card.parquet").is_file() and (FOLDER / "subsidy.csv").is_file()
KNOWN_SHARE = float(os.environ.get("RISKMODEL_NB_KNOWN_SHARE", "0.3"))
if not AVAILABLE:
    print(f"The real campus-card data is not here ({FOLDER}); this notebook stops here. "
          "Set RISKMODEL_SHARED_DIR to the folder holding datasets/uestc-card to run it.")

# %%
if AVAILABLE:
    card, received = load_uestc_card(FOLDER)
    cfg = HiddenAidConfig()
    as_of = card["ts"].max().normalize() + pd.Timedelta(days=1)
    feats = spending_features(card, as_of, cfg)
    y = received.reindex(feats["student_id"]).fillna(False).to_numpy(bool)
    print(f"{len(card):,} purchases, {len(feats):,} students scored, {y.mean():.1%} received aid")

# %%
if AVAILABLE:
    rng = np.random.default_rng(0)
    known = y & (rng.random(len(y)) < KNOWN_SHARE)
    X = feats[feature_columns(feats)]
    detector = PUDetector(n_bags=cfg.n_bags, seed=cfg.seed).fit(X, known)
    hidden = ~known  # evaluate where the roster says nothing
    scores = {"PU detector": detector.predict_score(X)[hidden],
              "threshold rule": threshold_rule(feats, cfg).to_numpy()[hidden],
              "peer rule": peer_rule(feats, cfg).to_numpy()[hidden]}
    table = pd.DataFrame({name: {"AUROC": roc_auc_score(y[hidden], s), "AUPRC": average_precision_score(y[hidden], s)}
                          for name, s in scores.items()}).T
    table["base rate"] = y[hidden].mean()
    print(table.round(3))
