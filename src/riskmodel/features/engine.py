"""Engines and the two public entry points: :func:`build_daily` and :func:`build_features`.

The same ibis expressions run on DuckDB (in-process, default) and on PySpark
(``FeatureConfig(engine="spark")``, local mode unless ``spark_master`` says otherwise).
Large outputs go straight to Parquet (``out=``) without passing through pandas.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from riskmodel.features.academic import academic_expr
from riskmodel.features.asof import DAY_S, day_index, day_to_timestamp, normalise_as_of
from riskmodel.features.backends import (
    BackgroundParquetWriter,
    arrow_view,
    connect,
    is_duckdb,
    register_frames,
    small_table,
    to_arrow,
)
from riskmodel.features.census import census_expr
from riskmodel.features.config import FeatureConfig
from riskmodel.features.context import calendar_expr, leave_expr
from riskmodel.features.daily import card_shared, daily_expr, events_in_period
from riskmodel.features.daily_grid import merchant_codes
from riskmodel.features.peers import peer_columns
from riskmodel.features.registry import (
    CHANNELS_BY_NAME,
    EVENT_SOURCES,
    FeatureSpec,
    registry_for,
    source_available,
)
from riskmodel.features.windows import WINDOW_AGGS, window_features_expr

log = logging.getLogger(__name__)

USED_TABLES: dict[str, tuple[str, ...]] = {
    "students": ("student_id", "class_id", "dorm_room"),
    "door_events": ("student_id", "ts", "direction"),
    "card_transactions": ("student_id", "ts", "merchant_id", "category", "amount"),
    "library_events": ("student_id", "ts", "kind"),
    "network_sessions": ("student_id", "start_ts", "end_ts"),
    "grades": ("student_id", "term", "credits", "score", "passed", "published_on"),
    "census": ("student_id", "assessed_on", "instrument", "total_score", "key_item_positive", "screen_level"),
    "calendar": ("date", "period"),
    "leave_records": ("student_id", "start_ts", "end_ts"),
}
"""Tables and columns the feature engine reads (labels and the aid roster are never read)."""

_EVENT_TIME = {"door_events": "ts", "card_transactions": "ts", "library_events": "ts",
               "network_sessions": "start_ts"}


class MissingSourceWarning(UserWarning):
    """A source table is absent, so the features it feeds are left out."""


class FeatureEngineError(ValueError):
    """The inputs cannot be turned into features (message names table, column and rule)."""


def _frames_of(sources: Any) -> dict[str, pd.DataFrame]:
    tables = getattr(sources, "tables", sources)
    if not isinstance(tables, Mapping):
        raise TypeError("sources must be LoadedSources or a mapping of table name -> DataFrame")
    if "students" not in tables:
        raise FeatureEngineError("table students: required_table: the students table is required")
    frames = {}
    for name, cols in USED_TABLES.items():
        if name not in tables or tables[name] is None:
            continue
        df = tables[name]
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise FeatureEngineError(f"table {name}: column {missing[0]}: required_column "
                                     f"(the feature engine needs {', '.join(cols)})")
        frames[name] = df.loc[:, list(cols)]
    frames["students"] = _unknown_groups_as_null(frames["students"])
    return frames


def _unknown_groups_as_null(students: pd.DataFrame) -> pd.DataFrame:
    """A class or room the source declares unknown (contract v1.1) is no peer group: null it.

    Otherwise every student of an export without classes (e.g. a card-only export) would be
    one "class" and one "room", and meals with any student would count as shared.
    """
    from riskmodel.contracts import load_contracts

    spec = load_contracts()["students"]
    out = students.copy()
    for col in ("class_id", "dorm_room"):
        unknown = spec.column(col).unknown
        if unknown is not None and col in out:
            out[col] = out[col].where(out[col] != unknown, None)
    return out


# ------------------------------------------------------------------------------ period


def _period(frames: Mapping[str, pd.DataFrame], cfg: FeatureConfig) -> tuple[int, int]:
    """First and last day (day indices, inclusive) of the daily table."""
    if cfg.period_start is not None and cfg.period_end is not None:
        first, last = day_index([cfg.period_start, cfg.period_end])
        return int(first), int(last)
    if "calendar" in frames and len(frames["calendar"]):
        days = day_index(frames["calendar"]["date"])
        return int(days.min()), int(days.max())
    lo, hi = [], []
    for t, col in _EVENT_TIME.items():
        if t in frames and len(frames[t]):
            lo.append(frames[t][col].min())
            hi.append(frames[t][col].max())
    if not lo:
        raise FeatureEngineError("no data period: give FeatureConfig.period_start/period_end, a calendar "
                                 "table or at least one event table with rows")
    first, last = day_index([min(lo), max(hi)])
    return int(first), int(last)


# ------------------------------------------------------------------------------ plan


@dataclass
class FeaturePlan:
    """Which features are computed from the present sources, and which were left out."""

    features: list[FeatureSpec]
    left_out: dict[str, list[str]] = field(default_factory=dict)


def plan_features(present: Iterable[str], cfg: FeatureConfig) -> FeaturePlan:
    """Split the registry into computable features and those of absent sources."""
    present_set = set(present)
    keep: list[FeatureSpec] = []
    left: dict[str, list[str]] = {}
    for f in registry_for(cfg):
        if source_available(f.source, present_set):
            keep.append(f)
        else:
            left.setdefault(f.source, []).append(f.name)
    return FeaturePlan(keep, left)


def _warn_left_out(left_out: Mapping[str, Sequence[str]], what: str = "features") -> None:
    for src, names in left_out.items():
        label = "no event source" if src == "any" else f"source table {src!r}"
        msg = f"{label} is absent: leaving out {len(names)} {what}: {', '.join(names)}"
        warnings.warn(msg, MissingSourceWarning, stacklevel=3)
        log.info(msg)


def _channels_left_out(present: set[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for c in CHANNELS_BY_NAME.values():
        if not source_available(c.source, present):
            out.setdefault(c.source, []).append(c.name)
    return out


# ------------------------------------------------------------------------------ chunks


def student_chunks(con: Any, students: ir.Table, size: int | None) -> list[ir.Table | None]:
    """Students split into runs of at most ``size`` ids (sorted), as small backend tables.

    ``[None]`` (one pass over everyone) when ``size`` is None or the campus is no larger.
    The daily table and the window features of a student depend only on the student's own
    events (and the campus-wide shared-meal table), so chunks are independent.
    """
    ids = con.execute(students.select("student_id")).loc[:, "student_id"]
    if not size or len(ids) <= size:
        return [None]
    ids = np.sort(ids.to_numpy())
    return [small_table(con, pd.DataFrame({"student_id": ids[k:k + size]})) for k in range(0, len(ids), size)]


def _restrict(tables: Mapping[str, ir.Table], chunk: ir.Table | None) -> dict[str, ir.Table]:
    """Tables keyed by student cut to the students of ``chunk`` (all of them when None)."""
    if chunk is None:
        return dict(tables)
    return {name: t.semi_join(chunk, "student_id") if "student_id" in t.columns else t
            for name, t in tables.items()}


def max_lookback_days(cfg: FeatureConfig) -> int:
    """Days before an as-of date that window features read (the longest window or the
    change baseline plus its recent window)."""
    return max(max(cfg.windows), cfg.change_recent_days + cfg.change_baseline_days)


def daily_days_needed(as_of_days: Sequence[int], cfg: FeatureConfig) -> tuple[int, int]:
    """The daily rows that the window features of ``as_of_days`` depend on (inclusive).

    Rows before the longest lookback are never read; the observed flags and the carried
    door state of the rows that are read look back ``observed_lookback_days`` further.
    """
    lo = min(as_of_days) - max_lookback_days(cfg) - cfg.observed_lookback_days - 1
    return lo, max(as_of_days) - 1


# ------------------------------------------------------------------------------ public API


def build_daily(sources: Any, cfg: FeatureConfig | None = None, *, out: str | Path | None = None,
                con: Any = None, channels: Collection[str] | None = None) -> pd.DataFrame | Path:
    """The daily behaviour table: one row per student (``students``) and day of the period.

    Columns: ``student_id``, ``date`` (datetime64, the day), ``observed_<source>`` and
    ``observed_activity`` (bool: the source had an event for the student in the
    ``cfg.observed_lookback_days`` days ending that day), then one float64 column per
    channel in :data:`DAILY_CHANNELS` whose source is present (NaN where the source is
    unobserved or the value is undefined), sorted by student_id, date.

    The row of day d holds only events before d+1 00:00 (night channels: the night ending
    on the morning of d), so it may be used for any as-of date t > d.
    Absent sources leave their channels out with a :class:`MissingSourceWarning`. With
    ``out`` the table is written to that Parquet file and its path returned. Campuses
    larger than a chunk (``cfg.chunk_size``: ``chunk_students``, fewer over long periods)
    are built in chunks of students. ``channels``
    builds only those channels (the observed flags always come).

    Examples
    --------
    >>> daily = build_daily(loaded, FeatureConfig())  # doctest: +SKIP
    """
    cfg = cfg or FeatureConfig()
    frames = _frames_of(sources)
    _warn_left_out(_channels_left_out(set(frames)), "daily channels")
    first, last = _period(frames, cfg)
    con = con or connect(cfg)
    tables = register_frames(con, frames)
    with tempfile.TemporaryDirectory(prefix="riskmodel_daily_") as tmp:
        parts = []
        for k, (daily, _) in enumerate(_daily_chunks(con, tables, first, last, cfg, channels=channels)):
            expr = daily.drop("day").order_by(["student_id", "date"])
            parts.append(_emit(con, expr, Path(tmp) / f"part-{k:05d}.parquet" if out else None, _fix_daily))
        return _combine(parts, out)


def _daily_chunks(con: Any, tables: Mapping[str, ir.Table], first: int, last: int, cfg: FeatureConfig,
                  on_chunk: Callable[[int, int], None] | None = None,
                  channels: Collection[str] | None = None,
                  in_memory: bool = False) -> Iterator[tuple[ir.Table, ir.Table | None]]:
    """(daily table expression, chunk) per chunk of students; the shared meals are computed
    on the whole campus first (they need every student's roommates and classmates).
    ``in_memory``: see :func:`~riskmodel.features.daily.daily_expr`."""
    chunks = student_chunks(con, tables["students"], cfg.chunk_size(last - first + 1))
    shared = merchants = None
    if len(chunks) > 1 and "card_transactions" in tables:
        cut = events_in_period(tables, first, last)
        if is_duckdb(con) and cfg.numpy_kernels:  # coded once, not once per chunk
            merchants = merchant_codes(con, cut["card_transactions"])
        if channels is None or "card_meals_accompanied" in channels:
            shared = card_shared(cut["card_transactions"], cut["students"], cfg, con, merchants=merchants).cache()
    for k, chunk in enumerate(chunks):
        part = _restrict(tables, chunk)
        # yielded without a local name: the suspended generator must not keep the chunk's
        # in-memory spine alive while the caller works on the chunk
        yield daily_expr(part, first, last, cfg, con, channels=channels, merchants=merchants,
                         shared=None if shared is None else _restrict({"s": shared}, chunk)["s"],
                         in_memory=in_memory)[0], chunk
        if on_chunk is not None:
            on_chunk(k + 1, len(chunks))


def _combine(parts: Sequence[pd.DataFrame | Path], out: str | Path | None,
             drop: Sequence[str] = ()) -> pd.DataFrame | Path:
    """Concatenate chunk results (frames, or Parquet parts into the file ``out``, without
    the columns ``drop``)."""
    if out is None:
        frames = [p for p in parts if isinstance(p, pd.DataFrame)]
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    files = [Path(p) for p in parts]  # type: ignore[arg-type]
    if len(files) == 1 and not drop:
        shutil.move(str(files[0]), path)
        return path
    schema = pq.read_schema(files[0])
    keep = [n for n in schema.names if n not in drop]
    schema = pa.schema([schema.field(n) for n in keep])
    with pq.ParquetWriter(path, schema) as writer:
        for f in files:
            pf = pq.ParquetFile(f)
            for rg in range(pf.num_row_groups):
                writer.write_table(pf.read_row_group(rg, columns=keep).cast(schema))
    return path


def _fix_daily(df: pd.DataFrame) -> pd.DataFrame:
    df["date"] = pd.to_datetime(df["date"]).astype("datetime64[ns]")
    for c in df.columns:
        if c.startswith("observed_"):
            df[c] = df[c].astype(bool)
        elif c in CHANNELS_BY_NAME:
            df[c] = df[c].astype("float64")
    return df.sort_values(["student_id", "date"], kind="stable").reset_index(drop=True)


def _emit(con: Any, expr: ir.Table, out: str | Path | None,
          fix: Callable[[pd.DataFrame], pd.DataFrame]) -> pd.DataFrame | Path:
    if out is None:
        return fix(con.execute(expr))
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    con.to_parquet(expr, path)
    return path


def build_features(sources: Any, as_of_dates: Iterable[Any], cfg: FeatureConfig | None = None,
                   daily: pd.DataFrame | None = None, *, out: str | Path | None = None,
                   con: Any = None) -> pd.DataFrame | Path:
    """Features per student and as-of date, point-in-time correct.

    One row per student in ``students`` and as-of date (midnight; by default Mondays from
    :func:`weekly_as_of_dates`); columns ``student_id``, ``as_of`` (datetime64) and one float64
    column per registry feature whose source is present, in registry order. A record counts
    for as-of t only if its event time is before t (:mod:`riskmodel.features.asof`).
    Features of absent sources are left out with a :class:`MissingSourceWarning` naming
    them. ``daily`` may pass a table from :func:`build_daily` (it must cover the days up to
    the day before the last as-of date). With ``out`` the result is written to Parquet
    and its path returned. Only the daily rows the windows read are built
    (:func:`daily_days_needed`), and campuses larger than a chunk (``cfg.chunk_size``) are
    built in chunks of students.

    Examples
    --------
    >>> feats = build_features(loaded, weekly_as_of_dates("2024-09-02", "2025-06-30"))  # doctest: +SKIP
    """
    cfg = cfg or FeatureConfig()
    frames = _frames_of(sources)
    dates = normalise_as_of(as_of_dates)
    con = con or connect(cfg)
    tables = register_frames(con, frames)
    as_of_days = [int(d) for d in day_index(dates)]
    first, last = _period(frames, cfg)
    daily_tbl = None
    if daily is not None:
        daily_tbl = register_frames(con, {"daily": _daily_with_day(daily)})["daily"]
        dd = day_index(daily["date"])
        first, last = int(dd.min()), int(dd.max())
    expr, _plan = features_expr(con, tables, as_of_days, first, last, cfg, daily_tbl=daily_tbl)
    return _emit(con, expr, out, _fix_features)


def build_feature_store(sources: Any, as_of_dates: Iterable[Any], out_dir: str | Path,
                        cfg: FeatureConfig | None = None, *, daily: bool = True, con: Any = None,
                        on_progress: Callable[[int, int], None] | None = None) -> dict[str, Path]:
    """Daily table and features written to ``out_dir`` as Parquet, chunk by chunk.

    The way to build a whole campus: each chunk of students (``cfg.chunk_size``) builds
    its daily table once, writes it (when ``daily``: the Parquet dataset folder ``daily/``,
    one part per chunk, rows not sorted; ``pd.read_parquet`` and DuckDB read the folder),
    and computes its
    window features from it; peer, academic, census and calendar features are added on the
    whole campus at the end (``features.parquet``; rows come chunk by chunk, not sorted:
    filter on ``as_of`` when reading). Memory stays bounded by the chunk size. ``sources`` may be
    :class:`~riskmodel.contracts.LoadedSources`, a mapping of frames, or a mapping of ibis
    tables on ``con`` (e.g. ``con.read_parquet``). ``on_progress(done, total)`` is called
    after each chunk. Returns the paths written (keys ``daily`` (a folder), ``features``).
    """
    cfg = cfg or FeatureConfig()
    con = con or connect(cfg)
    tables = _tables_of(con, sources)
    dates = normalise_as_of(as_of_dates)
    as_of_days = [int(d) for d in day_index(dates)]
    first, last = _period_of_tables(con, tables, cfg)
    if not daily:
        first = min(max(first, daily_days_needed(as_of_days, cfg)[0]), max(as_of_days) - 1)
    last = max(last, max(as_of_days) - 1)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan = plan_features(set(tables), cfg)
    _warn_left_out(plan.left_out)
    daily_dir = out / "daily"
    if daily:
        if daily_dir.exists():
            shutil.rmtree(daily_dir)
        daily_dir.mkdir()
    # on DuckDB the Parquet files are written on a worker thread while the next chunk computes
    writer = BackgroundParquetWriter(con) if is_duckdb(con) else None
    with tempfile.TemporaryDirectory(prefix="riskmodel_store_", dir=out) as tmp:
        win_parts: list[Path] = []
        try:
            chunks = _daily_chunks(con, tables, first, last, cfg, on_progress, in_memory=daily and writer is not None)
            for k, (dexpr, _chunk) in enumerate(chunks):
                part = daily_dir / f"part-{k:05d}.parquet"
                arrow = None
                if daily and writer is not None:  # written once; the windows read it from memory
                    arrow = to_arrow(con, dexpr)
                    writer.write(arrow.drop_columns(["day"]), part)
                    dtbl = arrow_view(con, arrow, "rm_daily_chunk")
                elif daily:  # write the chunk's daily table once, then read the windows from it
                    con.to_parquet(dexpr.drop("day"), part)
                    dtbl = con.read_parquet(part)
                    dtbl = dtbl.mutate(day=dtbl.date.epoch_seconds().cast("int64") // DAY_S)
                else:
                    dtbl = dexpr.cache()
                del dexpr
                wf = _window_part(con, dtbl, as_of_days, first, last, plan.features, cfg,
                                  daily_arrow=arrow)
                arrow = None
                win_parts.append(Path(tmp) / f"window-{k:05d}.parquet")
                if writer is not None:  # read once, then deleted
                    writer.write(to_arrow(con, wf), win_parts[-1], compression="uncompressed")
                else:
                    con.to_parquet(wf, win_parts[-1], compression="uncompressed")
                _release(dtbl)
                del wf, dtbl
            if writer is not None:
                writer.wait()
        finally:
            if writer is not None:
                writer.close()
        paths = {"daily": daily_dir} if daily else {}
        wf_all = con.read_parquet([str(p) for p in win_parts])
        n_students = int(con.execute(tables["students"].count()))
        per_pass = max(1, cfg.finish_rows // max(n_students, 1))
        passes = [as_of_days[i:i + per_pass] for i in range(0, len(as_of_days), per_pass)]
        if len(passes) == 1:
            expr = _finish(con, tables, wf_all, as_of_days, plan.features, cfg)
            paths["features"] = Path(_emit(con, expr, out / "features.parquet", _fix_features))
            return paths
        done: list[Path] = []
        for k, days in enumerate(passes):  # as-of dates are independent in the whole-campus step
            part = wf_all.filter(wf_all.as_of_day.isin(days))
            done.append(Path(tmp) / f"features-{k:05d}.parquet")
            con.to_parquet(_finish(con, tables, part, days, plan.features, cfg), done[-1])
        paths["features"] = Path(_emit(con, con.read_parquet([str(p) for p in done]), out / "features.parquet",
                                       _fix_features))
    return paths


def read_daily(path: str | Path, float_dtype: Any = "float64") -> pd.DataFrame:
    """The daily table written by :func:`build_feature_store` (a Parquet folder or file), with
    the types of :func:`build_daily` and sorted by student_id, date.

    ``float_dtype="float32"`` halves the memory of a whole campus (types are set and rows
    sorted in Arrow, before pandas holds a copy)."""
    return _read_sorted(path, ["student_id", "date"], "date",
                        lambda c: ("bool" if c.startswith("observed_") else
                                   "float" if c in CHANNELS_BY_NAME else None), float_dtype)


def read_features(path: str | Path, float_dtype: Any = "float64") -> pd.DataFrame:
    """Features written by :func:`build_feature_store` or ``build_features(out=...)``, with the
    types of :func:`build_features` and sorted by as_of, student_id (``float_dtype`` as in
    :func:`read_daily`)."""
    return _read_sorted(path, ["as_of", "student_id"], "as_of",
                        lambda c: None if c == "student_id" else "float", float_dtype)


def _read_sorted(path: str | Path, keys: list[str], time_col: str, kind: Callable[[str], str | None],
                 float_dtype: Any) -> pd.DataFrame:
    """Read Parquet with DuckDB: types set and rows sorted there (within its memory limit),
    so pandas receives one already-narrow copy (a whole two-year campus is GBs)."""
    import duckdb

    from riskmodel.features.backends import default_memory_limit

    p = Path(path)
    src = str(p / "*.parquet") if p.is_dir() else str(p)
    src = src.replace("'", "''")
    flt = "FLOAT" if np.dtype(float_dtype) == np.float32 else "DOUBLE"
    limit = default_memory_limit()
    config: dict[str, str | bool | int | float | list[str]] = {"memory_limit": limit} if limit else {}
    with duckdb.connect(config=config) as db:
        names = [r[0] for r in db.execute(f"DESCRIBE SELECT * FROM read_parquet('{src}')").fetchall()]
        cast = {"time": "TIMESTAMP_NS", "bool": "BOOLEAN", "float": flt}
        cols = []
        for n in names:
            k = "time" if n == time_col else kind(n)
            q = '"' + n.replace('"', '""') + '"'
            cols.append(f"CAST({q} AS {cast[k]}) AS {q}" if k else q)
        order = ", ".join('"' + k + '"' for k in keys)
        tbl = db.execute(f"SELECT {', '.join(cols)} FROM read_parquet('{src}') ORDER BY {order}").fetch_arrow_table()
    return tbl.to_pandas(self_destruct=True).reset_index(drop=True)


def _tables_of(con: Any, sources: Any) -> dict[str, ir.Table]:
    tables = getattr(sources, "tables", sources)
    if isinstance(tables, Mapping) and tables and all(isinstance(t, ir.Table) for t in tables.values()):
        if "students" not in tables:
            raise FeatureEngineError("table students: required_table: the students table is required")
        out = {}
        for name, cols in USED_TABLES.items():
            if name in tables:
                missing = [c for c in cols if c not in tables[name].columns]
                if missing:
                    raise FeatureEngineError(f"table {name}: column {missing[0]}: required_column "
                                             f"(the feature engine needs {', '.join(cols)})")
                out[name] = tables[name].select(*cols)
        students = out["students"]
        out["students"] = students.mutate(**{c: _unknown_as_null(students[c], c) for c in ("class_id", "dorm_room")})
        return out
    return register_frames(con, _frames_of(sources))


def _unknown_as_null(col: ir.Value, name: str) -> ir.Value:
    from riskmodel.contracts import load_contracts

    unknown = load_contracts()["students"].column(name).unknown
    return col if unknown is None else ibis.ifelse(col == unknown, ibis.null(col.type()), col)


def _period_of_tables(con: Any, tables: Mapping[str, ir.Table], cfg: FeatureConfig) -> tuple[int, int]:
    if cfg.period_start is not None and cfg.period_end is not None:
        first, last = day_index([cfg.period_start, cfg.period_end])
        return int(first), int(last)
    if "calendar" in tables:
        r = con.execute(tables["calendar"].aggregate(lo=tables["calendar"].date.min(),
                                                     hi=tables["calendar"].date.max()))
        if len(r) and pd.notna(r["lo"].iloc[0]):
            first, last = day_index([r["lo"].iloc[0], r["hi"].iloc[0]])
            return int(first), int(last)
    lo, hi = [], []
    for t, col in _EVENT_TIME.items():
        if t in tables:
            r = con.execute(tables[t].aggregate(lo=tables[t][col].min(), hi=tables[t][col].max()))
            if pd.notna(r["lo"].iloc[0]):
                lo.append(r["lo"].iloc[0])
                hi.append(r["hi"].iloc[0])
    if not lo:
        raise FeatureEngineError("no data period: give FeatureConfig.period_start/period_end, a calendar "
                                 "table or at least one event table with rows")
    first, last = day_index([min(lo), max(hi)])
    return int(first), int(last)


def _release(t: ir.Table) -> None:
    """Drop a cached intermediate table from the backend (frees its memory)."""
    release = getattr(t, "release", None)
    if release is not None:
        release()


def _daily_with_day(daily: pd.DataFrame) -> pd.DataFrame:
    d = daily.copy()
    d.insert(1, "day", day_index(d["date"]))
    return d


def _fix_features(df: pd.DataFrame) -> pd.DataFrame:
    df["as_of"] = pd.to_datetime(df["as_of"]).astype("datetime64[ns]")
    for c in df.columns[2:]:
        df[c] = df[c].astype("float64")
    return df.sort_values(["as_of", "student_id"], kind="stable").reset_index(drop=True)


def features_expr(con: Any, tables: Mapping[str, ir.Table], as_of_days: Sequence[int], first: int,
                  last: int, cfg: FeatureConfig, daily_tbl: ir.Table | None = None,
                  warn: bool = True) -> tuple[ir.Table, FeaturePlan]:
    """The feature table as one ibis expression (intermediate tables cached on the backend).

    Without ``daily_tbl`` the daily table is built, only over the days the windows read
    (:func:`daily_days_needed`), chunk by chunk when the campus is larger than a chunk
    (``cfg.chunk_size``).
    """
    present = set(tables)
    plan = plan_features(present, cfg)
    if warn:
        _warn_left_out(plan.left_out)
    specs = plan.features
    as_of_days = sorted(as_of_days)
    need_first, need_last = daily_days_needed(as_of_days, cfg)
    win_specs = [s for s in specs if s.aggregate in WINDOW_AGGS]
    if daily_tbl is not None and last < need_last:
        raise FeatureEngineError(f"table daily: column date: covers_as_of (it ends on "
                                 f"{day_to_timestamp([last])[0].date()}, the as-of dates need days up to "
                                 f"{day_to_timestamp([need_last])[0].date()})")
    wf = None
    if win_specs and daily_tbl is not None:
        wf = _window_part(con, daily_tbl, as_of_days, first, max(last, need_last), specs, cfg).cache()
    elif win_specs:
        first = min(max(first, need_first), need_last)
        last = max(need_last, first)
        parts = []
        for dexpr, _chunk in _daily_chunks(con, tables, first, last, cfg):
            dtbl = dexpr.cache()
            parts.append(_window_part(con, dtbl, as_of_days, first, last, specs, cfg).cache())
            _release(dtbl)
        wf = parts[0]
        if len(parts) > 1:
            for p in parts[1:]:
                wf = wf.union(p, distinct=False)
            wf = wf.cache()
            for p in parts:
                _release(p)
    return _finish(con, tables, wf, as_of_days, specs, cfg), plan


def _window_part(con: Any, daily_tbl: ir.Table, as_of_days: Sequence[int], first: int,
                 last: int, specs: Sequence[FeatureSpec], cfg: FeatureConfig,
                 daily_arrow: Any = None) -> ir.Table:
    """Window features (student_id, as_of_day, ...) of the students of ``daily_tbl``
    (``daily_arrow``: the same table in memory, when the caller has it)."""
    win_specs = [s for s in specs if s.aggregate in WINDOW_AGGS]
    return window_features_expr(daily_tbl, as_of_days, first, last, win_specs, cfg, con=con,
                                daily_arrow=daily_arrow)


def _finish(con: Any, tables: Mapping[str, ir.Table], wf: ir.Table | None, as_of_days: Sequence[int],
            specs: Sequence[FeatureSpec], cfg: FeatureConfig) -> ir.Table:
    """Every student x as-of row: window features ``wf``, then peer deviations (whole campus),
    academic, census and calendar features; columns in registry order.

    The narrow parts are joined to the student x as-of keys first and the wide window
    features last, so only one join carries their ~180 columns (a hash join copies its
    payload: 12 s -> 9 s at 30,000 students x 52 weeks)."""
    as_of_days = sorted(as_of_days)
    as_of = small_table(con, pd.DataFrame({"as_of_day": np.asarray(as_of_days, dtype="int64"),
                                           "as_of": day_to_timestamp(as_of_days)}))
    students = tables["students"]
    res = students.select("student_id").cross_join(as_of)
    if wf is not None:
        peer_specs = [s for s in specs if s.aggregate in ("vs_class", "vs_room")]
        if peer_specs:
            res = _join(res, peer_columns(wf.select("student_id", "as_of_day",
                                                    *sorted({s.inputs[0] for s in peer_specs})),
                                          students, peer_specs))
    as_of_keys = as_of.select("as_of_day")
    if "grades" in tables:
        res = _join(res, academic_expr(tables["grades"], as_of_keys, cfg))
    if "census" in tables:
        res = _join(res, census_expr(tables["census"], as_of_keys))
    if "calendar" in tables:
        res = _join(res, calendar_expr(tables["calendar"], as_of_keys), keys=["as_of_day"])
    if "leave_records" in tables:
        lv = leave_expr(tables["leave_records"], as_of_keys)
        res = _join(res, lv)
        res = res.mutate(context__leave_days__14d=res.context__leave_days__14d.fill_null(0.0))
    if wf is not None:
        res = _join(res, wf)
    cols = [s.name for s in specs]
    missing = [c for c in cols if c not in res.columns]
    if missing:  # pragma: no cover - a registry/computation mismatch is a bug
        raise RuntimeError(f"registry features not computed: {missing[:5]}")
    return res.select("student_id", "as_of", *[res[c].cast("float64").name(c) for c in cols])


def _join(left: ir.Table, right: ir.Table, keys: Sequence[str] = ("student_id", "as_of_day")) -> ir.Table:
    j = left.left_join(right, list(keys))
    drop = [c for c in j.columns if c.endswith("_right")]
    return j.drop(*drop) if drop else j


def present_event_sources(tables: Iterable[str]) -> list[str]:
    """Event sources among ``tables`` in registry order."""
    s = set(tables)
    return [t for t in EVENT_SOURCES if t in s]
