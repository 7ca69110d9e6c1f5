"""Source-table contracts: load, validate, quarantine and pseudonymise (contract v1)."""

from riskmodel.contracts.errors import ContractError, PseudonymKeyError, TableFault
from riskmodel.contracts.load import (
    QUARANTINE_DIRNAME,
    LoadedSources,
    TableReport,
    ValidationReport,
    find_source_files,
    load_sources,
    read_table_file,
    validate_tables,
    write_quarantine,
)
from riskmodel.contracts.pseudonym import (
    KEY_ENV,
    KEY_FILE_ENV,
    PseudonymKey,
    generate_key_file,
    pseudonymise_series,
    reidentify,
    resolve_key,
)
from riskmodel.contracts.schema import Period, build_schema
from riskmodel.contracts.spec import ColumnSpec, TableContract, load_contracts, table_names
from riskmodel.contracts.stream import StoredSources, load_sources_to_parquet

__all__ = [
    "KEY_ENV",
    "KEY_FILE_ENV",
    "QUARANTINE_DIRNAME",
    "ColumnSpec",
    "ContractError",
    "LoadedSources",
    "Period",
    "PseudonymKey",
    "PseudonymKeyError",
    "StoredSources",
    "TableContract",
    "TableFault",
    "TableReport",
    "ValidationReport",
    "build_schema",
    "find_source_files",
    "generate_key_file",
    "load_contracts",
    "load_sources",
    "load_sources_to_parquet",
    "pseudonymise_series",
    "read_table_file",
    "reidentify",
    "resolve_key",
    "table_names",
    "validate_tables",
    "write_quarantine",
]
