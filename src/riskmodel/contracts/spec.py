"""Contract v1 as data: reads the YAML files in ``data_contracts/``.

These files are the single source of truth for the source tables; everything else
(pandera schemas, coercion, pseudonymisation, quarantine rules, the simulator's
output) derives its column lists from :func:`load_contracts`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

COLUMN_TYPES = ("str", "int", "float", "bool", "timestamp", "date")
SENSITIVITIES = ("identifier", "sensitive", "ordinary")


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a source table."""

    name: str
    type: str
    nullable: bool = False
    sensitivity: str = "ordinary"
    allowed: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    pattern: str | None = None
    references: str | None = None  # "table.column"
    in_period: bool = False
    unit: str | None = None
    description: str = ""
    #: the explicit value a source uses when it does not hold this attribute (v1.1)
    unknown: Any = None
    has_unknown: bool = False

    @property
    def is_private(self) -> bool:
        """True when values of this column must never appear in errors, logs or reports."""
        return self.sensitivity in ("identifier", "sensitive")


@dataclass(frozen=True)
class RowRule:
    """A rule across columns of one row, as a pandas ``DataFrame.eval`` expression."""

    name: str
    expr: str
    description: str = ""


@dataclass(frozen=True)
class TableContract:
    """The contract of one source table."""

    table: str
    version: int
    required: bool
    columns: tuple[ColumnSpec, ...]
    keys: tuple[str, ...]
    event_time: str | None
    row_rules: tuple[RowRule, ...] = field(default_factory=tuple)
    description: str = ""

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.table!r} has no column {name!r}")

    @property
    def identifier_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.sensitivity == "identifier"]


def contracts_dir() -> Path:
    """Folder of the contract YAML files (``RISKMODEL_CONTRACTS_DIR`` overrides)."""
    env = os.environ.get("RISKMODEL_CONTRACTS_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "data_contracts"
        if (candidate / "students.yaml").exists():
            return candidate
    raise FileNotFoundError(
        "data_contracts/ not found; set RISKMODEL_CONTRACTS_DIR to the folder of contract YAML files"
    )


def _column_from_yaml(name: str, raw: dict[str, Any], table: str) -> ColumnSpec:
    ctype = raw.get("type")
    if ctype not in COLUMN_TYPES:
        raise ValueError(f"contract {table}.{name}: type {ctype!r} is not one of {COLUMN_TYPES}")
    sens = raw.get("sensitivity", "ordinary")
    if sens not in SENSITIVITIES:
        raise ValueError(f"contract {table}.{name}: sensitivity {sens!r} not in {SENSITIVITIES}")
    allowed = raw.get("allowed")
    return ColumnSpec(
        name=name,
        type=ctype,
        nullable=bool(raw.get("nullable", False)),
        sensitivity=sens,
        allowed=tuple(allowed) if allowed is not None else None,
        min=raw.get("min"),
        max=raw.get("max"),
        min_exclusive=bool(raw.get("min_exclusive", False)),
        pattern=raw.get("pattern"),
        references=raw.get("references"),
        in_period=bool(raw.get("in_period", False)),
        unit=raw.get("unit"),
        description=raw.get("description", "") or "",
        unknown=raw.get("unknown"),
        has_unknown="unknown" in raw,
    )


def parse_contract(raw: dict[str, Any]) -> TableContract:
    """Build a :class:`TableContract` from the parsed YAML of one contract file."""
    table = raw["table"]
    columns = tuple(_column_from_yaml(n, c, table) for n, c in raw["columns"].items())
    names = {c.name for c in columns}
    keys = tuple(raw.get("keys") or ())
    for k in keys:
        if k not in names:
            raise ValueError(f"contract {table}: key column {k!r} is not a column")
    event_time = raw.get("event_time")
    if event_time is not None and event_time not in names:
        raise ValueError(f"contract {table}: event_time {event_time!r} is not a column")
    rules = tuple(RowRule(**r) for r in raw.get("row_rules") or ())
    return TableContract(
        table=table,
        version=int(raw.get("version", 1)),
        required=bool(raw.get("required", False)),
        columns=columns,
        keys=keys,
        event_time=event_time,
        row_rules=rules,
        description=raw.get("description", "") or "",
    )


@lru_cache(maxsize=4)
def _load(folder: str) -> dict[str, TableContract]:
    out: dict[str, TableContract] = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
        c = parse_contract(raw)
        if c.table != path.stem:
            raise ValueError(f"contract file {path.name} declares table {c.table!r}")
        out[c.table] = c
    if "students" not in out:
        raise ValueError(f"no students.yaml in {folder}")
    return out


def load_contracts(folder: str | Path | None = None) -> dict[str, TableContract]:
    """All table contracts, keyed by table name (``students`` first, then alphabetical)."""
    contracts = _load(str(folder or contracts_dir()))
    ordered = {"students": contracts["students"]}
    ordered.update({k: v for k, v in contracts.items() if k != "students"})
    return ordered


def table_names() -> list[str]:
    """The names of the contract-v1 source tables."""
    return list(load_contracts())
