"""Crisis early-warning models (scikit-learn conventions) and their file format.

Every model: ``fit(X, y, X_valid, y_valid)`` (validation for early stopping and calibration),
``predict_proba`` (calibrated, shape (n, 2)), ``predict_risk`` (n,), ``decision_function``
(uncalibrated), ``save(folder)`` / ``load(folder)`` as JSON plus LightGBM text or a NumPy
state dict: never a pickle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from riskmodel.models.calibration import Calibrator
from riskmodel.models.census import CENSUS_COLUMNS, CensusScreenModel
from riskmodel.models.lgbm import LGBMCrisisModel
from riskmodel.models.logreg import LogRegCrisisModel

if TYPE_CHECKING:  # torch is imported only when the sequence family is used
    from riskmodel.models.sequence import SequenceCrisisModel

FAMILIES = ("census", "logreg", "lgbm", "sequence")


def model_class(family: str) -> (type[CensusScreenModel] | type[LogRegCrisisModel] | type[LGBMCrisisModel]
                                  | type[SequenceCrisisModel]):
    """The estimator class of a model family name."""
    if family == "sequence":
        from riskmodel.models.sequence import SequenceCrisisModel

        return SequenceCrisisModel
    classes: dict[str, type[CensusScreenModel] | type[LogRegCrisisModel] | type[LGBMCrisisModel]] = {"census": CensusScreenModel, "logreg": LogRegCrisisModel, "lgbm": LGBMCrisisModel}
    if family not in classes:
        raise ValueError(f"unknown model family {family!r}; expected one of {FAMILIES}")
    return classes[family]


def make_model(family: str, params: dict | None = None):  # type: ignore[no-untyped-def]
    """Build an unfitted model of a family from a parameter dict (the config seam)."""
    cls = model_class(family)
    try:
        return cls(**(params or {}))
    except TypeError as exc:
        raise ValueError(f"model {family!r}: bad parameter ({exc})") from None


def load_model(folder: str | Path):  # type: ignore[no-untyped-def]
    """Load a model saved with ``model.save(folder)``."""
    folder = Path(folder)
    meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    return model_class(meta["family"]).load(folder)


__all__ = ["CENSUS_COLUMNS", "FAMILIES", "Calibrator", "CensusScreenModel", "LGBMCrisisModel",
           "LogRegCrisisModel", "load_model", "make_model", "model_class"]
