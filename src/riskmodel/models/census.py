"""Today's practice: the annual census screen alone (screen level and key item)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel.models.base import CrisisModelMixin, check_xy
from riskmodel.models.calibration import Calibrator

CENSUS_COLUMNS = ["screen_level", "screen_key_item"]


class CensusScreenModel(CrisisModelMixin):
    """Ranks by the latest census screen known at as-of: ``screen_level + key_item_weight *
    key_item``; students without a census score ``missing_score``. Nothing is learned but the
    calibration (isotonic on validation: the observed rate per screen category).

    Examples
    --------
    >>> X = pd.DataFrame({"screen_level": [0, 3, np.nan, 1], "screen_key_item": [0, 1, np.nan, 0]})
    >>> m = CensusScreenModel().fit(X, [0, 1, 0, 0], X, [0, 1, 0, 0])
    >>> m.decision_function(X).tolist()
    [0.0, 4.5, -0.5, 1.0]
    """

    family = "census"

    def __init__(self, key_item_weight: float = 1.5, missing_score: float = -0.5, calibration: str = "isotonic"):
        self.key_item_weight = key_item_weight
        self.missing_score = missing_score
        self.calibration = calibration

    def get_params(self) -> dict:
        return {"key_item_weight": self.key_item_weight, "missing_score": self.missing_score,
                "calibration": self.calibration}

    def _score(self, X: pd.DataFrame) -> np.ndarray:
        lvl = X["screen_level"].to_numpy(np.float64)
        key = np.nan_to_num(X["screen_key_item"].to_numpy(np.float64), nan=0.0)
        s = lvl + self.key_item_weight * key
        return np.where(np.isnan(lvl), self.missing_score, s)

    def fit(self, X: pd.DataFrame, y, X_valid: pd.DataFrame, y_valid) -> CensusScreenModel:  # type: ignore[no-untyped-def]
        """Check columns and calibrate the fixed screen score on the validation rows."""
        X, y = check_xy(X, y)
        X_valid, y_valid = check_xy(X_valid, y_valid)
        missing = [c for c in CENSUS_COLUMNS if c not in X.columns]
        if missing:
            raise ValueError(f"CensusScreenModel needs columns {CENSUS_COLUMNS}; missing {missing} "
                             "(see riskmodel.datasets.census_screen)")
        self.feature_names_in_ = np.array(CENSUS_COLUMNS, dtype=object)
        self.calibrator_ = Calibrator(self.calibration).fit(self._score(X_valid), y_valid)
        return self

    def _raw_score(self, X: pd.DataFrame) -> np.ndarray:
        return self._score(self._check_frame(X))

    def save(self, folder: Path) -> None:
        self._check_fitted()
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"family": self.family, "params": self.get_params(), "feature_names": list(self.feature_names_in_),
                "calibrator": self.calibrator_.to_dict()}
        (folder / "model.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> CensusScreenModel:
        meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
        m = cls(**meta["params"])
        m.feature_names_in_ = np.array(meta["feature_names"], dtype=object)
        m.calibrator_ = Calibrator.from_dict(meta["calibrator"])
        return m
