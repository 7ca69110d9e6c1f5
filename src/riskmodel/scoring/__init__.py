"""The importable scoring API: load a registered model, score an as-of date, scoped + audited.

>>> from riskmodel.scoring import Scorer, ScoringConfig   # doctest: +SKIP
>>> scorer = Scorer.from_registry("crisis-warning", alias="champion", access=access)  # doctest: +SKIP
>>> flags = scorer.score("export/", "2024-11-04", scope="college=C01", caller="dean")  # doctest: +SKIP

See :class:`Scorer` for the rules (who is scored, bands, known students, reasons, audit).
"""

from riskmodel.scoring.config import ScoringConfig, ScoringError, check_capacity
from riskmodel.scoring.core import BANDS, bands, write_table_atomic
from riskmodel.scoring.reidentify import REIDENTIFY_ROLES, reidentify_scores
from riskmodel.scoring.scorer import (
    OUTPUT_COLUMNS,
    Scorer,
    ScoringInputs,
    StudentExplanation,
    default_featurizer,
)

__all__ = [
    "BANDS",
    "OUTPUT_COLUMNS",
    "REIDENTIFY_ROLES",
    "Scorer",
    "ScoringConfig",
    "ScoringError",
    "ScoringInputs",
    "StudentExplanation",
    "bands",
    "check_capacity",
    "default_featurizer",
    "reidentify_scores",
    "write_table_atomic",
]
