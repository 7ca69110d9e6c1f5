"""pandera schemas built from the contract YAML files.

:func:`build_schema` turns one :class:`TableContract` into a ``pandera.pandas``
``DataFrameSchema`` whose checks carry short, stable names; the loader turns each failed
check into a quarantine reason ``"<column>: <check name>"``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa

from riskmodel.contracts.coerce import final_dtype
from riskmodel.contracts.spec import ColumnSpec, TableContract

DUPLICATE_CHECK = "duplicate_key"
NOT_NULL_CHECK = "not_nullable"


@dataclass(frozen=True)
class Period:
    """The data period: timestamps must fall in ``[start, end)`` (end exclusive)."""

    start: pd.Timestamp
    end: pd.Timestamp

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError(f"data period start {self.start} is not before its end {self.end}")


def _column_checks(
    col: ColumnSpec, known_ids: dict[str, Collection[str]] | None, period: Period | None
) -> list[pa.Check]:
    checks: list[pa.Check] = []
    if col.allowed is not None:
        allowed = list(col.allowed)
        checks.append(pa.Check(lambda s, a=allowed: s.isin(a), name=f"allowed_values {allowed}"))
    if col.min is not None:
        lo = col.min
        if col.min_exclusive:
            checks.append(pa.Check(lambda s, lo=lo: s > lo, name=f"must_be_> {lo}"))
        else:
            checks.append(pa.Check(lambda s, lo=lo: s >= lo, name=f"must_be_>= {lo}"))
    if col.max is not None:
        hi = col.max
        checks.append(pa.Check(lambda s, hi=hi: s <= hi, name=f"must_be_<= {hi}"))
    if col.pattern is not None:
        pat = col.pattern
        checks.append(pa.Check(lambda s, p=pat: s.astype(str).str.match(p), name=f"pattern {pat}"))
    if col.references is not None and known_ids is not None and col.references in known_ids:
        ids = known_ids[col.references]
        checks.append(pa.Check(lambda s, ids=ids: s.isin(ids), name=f"unknown_id (not in {col.references})"))
    if col.in_period and period is not None:
        start, end = period.start, period.end
        checks.append(
            pa.Check(lambda s, a=start, b=end: (s >= a) & (s < b), name="outside_data_period")
        )
    return checks


def build_schema(
    contract: TableContract,
    known_ids: dict[str, Collection[str]] | None = None,
    period: Period | None = None,
) -> pa.DataFrameSchema:
    """The pandera schema of one table after coercion to contract types.

    ``known_ids`` maps ``"students.student_id"`` to the accepted (pseudonymised) ids, for
    the reference checks; ``period`` enables the data-period check of ``in_period`` columns.
    """
    columns = {}
    for col in contract.columns:
        # nullable=True for pandera: nulls are checked by our own named check below so
        # that a null in a non-nullable column is a row fault, not a dtype fault.
        dtype = final_dtype(col.type, True)
        checks = _column_checks(col, known_ids, period)
        columns[col.name] = pa.Column(
            dtype if col.type != "str" else None,
            checks=checks,
            nullable=col.nullable,
            required=True,
            coerce=False,
            description=col.description or None,
            title=col.sensitivity,
        )
    df_checks = [
        pa.Check(lambda df, e=rule.expr: df.eval(e), name=rule.name, description=rule.description)
        for rule in contract.row_rules
    ]
    return pa.DataFrameSchema(
        columns,
        checks=df_checks,
        unique=list(contract.keys) if contract.keys else None,
        report_duplicates="exclude_first",
        name=contract.table,
        strict=False,
        ordered=False,
    )
