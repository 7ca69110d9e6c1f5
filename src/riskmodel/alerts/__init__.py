"""The warnings the university named: night absence and lost contact, hidden aid, behavioural
anomaly, academic warning. Each returns alerts in one shape (:data:`ALERT_COLUMNS`) with
reasons in Chinese and English; :func:`run_alert` adds the role check, the scope and the
audit record, as the scoring API does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from riskmodel.alerts.common import ALERT_COLUMNS
from riskmodel.alerts.config import (
    AcademicConfig,
    AnomalyConfig,
    HiddenAidConfig,
    LostContactConfig,
    NightAbsenceConfig,
    alert_config_from_dict,
    load_alert_config,
)

ALERTS = ("night_absence", "lost_contact", "hidden_aid", "anomaly", "academic")
VERSION = "1"


def compute_alert(what: str, tables: Any, as_of: str | pd.Timestamp, cfg: Any | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run alert ``what`` at ``as_of`` over all students; returns ``(alerts, data_gaps)``.

    For night absence ``as_of`` is the night's date; for lost contact the as-of time (a date
    means its midnight); for the others the as-of date (records strictly before it).
    """
    if what not in ALERTS:
        raise ValueError(f"unknown alert {what!r}; known: {', '.join(ALERTS)}")
    cfg = cfg if cfg is not None else load_alert_config(what)
    empty = pd.DataFrame()
    if what == "night_absence":
        from riskmodel.alerts.night_absence import night_absence

        return night_absence(tables, as_of, cfg)
    if what == "lost_contact":
        from riskmodel.alerts.night_absence import lost_contact

        return lost_contact(tables, as_of, cfg)
    if what == "hidden_aid":
        from riskmodel.alerts.hidden_aid import hidden_aid

        return hidden_aid(tables, as_of, cfg)[0], empty
    if what == "anomaly":
        from riskmodel.alerts.anomaly import anomaly_alerts

        return anomaly_alerts(tables, as_of, cfg)[0], empty
    from riskmodel.alerts.academic import academic_alerts

    return academic_alerts(tables, as_of, cfg), empty


def run_alert(
    what: str,
    tables: Any,
    as_of: str | pd.Timestamp,
    *,
    caller: Any,
    scope: Any,
    audit_path: str | Path,
    key: Any = None,
    cfg: Any | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Role check, compute, restrict to the caller's scope, audit. Returns ``(alerts, gaps)``.

    The role is checked before anything is computed (hidden aid is computed for the aid
    office only). Alerts gain the student's college and class (no other attributes).
    A denied call is audited and raises :class:`riskmodel.scoping.ScopeError`.
    """
    from riskmodel.scoping import ScopeError, audit, check_role, scoped_call

    try:
        check_role(caller, what)
    except ScopeError as exc:
        audit(audit_path, caller=caller, scope=scope, as_of=str(as_of), what=what, rows=0,
              model=what, version=VERSION, outcome=f"denied: {exc}")
        raise
    alerts, gaps = compute_alert(what, tables, as_of, cfg)
    students = getattr(tables, "tables", tables)["students"]
    alerts = alerts.merge(students[["student_id", "college", "class_id"]], on="student_id", how="left")
    out = scoped_call(alerts, students, caller, scope, what=what, as_of=str(as_of), audit_path=audit_path,
                      key=key, model=what, version=VERSION)
    return out, gaps


__all__ = [
    "ALERTS", "ALERT_COLUMNS", "AcademicConfig", "AnomalyConfig", "HiddenAidConfig", "LostContactConfig",
    "NightAbsenceConfig", "alert_config_from_dict", "compute_alert", "load_alert_config", "run_alert",
]
