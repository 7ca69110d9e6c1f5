"""Property: random corruption of valid tables never escapes the contract layer.

Whatever we do to a valid campus (wrong types, nulls, out-of-range values, shuffled
columns, duplicated rows, unknown ids, dropped columns), loading either raises
``ContractError`` or accounts for every row (accepted + quarantined = read), and no raw
student id ever reaches an error message or a log record.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskmodel.contracts import ContractError, load_contracts, validate_tables

from campus_fixture import RAW_IDS, TEST_KEY, tiny_campus

CONTRACTS = load_contracts()
TABLES = list(CONTRACTS)
UNKNOWN_IDS = ["8888888888", "7777777777"]
FORBIDDEN = RAW_IDS + UNKNOWN_IDS

corruption = st.tuples(
    st.sampled_from(TABLES),
    st.sampled_from(["null", "garbage", "negative", "huge", "shuffle", "duplicate", "unknown_id",
                     "drop_column", "swap_types", "empty_string"]),
    st.integers(min_value=0, max_value=50),
    st.integers(min_value=0, max_value=50),
)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _corrupt(campus: dict[str, pd.DataFrame], table: str, kind: str, row: int, col_pick: int) -> None:
    df = campus[table].copy()
    cols = list(df.columns)
    if not cols or df.empty:
        return  # every column already dropped: nothing left to corrupt
    col = cols[col_pick % len(cols)]
    r = row % len(df)
    if kind == "null":
        df[col] = df[col].astype(object)
        df.loc[r, col] = None
    elif kind == "garbage":
        df[col] = df[col].astype(object)
        df.loc[r, col] = "§garbage§"
    elif kind == "negative":
        df[col] = df[col].astype(object)
        df.loc[r, col] = -5
    elif kind == "huge":
        df[col] = df[col].astype(object)
        df.loc[r, col] = 1e12
    elif kind == "shuffle":
        rng = np.random.default_rng(row)
        df = df[list(rng.permutation(cols))]
    elif kind == "duplicate":
        df = pd.concat([df, df.iloc[[r]]], ignore_index=True)
    elif kind == "unknown_id":
        if "student_id" in df:
            df.loc[r, "student_id"] = UNKNOWN_IDS[row % 2]
    elif kind == "drop_column":
        df = df.drop(columns=[col])
    elif kind == "swap_types":
        df[col] = df[col].astype(str)
    elif kind == "empty_string":
        df[col] = df[col].astype(object)
        df.loc[r, col] = ""
    campus[table] = df


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(corruption, min_size=1, max_size=4))
def test_random_corruption_is_contained(corruptions):
    campus = tiny_campus()
    for table, kind, row, col_pick in corruptions:
        _corrupt(campus, table, kind, row, col_pick)
    read = {t: len(df) for t, df in campus.items()}
    handler = _Collect()
    logger = logging.getLogger("riskmodel")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        loaded = validate_tables(campus, TEST_KEY)
    except ContractError as exc:
        message = str(exc)
        for raw in FORBIDDEN:
            assert raw not in message
        assert exc.faults
    else:
        for table, rep in loaded.report.tables.items():
            if not rep.present:
                continue
            assert rep.rows_read == read[table]
            assert rep.rows_accepted + rep.rows_quarantined == rep.rows_read
            assert len(loaded.tables[table]) == rep.rows_accepted
            assert len(loaded.quarantine[table]) == rep.rows_quarantined
            for raw in FORBIDDEN:
                assert raw not in loaded.quarantine[table].to_string()
                assert raw not in loaded.tables[table].to_string()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    for raw in FORBIDDEN:
        assert all(raw not in m for m in handler.messages)
