"""Load a folder of source tables, validate them against contract v1, pseudonymise.

``load_sources(folder, key=...)`` is the one way source data enters riskmodel:

* table-level faults (a required column missing, a column whose values cannot be read as
  its type at all, an unknown table file, ``students`` missing) raise one
  :class:`ContractError` listing every such fault across all tables;
* row-level faults (a value outside its allowed set or range, a null where none is
  allowed, a duplicate record, an unknown student, a timestamp outside the data period,
  a broken cross-column rule, an unparseable value) move the row to quarantine with a
  ``reason``; for every table ``accepted + quarantined == read``.

Identifier columns are replaced by keyed pseudonyms before validation, so neither the
accepted tables, the quarantine, the report nor any error message holds a raw id; values
of sensitive columns never appear in messages either.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from riskmodel.contracts.coerce import COERCERS, final_dtype
from riskmodel.contracts.errors import ContractError, TableFault
from riskmodel.contracts.pseudonym import PseudonymKey, pseudonymise_series, resolve_key
from riskmodel.contracts.schema import Period, build_schema
from riskmodel.contracts.spec import TableContract, load_contracts

log = logging.getLogger(__name__)

QUARANTINE_DIRNAME = "_quarantine"
REASON_COLUMN = "reason"
ROW_COLUMN = "source_row"
MAX_EXAMPLE_ROWS = 5
_SUFFIXES = (".parquet", ".csv")


@dataclass
class TableReport:
    """What happened to one table: rows read, accepted, quarantined (by reason)."""

    table: str
    present: bool
    source_file: str | None = None
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return self.rows_accepted + self.rows_quarantined == self.rows_read


@dataclass
class ValidationReport:
    """Per-table summary of a load; holds counts and rule names only, never values."""

    tables: dict[str, TableReport]
    period: Period | None = None
    key_fingerprint: str | None = None

    @property
    def sources_present(self) -> list[str]:
        return [t for t, r in self.tables.items() if r.present]

    @property
    def sources_missing(self) -> list[str]:
        return [t for t, r in self.tables.items() if not r.present]

    @property
    def rows_quarantined(self) -> int:
        return sum(r.rows_quarantined for r in self.tables.values())

    def to_frame(self) -> pd.DataFrame:
        """One row per table: present, rows read / accepted / quarantined, reasons."""
        rows = []
        for r in self.tables.values():
            rows.append(
                {
                    "table": r.table,
                    "present": r.present,
                    "rows_read": r.rows_read,
                    "rows_accepted": r.rows_accepted,
                    "rows_quarantined": r.rows_quarantined,
                    "reasons": "; ".join(f"{k} ({v})" for k, v in sorted(r.reasons.items())),
                }
            )
        return pd.DataFrame(rows)


@dataclass
class LoadedSources:
    """Validated, pseudonymised source tables, their quarantine and the report."""

    tables: dict[str, pd.DataFrame]
    quarantine: dict[str, pd.DataFrame]
    report: ValidationReport

    def __getitem__(self, table: str) -> pd.DataFrame:
        if table not in self.tables:
            raise KeyError(
                f"source table {table!r} is not present; present: {', '.join(self.tables)}"
            )
        return self.tables[table]

    def __contains__(self, table: object) -> bool:
        return table in self.tables

    def get(self, table: str) -> pd.DataFrame | None:
        return self.tables.get(table)

    @property
    def sources_present(self) -> list[str]:
        return list(self.tables)


# ----------------------------------------------------------------------------- reading


def find_source_files(folder: str | Path) -> dict[str, Path]:
    """Map table name -> file for every table file directly in ``folder``.

    Names starting with ``_`` or ``.`` (such as the ``_quarantine`` folder) and sub-folders
    (such as the simulator's ``truth/``) are never read as tables. A file whose stem is not
    a contract table raises :class:`ContractError`, as do two files for one table.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ContractError(
            TableFault(table="(folder)", column=None, rule="exists", detail=f"{folder} is not a folder")
        )
    contracts = load_contracts()
    found: dict[str, Path] = {}
    faults: list[TableFault] = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(("_", ".")) or not path.is_file():
            continue
        if path.suffix.lower() not in _SUFFIXES:
            continue
        table = path.stem
        if table not in contracts:
            faults.append(
                TableFault(
                    table=table,
                    column=None,
                    rule="known_table",
                    detail=f"file {path.name} is not a contract-v1 table (known: {', '.join(contracts)})",
                )
            )
            continue
        if table in found:
            faults.append(
                TableFault(table=table, column=None, rule="one_file_per_table",
                           detail=f"both {found[table].name} and {path.name} exist")
            )
            continue
        found[table] = path
    if faults:
        raise ContractError(faults)
    return found


def read_table_file(path: Path) -> pd.DataFrame:
    """Read one source file as it is: CSV columns as text, Parquet with its own types."""
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=True, encoding="utf-8")


# ----------------------------------------------------------------------------- validation


def _examples(index: pd.Index | list[int]) -> tuple[int, ...]:
    return tuple(int(i) for i in list(index)[:MAX_EXAMPLE_ROWS])


def _failure_reasons(err: pa.errors.SchemaErrors) -> pd.DataFrame:
    """(row index, reason) pairs from pandera's failure cases, without values."""
    fc = err.failure_cases
    fc = fc[fc["index"].notna()]
    col = fc["column"].astype("string").fillna("(row)")
    if "schema_context" in fc:
        col = col.where(fc["schema_context"] != "DataFrameSchema", "(row)")
    check = fc["check"].astype(str).replace({"multiple_fields_uniqueness": "duplicate_key",
                                             "field_uniqueness": "duplicate_key"})
    col = col.where(check != "duplicate_key", "(row)")
    reasons = col + ": " + check
    return pd.DataFrame({"index": fc["index"].astype("int64").to_numpy(), "reason": reasons.to_numpy()})


def _validate_table(
    contract: TableContract,
    raw: pd.DataFrame,
    key: PseudonymKey,
    known_ids: dict[str, pd.Index],
    period: Period | None,
    faults: list[TableFault],
    warn: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame, TableReport]:
    table = contract.table
    report = TableReport(table=table, present=True, rows_read=len(raw))
    raw = raw.reset_index(drop=True)
    missing = [c for c in contract.column_names if c not in raw.columns]
    for c in missing:
        faults.append(TableFault(table=table, column=c, rule="required_column",
                                 detail="the column is missing"))
    if missing:
        return pd.DataFrame(), pd.DataFrame(), report
    report.ignored_columns = [c for c in raw.columns if c not in contract.column_names]

    coerced: dict[str, pd.Series] = {}
    row_reasons: list[pd.DataFrame] = []
    table_fault = False
    for col in contract.columns:
        series, bad = COERCERS[col.type](raw[col.name])
        present = raw[col.name].notna()
        if bad.any() and int(bad.sum()) == int(present.sum()):
            detail = f"no value can be read as {col.type}"
            if not col.is_private:
                sample = raw.loc[bad, col.name].astype(str).head(3).tolist()
                detail += f" (e.g. {sample})"
            faults.append(TableFault(table=table, column=col.name, rule=f"type {col.type}",
                                     detail=detail, example_rows=_examples(raw.index[bad])))
            table_fault = True
            continue
        if bad.any():
            row_reasons.append(pd.DataFrame({"index": raw.index[bad].to_numpy(),
                                             "reason": f"{col.name}: unparseable {col.type}"}))
        if col.sensitivity == "identifier":
            series = pseudonymise_series(series, key)
        coerced[col.name] = series
    if table_fault:
        return pd.DataFrame(), pd.DataFrame(), report

    frame = pd.DataFrame(coerced, index=raw.index)
    schema = build_schema(contract, known_ids=known_ids, period=period)
    unparseable = (
        pd.Index(pd.concat(row_reasons)["index"].unique()) if row_reasons else pd.Index([], dtype="int64")
    )
    to_check = frame.drop(index=unparseable)
    try:
        schema.validate(to_check, lazy=True)
    except pa.errors.SchemaErrors as err:
        row_reasons.append(_failure_reasons(err))
    except pa.errors.SchemaError as err:  # pragma: no cover - lazy=True collects them all
        faults.append(TableFault(table=table, column=None, rule="schema", detail=type(err).__name__))
        return pd.DataFrame(), pd.DataFrame(), report

    if row_reasons:
        reasons = pd.concat(row_reasons, ignore_index=True).drop_duplicates()
        per_row = reasons.groupby("index")["reason"].agg(lambda r: "; ".join(sorted(r)))
        report.reasons = {str(k): int(v) for k, v in reasons["reason"].value_counts().sort_index().items()}
    else:
        per_row = pd.Series(dtype=object)
    bad_index = pd.Index(per_row.index.astype("int64"))
    quarantine = frame.loc[bad_index].copy()
    quarantine[REASON_COLUMN] = per_row.reindex(bad_index).to_numpy()
    quarantine.insert(0, ROW_COLUMN, bad_index.to_numpy())
    accepted = frame.drop(index=bad_index).reset_index(drop=True)
    for col in contract.columns:
        accepted[col.name] = accepted[col.name].astype(final_dtype(col.type, col.nullable))
    report.rows_accepted = len(accepted)
    report.rows_quarantined = len(quarantine)
    if report.rows_quarantined and warn:
        log.warning("table %s: %d of %d rows quarantined", table, report.rows_quarantined, report.rows_read)
    return accepted, quarantine.reset_index(drop=True), report


def _period_from(calendar_raw: pd.DataFrame | None) -> Period | None:
    if calendar_raw is None or "date" not in calendar_raw:
        return None
    dates, _ = COERCERS["date"](calendar_raw["date"])
    dates = dates.dropna()
    if dates.empty:
        return None
    return Period(start=dates.min(), end=dates.max() + pd.Timedelta(days=1))


def validate_tables(
    raw_tables: Mapping[str, pd.DataFrame],
    key: PseudonymKey | str | bytes | None = None,
    *,
    key_file: str | Path | None = None,
    period_start: str | pd.Timestamp | None = None,
    period_end: str | pd.Timestamp | None = None,
) -> LoadedSources:
    """Validate and pseudonymise tables already in memory (the pure core of loading).

    ``raw_tables`` maps table names to DataFrames as read from the export. The data
    period is ``[period_start, period_end]`` (dates, end inclusive); when not given it is
    taken from the ``calendar`` table if present, else no period check is made.
    """
    pkey = resolve_key(key, key_file)
    contracts = load_contracts()
    faults: list[TableFault] = []
    unknown = [t for t in raw_tables if t not in contracts]
    for t in unknown:
        faults.append(TableFault(table=t, column=None, rule="known_table",
                                 detail="not a contract-v1 table"))
    if "students" not in raw_tables:
        faults.append(TableFault(table="students", column=None, rule="required_table",
                                 detail="the students table is required and was not found"))
    if faults:
        raise ContractError(faults)

    if period_start is not None or period_end is not None:
        if period_start is None or period_end is None:
            raise ValueError("give both period_start and period_end, or neither")
        period: Period | None = Period(
            start=pd.Timestamp(period_start).normalize(),
            end=pd.Timestamp(period_end).normalize() + pd.Timedelta(days=1),
        )
    else:
        period = _period_from(raw_tables.get("calendar"))

    tables: dict[str, pd.DataFrame] = {}
    quarantine: dict[str, pd.DataFrame] = {}
    reports: dict[str, TableReport] = {}
    known_ids: dict[str, pd.Index] = {}
    for name, contract in contracts.items():  # students first: the others reference it
        if name not in raw_tables:
            reports[name] = TableReport(table=name, present=False)
            continue
        accepted, quar, rep = _validate_table(contract, raw_tables[name], pkey, known_ids, period, faults)
        reports[name] = rep
        if name == "students" and "student_id" in accepted:
            known_ids["students.student_id"] = pd.Index(accepted["student_id"])
        tables[name] = accepted
        quarantine[name] = quar
    if faults:
        raise ContractError(faults)
    for rep in reports.values():
        assert rep.balanced, f"row accounting broke for {rep.table}"
    report = ValidationReport(tables=reports, period=period, key_fingerprint=pkey.fingerprint)
    log.info("loaded sources: %s", ", ".join(report.sources_present))
    return LoadedSources(tables=tables, quarantine=quarantine, report=report)


def load_sources(
    folder: str | Path,
    key: PseudonymKey | str | bytes | None = None,
    *,
    key_file: str | Path | None = None,
    period_start: str | pd.Timestamp | None = None,
    period_end: str | pd.Timestamp | None = None,
) -> LoadedSources:
    """Read, validate and pseudonymise every source table in ``folder``.

    Files are ``<table>.parquet`` or ``<table>.csv``; only ``students`` is required.
    Returns the accepted tables (identifier columns pseudonymised, contract dtypes), the
    quarantined rows per table with a ``reason`` column, and a :class:`ValidationReport`.

    Raises :class:`ContractError` listing every table-level fault, and
    :class:`PseudonymKeyError` when no key is given (argument, key file or the
    ``RISKMODEL_PSEUDONYM_KEY`` environment variable).
    """
    pkey = resolve_key(key, key_file)  # fail on a missing key before reading anything
    files = find_source_files(folder)
    raw = {table: read_table_file(path) for table, path in files.items()}
    loaded = validate_tables(raw, pkey, period_start=period_start, period_end=period_end)
    for table, path in files.items():
        loaded.report.tables[table].source_file = path.name
    return loaded


def write_quarantine(loaded: LoadedSources, folder: str | Path) -> list[Path]:
    """Write one Parquet file per table that has quarantined rows; return their paths."""
    out = Path(folder)
    written: list[Path] = []
    for table, frame in loaded.quarantine.items():
        if frame.empty:
            continue
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{table}.parquet"
        tmp = path.with_suffix(".parquet.tmp")
        frame.to_parquet(tmp, index=False)
        tmp.replace(path)
        written.append(path)
    return written
