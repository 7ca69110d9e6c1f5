"""Errors raised by the contract layer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TableFault:
    """One table-level fault: which table, which column, which rule, example row numbers.

    Never holds a raw student id nor a value of a sensitive column.
    """

    table: str
    column: str | None
    rule: str
    detail: str
    example_rows: tuple[int, ...] = ()

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        rows = f" (e.g. rows {', '.join(map(str, self.example_rows))})" if self.example_rows else ""
        return f"{where}: rule '{self.rule}' failed: {self.detail}{rows}"


class ContractError(ValueError):
    """Source data break contract v1 at table level (the table cannot be used as it is).

    ``faults`` lists every table-level fault found, across all tables, at once.
    """

    def __init__(self, faults: list[TableFault] | TableFault | str):
        if isinstance(faults, str):
            faults = [TableFault(table="?", column=None, rule="contract", detail=faults)]
        elif isinstance(faults, TableFault):
            faults = [faults]
        self.faults: list[TableFault] = list(faults)
        lines = [f"{len(self.faults)} table-level contract fault(s):"]
        lines += [f"  - {f}" for f in self.faults]
        super().__init__("\n".join(lines))


class PseudonymKeyError(RuntimeError):
    """No pseudonymisation key could be found, or the key is unusable."""
