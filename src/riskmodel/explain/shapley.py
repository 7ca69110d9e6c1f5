"""Exact additive explanations of the tabular models, in log-odds, as ``shap.Explanation``.

* LightGBM: exact TreeSHAP from LightGBM's own ``pred_contrib`` (what ``shap.TreeExplainer``
  computes for a LightGBM booster), on the same iterations the model predicts with.
* Logistic regression: the exact linear decomposition ``coef_j * z_j`` of the standardised
  design; a feature's missing-value indicator is added to that feature's contribution.

Either way ``values.shape == (n_students, n_features)`` over ``model.feature_names_in_`` and
``values.sum(1) + base_values == model.decision_function(X)`` (the raw log-odds, before the
calibrator). The calibrated probability is a monotone map of that margin, so a contribution
that raises the log-odds never lowers the probability.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shap

OUTPUT_NAME = "log-odds of a crisis within the horizon (before calibration)"


def _frame(model, X: pd.DataFrame) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    model._check_fitted()
    return model._check_frame(X)


def _explanation(values: np.ndarray, base: np.ndarray, X: pd.DataFrame,
                 instance_names: list[str] | None) -> shap.Explanation:
    return shap.Explanation(values=np.asarray(values, dtype=np.float64),
                            base_values=np.asarray(base, dtype=np.float64),
                            data=X.to_numpy(np.float64), feature_names=[str(c) for c in X.columns],
                            instance_names=instance_names, output_names=OUTPUT_NAME)


def tree_shap(model, X: pd.DataFrame, instance_names: list[str] | None = None) -> shap.Explanation:  # type: ignore[no-untyped-def]
    """Exact TreeSHAP of a fitted :class:`~riskmodel.models.LGBMCrisisModel` on ``X``.

    Returns an Explanation with ``values`` (n, n_features) in log-odds, ``base_values`` (n,)
    (the expected margin, equal for all rows) and ``data`` the feature values.
    """
    Xf = _frame(model, X)
    contrib = model.booster_.predict(Xf.to_numpy(np.float64), num_iteration=model.best_iteration_,
                                     pred_contrib=True)
    contrib = np.asarray(contrib, dtype=np.float64).reshape(len(Xf), Xf.shape[1] + 1)
    return _explanation(contrib[:, :-1], contrib[:, -1], Xf, instance_names)


def linear_shap(model, X: pd.DataFrame, instance_names: list[str] | None = None) -> shap.Explanation:  # type: ignore[no-untyped-def]
    """Exact linear decomposition of a fitted :class:`~riskmodel.models.LogRegCrisisModel`.

    Contribution of feature j: ``coef_j * z_j`` (z standardised against the training mean)
    plus, when the feature has a missing indicator, ``coef_ind * missing``; base value is the
    intercept.
    """
    Xf = _frame(model, X)
    design = model._design(Xf)
    n_feat = Xf.shape[1]
    terms = design * model.coef_[None, :]
    values = terms[:, :n_feat].copy()
    for k, j in enumerate(np.asarray(model.indicator_idx_, dtype=np.int64)):
        values[:, j] += terms[:, n_feat + k]
    base = np.full(len(Xf), float(model.intercept_))
    return _explanation(values, base, Xf, instance_names)


def used_features(model) -> list[str]:  # type: ignore[no-untyped-def]
    """Names of the features the fitted model actually uses (may appear as reasons).

    LightGBM: features with at least one split in the iterations used for prediction;
    logistic regression: features with a non-zero coefficient (or indicator); a sequence
    model: all its channels; the census screen: its two columns.
    """
    names = [str(c) for c in model.feature_names_in_]
    fam = getattr(model, "family", "")
    if fam == "lgbm":
        imp = model.booster_.feature_importance(importance_type="split", iteration=model.best_iteration_)
        return [n for n, v in zip(names, imp, strict=True) if v > 0]
    if fam == "logreg":
        coef = np.asarray(model.coef_, dtype=np.float64)
        used = np.abs(coef[: len(names)]) > 0
        for k, j in enumerate(np.asarray(model.indicator_idx_, dtype=np.int64)):
            used[j] |= abs(coef[len(names) + k]) > 0
        return [n for n, u in zip(names, used, strict=True) if u]
    return names


def explain_tabular(model, X: pd.DataFrame, instance_names: list[str] | None = None) -> shap.Explanation:  # type: ignore[no-untyped-def]
    """Explanation of any tabular crisis model (LightGBM or logistic regression) on ``X``.

    Raises ``ValueError`` naming the family when the model has no exact explainer here
    (the census screen is its own explanation: its two columns).
    """
    fam = getattr(model, "family", type(model).__name__)
    if fam == "lgbm":
        return tree_shap(model, X, instance_names)
    if fam == "logreg":
        return linear_shap(model, X, instance_names)
    raise ValueError(f"explain: no exact tabular explainer for model family {fam!r}; expected 'lgbm' or "
                     "'logreg' (use explain_sequence for the sequence model)")
