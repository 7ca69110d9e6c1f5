"""Reports: weekly check (周查), monthly report (月报), one file per student (一人一档), model card.

Every renderer is a pure function from DataFrames / dataclasses to a self-contained HTML string
(charts embedded as PNG data URIs, CSS inline, no network), Chinese by default and English with
``lang="en"`` in the config. Rows outside the report's :class:`ReportScope` never reach a page;
student ids are the pseudonyms. Only :func:`write_report` touches the file system.
"""

from riskmodel.reports.common import (
    DataQuality,
    OutOfScopeError,
    ReportInputError,
    ReportScope,
    detect_gate_outages,
    write_atomic,
)
from riskmodel.reports.i18n import LANGS, text
from riskmodel.reports.model_card import ModelCardInfo, card_info_from_evaluation, render_model_card
from riskmodel.reports.monthly import (
    MonthlyConfig,
    calibration_table,
    monthly_counts,
    monthly_report,
    outcome_labels,
)
from riskmodel.reports.student import StudentConfig, baseline_radar, own_baseline, student_file
from riskmodel.reports.weekly import WeeklyConfig, weekly_changes, weekly_check

write_report = write_atomic

__all__ = [
    "LANGS",
    "DataQuality",
    "ModelCardInfo",
    "MonthlyConfig",
    "OutOfScopeError",
    "ReportInputError",
    "ReportScope",
    "StudentConfig",
    "WeeklyConfig",
    "baseline_radar",
    "calibration_table",
    "card_info_from_evaluation",
    "detect_gate_outages",
    "monthly_counts",
    "monthly_report",
    "outcome_labels",
    "own_baseline",
    "render_model_card",
    "student_file",
    "text",
    "weekly_changes",
    "weekly_check",
    "write_atomic",
    "write_report",
]
