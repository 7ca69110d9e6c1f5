"""Who may see which students: scopes, callers, role checks and the append-only audit log.

Shared by the alerts and the scoring API. The rules:

* A caller is named, and its role and reach come from the access configuration (a registry
  of callers), never from what the caller says about itself. A counselor sees the classes
  of the students whose ``counselor_id`` is theirs; a college leader sees a college; the
  counselling center and admins see the school; the aid office sees the school for hidden
  aid only.
* The counselor id in the registry is a raw id; it is pseudonymised with the data's key
  before it is matched with ``students.counselor_id`` (which the loader pseudonymised).
* A requested :class:`Scope` (school, college, grade, class or dorm room) narrows the
  caller's reach; a scope outside the reach raises :class:`ScopeError`.
* Every call is written to an append-only JSON-lines audit log (time, caller, role, scope,
  as-of, what, model and version, rows returned, outcome), never with a student id. Each
  line carries the SHA-256 of the line before it, so an edited or deleted line is detected
  by :func:`verify_audit_log`.

Examples
--------
>>> import pandas as pd
>>> students = pd.DataFrame({"student_id": ["a", "b"], "college": ["CS", "Math"],
...     "class_id": ["c1", "m1"], "enrollment_year": [2023, 2022],
...     "dorm_room": ["B1-1", None], "counselor_id": ["x", "y"]})
>>> access = AccessConfig(callers={"dean-cs": CallerEntry(role="college_leader", college="CS")})
>>> caller = authenticate("dean-cs", "college_leader", access)
>>> allowed_students(students, caller, Scope.school(), access, key=None).tolist()
['a']
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from riskmodel.contracts.pseudonym import PseudonymKey

LEVELS = ("school", "college", "grade", "class", "dorm_room")
ROLES = ("counselor", "college_leader", "counselling_center", "aid_office", "admin")
#: Which roles may ask for what (an alert or a scoring call). Unknown ``what`` -> denied.
PERMISSIONS: dict[str, frozenset[str]] = {
    "night_absence": frozenset({"counselor", "college_leader", "counselling_center", "admin"}),
    "lost_contact": frozenset({"counselor", "college_leader", "counselling_center", "admin"}),
    "anomaly": frozenset({"counselor", "college_leader", "counselling_center", "admin"}),
    "academic": frozenset({"counselor", "college_leader", "counselling_center", "admin"}),
    "hidden_aid": frozenset({"aid_office"}),
    "score": frozenset({"counselor", "college_leader", "counselling_center", "admin"}),
    "explain": frozenset({"counselor", "college_leader", "counselling_center", "admin"}),
}
_SCHOOL_WIDE = frozenset({"counselling_center", "admin", "aid_office"})
_LEVEL_COLUMN = {"college": "college", "grade": "enrollment_year", "class": "class_id", "dorm_room": "dorm_room"}


class ScopeError(PermissionError):
    """A caller asked for something outside its role or reach."""


@dataclass(frozen=True)
class Scope:
    """A unit of the five-level network: ``level`` in LEVELS and its ``value``.

    ``grade`` is the enrollment year (e.g. ``grade=2023``); ``school`` has no value.
    """

    level: str = "school"
    value: str | None = None

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"scope level {self.level!r} is not one of {', '.join(LEVELS)}")
        if self.level != "school" and not self.value:
            raise ValueError(f"scope level {self.level!r} needs a value, e.g. {self.level}=...")

    @classmethod
    def school(cls) -> Scope:
        return cls("school", None)

    @classmethod
    def parse(cls, text: str | None) -> Scope:
        """Parse ``"college=CS"``, ``"class=CS2023-01"``, ``"school"`` or None (school)."""
        if text is None or text.strip() in ("", "school"):
            return cls.school()
        if "=" not in text:
            raise ValueError(f"scope {text!r} must look like LEVEL=VALUE with LEVEL in {', '.join(LEVELS)}")
        level, value = text.split("=", 1)
        return cls(level.strip(), value.strip())

    def __str__(self) -> str:
        return "school" if self.level == "school" else f"{self.level}={self.value}"


@dataclass(frozen=True)
class CallerEntry:
    """A registered caller: its role and, by role, its counselor id (raw) or college."""

    role: str
    counselor_id: str | None = None
    college: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role {self.role!r} is not one of {', '.join(ROLES)}")
        if self.role == "counselor" and not self.counselor_id:
            raise ValueError("a caller with role counselor needs a counselor_id")
        if self.role == "college_leader" and not self.college:
            raise ValueError("a caller with role college_leader needs a college")


@dataclass(frozen=True)
class Caller:
    """An authenticated caller (built by :func:`authenticate`, from the registry)."""

    name: str
    role: str
    counselor_id: str | None = None
    college: str | None = None


@dataclass
class AccessConfig:
    """The caller registry and where the audit log lives."""

    callers: dict[str, CallerEntry] = field(default_factory=dict)
    audit_log: str = ".riskmodel/audit/riskmodel_audit.jsonl"  # git-ignored; relative to the working dir


def access_config_from_dict(values: Mapping[str, Any]) -> AccessConfig:
    """Build an :class:`AccessConfig` from a dict (as read from YAML); unknown keys raise."""
    unknown = sorted(set(values) - {"callers", "audit_log"})
    if unknown:
        raise ValueError(f"access config: unknown key(s) {unknown}; known: ['audit_log', 'callers']")
    callers = {}
    for name, entry in (values.get("callers") or {}).items():
        bad = sorted(set(entry) - {"role", "counselor_id", "college"})
        if bad:
            raise ValueError(f"access config: caller {name!r} has unknown key(s) {bad}")
        callers[str(name)] = CallerEntry(
            role=str(entry["role"]),
            counselor_id=None if entry.get("counselor_id") is None else str(entry["counselor_id"]),
            college=None if entry.get("college") is None else str(entry["college"]),
        )
    return AccessConfig(callers=callers, audit_log=str(values.get("audit_log", AccessConfig.audit_log)))


def load_access_config(path: str | Path) -> AccessConfig:
    """Read the caller registry from a YAML file."""
    with open(path, encoding="utf-8") as fh:
        return access_config_from_dict(yaml.safe_load(fh) or {})


def authenticate(name: str, claimed_role: str | None, access: AccessConfig) -> Caller:
    """Look ``name`` up in the registry; a claimed role must match the registered one.

    Raises :class:`ScopeError` for an unknown caller or a role that does not match.
    """
    entry = access.callers.get(name)
    if entry is None:
        raise ScopeError(f"caller {name!r} is not in the access registry; ask an admin to register it")
    if claimed_role is not None and claimed_role != entry.role:
        raise ScopeError(f"caller {name!r} is registered with role {entry.role!r}, not {claimed_role!r}")
    return Caller(name=name, role=entry.role, counselor_id=entry.counselor_id, college=entry.college)


def check_role(caller: Caller, what: str) -> None:
    """Raise :class:`ScopeError` unless ``caller``'s role may ask for ``what``."""
    allowed = PERMISSIONS.get(what)
    if allowed is None:
        raise ScopeError(f"{what!r} is not a known kind of request (known: {', '.join(PERMISSIONS)})")
    if caller.role not in allowed:
        raise ScopeError(f"{what} is restricted to role(s) {', '.join(sorted(allowed))}; "
                         f"caller {caller.name!r} has role {caller.role!r}")


def _reach_mask(students: pd.DataFrame, caller: Caller, key: PseudonymKey | None) -> pd.Series:
    if caller.role in _SCHOOL_WIDE:
        return pd.Series(True, index=students.index)
    if caller.role == "college_leader":
        return students["college"].astype(str) == str(caller.college)
    if caller.role == "counselor":
        if key is None:
            raise ScopeError("resolving a counselor's scope needs the pseudonymisation key")
        pid = key.pseudonymise(str(caller.counselor_id))
        classes = set(students.loc[students["counselor_id"] == pid, "class_id"])
        return students["class_id"].isin(classes)
    raise ScopeError(f"role {caller.role!r} has no reach")  # pragma: no cover - roles are checked


def _scope_mask(students: pd.DataFrame, scope: Scope) -> pd.Series:
    if scope.level == "school":
        return pd.Series(True, index=students.index)
    col = _LEVEL_COLUMN[scope.level]
    return students[col].astype("string") == str(scope.value)


def allowed_students(
    students: pd.DataFrame, caller: Caller, scope: Scope, access: AccessConfig | None = None,
    key: PseudonymKey | None = None,
) -> pd.Index:
    """The (pseudonymised) student ids that ``caller`` may see within ``scope``.

    Reach comes from the caller's registered role (and, for a counselor, the classes of the
    students whose ``counselor_id`` is the pseudonymised counselor id). A scope that lies
    wholly outside the reach raises :class:`ScopeError`; one that partly overlaps is cut to
    the overlap. An empty scope (no student there at all) returns an empty index.
    """
    reach = _reach_mask(students, caller, key)
    want = _scope_mask(students, scope)
    both = reach & want
    if want.any() and not both.any():
        raise ScopeError(f"caller {caller.name!r} (role {caller.role}) may not see {scope}")
    return pd.Index(students.loc[both, "student_id"])


def restrict(frame: pd.DataFrame, students: pd.DataFrame, caller: Caller, scope: Scope,
             access: AccessConfig | None = None, key: PseudonymKey | None = None) -> pd.DataFrame:
    """Drop the rows of ``frame`` (with a ``student_id`` column) outside the caller's scope."""
    ids = allowed_students(students, caller, scope, access, key)
    return frame.loc[frame["student_id"].isin(ids)].reset_index(drop=True)


# ----------------------------------------------------------------------------- audit log


def _last_line_hash(path: Path) -> str:
    if not path.exists() or path.stat().st_size == 0:
        return "0" * 64
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        back = min(size, 65536)
        fh.seek(size - back)
        tail = fh.read().rstrip(b"\n").split(b"\n")[-1]
    return hashlib.sha256(tail).hexdigest()


def audit(
    path: str | Path,
    *,
    caller: Caller,
    scope: Scope,
    as_of: str,
    what: str,
    rows: int,
    model: str = "rules",
    version: str = "1",
    outcome: str = "ok",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Append one audit record (JSON line) to ``path`` and return it.

    The record holds time, caller name, role, scope, as-of, what was asked, model and
    version, the number of rows returned and the outcome (``ok`` or ``denied: ...``); it
    never holds a student id. The file is only ever opened for appending.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "time": (now or datetime.now()).isoformat(timespec="seconds"),
        "caller": caller.name,
        "role": caller.role,
        "scope": str(scope),
        "as_of": str(as_of),
        "what": what,
        "model": model,
        "version": str(version),
        "rows": int(rows),
        "outcome": outcome,
        "prev_sha256": _last_line_hash(p),
    }
    line = json.dumps(record, ensure_ascii=False, sort_keys=True)
    with open(p, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return record


def read_audit_log(path: str | Path) -> list[dict[str, Any]]:
    """All records of an audit log, oldest first."""
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def verify_audit_log(path: str | Path) -> bool:
    """True when every line's ``prev_sha256`` matches the line before it (nothing edited)."""
    p = Path(path)
    if not p.exists():
        return True
    prev = "0" * 64
    for line in p.read_bytes().rstrip(b"\n").split(b"\n"):
        if not line:
            continue
        if json.loads(line).get("prev_sha256") != prev:
            return False
        prev = hashlib.sha256(line).hexdigest()
    return True


def scoped_call(
    frame: pd.DataFrame,
    students: pd.DataFrame,
    caller: Caller,
    scope: Scope,
    *,
    what: str,
    as_of: str,
    audit_path: str | Path,
    key: PseudonymKey | None = None,
    model: str = "rules",
    version: str = "1",
) -> pd.DataFrame:
    """Role check + restriction + audit in one step; denied calls are audited then raised."""
    try:
        check_role(caller, what)
        out = restrict(frame, students, caller, scope, key=key)
    except ScopeError as exc:
        audit(audit_path, caller=caller, scope=scope, as_of=as_of, what=what, rows=0,
              model=model, version=version, outcome=f"denied: {exc}")
        raise
    audit(audit_path, caller=caller, scope=scope, as_of=as_of, what=what, rows=len(out),
          model=model, version=version)
    return out
