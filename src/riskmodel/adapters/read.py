"""Read the files of one export source as declared: pattern, format, encoding, separator.

Text is normalised the same way for every format: surrounding spaces are stripped and an
empty cell (or a declared null marker such as ``\\N``) is missing. Each row keeps the file
it came from and its data-row number in that file (``_file``, ``_row``), so errors and
the quarantine can point back to it. This module is the I/O edge of the adapters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from riskmodel.adapters.errors import AdapterError
from riskmodel.adapters.layout import SourceSpec

FILE_COL = "_file"
ROW_COL = "_row"
CSV_CHUNK_ROWS = 200_000
PARQUET_BATCH_ROWS = 500_000

#: ``(stage label, rows done, rows in total or None)``; called as reading and mapping advance.
ProgressFn = Callable[[str, int, int | None], None]


def _no_progress(stage: str, done: int, total: int | None) -> None:
    return None


@dataclass
class SourceFrame:
    """The rows of one source: its declared columns plus ``_file`` and ``_row``."""

    name: str
    frame: pd.DataFrame
    files: list[str]

    @property
    def rows_read(self) -> int:
        return len(self.frame)

    @property
    def label(self) -> str:
        """Name(s) of the file(s) for messages."""
        return ", ".join(self.files) if len(self.files) <= 3 else f"{self.files[0]} (+{len(self.files) - 1} more)"


def source_files(spec: SourceSpec, folder: Path) -> list[Path]:
    """The files of ``folder`` matching the source's pattern, in name order."""
    return sorted(p for p in Path(folder).glob(spec.pattern) if p.is_file())


def _format_of(spec: SourceSpec, path: Path) -> str:
    if spec.format:
        return spec.format
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return "parquet"
    if suffix in (".tsv", ".tab"):
        return "tsv"
    return "csv"


def _python_encoding(enc: str) -> str:
    # utf-8 exports from Windows tools often start with a BOM; utf-8-sig reads both.
    return "utf-8-sig" if enc.lower().replace("_", "-") in ("utf-8", "utf8") else enc


def _locate_decode_error(path: Path, enc: str, sep: str) -> tuple[int, str | None, str]:
    """(line number, column name or None, the undecodable bytes as hex) of the first bad byte."""
    data = path.read_bytes()
    try:
        data.decode(enc)
    except UnicodeDecodeError as exc:
        start, end = exc.start, exc.end
    else:  # pragma: no cover - pandas failed, plain decode did not
        return 0, None, ""
    before = data[:start].decode(enc, errors="replace")
    line_no = before.count("\n") + 1
    header = data.decode(enc, errors="replace").lstrip("\ufeff").splitlines()[0].split(sep)
    field_no = before.rsplit("\n", 1)[-1].count(sep)
    column = header[field_no].strip() if field_no < len(header) else None
    return line_no, column, data[start:end].hex(" ")


def _read_text(spec: SourceSpec, path: Path, fmt: str, limit: int | None,
               progress: ProgressFn, stage: str) -> pd.DataFrame:
    sep = spec.sep or ("\t" if fmt == "tsv" else ",")
    last_error: tuple[str, int, str | None, str] | None = None
    for enc in spec.encodings:
        pyenc = _python_encoding(enc)
        try:
            chunks = []
            done = 0
            reader = pd.read_csv(
                path, sep=sep, encoding=pyenc, dtype=str, keep_default_na=False,
                na_values=list(spec.null_values) or None, skiprows=spec.skip_rows or None,
                chunksize=CSV_CHUNK_ROWS, nrows=limit,
            )
            with reader:
                for chunk in reader:
                    chunks.append(chunk)
                    done += len(chunk)
                    progress(stage, done, None)
            if not chunks:
                return pd.DataFrame()
            return pd.concat(chunks, ignore_index=True)
        except UnicodeError:
            line, column, bad = _locate_decode_error(path, pyenc, sep)
            last_error = (enc, line, column, bad)
        except pd.errors.ParserError as exc:
            raise AdapterError(file=path.name, rule="csv", detail=f"cannot be parsed as {fmt} with separator "
                               f"{sep!r}: {exc}") from None
    assert last_error is not None
    enc, line, column, bad = last_error
    where = "in the header (line 1)" if line == 1 else f"on line {line}"
    found = _encoding_that_fits(path, spec, sep)
    hint = (f"; the file does read as {found} with the declared columns: add {found} to `encoding:` in the "
            "layout if that is how this system exports" if found else
            "; re-export the file in a declared encoding or fix `encoding:` in the layout "
            "(common ones: utf-8, gbk, gb18030, utf-16)")
    raise AdapterError(
        file=path.name, column=column if line > 1 else None, rule="encoding",
        detail=f"cannot be decoded as {' or '.join(spec.encodings)}: bytes {bad} {where} are not valid {enc}{hint}",
    )


def _encoding_that_fits(path: Path, spec: SourceSpec, sep: str) -> str | None:
    """A common encoding, not declared, under which the file decodes and its header holds
    the declared columns (a suggestion for the error message only)."""
    data = path.read_bytes()
    for enc in ("utf-8", "gb18030", "utf-16"):
        if enc in spec.encodings:
            continue
        try:
            text = data.decode(_python_encoding(enc))
        except UnicodeError:
            continue
        lines = text.lstrip("\ufeff").splitlines()
        if len(lines) > spec.skip_rows:
            header = [c.strip() for c in lines[spec.skip_rows].split(sep)]
            if all(c in header for c in spec.columns):
                return enc
    return None


def _read_parquet(path: Path, limit: int | None, progress: ProgressFn, stage: str) -> pd.DataFrame:
    pf = pq.ParquetFile(path)
    total = pf.metadata.num_rows if limit is None else min(limit, pf.metadata.num_rows)
    batches: list[pa.RecordBatch] = []
    done = 0
    for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS):
        if limit is not None and done + batch.num_rows > limit:
            batch = batch.slice(0, limit - done)
        batches.append(batch)
        done += batch.num_rows
        progress(stage, done, total)
        if limit is not None and done >= limit:
            break
    if not batches:
        return pf.schema_arrow.empty_table().to_pandas()
    return pa.Table.from_batches(batches).to_pandas()


def _normalise_text(s: pd.Series, null_values: tuple[str, ...]) -> pd.Series:
    """Strip text; empty strings and declared null markers become missing."""
    nulls = {"", *null_values}
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = s.cat.categories
        if cats.dtype != object:
            return s
        stripped = pd.Index([str(c).strip() for c in cats])
        if stripped.has_duplicates:
            s = s.astype(object)
        else:
            s = s.cat.rename_categories(stripped)
            drop = [c for c in s.cat.categories if c in nulls]
            return s.cat.remove_categories(drop) if drop else s
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        present = s.notna()
        out = s.astype(object).copy()
        out[present] = s[present].astype(str).str.strip()
        out[out.isin(list(nulls))] = None
        return out
    return s


def read_source(spec: SourceSpec, folder: Path, *, limit_rows: int | None = None,
                progress: ProgressFn = _no_progress) -> SourceFrame:
    """Read every file of one source, check its declared columns, normalise its text.

    ``limit_rows`` keeps only the first rows (over all files), for a quick slice.
    Raises :class:`AdapterError` for a missing required file, an undecodable file
    (naming the file, the line, the column and the bad bytes) or a missing column
    (naming the file, the column and the columns found).
    """
    files = source_files(spec, folder)
    if not files:
        if spec.required:
            raise AdapterError(file=spec.pattern, rule="file", detail=f"no file in {folder} matches the pattern "
                               f"of source {spec.name!r}")
        return SourceFrame(name=spec.name, frame=pd.DataFrame(columns=[*spec.columns, FILE_COL, ROW_COL]), files=[])
    frames = []
    remaining = limit_rows
    for path in files:
        if remaining is not None and remaining <= 0:
            break
        fmt = _format_of(spec, path)
        stage = f"read {path.name}"
        if fmt == "parquet":
            df = _read_parquet(path, remaining, progress, stage)
        else:
            df = _read_text(spec, path, fmt, remaining, progress, stage)
        df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
        missing = [c for c in spec.columns if c not in df.columns]
        if missing:
            raise AdapterError(
                file=path.name, column=missing[0], rule="missing column",
                detail=f"column(s) {missing} of source {spec.name!r} are not in the file; found {list(df.columns)}"
                       + ("; if these names look garbled the file is not "
                          f"{' or '.join(spec.encodings)}" if fmt != "parquet" else ""),
            )
        df = df[list(spec.columns)].copy()
        for col in df.columns:
            df[col] = _normalise_text(df[col], spec.null_values)
        for col, width in spec.pad.items():
            present = df[col].notna()
            df.loc[present, col] = df.loc[present, col].astype(str).str.zfill(width)
        df[FILE_COL] = path.name
        df[ROW_COL] = np.arange(1, len(df) + 1, dtype="int64")
        frames.append(df)
        if remaining is not None:
            remaining -= len(df)
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    frame[FILE_COL] = frame[FILE_COL].astype("category")
    return SourceFrame(name=spec.name, frame=frame, files=[p.name for p in files])
