"""Logistic regression on window features (standardised, NaN imputed with an indicator)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from riskmodel.models.base import CrisisModelMixin, check_xy
from riskmodel.models.calibration import Calibrator


class LogRegCrisisModel(CrisisModelMixin):
    """Baseline: L2 logistic regression.

    Each feature's NaN is imputed with its training median and a ``<name>__missing``
    indicator is added for features with any NaN in training; features are standardised with
    training mean and standard deviation. Everything learned is stored as plain numbers.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"a": rng.normal(size=300), "b": [np.nan] * 30 + list(rng.normal(size=270))})
    >>> y = (X.a + rng.normal(size=300) > 1.2).astype(int)
    >>> LogRegCrisisModel().fit(X[:200], y[:200], X[200:], y[200:]).predict_risk(X[200:]).shape
    (100,)
    """

    family = "logreg"

    def __init__(self, C: float = 0.1, max_iter: int = 500, calibration: str = "platt"):
        self.C = C
        self.max_iter = max_iter
        self.calibration = calibration

    def get_params(self) -> dict:
        return {"C": self.C, "max_iter": self.max_iter, "calibration": self.calibration}

    def _design(self, X: pd.DataFrame) -> np.ndarray:
        a = X.to_numpy(np.float64)
        miss = np.isnan(a)
        a = np.where(miss, self.median_[None, :], a)
        z = (a - self.mean_[None, :]) / self.scale_[None, :]
        ind = miss[:, self.indicator_idx_].astype(np.float64)
        return np.hstack([z, ind])

    def fit(self, X: pd.DataFrame, y, X_valid: pd.DataFrame, y_valid) -> LogRegCrisisModel:  # type: ignore[no-untyped-def]
        """Fit on (X, y); calibrate on (X_valid, y_valid)."""
        X, y = check_xy(X, y)
        X_valid, y_valid = check_xy(X_valid, y_valid)
        self.feature_names_in_ = np.array(list(X.columns), dtype=object)
        a = X.to_numpy(np.float64)
        with warnings.catch_warnings():  # an all-NaN column gets median 0 below
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(a, axis=0)
        self.median_ = np.where(np.isnan(med), 0.0, med)
        filled = np.where(np.isnan(a), self.median_[None, :], a)
        self.mean_ = filled.mean(axis=0)
        sd = filled.std(axis=0)
        self.scale_ = np.where(sd > 1e-12, sd, 1.0)
        self.indicator_idx_ = np.flatnonzero(np.isnan(a).any(axis=0))
        lr = LogisticRegression(C=self.C, max_iter=self.max_iter).fit(self._design(X), y)
        self.coef_ = lr.coef_[0].copy()
        self.intercept_ = float(lr.intercept_[0])
        self.calibrator_ = Calibrator(self.calibration).fit(self._score(X_valid[list(X.columns)]), y_valid)
        return self

    def _score(self, X: pd.DataFrame) -> np.ndarray:
        return self._design(X) @ self.coef_ + self.intercept_

    def _raw_score(self, X: pd.DataFrame) -> np.ndarray:
        return self._score(self._check_frame(X))

    def save(self, folder: Path) -> None:
        self._check_fitted()
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"family": self.family, "params": self.get_params(), "feature_names": list(self.feature_names_in_),
                "median": self.median_.tolist(), "mean": self.mean_.tolist(), "scale": self.scale_.tolist(),
                "indicator_idx": self.indicator_idx_.tolist(), "coef": self.coef_.tolist(),
                "intercept": self.intercept_, "calibrator": self.calibrator_.to_dict()}
        (folder / "model.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> LogRegCrisisModel:
        meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
        m = cls(**meta["params"])
        m.feature_names_in_ = np.array(meta["feature_names"], dtype=object)
        for k in ("median", "mean", "scale", "coef"):
            setattr(m, f"{k}_", np.asarray(meta[k], dtype=np.float64))
        m.indicator_idx_ = np.asarray(meta["indicator_idx"], dtype=np.int64)
        m.intercept_ = float(meta["intercept"])
        m.calibrator_ = Calibrator.from_dict(meta["calibrator"])
        return m
