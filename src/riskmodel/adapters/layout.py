"""Export layouts as data: parse and check a layout YAML file into typed dataclasses.

A layout declares how one campus system's export maps into contract-v1 tables: which
files to read (pattern, format, encoding), which rows to drop and why, and, for every
contract column, where its value comes from (a source column with renames, value maps,
regex matches, time formats, a constant, or the contract's declared *unknown*). The
generic engine in :mod:`riskmodel.adapters.engine` applies it; no layout is special-cased
in code. See ``src/riskmodel/adapters/README.md`` for the format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from riskmodel.adapters.errors import LayoutError
from riskmodel.contracts import load_contracts

#: In ``value:`` / ``missing:``, this token stands for the contract's declared unknown.
UNKNOWN_TOKEN = "<unknown>"
LAYOUTS_DIR = Path(__file__).resolve().parent / "layouts"
FORMATS = ("csv", "tsv", "parquet")
COMPARISONS = ("in", "not_in", "eq", "ne", "lt", "le", "gt", "ge", "is_null")
PERIOD_ENDS = ("period_start", "period_end")
_SOURCE_KEYS = {"pattern", "format", "encoding", "sep", "skip_rows", "null_values", "columns",
                "codes", "pad", "required", "description"}
_TABLE_KEYS = {"from", "distinct", "lookup", "drop", "columns", "unknown", "description"}
_COLUMN_KEYS = {"from", "join", "map", "match", "extract", "missing", "value", "format", "scale",
                "academic_year_of", "description"}
_NOT_SET: Any = object()


@dataclass(frozen=True)
class SourceSpec:
    """One kind of export file.

    ``pattern`` is a glob relative to the export folder; every matching file is read and
    the rows concatenated in name order. ``encodings`` are tried in order for text files
    (``utf-8`` also reads a UTF-8 BOM; ``utf-16`` needs its BOM).
    """

    name: str
    pattern: str
    format: str | None = None
    encodings: tuple[str, ...] = ("utf-8",)
    sep: str | None = None
    skip_rows: int = 0
    null_values: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    codes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    pad: dict[str, int] = field(default_factory=dict)
    required: bool = True


@dataclass(frozen=True)
class Condition:
    """``column op value`` on a source column (numbers compared as numbers, text as text)."""

    column: str
    op: str
    value: Any


@dataclass(frozen=True)
class DropRule:
    """Rows for which every condition holds are dropped, counted under ``reason``."""

    reason: str
    when: tuple[Condition, ...]


@dataclass(frozen=True)
class ColumnMap:
    """Where one contract column's values come from.

    Exactly one of ``sources`` (source columns), ``value`` (a constant) or
    ``academic_year_of`` (the academic year of the data period's start or end) is set.
    """

    name: str
    sources: tuple[str, ...] = ()
    join: str = " "
    map: dict[str, Any] | None = None
    match: tuple[tuple[str, Any], ...] = ()
    extract: str | None = None
    missing: Any = _NOT_SET
    value: Any = _NOT_SET
    format: str | None = None
    scale: float | None = None
    academic_year_of: str | None = None

    @property
    def has_missing(self) -> bool:
        return self.missing is not _NOT_SET

    @property
    def has_value(self) -> bool:
        return self.value is not _NOT_SET


@dataclass(frozen=True)
class Distinct:
    """A derived base frame: the distinct non-null values of ``sources`` ("src.col"), as ``column``."""

    column: str
    sources: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Lookup:
    """Left-join the first row per key of source ``source`` (on its column ``on``)."""

    source: str
    on: str


@dataclass(frozen=True)
class TableMap:
    """How one contract table is built: from a source's rows, or from distinct ids."""

    table: str
    columns: tuple[ColumnMap, ...]
    source: str | None = None
    distinct: Distinct | None = None
    lookup: Lookup | None = None
    drop: tuple[DropRule, ...] = ()


@dataclass(frozen=True)
class Layout:
    """A parsed, checked export layout."""

    name: str
    version: int
    sources: dict[str, SourceSpec]
    tables: dict[str, TableMap]
    period: tuple[str, str] | None = None
    academic_year_start_month: int = 9
    description: str = ""
    path: str | None = None


# ----------------------------------------------------------------------------- helpers


def _fail(layout: str, where: str, msg: str) -> LayoutError:
    return LayoutError(f"layout {layout}, {where}: {msg}")


def _as_tuple(v: Any) -> tuple[Any, ...]:
    if v is None:
        return ()
    if isinstance(v, list | tuple):
        return tuple(v)
    return (v,)


def _check_keys(layout: str, where: str, raw: dict[str, Any], allowed: set[str]) -> None:
    if not isinstance(raw, dict):
        raise _fail(layout, where, f"expected a mapping, got {type(raw).__name__}")
    extra = sorted(set(raw) - allowed)
    if extra:
        raise _fail(layout, where, f"unknown key(s) {extra}; allowed: {sorted(allowed)}")


def declared_unknowns() -> dict[str, dict[str, Any]]:
    """Per table, the columns whose contract declares an ``unknown`` value (contract v1.1),
    with that value: what an adapter writes when its source does not hold the attribute."""
    return {name: {c.name: c.unknown for c in contract.columns if c.has_unknown}
            for name, contract in load_contracts().items()}


# ----------------------------------------------------------------------------- parsing


def _parse_source(layout: str, name: str, raw: dict[str, Any]) -> SourceSpec:
    where = f"source {name!r}"
    _check_keys(layout, where, raw, _SOURCE_KEYS)
    if not raw.get("pattern"):
        raise _fail(layout, where, "needs a file `pattern` (a glob relative to the export folder)")
    fmt = raw.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise _fail(layout, where, f"format {fmt!r} is not one of {FORMATS}")
    encodings = tuple(str(e) for e in _as_tuple(raw.get("encoding", "utf-8")))
    for enc in encodings:
        try:
            "".encode(enc)
        except LookupError:
            raise _fail(layout, where, f"unknown encoding {enc!r}") from None
    codes = {str(c): tuple(str(v) for v in vals) for c, vals in (raw.get("codes") or {}).items()}
    pad = {str(c): int(w) for c, w in (raw.get("pad") or {}).items()}
    return SourceSpec(
        name=name,
        pattern=str(raw["pattern"]),
        format=fmt,
        encodings=encodings,
        sep=raw.get("sep"),
        skip_rows=int(raw.get("skip_rows", 0)),
        null_values=tuple(str(v) for v in _as_tuple(raw.get("null_values"))),
        columns=tuple(str(c) for c in _as_tuple(raw.get("columns"))),
        codes=codes,
        pad=pad,
        required=bool(raw.get("required", True)),
    )


def _parse_condition(layout: str, where: str, column: str, raw: Any) -> list[Condition]:
    if not isinstance(raw, dict):  # `col: value` is shorthand for `col: {eq: value}`
        raw = {"eq": raw}
    out = []
    for op, value in raw.items():
        if op not in COMPARISONS:
            raise _fail(layout, where, f"condition on {column!r}: {op!r} is not one of {COMPARISONS}")
        if op in ("in", "not_in"):
            value = tuple(str(v) for v in _as_tuple(value))
        elif op == "is_null":
            value = bool(value)
        out.append(Condition(column=str(column), op=op, value=value))
    return out


def _parse_drop(layout: str, table: str, raw: Any) -> tuple[DropRule, ...]:
    rules = []
    for i, r in enumerate(_as_tuple(raw)):
        where = f"table {table!r}, drop rule {i + 1}"
        _check_keys(layout, where, r, {"reason", "when", "description"})
        if not r.get("reason"):
            raise _fail(layout, where, "every drop rule needs a `reason` (it is counted and reported)")
        when = r.get("when") or {}
        if not isinstance(when, dict) or not when:
            raise _fail(layout, where, "needs `when: {column: {op: value}}`")
        conds: list[Condition] = []
        for col, cond in when.items():
            conds += _parse_condition(layout, where, col, cond)
        rules.append(DropRule(reason=str(r["reason"]), when=tuple(conds)))
    return tuple(rules)


def _parse_column(layout: str, table: str, name: str, raw: Any) -> ColumnMap:
    where = f"table {table!r}, column {name!r}"
    if not isinstance(raw, dict):  # `col: source_col` is shorthand for `{from: source_col}`
        raw = {"from": raw}
    _check_keys(layout, where, raw, _COLUMN_KEYS)
    kinds = [k for k in ("from", "value", "academic_year_of") if k in raw]
    if len(kinds) != 1:
        raise _fail(layout, where, "give exactly one of `from` (source column), `value` (a constant) "
                                   "or `academic_year_of` (period_start / period_end)")
    ay = raw.get("academic_year_of")
    if ay is not None and ay not in PERIOD_ENDS:
        raise _fail(layout, where, f"academic_year_of must be one of {PERIOD_ENDS}")
    mapping = raw.get("map")
    if mapping is not None:
        if not isinstance(mapping, dict):
            raise _fail(layout, where, "`map` must be a mapping {source code: contract value}")
        mapping = {_code_text(k): v for k, v in mapping.items()}
    match = []
    for m in _as_tuple(raw.get("match")):
        if not (isinstance(m, list | tuple) and len(m) == 2):
            raise _fail(layout, where, "`match` is a list of [regex, contract value] pairs")
        try:
            re.compile(str(m[0]))
        except re.error as exc:
            raise _fail(layout, where, f"bad regex {m[0]!r}: {exc}") from None
        match.append((str(m[0]), m[1]))
    extract = raw.get("extract")
    if extract is not None:
        try:
            if re.compile(str(extract)).groups != 1:
                raise _fail(layout, where, "`extract` needs a regex with exactly one capture group")
        except re.error as exc:
            raise _fail(layout, where, f"bad regex {extract!r}: {exc}") from None
    return ColumnMap(
        name=name,
        sources=tuple(str(s) for s in _as_tuple(raw.get("from"))),
        join=str(raw.get("join", " ")),
        map=mapping,
        match=tuple(match),
        extract=str(extract) if extract is not None else None,
        missing=raw.get("missing", _NOT_SET),
        value=raw.get("value", _NOT_SET),
        format=raw.get("format"),
        scale=float(raw["scale"]) if raw.get("scale") is not None else None,
        academic_year_of=ay,
    )


def _code_text(v: Any) -> str:
    """The text form under which a code is compared (1000, 1000.0 and "1000" are one code)."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _parse_table(layout: str, table: str, raw: dict[str, Any], sources: dict[str, SourceSpec]) -> TableMap:
    where = f"table {table!r}"
    _check_keys(layout, where, raw, _TABLE_KEYS)
    contracts = load_contracts()
    if table not in contracts:
        raise _fail(layout, where, f"not a contract table (known: {', '.join(contracts)})")
    contract = contracts[table]
    if ("from" in raw) == ("distinct" in raw):
        raise _fail(layout, where, "give exactly one of `from: <source>` or `distinct: {column, from}`")
    source = raw.get("from")
    if source is not None and source not in sources:
        raise _fail(layout, where, f"source {source!r} is not declared under `sources`")
    distinct = None
    if "distinct" in raw:
        d = raw["distinct"]
        _check_keys(layout, f"{where}, distinct", d, {"column", "from"})
        refs = []
        for ref in _as_tuple(d.get("from")):
            src, _, col = str(ref).partition(".")
            if src not in sources or not col:
                raise _fail(layout, f"{where}, distinct", f"{ref!r} is not <declared source>.<column>")
            refs.append((src, col))
        if not refs or not d.get("column"):
            raise _fail(layout, f"{where}, distinct", "needs `column` and a list `from: [source.column, ...]`")
        distinct = Distinct(column=str(d["column"]), sources=tuple(refs))
    lookup = None
    if "lookup" in raw:
        lk = raw["lookup"]
        _check_keys(layout, f"{where}, lookup", lk, {"source", "key"})
        if lk.get("source") not in sources or not lk.get("key"):
            raise _fail(layout, f"{where}, lookup", "needs `source` (a declared source) and `key` (its key column)")
        lookup = Lookup(source=str(lk["source"]), on=str(lk["key"]))
    columns = [_parse_column(layout, table, str(n), c) for n, c in (raw.get("columns") or {}).items()]
    unknown_cols = [str(c) for c in _as_tuple(raw.get("unknown"))]
    declared = declared_unknowns().get(table, {})
    for c in unknown_cols:
        if c not in declared:
            raise _fail(layout, where, f"column {c!r} is listed as unknown but contract {table}.{c} declares "
                                       f"no unknown value (columns that may be unknown: {sorted(declared)})")
        columns.append(ColumnMap(name=c, value=UNKNOWN_TOKEN))
    names = [c.name for c in columns]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise _fail(layout, where, f"column(s) {dup} are mapped twice")
    extra = sorted(set(names) - set(contract.column_names))
    if extra:
        raise _fail(layout, where, f"column(s) {extra} are not in contract {table} "
                                   f"(its columns: {', '.join(contract.column_names)})")
    missing = [c for c in contract.column_names if c not in names]
    if missing:
        raise _fail(layout, where, f"no mapping for contract column(s) {missing}: map each from a source "
                                   "column, give a `value`, or list it under `unknown`")
    for cm in columns:
        for tok in (cm.value if cm.has_value else None, cm.missing if cm.has_missing else None):
            if tok == UNKNOWN_TOKEN and cm.name not in declared:
                raise _fail(layout, f"{where}, column {cm.name!r}",
                            f"{UNKNOWN_TOKEN} used but contract {table}.{cm.name} declares no unknown value")
    return TableMap(table=table, columns=tuple(columns), source=source, distinct=distinct, lookup=lookup,
                    drop=_parse_drop(layout, table, raw.get("drop")))


def _required_columns(layout: str, sources: dict[str, SourceSpec], tables: dict[str, TableMap]) -> dict[str, SourceSpec]:
    """Add every column a table refers to to its source's required columns."""
    need: dict[str, list[str]] = {n: list(s.columns) for n, s in sources.items()}

    def add(src: str, col: str) -> None:
        if col not in need[src]:
            need[src].append(col)

    for t in tables.values():
        if t.source is not None:
            for c in t.columns:
                for s in c.sources:
                    add(t.source, s)
            for r in t.drop:
                for cond in r.when:
                    add(t.source, cond.column)
        if t.distinct is not None:
            for src, col in t.distinct.sources:
                add(src, col)
        if t.lookup is not None:
            add(t.lookup.source, t.lookup.on)
            base = {t.distinct.column} if t.distinct else set()
            for c in t.columns:
                for s in c.sources:
                    if s not in base:
                        add(t.lookup.source, s)
        elif t.distinct is not None:
            for c in t.columns:
                for s in c.sources:
                    if s != t.distinct.column:
                        raise _fail(layout, f"table {t.table!r}, column {c.name!r}",
                                    f"source column {s!r} is neither the distinct column nor from a lookup")
    return {n: replace(s, columns=tuple(need[n])) for n, s in sources.items()}


def parse_layout(raw: dict[str, Any], path: str | None = None) -> Layout:
    """Build a checked :class:`Layout` from the parsed YAML of one layout file.

    Raises :class:`LayoutError` naming the layout, the place and the fix when the file is
    malformed, refers to an undeclared source, or leaves a contract column unmapped.
    """
    if not isinstance(raw, dict) or not raw.get("layout"):
        raise LayoutError(f"layout file {path or '(inline)'}: needs a top-level `layout: <name>`")
    name = str(raw["layout"])
    _check_keys(name, "top level", raw, {"layout", "version", "description", "period", "sources", "tables",
                                          "academic_year_start_month"})
    sources = {str(n): _parse_source(name, str(n), s) for n, s in (raw.get("sources") or {}).items()}
    if not sources:
        raise _fail(name, "top level", "declares no `sources`")
    tables = {str(t): _parse_table(name, str(t), m, sources) for t, m in (raw.get("tables") or {}).items()}
    if "students" not in tables:
        raise _fail(name, "tables", "must build `students` (the one required table); "
                                    "derive it with `distinct:` from the ids present when the export has no roster")
    period = raw.get("period")
    if period is not None:
        _check_keys(name, "period", period, {"start", "end"})
        period = (str(period["start"]), str(period["end"]))
    month = int(raw.get("academic_year_start_month", 9))
    if not 1 <= month <= 12:
        raise _fail(name, "academic_year_start_month", "must be 1..12")
    return Layout(
        name=name,
        version=int(raw.get("version", 1)),
        sources=_required_columns(name, sources, tables),
        tables=tables,
        period=period,
        academic_year_start_month=month,
        description=str(raw.get("description", "") or ""),
        path=path,
    )


def shipped_layouts() -> list[str]:
    """Names of the layouts shipped with riskmodel (``adapters/layouts/*.yaml``)."""
    return sorted(p.stem for p in LAYOUTS_DIR.glob("*.yaml"))


def load_layout(name_or_path: str | Path) -> Layout:
    """Load a shipped layout by name (e.g. ``"uestc_card"``) or any layout YAML file by path."""
    p = Path(name_or_path)
    if not (p.suffix in (".yaml", ".yml") and p.is_file()):
        shipped = LAYOUTS_DIR / f"{name_or_path}.yaml"
        if not shipped.is_file():
            raise LayoutError(f"no layout {str(name_or_path)!r}: give a YAML file path or one of "
                              f"{', '.join(shipped_layouts())}")
        p = shipped
    with open(p, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    return parse_layout(raw, path=str(p))
