"""Backends: DuckDB in-process (default) or PySpark, and getting frames into them."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Mapping
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from riskmodel.features.config import FeatureConfig

_SPARK_DEFAULTS = {
    "spark.sql.session.timeZone": "UTC",  # naive local timestamps stay wall-clock times
    "spark.sql.ansi.enabled": "false",  # out-of-range array index -> NULL, as in DuckDB
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def default_memory_limit(share: float = 0.5) -> str:
    """DuckDB's memory limit when the config gives none: half of the machine's memory.

    DuckDB's own default (80 %) bounds only its buffer pool; with pandas beside it in the same
    process a whole-campus build came within 1 GB of a 24 GB machine. Beyond the limit DuckDB
    spills sorts, joins and windows to its temporary directory.
    """
    import os

    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: let DuckDB decide
        return ""
    return f"{max(1, int(total * share / 2**30))}GiB"


def connect(cfg: FeatureConfig) -> Any:
    """An ibis backend for ``cfg.engine`` (DuckDB in memory, or PySpark on a shared session)."""
    if cfg.engine == "duckdb":
        kwargs: dict[str, Any] = {}
        if cfg.threads:
            kwargs["threads"] = int(cfg.threads)
        limit = cfg.memory_limit or default_memory_limit()
        if limit:
            kwargs["memory_limit"] = limit
        if cfg.temp_directory:
            kwargs["temp_directory"] = cfg.temp_directory
        con = ibis.duckdb.connect(**kwargs)
        # results are sorted where order matters (pandas outputs); unordered scans and writes
        # are faster and hold less memory
        con.raw_sql("SET preserve_insertion_order = false")
        return con
    from pyspark.sql import SparkSession  # lazy: Spark is optional

    builder = SparkSession.builder.master(cfg.spark_master).appName("riskmodel-features")
    for k, v in {**_SPARK_DEFAULTS, **dict(cfg.spark_conf)}.items():
        builder = builder.config(k, v)
    session = builder.getOrCreate()
    for k, v in {**_SPARK_DEFAULTS, **dict(cfg.spark_conf)}.items():
        if not k.startswith("spark.ui"):
            session.conf.set(k, v)
    return ibis.pyspark.connect(session)


_counter = [0]


def register_frames(con: Any, frames: Mapping[str, pd.DataFrame]) -> dict[str, ir.Table]:
    """Put pandas frames into the backend as (temporary) tables; NaN becomes NULL."""
    import pyarrow as pa

    out = {}
    for name, df in frames.items():
        _counter[0] += 1
        tname = f"rm_{name}_{_counter[0]}"
        arrow = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)
        for i, f in enumerate(arrow.schema):
            if pa.types.is_null(f.type):  # an all-null text column (e.g. no one lives on campus)
                arrow = arrow.set_column(i, f.name, arrow.column(i).cast(pa.string()))
        if con.name == "pyspark":
            _spark_view(con, arrow, tname)
            out[name] = con.table(tname)
        else:
            out[name] = con.create_table(tname, arrow, temp=True)
    return out


def _spark_view(con: Any, arrow: Any, tname: str) -> None:
    sdf = con._session.createDataFrame(arrow)
    sdf.createOrReplaceTempView(tname)




def small_table(con: Any, df: pd.DataFrame) -> ir.Table:
    """A small helper table (dates, lookup keys) on the backend of ``con``."""
    if con is None:
        return ibis.memtable(df)
    return register_frames(con, {"aux": df})["aux"]


def is_duckdb(con: Any) -> bool:
    """Whether ``con`` is an ibis DuckDB backend (the in-memory fast paths need one)."""
    return getattr(con, "name", None) == "duckdb"


_temp_ids = [0]


def temp_arrow_table(con: Any, arrow: Any, prefix: str) -> ir.Table:
    """An Arrow table copied into a native temporary DuckDB table (joins and windows over an
    Arrow scan of many columns run about twice as slow), dropped when the last expression
    using it is garbage-collected, like ``Table.cache()``."""
    _temp_ids[0] += 1
    name = f"{prefix}_{_temp_ids[0]}"
    out = con.create_table(name, arrow, temp=True)
    weakref.finalize(out.op(), _drop_table, con, name)
    return out


#: the Arrow table behind each live :func:`arrow_view` (keyed by the view's ibis operation)
_view_arrow: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def arrow_view(con: Any, arrow: Any, prefix: str) -> ir.Table:
    """An Arrow table registered on DuckDB without a copy (a scan reads it in place),
    unregistered when the last expression using it is garbage-collected. Suits a table read
    once by one projection; :func:`temp_arrow_table` suits one that is joined.
    :func:`to_arrow` hands the table itself back."""
    _temp_ids[0] += 1
    name = f"{prefix}_{_temp_ids[0]}"
    con.con.register(name, arrow)
    out = con.table(name)
    weakref.finalize(out.op(), _unregister, con, name)
    _view_arrow[out.op()] = arrow
    return out


def to_arrow(con: Any, expr: ir.Table) -> Any:
    """The rows of ``expr`` as an Arrow table: the table itself when ``expr`` is an
    :func:`arrow_view` as it was made (no scan, no copy), else what ``con`` computes."""
    arrow = _view_arrow.get(expr.op())
    return arrow if arrow is not None else con.to_pyarrow(expr)


def _unregister(con: Any, name: str) -> None:
    with contextlib.suppress(Exception):
        con.con.unregister(name)


def _drop_table(con: Any, name: str) -> None:
    with contextlib.suppress(Exception):  # the connection may already be closed
        con.drop_table(name, force=True)


class BackgroundParquetWriter:
    """Writes Arrow tables to Parquet with DuckDB on a worker thread, so the caller computes
    the next chunk meanwhile (DuckDB releases the GIL while it encodes).

    The worker has its own DuckDB cursor on ``con``'s database (a cursor per thread is
    DuckDB's rule for concurrent use). At most ``max_pending`` tables wait or are being
    written (memory stays bounded: :meth:`write` blocks on the oldest beyond that);
    :meth:`wait` blocks until every file is complete and raises the first error.
    """

    def __init__(self, con: Any, max_pending: int = 2) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._cursor = con.con.cursor()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="rm-parquet")
        self._pending: list[Any] = []
        self._max_pending = max(1, max_pending)

    def _write(self, arrow: Any, path: str, compression: str) -> None:
        self._cursor.from_arrow(arrow).write_parquet(path, compression=compression)

    def write(self, arrow: Any, path: str | Any, compression: str = "snappy") -> None:
        """Queue ``arrow`` to be written to ``path`` (``compression``: a DuckDB Parquet codec)."""
        while len(self._pending) >= self._max_pending:
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(self._write, arrow, str(path), compression))

    def wait(self) -> None:
        """Block until every queued file is written; raise the first error."""
        while self._pending:
            self._pending.pop(0).result()

    def close(self) -> None:
        """Stop the worker (waits for writes in progress) and close the cursor."""
        self._pool.shutdown(wait=True)
        self._pending.clear()
        with contextlib.suppress(Exception):
            self._cursor.close()
