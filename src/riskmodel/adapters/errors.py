"""Errors raised by the adapters: a bad layout file, or an export that does not fit its layout."""

from __future__ import annotations


class LayoutError(ValueError):
    """A layout YAML file is malformed (unknown key, missing contract column, bad rule)."""


class AdapterError(ValueError):
    """A source export does not fit its declared layout.

    The message names the file, the source column, the rule and the offending value
    (or, for identifier and sensitive columns, only row numbers: raw ids and values of
    sensitive columns never appear in a message).
    """

    def __init__(
        self,
        *,
        file: str,
        rule: str,
        detail: str,
        column: str | None = None,
        value: str | None = None,
        rows: tuple[int, ...] = (),
    ):
        self.file = file
        self.column = column
        self.rule = rule
        self.value = value
        self.rows = rows
        where = f"file {file}" + (f", column {column!r}" if column else "")
        val = f", value {value!r}" if value is not None else ""
        at = f" (e.g. data rows {', '.join(map(str, rows))})" if rows else ""
        super().__init__(f"{where}{val}: {rule}: {detail}{at}")
