"""Import an export folder through a layout: read, map, validate against the contract, write.

:func:`import_export` is what ``riskmodel import`` runs. It writes one contract-v1 file
per table (``<table>.parquet`` or ``.csv``, raw ids, exactly as an information center
would export contract v1), the quarantine (``_quarantine/<table>.parquet``, pseudonymised
ids, with the reason and the export file and row each row came from) and a summary
(``_import_summary.json``: counts, never values). Rows are accounted for per table:
``read == written + dropped + quarantined``, asserted.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from riskmodel.adapters.engine import REASON_COL, DataPeriod, MappedTable, map_layout
from riskmodel.adapters.errors import AdapterError
from riskmodel.adapters.layout import Layout, load_layout
from riskmodel.adapters.read import (
    FILE_COL,
    ROW_COL,
    ProgressFn,
    SourceFrame,
    _no_progress,
    read_source,
)
from riskmodel.contracts import (
    QUARANTINE_DIRNAME,
    ContractError,
    PseudonymKey,
    load_contracts,
    pseudonymise_series,
    resolve_key,
    validate_tables,
)

SUMMARY_FILE = "_import_summary.json"
OUT_FORMATS = ("parquet", "csv")


@dataclass(frozen=True)
class ImportOptions:
    """How to import: ``limit_rows`` reads only the first rows of each source (a quick
    slice); ``out_format`` is ``parquet`` or ``csv``; ``overwrite`` replaces the
    contract files, quarantine and summary of an earlier import in the output folder."""

    limit_rows: int | None = None
    out_format: str = "parquet"
    overwrite: bool = False


@dataclass
class TableSummary:
    """Row accounting of one imported table (counts and reasons only, never values)."""

    table: str
    files: list[str]
    rows_read: int
    rows_written: int
    dropped: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped.values())

    @property
    def rows_mapped(self) -> int:
        """Rows the layout kept and mapped (read minus dropped), before the contract's checks."""
        return self.rows_read - self.rows_dropped

    @property
    def rows_quarantined(self) -> int:
        return sum(self.quarantined.values())

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_written + self.rows_dropped + self.rows_quarantined


@dataclass
class ImportSummary:
    """What an import did: per source rows read, per table the accounting, the period."""

    layout: str
    layout_version: int
    period_start: str | None
    period_end: str | None
    sources: dict[str, dict[str, Any]]
    tables: dict[str, TableSummary]
    written: list[str] = field(default_factory=list)
    quarantine_files: list[str] = field(default_factory=list)
    key_fingerprint: str | None = None

    @property
    def balanced(self) -> bool:
        return all(t.balanced for t in self.tables.values())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for name, t in self.tables.items():
            d["tables"][name].update(rows_mapped=t.rows_mapped, rows_dropped=t.rows_dropped,
                                     rows_quarantined=t.rows_quarantined)
        return d

    def to_frame(self) -> pd.DataFrame:
        """One row per table: read, written, dropped (by reason), quarantined (by reason)."""
        rows = []
        for t in self.tables.values():
            rows.append({
                "table": t.table, "rows_read": t.rows_read, "rows_mapped": t.rows_mapped,
                "rows_written": t.rows_written,
                "rows_dropped": t.rows_dropped, "rows_quarantined": t.rows_quarantined,
                "dropped": "; ".join(f"{k} ({v})" for k, v in t.dropped.items() if v),
                "quarantined": "; ".join(f"{k} ({v})" for k, v in sorted(t.quarantined.items())),
            })
        return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- helpers


def _prepare_out(out_dir: Path, overwrite: bool) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = set(load_contracts())
    old = [p for p in out_dir.iterdir() if p.is_file() and p.stem in tables and p.suffix in (".parquet", ".csv")]
    old += [p for p in (out_dir / SUMMARY_FILE, out_dir / QUARANTINE_DIRNAME) if p.exists()]
    if old and not overwrite:
        raise FileExistsError(f"{out_dir} already holds an import ({', '.join(sorted(p.name for p in old))}); "
                              "choose an empty folder or pass overwrite (--overwrite)")
    for p in old:
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()


def _write_table(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    if fmt == "parquet":
        frame.to_parquet(tmp, index=False)
    else:
        frame.to_csv(tmp, index=False, encoding="utf-8")
    tmp.replace(path)


def _quarantine_frame(table: str, mapped: MappedTable, contract_q: pd.DataFrame, key: PseudonymKey) -> pd.DataFrame:
    """Contract quarantine (already pseudonymised) plus the adapter's rejects (pseudonymised
    here), each with its export file and data row; all values as text."""
    parts = []
    if len(contract_q):
        rows = contract_q["source_row"].to_numpy()
        q = contract_q.drop(columns=["source_row"]).copy()
        q.insert(0, "source_file", mapped.origin[FILE_COL].to_numpy()[rows])
        q.insert(1, "source_row", mapped.origin[ROW_COL].to_numpy()[rows])
        parts.append(q)
    if len(mapped.rejected):
        r = mapped.rejected.copy()
        for col in load_contracts()[table].identifier_columns:
            r[col] = pseudonymise_series(r[col], key)
        r = r.rename(columns={FILE_COL: "source_file", ROW_COL: "source_row"})
        parts.append(r[["source_file", "source_row", *load_contracts()[table].column_names, REASON_COL]])
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    for col in frame.columns:
        if col != "source_row":
            frame[col] = frame[col].astype("string")
    return frame


# ----------------------------------------------------------------------------- entry point


def read_sources(layout: Layout, source_dir: Path, *, limit_rows: int | None = None,
                 progress: ProgressFn = _no_progress) -> dict[str, SourceFrame]:
    """Read every source the layout declares from ``source_dir``."""
    if not Path(source_dir).is_dir():
        raise AdapterError(file=str(source_dir), rule="folder", detail="the export folder does not exist")
    return {name: read_source(spec, Path(source_dir), limit_rows=limit_rows, progress=progress)
            for name, spec in layout.sources.items()}


def import_export(
    layout: Layout | str | Path,
    source_dir: str | Path,
    out_dir: str | Path,
    key: PseudonymKey | str | bytes | None = None,
    *,
    key_file: str | Path | None = None,
    options: ImportOptions | None = None,
    progress: ProgressFn = _no_progress,
) -> ImportSummary:
    """Import one export folder into contract-v1 files in ``out_dir``.

    Reads the sources the layout declares, maps them (drops counted by reason, unreadable
    values set aside), validates the result with :func:`riskmodel.contracts.validate_tables`
    (the normal rules and quarantine, over the layout's data period), writes the accepted
    rows with their raw ids (``load_sources(out_dir)`` then reads them like any export),
    the quarantine with pseudonymised ids, and ``_import_summary.json``.

    Raises :class:`AdapterError` when the export does not fit the layout (missing file or
    column, undecodable file, unmapped code), :class:`~riskmodel.adapters.LayoutError`
    for a malformed layout, :class:`~riskmodel.contracts.PseudonymKeyError` without a key,
    and :class:`FileExistsError` when ``out_dir`` holds an earlier import and
    ``options.overwrite`` is false.
    """
    opts = options or ImportOptions()
    if opts.out_format not in OUT_FORMATS:
        raise ValueError(f"out_format {opts.out_format!r} is not one of {OUT_FORMATS}")
    pkey = resolve_key(key, key_file)
    lay = layout if isinstance(layout, Layout) else load_layout(layout)
    out = Path(out_dir)
    if out.resolve() == Path(source_dir).resolve():
        raise ValueError(f"the output folder {out} is the export folder; import into a folder of its own")
    _prepare_out(out, opts.overwrite)

    sources = read_sources(lay, Path(source_dir), limit_rows=opts.limit_rows, progress=progress)
    source_info = {n: {"files": s.files, "rows_read": s.rows_read} for n, s in sources.items()}
    mapped, period = map_layout(lay, sources, on_table=lambda t: progress(f"map {t}", 0, None))
    sources.clear()  # free the raw rows before validation

    progress("validate against contract", 0, None)
    raw = {t: m.frame for t, m in mapped.items()}
    try:
        loaded = validate_tables(
            raw, pkey,
            period_start=period.start if period else None,
            period_end=period.end if period else None,
        )
    except ContractError as exc:
        files = sorted({f for fault in exc.faults if fault.table in mapped for f in mapped[fault.table].files})
        raise AdapterError(file=", ".join(files) or "(export)", rule="contract",
                           detail=f"the mapped tables break contract v1 at table level:\n{exc}") from None
    loaded.tables.clear()  # only the raw rows are written; pseudonyms come at load time

    summary = ImportSummary(
        layout=lay.name, layout_version=lay.version,
        period_start=str(period.start.date()) if period else None,
        period_end=str(period.end.date()) if period else None,
        sources=source_info, tables={}, key_fingerprint=pkey.fingerprint,
    )
    qdir = out / QUARANTINE_DIRNAME
    for table, m in mapped.items():
        progress(f"write {table}", 0, None)
        cq = loaded.quarantine.get(table, pd.DataFrame())
        bad_rows = cq["source_row"].to_numpy() if len(cq) else []
        written = m.frame.drop(index=bad_rows).reset_index(drop=True) if len(bad_rows) else m.frame
        path = out / f"{table}.{opts.out_format}"
        _write_table(written, path, opts.out_format)
        summary.written.append(path.name)
        quarantined: dict[str, int] = {}
        if len(cq) or len(m.rejected):
            q = _quarantine_frame(table, m, cq, pkey)
            quarantined = {str(k): int(v) for k, v in q[REASON_COL].value_counts().sort_index().items()}
            qdir.mkdir(parents=True, exist_ok=True)
            _write_table(q, qdir / f"{table}.parquet", "parquet")
            summary.quarantine_files.append(f"{QUARANTINE_DIRNAME}/{table}.parquet")
        ts = TableSummary(table=table, files=m.files, rows_read=m.rows_in, rows_written=len(written),
                          dropped=dict(m.dropped), quarantined=quarantined)
        if not ts.balanced:
            raise AssertionError(f"row accounting broke for {table}: read {ts.rows_read} != written "
                                 f"{ts.rows_written} + dropped {ts.rows_dropped} + quarantined {ts.rows_quarantined}")
        summary.tables[table] = ts
    (out / SUMMARY_FILE).write_text(json.dumps(summary.to_dict(), indent=2, ensure_ascii=False) + "\n",
                                    encoding="utf-8")
    return summary


def read_period(out_dir: str | Path) -> DataPeriod | None:
    """The data period an import recorded in ``out_dir/_import_summary.json`` (None if absent)."""
    path = Path(out_dir) / SUMMARY_FILE
    if not path.is_file():
        return None
    d = json.loads(path.read_text(encoding="utf-8"))
    if not d.get("period_start"):
        return None
    return DataPeriod(pd.Timestamp(d["period_start"]), pd.Timestamp(d["period_end"]))
