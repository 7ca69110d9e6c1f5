"""The estimator contract shared by every crisis model (scikit-learn conventions)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.exceptions import NotFittedError


class CrisisModelMixin:
    """``fit`` / ``predict_proba`` / ``predict_risk``; learned attributes end in ``_``.

    Subclasses implement ``_raw_score(X) -> np.ndarray`` (uncalibrated, higher = riskier) and
    set ``feature_names_in_`` and ``calibrator_`` in ``fit``.
    """

    family: str = "base"
    # learned in ``fit`` (or ``load``) by every subclass
    feature_names_in_: np.ndarray
    calibrator_: Any

    def _raw_score(self, X: Any) -> np.ndarray:
        """Uncalibrated score (higher = riskier); implemented by every subclass."""
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not hasattr(self, "calibrator_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                                 "training and validation data before using this model.")

    def _check_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"{type(self).__name__} expects a pandas DataFrame of features, got {type(X).__name__}")
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise ValueError(f"{type(self).__name__}: {len(missing)} feature(s) seen at fit are missing at "
                             f"predict: {missing[:5]}; pass the same feature columns as in fit")
        return X[list(self.feature_names_in_)]

    def predict_risk(self, X) -> np.ndarray:  # type: ignore[no-untyped-def]
        """Calibrated probability of a crisis within the horizon, shape (n,)."""
        self._check_fitted()
        return self.calibrator_.transform(self._raw_score(X))

    def predict_proba(self, X) -> np.ndarray:  # type: ignore[no-untyped-def]
        """``[[1 - p, p], ...]`` with p the calibrated risk (scikit-learn shape)."""
        p = self.predict_risk(X)
        return np.column_stack([1.0 - p, p])

    def decision_function(self, X) -> np.ndarray:  # type: ignore[no-untyped-def]
        """Uncalibrated score (higher = riskier)."""
        self._check_fitted()
        return self._raw_score(X)


def check_xy(X: pd.DataFrame, y) -> tuple[pd.DataFrame, np.ndarray]:  # type: ignore[no-untyped-def]
    """Validate a feature frame and labels (same length, binary)."""
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame of features, got {type(X).__name__}")
    y = np.asarray(y).astype(float).reshape(-1)
    if len(y) != len(X):
        raise ValueError(f"Found input variables with inconsistent numbers of samples: X has {len(X)} rows, "
                         f"y has {len(y)}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y must be binary (0/1 crisis labels)")
    return X, y
