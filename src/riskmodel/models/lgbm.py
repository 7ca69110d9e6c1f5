"""LightGBM on window features: early stopping on validation, calibrated on validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import lightgbm as lgb
import numpy as np
import pandas as pd

from riskmodel.models.base import CrisisModelMixin, check_xy
from riskmodel.models.calibration import Calibrator


class LGBMCrisisModel(CrisisModelMixin):
    """Gradient-boosted trees on the window features.

    The defaults are for rare positives (a few hundred crises among hundreds of thousands of
    snapshots): small trees with large leaves, half the features per tree, a slow learning
    rate. No class weights: the raw margin keeps the base rate, and the validation-fitted
    calibrator (``calibration``) maps it to a probability. Boosting stops when the validation
    ``early_stopping_metric`` has not improved for ``early_stopping_rounds`` rounds: log loss by
    default, a proper score that moves smoothly; average precision over a few hundred positives
    jumps with single rows, and stopping on its lucky peak overfits the validation weeks.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    >>> y = (X.a + rng.normal(size=400) > 1.5).astype(int)
    >>> m = LGBMCrisisModel(n_estimators=20).fit(X[:300], y[:300], X[300:], y[300:])
    >>> m.predict_proba(X[300:]).shape
    (100, 2)
    """

    family = "lgbm"

    def __init__(self, n_estimators: int = 1500, learning_rate: float = 0.02, num_leaves: int = 15,
                 min_child_samples: int = 400, feature_fraction: float = 0.5, bagging_fraction: float = 0.8,
                 lambda_l2: float = 1.0, early_stopping_rounds: int = 150, calibration: str = "isotonic",
                 seed: int = 0, num_threads: int = 2, early_stopping_metric: str = "binary_logloss"):
        self.early_stopping_metric = early_stopping_metric
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.feature_fraction = feature_fraction
        self.bagging_fraction = bagging_fraction
        self.lambda_l2 = lambda_l2
        self.early_stopping_rounds = early_stopping_rounds
        self.calibration = calibration
        self.seed = seed
        self.num_threads = num_threads

    def get_params(self) -> dict:
        return {k: getattr(self, k) for k in ("n_estimators", "learning_rate", "num_leaves", "min_child_samples",
                                              "feature_fraction", "bagging_fraction", "lambda_l2",
                                              "early_stopping_rounds", "calibration", "seed", "num_threads",
                                              "early_stopping_metric")}

    def _lgb_params(self) -> dict:
        return {"objective": "binary", "metric": self.early_stopping_metric, "learning_rate": self.learning_rate,
                "num_leaves": self.num_leaves, "min_data_in_leaf": self.min_child_samples,
                "feature_fraction": self.feature_fraction, "bagging_fraction": self.bagging_fraction,
                "bagging_freq": 1 if self.bagging_fraction < 1 else 0, "lambda_l2": self.lambda_l2,
                "seed": self.seed, "deterministic": True, "num_threads": self.num_threads, "verbosity": -1}

    def fit(self, X: pd.DataFrame, y, X_valid: pd.DataFrame, y_valid) -> LGBMCrisisModel:  # type: ignore[no-untyped-def]
        """Train on (X, y); stop early and calibrate on (X_valid, y_valid)."""
        if self.early_stopping_metric not in ("binary_logloss", "average_precision", "auc"):
            raise ValueError("LGBMCrisisModel.early_stopping_metric must be 'binary_logloss', 'average_precision' "
                             f"or 'auc', got {self.early_stopping_metric!r}")
        X, y = check_xy(X, y)
        X_valid, y_valid = check_xy(X_valid, y_valid)
        self.feature_names_in_ = np.array(list(X.columns), dtype=object)
        Xv = X_valid[list(X.columns)]
        dtrain = lgb.Dataset(X.to_numpy(np.float64), y, feature_name=[str(c) for c in X.columns],
                             free_raw_data=True)
        dvalid = lgb.Dataset(Xv.to_numpy(np.float64), y_valid, reference=dtrain)
        self.booster_ = lgb.train(self._lgb_params(), dtrain, num_boost_round=self.n_estimators,
                                  valid_sets=[dvalid], valid_names=["valid"],
                                  callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)])
        self.best_iteration_ = int(self.booster_.best_iteration or self.booster_.current_iteration())
        self.calibrator_ = Calibrator(self.calibration).fit(self._margin(Xv), y_valid)
        return self

    def _margin(self, X: pd.DataFrame) -> np.ndarray:
        # a plain raw-score prediction is always an array (the stubs also allow sparse/list outputs)
        return cast(np.ndarray, self.booster_.predict(X.to_numpy(np.float64), num_iteration=self.best_iteration_,
                                                      raw_score=True))

    def _raw_score(self, X: pd.DataFrame) -> np.ndarray:
        return self._margin(self._check_frame(X))

    def save(self, folder: Path) -> None:
        """Booster as LightGBM text plus JSON metadata; no pickles."""
        self._check_fitted()
        folder.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(folder / "booster.txt"), num_iteration=self.best_iteration_)
        meta = {"family": self.family, "params": self.get_params(), "best_iteration": self.best_iteration_,
                "feature_names": list(self.feature_names_in_), "calibrator": self.calibrator_.to_dict()}
        (folder / "model.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> LGBMCrisisModel:
        meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
        m = cls(**meta["params"])
        m.booster_ = lgb.Booster(model_file=str(folder / "booster.txt"))
        m.best_iteration_ = int(meta["best_iteration"])
        m.feature_names_in_ = np.array(meta["feature_names"], dtype=object)
        m.calibrator_ = Calibrator.from_dict(meta["calibrator"])
        return m
