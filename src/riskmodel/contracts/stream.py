"""Load a campus too large for memory: validate big tables part by part into Parquet.

:func:`load_sources` holds every table in pandas at once; an export of 20,000 students over
two years (about 80 M events) needs about 20 GB that way. :func:`load_sources_to_parquet`
applies the same contract, the same rules and the same pseudonymisation, but reads each large
event table in row batches, spreads its rows over parts by a hash of the (raw) student id,
validates one part at a time and writes the accepted rows as Parquet (``<out>/<table>/``).
Every key of an event table contains ``student_id``, so all rows that a duplicate-key rule
compares land in the same part: the outcome equals :func:`load_sources` row for row. The small
tables (students, calendar, census, grades...) are validated in memory as before.

The raw-id part files live in a temporary folder inside ``out_dir`` and are deleted as soon as
their part is validated; what stays in ``out_dir`` is pseudonymised only.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskmodel.contracts.errors import ContractError, TableFault
from riskmodel.contracts.load import (
    REASON_COLUMN,
    ROW_COLUMN,
    TableReport,
    ValidationReport,
    _validate_table,
    find_source_files,
    validate_tables,
)
from riskmodel.contracts.pseudonym import PseudonymKey, resolve_key
from riskmodel.contracts.spec import load_contracts

log = logging.getLogger(__name__)

SOURCE_ROW = "__source_row"
DEFAULT_ROWS_IN_MEMORY = 4_000_000


@dataclass
class StoredSources:
    """Validated, pseudonymised sources: small tables in memory, large ones as Parquet.

    tables : the tables validated in memory (always ``students``), contract dtypes.
    stored : table -> folder of Parquet parts (accepted rows, contract dtypes), for the tables
        too large to hold (more rows than ``max_rows_in_memory``).
    quarantine : table -> quarantined rows with ``reason`` and ``source_row`` (the 0-based row
        of the source file), for every present table.
    report : the same :class:`ValidationReport` as :func:`load_sources` gives.
    """

    tables: dict[str, pd.DataFrame]
    stored: dict[str, Path]
    quarantine: dict[str, pd.DataFrame]
    report: ValidationReport
    folder: Path = field(default_factory=Path)

    @property
    def sources_present(self) -> list[str]:
        return [*self.tables, *self.stored]

    def __contains__(self, table: object) -> bool:
        return table in self.tables or table in self.stored

    def get(self, table: str) -> pd.DataFrame | None:
        """A table as a DataFrame (a stored table is read into memory: mind its size)."""
        if table in self.tables:
            return self.tables[table]
        if table in self.stored:
            return read_stored(self.stored[table])
        return None

    def __getitem__(self, table: str) -> pd.DataFrame:
        got = self.get(table)
        if got is None:
            raise KeyError(f"source table {table!r} is not present; present: {', '.join(self.sources_present)}")
        return got

    def ibis_tables(self, con: Any) -> dict[str, Any]:
        """Every table on the ibis backend ``con``: stored ones read from their Parquet parts."""
        from riskmodel.features.backends import register_frames

        out = register_frames(con, self.tables)
        for name, path in self.stored.items():
            out[name] = con.read_parquet(str(path / "*.parquet"))
        return out


def read_stored(path: Path) -> pd.DataFrame:
    """A stored table's parts as one DataFrame (rows in source order within each part)."""
    return pd.read_parquet(path)


def _row_count(path: Path) -> int:
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as fh:
        return max(sum(1 for _ in fh) - 1, 0)


def _raw_batches(path: Path, batch_rows: int) -> Iterator[pd.DataFrame]:
    """The source file in row batches, read exactly as :func:`read_table_file` reads it."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
            yield batch.to_pandas()
    else:
        yield from pd.read_csv(path, dtype=str, keep_default_na=True, encoding="utf-8", chunksize=batch_rows)


def _part_of(ids: pd.Series, n_parts: int) -> np.ndarray:
    """Part number per row from a hash of the raw id (all rows of a student in one part)."""
    h = pd.util.hash_pandas_object(ids.astype(str), index=False).to_numpy()
    return (h % np.uint64(n_parts)).astype(np.int64)


def _split_raw(path: Path, into: Path, n_parts: int, batch_rows: int) -> list[Path]:
    """Write the raw rows of ``path`` into ``n_parts`` Parquet files, keeping the source row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    into.mkdir(parents=True, exist_ok=True)
    paths = [into / f"raw-{k:05d}.parquet" for k in range(n_parts)]
    writers: dict[int, Any] = {}
    offset = 0
    try:
        for batch in _raw_batches(path, batch_rows):
            batch = batch.reset_index(drop=True)
            batch[SOURCE_ROW] = np.arange(offset, offset + len(batch), dtype=np.int64)
            offset += len(batch)
            if "student_id" in batch.columns:
                part = _part_of(batch["student_id"], n_parts)
            else:  # the contract check will fault the table; keep its rows together
                part = np.zeros(len(batch), dtype=np.int64)
            arrow = pa.Table.from_pandas(batch, preserve_index=False)
            order = np.argsort(part, kind="stable")
            bounds = np.searchsorted(part[order], np.arange(n_parts + 1))
            for k in range(n_parts):
                if bounds[k] == bounds[k + 1]:
                    continue
                piece = arrow.take(pa.array(order[bounds[k]:bounds[k + 1]]))
                if k not in writers:
                    writers[k] = pq.ParquetWriter(paths[k], piece.schema)
                elif piece.schema != writers[k].schema:
                    piece = piece.cast(writers[k].schema)
                writers[k].write_table(piece)
    finally:
        for w in writers.values():
            w.close()
    return [p for p in paths if p.exists()]


def _merge_report(total: TableReport, part: TableReport) -> None:
    total.rows_read += part.rows_read
    total.rows_accepted += part.rows_accepted
    total.rows_quarantined += part.rows_quarantined
    for reason, n in part.reasons.items():
        total.reasons[reason] = total.reasons.get(reason, 0) + n
    total.ignored_columns = sorted(set(total.ignored_columns) | set(part.ignored_columns))


def _validate_large_table(table: str, path: Path, out: Path, pkey: PseudonymKey, known_ids: dict[str, pd.Index],
                          period: Any, rows: int, max_rows: int, faults: list[TableFault]
                          ) -> tuple[Path, pd.DataFrame, TableReport]:
    contract = load_contracts()[table]
    n_parts = max(1, math.ceil(rows / max_rows) * 2)  # hash parts are uneven: aim at half the limit
    report = TableReport(table=table, present=True, source_file=path.name)
    accepted_dir = out / table
    if accepted_dir.exists():
        shutil.rmtree(accepted_dir)
    accepted_dir.mkdir(parents=True)
    raw_dir = out / f"_raw_{table}"
    quarantined: list[pd.DataFrame] = []
    try:
        parts = _split_raw(path, raw_dir, n_parts, batch_rows=min(max_rows, 1_000_000))
        for k, raw_path in enumerate(parts):
            raw = pd.read_parquet(raw_path)
            raw_path.unlink()
            source_rows = raw.pop(SOURCE_ROW).to_numpy()
            before = len(faults)
            accepted, quar, rep = _validate_table(contract, raw, pkey, known_ids, period, faults, warn=False)
            if len(faults) > before:  # table-level fault: name source rows, stop reading this table
                faults[before:] = [dataclasses.replace(f, example_rows=tuple(int(source_rows[i]) for i in f.example_rows))
                                   for f in faults[before:]]
                report.rows_read = rows
                return accepted_dir, pd.DataFrame(), report
            _merge_report(report, rep)
            if len(accepted):
                accepted.to_parquet(accepted_dir / f"part-{k:05d}.parquet", index=False)
            if len(quar):
                quar[ROW_COLUMN] = source_rows[quar[ROW_COLUMN].to_numpy()]
                quarantined.append(quar)
            log.info("table %s: part %d of %d validated (%d rows)", table, k + 1, len(parts), rep.rows_read)
    finally:
        shutil.rmtree(raw_dir, ignore_errors=True)
    quarantine = (pd.concat(quarantined, ignore_index=True).sort_values(ROW_COLUMN, kind="stable")
                  .reset_index(drop=True) if quarantined else
                  pd.DataFrame(columns=[ROW_COLUMN, *contract.column_names, REASON_COLUMN]))
    if report.rows_quarantined:
        log.warning("table %s: %d of %d rows quarantined", table, report.rows_quarantined, report.rows_read)
    return accepted_dir, quarantine, report


def load_sources_to_parquet(
    folder: str | Path,
    out_dir: str | Path,
    key: PseudonymKey | str | bytes | None = None,
    *,
    key_file: str | Path | None = None,
    period_start: str | pd.Timestamp | None = None,
    period_end: str | pd.Timestamp | None = None,
    max_rows_in_memory: int = DEFAULT_ROWS_IN_MEMORY,
) -> StoredSources:
    """:func:`load_sources` with bounded memory: large tables are validated in parts to Parquet.

    A table with more than ``max_rows_in_memory`` rows whose key contains ``student_id`` is
    split by student into parts of about half that many rows; each part is validated, its
    accepted rows written to ``out_dir/<table>/part-*.parquet`` and its quarantined rows kept
    (with their row number in the source file). The result, the quarantine and the report
    equal :func:`load_sources`'s; peak memory is bounded by the part size and the small tables.

    Raises :class:`ContractError` listing the table-level faults, as :func:`load_sources` does.
    """
    if max_rows_in_memory < 1:
        raise ValueError(f"max_rows_in_memory must be positive, got {max_rows_in_memory}")
    pkey = resolve_key(key, key_file)
    files = find_source_files(folder)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    contracts = load_contracts()
    rows = {t: _row_count(p) for t, p in files.items()}
    large = [t for t in files if rows[t] > max_rows_in_memory and t in contracts
             and "student_id" in contracts[t].keys and t != "students"]
    from riskmodel.contracts.load import read_table_file

    small = validate_tables({t: read_table_file(p) for t, p in files.items() if t not in large}, pkey,
                            period_start=period_start, period_end=period_end)
    for table, path in files.items():
        if table in small.report.tables:
            small.report.tables[table].source_file = path.name
    known_ids = {"students.student_id": pd.Index(small.tables["students"]["student_id"])}
    faults: list[TableFault] = []
    stored: dict[str, Path] = {}
    quarantine = dict(small.quarantine)
    reports = dict(small.report.tables)
    for table in large:
        stored[table], quarantine[table], reports[table] = _validate_large_table(
            table, files[table], out, pkey, known_ids, small.report.period, rows[table], max_rows_in_memory, faults)
    if faults:
        raise ContractError(faults)
    for rep in reports.values():
        assert rep.balanced, f"row accounting broke for {rep.table}"
    ordered = {t: reports[t] for t in contracts if t in reports}
    report = ValidationReport(tables=ordered, period=small.report.period, key_fingerprint=pkey.fingerprint)
    tables = {t: f for t, f in small.tables.items()}
    return StoredSources(tables=tables, stored=stored, quarantine=quarantine, report=report, folder=out)
