"""The generic engine: apply a layout to the rows read from an export (pure, no I/O).

For each contract table the layout builds, :func:`map_table` takes the source rows,
drops the rows a rule names (counted by reason), builds every contract column as
declared (renames, value maps, regex matches and extracts, joined date + time columns
parsed with a format, scaled numbers, constants, the contract's declared unknowns) and
sets aside rows whose value cannot be read (the adapter's own quarantine, with a reason).

Codes the layout does not know (a value missing from a ``map``, ``match``, ``extract``
or ``codes`` list) are not guessed: they raise :class:`AdapterError` naming the file, the
column and the value (never a raw id or a value of a sensitive column: row numbers
instead). Accounting holds per table: ``rows_in == len(frame) + dropped + rejected``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from riskmodel.adapters.errors import AdapterError
from riskmodel.adapters.layout import (
    UNKNOWN_TOKEN,
    ColumnMap,
    Condition,
    Layout,
    TableMap,
    _code_text,
    declared_unknowns,
)
from riskmodel.adapters.read import FILE_COL, ROW_COL, SourceFrame
from riskmodel.contracts import load_contracts

REASON_COL = "reason"
MAX_EXAMPLE_ROWS = 3


@dataclass(frozen=True)
class DataPeriod:
    """The data period, first and last day inclusive (local dates)."""

    start: pd.Timestamp
    end: pd.Timestamp


@dataclass
class MappedTable:
    """One contract table as mapped from an export, before contract validation.

    ``frame`` holds the contract columns (raw, not yet pseudonymised ids; index 0..n-1);
    ``origin`` the export file and data row of each frame row; ``rejected`` the rows the
    adapter could not read, with the contract columns as far as they were built, a
    ``reason`` and their origin.
    """

    table: str
    frame: pd.DataFrame
    origin: pd.DataFrame
    rows_in: int
    dropped: dict[str, int] = field(default_factory=dict)
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)
    files: list[str] = field(default_factory=list)

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped.values())

    @property
    def balanced(self) -> bool:
        return self.rows_in == len(self.frame) + self.rows_dropped + len(self.rejected)


# ----------------------------------------------------------------------------- value helpers


def _apply_unique(s: pd.Series, fn: Callable[[Any], Any]) -> pd.Series:
    """``fn`` applied once per distinct present value, mapped back (nulls stay None)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        vals = np.array([fn(c) for c in s.cat.categories] + [None], dtype=object)
        return pd.Series(vals[s.cat.codes.to_numpy()], index=s.index, dtype=object)
    out = pd.Series(np.full(len(s), None, dtype=object), index=s.index)
    present = s.notna().to_numpy()
    if present.any():
        vals = s[present]
        lookup = {u: fn(u) for u in pd.unique(vals)}
        out[present] = vals.map(lookup).to_numpy()
    return out


def _mask_unique(s: pd.Series, pred: Callable[[Any], bool]) -> np.ndarray:
    """Boolean array: ``pred`` of each present value (evaluated once per distinct value); False for nulls."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        vals = np.array([bool(pred(c)) for c in s.cat.categories] + [False], dtype=bool)
        return vals[s.cat.codes.to_numpy()]
    out = np.zeros(len(s), dtype=bool)
    present = s.notna().to_numpy()
    if present.any():
        vals = s[present]
        lookup = {u: bool(pred(u)) for u in pd.unique(vals)}
        out[present] = vals.map(lookup).to_numpy(dtype=bool)
    return out


def _present_uniques(s: pd.Series) -> list[Any]:
    if isinstance(s.dtype, pd.CategoricalDtype):
        used = np.unique(s.cat.codes.to_numpy())
        return [s.cat.categories[c] for c in used if c >= 0]
    return list(pd.unique(s.dropna()))


def as_text(s: pd.Series) -> pd.Series:
    """Values as code text (``8``, ``8.0`` and ``"8"`` are all ``"8"``); nulls stay None."""
    return _apply_unique(s, _code_text)


def _first_rows(mask: np.ndarray, frame: pd.DataFrame) -> tuple[str, tuple[int, ...]]:
    idx = np.flatnonzero(mask)[:MAX_EXAMPLE_ROWS]
    if not len(idx):
        return "?", ()
    file = str(frame[FILE_COL].iloc[idx[0]]) if FILE_COL in frame else "?"
    rows = tuple(int(frame[ROW_COL].iloc[i]) for i in idx) if ROW_COL in frame else ()
    return file, rows


def _private_columns(table: str) -> set[str]:
    return {c.name for c in load_contracts()[table].columns if c.is_private}


def _unmapped_error(*, layout: Layout, table: str, column: ColumnMap, src_col: str, frame: pd.DataFrame,
                    text: pd.Series, bad_values: list[Any], rule: str, fix: str) -> AdapterError:
    bad_set = set(bad_values)
    mask = text.isin(bad_set).to_numpy()
    file, rows = _first_rows(mask, frame)
    private = column.name in _private_columns(table)
    shown = None if private else str(bad_values[0])
    others = "" if private or len(bad_values) == 1 else f" (other unmapped values: {sorted(map(str, bad_values))[:10]})"
    hidden = " (value hidden: sensitive column)" if private else ""
    return AdapterError(
        file=file, column=src_col, value=shown, rule=rule, rows=rows,
        detail=f"{int(mask.sum())} row(s) for {table}.{column.name} have a value the layout {layout.name!r} "
               f"does not map{hidden}{others}; {fix}",
    )


# ----------------------------------------------------------------------------- rules


def _condition_mask(s: pd.Series, cond: Condition) -> np.ndarray:
    if cond.op == "is_null":
        isnull = s.isna().to_numpy()
        return isnull if cond.value else ~isnull
    value = cond.value
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if numeric:
        num = pd.to_numeric(s, errors="coerce") if not pd.api.types.is_numeric_dtype(s) else s
        num = np.asarray(num, dtype="float64")
        with np.errstate(invalid="ignore"):
            op = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
                  "gt": np.greater, "ge": np.greater_equal}[cond.op]
            return op(num, float(value)) & ~np.isnan(num)
    if cond.op in ("in", "not_in"):
        wanted = set(value)
        got = _mask_unique(s, lambda v: _code_text(v) in wanted)
        return got if cond.op == "in" else _mask_unique(s, lambda v: _code_text(v) not in wanted)
    text = _code_text(value)
    cmp: Callable[[str], bool] = {
        "eq": lambda v: v == text, "ne": lambda v: v != text, "lt": lambda v: v < text,
        "le": lambda v: v <= text, "gt": lambda v: v > text, "ge": lambda v: v >= text,
    }[cond.op]
    return _mask_unique(s, lambda v: cmp(_code_text(v)))


def check_codes(layout: Layout, src: SourceFrame) -> None:
    """Raise :class:`AdapterError` when a column with declared ``codes`` holds another value."""
    spec = layout.sources[src.name]
    for col, codes in spec.codes.items():
        known = set(codes)
        text = as_text(src.frame[col])
        bad = [v for v in _present_uniques(text) if v not in known]
        if bad:
            mask = text.isin(set(bad)).to_numpy()
            file, rows = _first_rows(mask, src.frame)
            raise AdapterError(
                file=file, column=col, value=str(bad[0]), rule="unknown code", rows=rows,
                detail=f"{int(mask.sum())} row(s) hold a code that layout {layout.name!r} does not declare for "
                       f"source {src.name!r} (declared: {list(codes)}); decide whether such rows are kept, "
                       "mapped or dropped, and add the code to the layout",
            )


# ----------------------------------------------------------------------------- columns


def _unknown_value(table: str, column: str) -> Any:
    return declared_unknowns()[table][column]


def _resolve(table: str, column: str, v: Any) -> Any:
    return _unknown_value(table, column) if v == UNKNOWN_TOKEN else v


def academic_year(day: pd.Timestamp, start_month: int = 9) -> str:
    """The academic year a day falls in, e.g. 2015-08-31 -> ``"2014-2015"`` (start month 9)."""
    first = day.year if day.month >= start_month else day.year - 1
    return f"{first}-{first + 1}"


def _build_column(layout: Layout, tmap: TableMap, cmap: ColumnMap, frame: pd.DataFrame,
                  period: DataPeriod | None, rejects: list[tuple[np.ndarray, str]]) -> pd.Series:
    table = tmap.table
    n = len(frame)
    if cmap.has_value:
        return pd.Series([_resolve(table, cmap.name, cmap.value)] * n, index=frame.index, dtype=object)
    if cmap.academic_year_of is not None:
        if period is None:
            raise AdapterError(file="(layout)", column=cmap.name, rule="period",
                               detail=f"{table}.{cmap.name} needs the data period; declare `period:` in layout "
                                      f"{layout.name!r} or import a table with timestamps")
        day = period.start if cmap.academic_year_of == "period_start" else period.end
        return pd.Series([academic_year(day, layout.academic_year_start_month)] * n, index=frame.index,
                         dtype=object)

    src_col = "+".join(cmap.sources)
    if len(cmap.sources) == 1:
        s = frame[cmap.sources[0]]
    else:
        parts = [as_text(frame[c]) for c in cmap.sources]
        joined = parts[0].astype(object)
        missing = parts[0].isna()
        for p in parts[1:]:
            joined = joined + cmap.join + p.astype(object).fillna("")
            missing |= p.isna()
        s = joined.where(~missing, None)

    if cmap.extract is not None:
        pat = re.compile(cmap.extract)
        text = as_text(s)

        def _extract(v: Any) -> Any:
            m = pat.search(v)
            return m.group(1) if m else None

        got = _apply_unique(text, _extract)
        bad = [v for v in _present_uniques(text) if pat.search(v) is None]
        if bad:
            raise _unmapped_error(layout=layout, table=table, column=cmap, src_col=src_col, frame=frame,
                                  text=text, bad_values=bad, rule="no match for `extract`",
                                  fix=f"widen the regex {cmap.extract!r} in the layout")
        s = got
    if cmap.map is not None or cmap.match:
        text = as_text(s)
        compiled = [(re.compile(p), v) for p, v in cmap.match]
        table_map = cmap.map or {}
        sentinel = object()

        def _lookup(v: Any) -> Any:
            if v in table_map:
                return table_map[v]
            for pat, target in compiled:
                if pat.search(v):
                    return target
            return sentinel

        mapped = _apply_unique(text, _lookup)
        bad = [v for v in _present_uniques(text) if _lookup(v) is sentinel]
        if bad:
            what = "`map`" + (" or `match`" if compiled else "")
            raise _unmapped_error(layout=layout, table=table, column=cmap, src_col=src_col, frame=frame,
                                  text=text, bad_values=bad, rule="unmapped code",
                                  fix=f"add it to the {what} of {table}.{cmap.name} in the layout "
                                      "(or drop such rows with a reason)")
        s = _apply_unique(mapped, lambda v: _resolve(table, cmap.name, v))
    if cmap.has_missing:
        fill = _resolve(table, cmap.name, cmap.missing)
        if fill is not None:
            s = s.astype(object).where(s.notna(), fill)
    if cmap.format is not None:
        text = as_text(s)
        parsed = pd.to_datetime(text, format=cmap.format, errors="coerce")
        if re.search(r"%[YmdHMS]%[YmdHMS]", cmap.format):
            # digits with no separator (yyyymmdd): strptime would read "2024031" as 2024-03-1;
            # demand the full width instead of guessing
            width = _mask_unique(text, lambda v: len(v) != len(pd.Timestamp(2000, 1, 1).strftime(cmap.format)))
            parsed = parsed.where(~width, pd.NaT)
        present = text.notna().to_numpy()
        bad = present & parsed.isna().to_numpy()
        if bad.any() and bad.sum() == present.sum():
            file, rows = _first_rows(bad, frame)
            raise AdapterError(file=file, column=src_col, value=str(text[bad].iloc[0]), rule="time format",
                               rows=rows, detail=f"no value of {table}.{cmap.name} reads with the format "
                                                 f"{cmap.format!r} declared in layout {layout.name!r}")
        if bad.any():
            rejects.append((bad, f"{cmap.name}: unparseable time in {src_col} (format {cmap.format})"))
        s = parsed
    if cmap.scale is not None:
        num = pd.to_numeric(s, errors="coerce").astype("float64")
        bad = s.notna().to_numpy() & num.isna().to_numpy()
        if bad.any():
            rejects.append((bad, f"{cmap.name}: unparseable number in {src_col}"))
        s = num * cmap.scale
    if cmap.name in load_contracts()[table].identifier_columns or (
        load_contracts()[table].column(cmap.name).type == "str" and not isinstance(s.dtype, pd.CategoricalDtype)
    ):
        s = as_text(s)  # one text form for ids across sources (8, 8.0 and "8" are one student)
    return s


# ----------------------------------------------------------------------------- tables


def _drop_rows(tmap: TableMap, frame: pd.DataFrame) -> tuple[np.ndarray, dict[str, int]]:
    """Keep-mask and counts by reason; a row is counted under the first rule it meets."""
    keep = np.ones(len(frame), dtype=bool)
    dropped: dict[str, int] = {}
    for rule in tmap.drop:
        hit = keep.copy()
        for cond in rule.when:
            hit &= _condition_mask(frame[cond.column], cond)
        dropped[rule.reason] = dropped.get(rule.reason, 0) + int(hit.sum())
        keep &= ~hit
    return keep, dropped


def _distinct_base(tmap: TableMap, sources: dict[str, SourceFrame]) -> pd.DataFrame:
    assert tmap.distinct is not None
    values: set[str] = set()
    for src, col in tmap.distinct.sources:
        values.update(_present_uniques(as_text(sources[src].frame[col])))
    base = pd.DataFrame({tmap.distinct.column: sorted(values)})
    if tmap.lookup is not None:
        lk = sources[tmap.lookup.source].frame.copy()
        lk["__key"] = as_text(lk[tmap.lookup.on])
        lk = lk.drop_duplicates("__key", keep="first").drop(columns=[tmap.lookup.on, FILE_COL, ROW_COL],
                                                            errors="ignore")
        base = base.merge(lk, left_on=tmap.distinct.column, right_on="__key", how="left").drop(columns="__key")
    label = "derived from " + ", ".join(f"{s}.{c}" for s, c in tmap.distinct.sources)
    base[FILE_COL] = label
    base[ROW_COL] = np.arange(1, len(base) + 1, dtype="int64")
    return base


def map_table(layout: Layout, tmap: TableMap, sources: dict[str, SourceFrame],
              period: DataPeriod | None = None) -> MappedTable:
    """Build one contract table from the sources as the layout declares (pure).

    Returns the mapped rows (raw ids), the rows dropped by reason and the rows the adapter
    could not read. Raises :class:`AdapterError` on a code the layout does not map.
    """
    contract = load_contracts()[tmap.table]
    if tmap.source is not None:
        src = sources[tmap.source]
        frame = src.frame
        files = list(src.files)
    else:
        frame = _distinct_base(tmap, sources)
        files = [str(frame[FILE_COL].iloc[0])] if len(frame) else []
    rows_in = len(frame)
    keep, dropped = _drop_rows(tmap, frame)
    kept = frame.loc[keep].reset_index(drop=True) if not keep.all() else frame.reset_index(drop=True)
    rejects: list[tuple[np.ndarray, str]] = []
    columns = {c.name: _build_column(layout, tmap, c, kept, period, rejects) for c in tmap.columns}
    out = pd.DataFrame({name: columns[name].to_numpy() for name in contract.column_names})
    origin = pd.DataFrame({FILE_COL: kept[FILE_COL].to_numpy(), ROW_COL: kept[ROW_COL].to_numpy()})
    rejected = pd.DataFrame()
    if rejects:
        reasons = pd.Series(np.full(len(out), "", dtype=object))
        any_bad = np.zeros(len(out), dtype=bool)
        for mask, reason in rejects:
            reasons[mask] = np.where(reasons[mask] == "", reason, reasons[mask] + "; " + reason)
            any_bad |= mask
        rejected = out.loc[any_bad].copy()
        rejected[REASON_COL] = reasons[any_bad].to_numpy()
        rejected[FILE_COL] = origin.loc[any_bad, FILE_COL].to_numpy()
        rejected[ROW_COL] = origin.loc[any_bad, ROW_COL].to_numpy()
        out = out.loc[~any_bad].reset_index(drop=True)
        origin = origin.loc[~any_bad].reset_index(drop=True)
    mapped = MappedTable(table=tmap.table, frame=out, origin=origin, rows_in=rows_in, dropped=dropped,
                         rejected=rejected.reset_index(drop=True), files=files)
    assert mapped.balanced, f"row accounting broke while mapping {tmap.table}"
    return mapped


def _needs_period(tmap: TableMap) -> bool:
    return any(c.academic_year_of is not None for c in tmap.columns)


def period_of(layout: Layout, mapped: dict[str, MappedTable]) -> DataPeriod | None:
    """The declared data period, else the first and last day of the mapped timestamps."""
    if layout.period is not None:
        return DataPeriod(pd.Timestamp(layout.period[0]).normalize(), pd.Timestamp(layout.period[1]).normalize())
    lo: pd.Timestamp | None = None
    hi: pd.Timestamp | None = None
    contracts = load_contracts()
    for t, m in mapped.items():
        for col in contracts[t].columns:
            if col.type in ("timestamp", "date") and col.in_period and len(m.frame):
                ts = pd.to_datetime(m.frame[col.name], errors="coerce")
                if ts.notna().any():
                    lo = ts.min() if lo is None else min(lo, ts.min())
                    hi = ts.max() if hi is None else max(hi, ts.max())
    if lo is None or hi is None:
        return None
    return DataPeriod(lo.normalize(), hi.normalize())


def map_layout(layout: Layout, sources: dict[str, SourceFrame],
               on_table: Callable[[str], None] | None = None) -> tuple[dict[str, MappedTable], DataPeriod | None]:
    """Map every table of the layout; returns the tables and the data period.

    Tables that need the data period (``academic_year_of``) are mapped after the others
    when the layout does not declare the period.
    """
    for src in sources.values():
        check_codes(layout, src)
    mapped: dict[str, MappedTable] = {}
    order = sorted(layout.tables.values(), key=_needs_period)
    period = period_of(layout, {}) if layout.period is not None else None
    for tmap in order:
        if _needs_period(tmap) and period is None:
            period = period_of(layout, mapped)
        if on_table is not None:
            on_table(tmap.table)
        mapped[tmap.table] = map_table(layout, tmap, sources, period)
    if period is None:
        period = period_of(layout, mapped)
    return mapped, period
