"""What every report shares: the scope filter, the data-quality box, the template engine,
reason formatting and the one atomic file writer (the only I/O in this package).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from riskmodel.reports.i18n import LANGS, text, translator

LEVELS = ("school", "college", "grade", "class")
BANDS = ("flag", "watch", "none")


class ReportInputError(ValueError):
    """A report input lacks a column or holds an impossible value (message names both)."""


class OutOfScopeError(PermissionError):
    """The requested student or group lies outside the caller's scope."""


@dataclass(frozen=True)
class ReportScope:
    """A node of the five-level network a report is written for.

    ``level`` is one of school, college, grade, class; a grade lies inside a college and a class
    inside a grade, so ``ReportScope("class", college="CS", grade="2023", class_id="CS2023-1")``
    names one class. Rows outside the scope never reach a report.
    """

    level: str = "school"
    college: str | None = None
    grade: str | None = None
    class_id: str | None = None

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"ReportScope.level must be one of {LEVELS}, got {self.level!r}")
        need = {"school": (), "college": ("college",), "grade": ("grade",),
                "class": ("class_id",)}[self.level]
        missing = [n for n in need if getattr(self, n) in (None, "")]
        if missing:
            raise ValueError(f"ReportScope(level={self.level!r}) needs {', '.join(missing)}")

    def mask(self, frame: pd.DataFrame) -> pd.Series:
        """Boolean mask of the rows of ``frame`` inside the scope (needs the scope's columns)."""
        m = pd.Series(True, index=frame.index)
        for col in ("college", "grade", "class_id"):
            want = getattr(self, col)
            if want is None or self.level == "school":
                continue
            if col not in frame.columns:
                raise ReportInputError(f"scope {self.level}: frame lacks column {col!r} to restrict on")
            m &= frame[col].astype(str) == str(want)
        return m

    def restrict(self, frame: pd.DataFrame | None) -> pd.DataFrame | None:
        """The rows of ``frame`` inside the scope (None stays None)."""
        if frame is None:
            return None
        return frame.loc[self.mask(frame)].copy()

    def label(self, lang: str = "zh") -> str:
        """E.g. "学院 CS · 年级 2023" or "whole school"."""
        if self.level == "school":
            return text("school", lang)
        parts = []
        for key, col in (("college", "college"), ("grade", "grade"), ("class", "class_id")):
            v = getattr(self, col)
            if v is not None:
                parts.append(f"{text(key, lang)} {v}")
        return " · ".join(parts)

    @classmethod
    def from_any(cls, scope: Any) -> ReportScope:
        """Accept a ReportScope, None (school), a ``riskmodel.scoping.Scope`` (level, value), a
        ``"college=CS"`` string, or any mapping/object with level/college/grade/class_id."""
        if scope is None:
            return cls()
        if isinstance(scope, cls):
            return scope
        if isinstance(scope, str):
            if scope.strip() in ("", "school"):
                return cls()
            if "=" not in scope:
                raise ValueError(f"scope {scope!r} must look like LEVEL=VALUE (college=CS, grade=2023, class=CS2023-1)")
            level, value = (x.strip() for x in scope.split("=", 1))
            return cls.from_any(type("S", (), {"level": level, "value": value})())
        if hasattr(scope, "value") and not isinstance(scope, Mapping):
            level, value = str(scope.level), scope.value
            if level == "school":
                return cls()
            if level == "college":
                return cls("college", college=str(value))
            if level == "grade":
                return cls("grade", grade=str(value))
            if level == "class":
                return cls("class", class_id=str(value))
            raise ValueError(f"reports are written for school, college, grade or class, not {level!r}")
        get = scope.get if isinstance(scope, Mapping) else lambda k, d=None: getattr(scope, k, d)
        return cls(level=str(get("level", "school")), college=get("college"),
                   grade=None if get("grade") is None else str(get("grade")),
                   class_id=get("class_id") or get("class_"))


def normalise(frame: pd.DataFrame | None, required: Iterable[str], name: str) -> pd.DataFrame | None:
    """Copy of ``frame`` with ``class`` renamed ``class_id``, ``grade`` as text, and a check that
    ``required`` columns are present (a ``ReportInputError`` names the frame and column)."""
    if frame is None:
        return None
    f = frame.rename(columns={"class": "class_id"}).copy()
    if "grade" in f.columns:
        f["grade"] = f["grade"].astype(str)
    missing = [c for c in required if c not in f.columns]
    if missing:
        raise ReportInputError(f"{name}: missing column(s) {', '.join(missing)}; "
                               f"have {', '.join(map(str, f.columns))}")
    return f


def reasons_text(value: Any) -> list[str]:
    """Reasons as a list of plain sentences (accepts a list, an array, a ';'-joined string)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace("；", ";").split(";")]
        return [p for p in parts if p]
    try:
        return [str(v) for v in value if str(v).strip()]
    except TypeError:
        return [str(value)]


@dataclass
class DataQuality:
    """The data-quality box: sources present/missing, rows read and quarantined per table,
    suspected gate outages (building, night, events, usual)."""

    sources_present: list[str] = field(default_factory=list)
    sources_missing: list[str] = field(default_factory=list)
    tables: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["table", "rows_read", "rows_quarantined", "reasons"]))
    gate_outages: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["building", "night", "events", "usual"]))

    @classmethod
    def from_report(cls, report: Any, gate_outages: pd.DataFrame | None = None) -> DataQuality:
        """From a ``riskmodel.contracts.ValidationReport`` (counts and rule names only)."""
        rows = []
        for r in report.tables.values():
            if r.present:
                rows.append({"table": r.table, "rows_read": int(r.rows_read),
                             "rows_quarantined": int(r.rows_quarantined),
                             "reasons": "; ".join(f"{k}: {v}" for k, v in sorted(r.reasons.items()))})
        dq = cls(sources_present=list(report.sources_present), sources_missing=list(report.sources_missing),
                 tables=pd.DataFrame(rows, columns=["table", "rows_read", "rows_quarantined", "reasons"]))
        if gate_outages is not None:
            dq.gate_outages = gate_outages
        return dq


def detect_gate_outages(door_events: pd.DataFrame | None, start: pd.Timestamp, end: pd.Timestamp,
                        min_share: float = 0.1, night_hours: tuple[int, int] = (21, 3)) -> pd.DataFrame:
    """Building-nights in ``[start, end)`` whose door events fell under ``min_share`` of usual.

    A night runs from ``night_hours[0]`` o'clock to ``night_hours[1]`` o'clock the next morning
    and is dated by its evening. "Usual" is the building's median night count over all nights
    of ``door_events`` before ``end`` (as-of rule: nothing on or after ``end`` is read).
    Returns building, night, events, usual; empty when no door data.
    """
    cols = ["building", "night", "events", "usual"]
    if door_events is None or door_events.empty:
        return pd.DataFrame(columns=cols)
    ts = pd.to_datetime(door_events["ts"])
    keep = ts < pd.Timestamp(end) + pd.Timedelta(hours=night_hours[1])
    ts, b = ts[keep], door_events.loc[keep, "building"].astype(str)
    h = ts.dt.hour
    at_night = (h >= night_hours[0]) | (h < night_hours[1])
    night = (ts - pd.to_timedelta((h < night_hours[1]).astype(int), unit="D")).dt.normalize()
    counts = pd.DataFrame({"building": b[at_night], "night": night[at_night]}).value_counts()
    if counts.empty:
        return pd.DataFrame(columns=cols)
    counts = counts.rename("events").reset_index()
    nights = pd.date_range(counts["night"].min(), pd.Timestamp(end) - pd.Timedelta(days=1), freq="D")
    full = (pd.MultiIndex.from_product([sorted(counts["building"].unique()), nights], names=["building", "night"])
            .to_frame(index=False).merge(counts, how="left", on=["building", "night"]).fillna({"events": 0}))
    full["usual"] = full.groupby("building")["events"].transform("median")
    sel = (full["night"] >= pd.Timestamp(start)) & (full["night"] < pd.Timestamp(end)) & (
        full["events"] < min_share * full["usual"]) & (full["usual"] > 0)
    out = full.loc[sel, cols].sort_values(["night", "building"]).reset_index(drop=True)
    out["events"] = out["events"].astype(int)
    return out


_ENV: jinja2.Environment | None = None


def environment() -> jinja2.Environment:
    """The Jinja2 environment over the package's ``templates/`` (HTML autoescaped)."""
    global _ENV
    if _ENV is None:
        _ENV = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        _ENV.filters["pct"] = lambda v, d=1: "—" if v is None or pd.isna(v) else f"{100 * float(v):.{d}f}%"
        _ENV.filters["num"] = lambda v, d=3: "—" if v is None or pd.isna(v) else f"{float(v):.{d}f}"
        _ENV.filters["day"] = lambda v: "—" if v is None or pd.isna(v) else pd.Timestamp(v).strftime("%Y-%m-%d")
    return _ENV


def render(template: str, lang: str, **context: Any) -> str:
    """Render ``template`` with ``t`` (labels in ``lang``) and ``context``."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    return environment().get_template(template).render(t=translator(lang), lang=lang, **context)


def records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    """Rows of ``frame`` as dicts for a template (empty list for None)."""
    if frame is None or frame.empty:
        return []
    return frame.to_dict("records")


def write_atomic(path: str | Path, content: str) -> Path:
    """Write ``content`` (UTF-8) to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
