"""Parquet output: one ParquetWriter per table, one row group per chunk (flat memory).

Columns and Arrow types follow contract v1 (``str`` -> string, ``int`` -> int64, ``float`` ->
float64, ``bool`` -> bool, ``timestamp`` -> timestamp[ns], ``date`` -> date32). Tables are
built straight from NumPy arrays (no pandas metadata), so equal data gives equal bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from riskmodel.contracts import load_contracts

_ARROW = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
          "timestamp": pa.timestamp("ns"), "date": pa.date32()}


def contract_schema(table: str) -> pa.Schema:
    """The Arrow schema of a contract-v1 table, in contract column order."""
    c = load_contracts()[table]
    return pa.schema([pa.field(col.name, _ARROW[col.type], nullable=col.nullable) for col in c.columns])


def ids_array(local_idx: np.ndarray, ids: np.ndarray) -> pa.Array:
    """Student ids for rows given by local index into ``ids`` (decoded dictionary)."""
    if local_idx.size == 0:
        return pa.array([], pa.string())
    dic = pa.DictionaryArray.from_arrays(pa.array(local_idx.astype(np.int32)), pa.array(ids, pa.string()))
    return dic.dictionary_decode()


def ts_array(seconds: np.ndarray) -> pa.Array:
    """Local wall-clock seconds since 1970 -> timestamp[ns]."""
    return pa.array((seconds.astype(np.int64) * 1_000_000_000).view("datetime64[ns]"), pa.timestamp("ns"))


def date_array(epoch_days: np.ndarray) -> pa.Array:
    """Days since 1970 -> date32."""
    return pa.array(epoch_days.astype(np.int64).astype("datetime64[D]"), pa.date32())


def str_array(values: np.ndarray) -> pa.Array:
    return pa.array(values, pa.string())


class TableWriters:
    """Lazily opened ParquetWriters keyed by file path relative to ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._writers: dict[str, pq.ParquetWriter] = {}
        self.rows: dict[str, int] = {}

    def write(self, name: str, columns: dict[str, pa.Array], schema: pa.Schema) -> None:
        """Append one row group to ``<root>/<name>.parquet`` (schema fixed at first write)."""
        table = pa.Table.from_arrays([columns[f.name].cast(f.type) for f in schema], schema=schema)
        if name not in self._writers:
            path = self.root / f"{name}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            self._writers[name] = pq.ParquetWriter(path, schema, compression="zstd", compression_level=1)
            self.rows[name] = 0
        if table.num_rows:
            self._writers[name].write_table(table)
        self.rows[name] += table.num_rows

    def ensure(self, name: str, schema: pa.Schema) -> None:
        """Write an empty table when ``name`` got no rows at all (every table always exists)."""
        if name not in self._writers:
            self.write(name, {f.name: pa.array([], f.type) for f in schema}, schema)

    def close(self) -> None:
        for w in self._writers.values():
            w.close()
        self._writers.clear()
