"""`riskmodel ...` commands (typer). The edge: files, keys, printing and exit codes live here.

Each command parses its options, calls plain library functions and prints a summary.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    name="riskmodel",
    help="Early warning of student crises from campus-life records: validate, simulate, "
    "build features, train, score, explain, alert and report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

KeyFileOpt = Annotated[
    Path | None,
    typer.Option("--key-file", help="File holding the pseudonymisation key "
                 "(else RISKMODEL_PSEUDONYM_KEY or RISKMODEL_PSEUDONYM_KEY_FILE)."),
]


def _setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
    )


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False) -> None:
    """riskmodel command line."""
    _setup_logging(verbose)


def print_validation_report(report) -> None:  # type: ignore[no-untyped-def]
    """A per-table summary: rows read, accepted, quarantined by reason."""
    table = Table(title="Validation against contract v1", show_lines=False)
    for col in ("table", "present", "read", "accepted", "quarantined", "reasons"):
        table.add_column(col, overflow="fold")
    for r in report.tables.values():
        reasons = "\n".join(f"{k}: {v}" for k, v in sorted(r.reasons.items()))
        table.add_row(r.table, "yes" if r.present else "-", str(r.rows_read), str(r.rows_accepted),
                      str(r.rows_quarantined), reasons)
    console.print(table)
    if report.period is not None:
        console.print(f"data period: {report.period.start.date()} to "
                      f"{(report.period.end - __import__('pandas').Timedelta(days=1)).date()}")
    missing = report.sources_missing
    if missing:
        console.print(f"absent sources (their features will be left out): {', '.join(missing)}")


@app.command()
def validate(
    folder: Annotated[Path, typer.Argument(help="Folder of source tables (<table>.parquet or .csv).")],
    quarantine: Annotated[Path | None, typer.Option(help="Where quarantined rows go "
                                                    "(default FOLDER/_quarantine).")] = None,
    key_file: KeyFileOpt = None,
    period_start: Annotated[str | None, typer.Option(help="First day of the data period.")] = None,
    period_end: Annotated[str | None, typer.Option(help="Last day of the data period.")] = None,
) -> None:
    """Validate a folder against contract v1, quarantine bad rows, print a summary.

    Exits 0 when no table-level fault was found (quarantined rows are not failures), 1 otherwise.
    """
    from riskmodel.contracts import (
        QUARANTINE_DIRNAME,
        ContractError,
        PseudonymKeyError,
        load_sources,
        write_quarantine,
    )

    try:
        loaded = load_sources(folder, key_file=key_file, period_start=period_start, period_end=period_end)
    except (ContractError, PseudonymKeyError) as exc:
        err_console.print(f"[bold red]validation failed[/]\n{exc}", markup=True, highlight=False)
        raise typer.Exit(1) from None
    print_validation_report(loaded.report)
    qdir = quarantine or (folder / QUARANTINE_DIRNAME)
    written = write_quarantine(loaded, qdir)
    if written:
        console.print(f"quarantine written to {qdir} ({len(written)} file(s))")
    else:
        console.print("no rows quarantined")


@app.command()
def keygen(path: Annotated[Path, typer.Argument(help="Where to write the new key (kept if it exists).")]) -> None:
    """Write a new random pseudonymisation key file (outside the repository!)."""
    from riskmodel.contracts import generate_key_file

    existed = path.exists()
    generate_key_file(path)
    console.print(f"{'kept existing' if existed else 'wrote new'} key file {path}")


if __name__ == "__main__":  # pragma: no cover
    app()
