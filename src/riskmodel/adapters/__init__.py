"""Adapters: declared mappings from campus systems' own export layouts into contract v1.

A layout YAML (``layouts/<name>.yaml``, or any file a university writes) says how one
export maps into contract-v1 tables; one generic engine applies it, then the normal
contract validation and quarantine run. See ``README.md`` in this folder.

Public API::

    load_layout(name_or_path) -> Layout
    import_export(layout, source_dir, out_dir, key=None, *, key_file=None,
                  options=ImportOptions(), progress=...) -> ImportSummary
"""

from riskmodel.adapters.engine import DataPeriod, MappedTable, academic_year, map_layout, map_table
from riskmodel.adapters.errors import AdapterError, LayoutError
from riskmodel.adapters.importer import (
    SUMMARY_FILE,
    ImportOptions,
    ImportSummary,
    TableSummary,
    import_export,
    read_period,
    read_sources,
)
from riskmodel.adapters.layout import (
    UNKNOWN_TOKEN,
    Layout,
    declared_unknowns,
    load_layout,
    parse_layout,
    shipped_layouts,
)
from riskmodel.adapters.read import ProgressFn, SourceFrame, read_source

__all__ = [
    "SUMMARY_FILE",
    "UNKNOWN_TOKEN",
    "AdapterError",
    "DataPeriod",
    "ImportOptions",
    "ImportSummary",
    "Layout",
    "LayoutError",
    "MappedTable",
    "ProgressFn",
    "SourceFrame",
    "TableSummary",
    "academic_year",
    "declared_unknowns",
    "import_export",
    "load_layout",
    "map_layout",
    "map_table",
    "parse_layout",
    "read_period",
    "read_source",
    "read_sources",
    "shipped_layouts",
]
