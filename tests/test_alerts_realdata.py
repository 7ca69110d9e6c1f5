"""Hidden aid on the real UESTC card data (skips with a message when the data is absent)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from riskmodel.alerts.config import HiddenAidConfig
from riskmodel.alerts.hidden_aid import PUDetector, feature_columns, spending_features
from riskmodel.alerts.real_card import load_uestc_card, uestc_dir

pytestmark = pytest.mark.realdata


@pytest.mark.slow
def test_pu_detector_ranks_aided_students_from_spending_alone() -> None:
    if not (uestc_dir() / "card.parquet").is_file():
        pytest.skip(f"UESTC card data not found at {uestc_dir()} (set RISKMODEL_SHARED_DIR); CI has it")
    import pandas as pd

    ids = pd.read_csv(uestc_dir() / "subsidy.csv")["id"]
    keep = np.random.default_rng(0).choice(ids.to_numpy(), 1500, replace=False).tolist()
    card, labels = load_uestc_card(student_ids=keep)
    assert len(labels) == 1500 and set(card["student_id"]) <= set(labels.index)
    assert set(card["category"]) <= {"canteen", "supermarket", "bathhouse", "laundry", "print", "medical",
                                     "transport", "other"}
    assert (card["amount"] > 0).all()
    f = spending_features(card, "2015-09-01",
                          HiddenAidConfig(window_days=800, min_meals=1))
    y = labels.reindex(f["student_id"]).to_numpy(dtype=bool)
    cols = feature_columns(f)
    assert "balance_mean" in cols  # the export has balances
    s = np.zeros(len(f))
    for tr, te in StratifiedKFold(3, shuffle=True, random_state=0).split(f, y):
        s[te] = PUDetector(n_bags=5).fit(f.iloc[tr][cols], y[tr]).predict_score(f.iloc[te][cols])
    assert roc_auc_score(y, s) > 0.7
