"""Every flag explained: exact additive explanations, reason codes in zh/en, plots.

* :func:`explain_tabular` -- LightGBM (exact TreeSHAP via ``pred_contrib``) and logistic
  regression (exact linear terms) as ``shap.Explanation`` (n_students, n_features), log-odds;
* :func:`integrated_gradients` -- the sequence model, per channel (same shape) and per week;
* :func:`reasons_for` -- the top contributions that raise the risk, one per family, as
  sentences with the student's value, their own usual value and the peer norm;
* :func:`waterfall`, :func:`risk_radar` -- matplotlib figures saved as PNG or SVG.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from riskmodel.models import LGBMCrisisModel
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
>>> y = (X.a + rng.normal(size=400) > 1.5).astype(int)
>>> m = LGBMCrisisModel(n_estimators=20, min_child_samples=10).fit(X[:300], y[:300], X[300:], y[300:])
>>> e = explain_tabular(m, X[:5])
>>> e.values.shape, bool(np.allclose(e.values.sum(1) + e.base_values, m.decision_function(X[:5])))
((5, 2), True)
"""

from riskmodel.explain.gradients import SequenceExplanation, integrated_gradients, week_sums
from riskmodel.explain.plots import cjk_font, resolve_lang, risk_radar, save_figure, waterfall
from riskmodel.explain.reasons import (
    FAMILIES,
    FAMILY_LABELS,
    RADAR_FAMILIES,
    Reason,
    family_contributions,
    format_value,
    reasons_for,
    registry_index,
    sentence,
)
from riskmodel.explain.shapley import explain_tabular, linear_shap, tree_shap, used_features

__all__ = [
    "FAMILIES",
    "FAMILY_LABELS",
    "RADAR_FAMILIES",
    "Reason",
    "SequenceExplanation",
    "cjk_font",
    "explain_tabular",
    "family_contributions",
    "format_value",
    "integrated_gradients",
    "linear_shap",
    "reasons_for",
    "registry_index",
    "resolve_lang",
    "risk_radar",
    "save_figure",
    "sentence",
    "tree_shap",
    "used_features",
    "waterfall",
    "week_sums",
]
