"""MLflow "model from code": the served crisis model (a thin pyfunc).

MLflow executes this file when the model is loaded; ``load_context`` reads the saved model
folder (JSON plus LightGBM text or a NumPy state dict) with :func:`riskmodel.models.load_model`
and ``predict`` calls the same ``predict_risk`` a notebook uses. Nothing here is pickled.
"""

from __future__ import annotations

import mlflow
import pandas as pd

# by name: ``mlflow.pyfunc`` is a lazy loader mypy cannot follow
from mlflow.pyfunc import PythonModel


class CrisisPyfunc(PythonModel):
    """Input: the window-feature columns (tabular families) or the long daily frame
    (``snapshot``, ``lag``, ``day_observed``, channels) for the sequence family.
    Output: a DataFrame with ``risk`` (calibrated probability), plus ``snapshot`` for sequences.
    """

    def load_context(self, context) -> None:  # type: ignore[no-untyped-def]
        from riskmodel.models import load_model

        self.model = load_model(context.artifacts["model_dir"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:  # type: ignore[no-untyped-def]
        if self.model.family == "sequence":
            from riskmodel.models.sequence import arrays_from_long_frame

            snaps, x, m = arrays_from_long_frame(model_input, list(self.model.feature_names_in_),
                                                 int(self.model.sequence_days_))
            return pd.DataFrame({"snapshot": snaps, "risk": self.model.predict_risk((x, m))})
        return pd.DataFrame({"risk": self.model.predict_risk(model_input)})


mlflow.models.set_model(CrisisPyfunc())
