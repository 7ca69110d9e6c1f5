"""`riskmodel ...` commands (typer). The edge: files, keys, printing and exit codes live here.

Each command parses its options, calls plain library functions and prints a summary.
"""

from __future__ import annotations

import logging
import os
import sys
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
def _console(stderr: bool = False) -> Console:
    """A console that does not squeeze tables to 80 columns when output is not a terminal."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else 160
    return Console(stderr=stderr, width=width)


console = _console()
err_console = _console(stderr=True)

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
    for r in report.tables.values():  # reasons in full, one line each (tables wrap long text)
        for reason, count in sorted(r.reasons.items()):
            console.print(f"quarantined {r.table}: {reason} ({count} row{'s' if count != 1 else ''})",
                          soft_wrap=True, markup=False, highlight=False)
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


@app.command("import")
def import_export_cmd(
    layout: Annotated[str, typer.Argument(help="Export layout: a shipped name (uestc_card, ykt_jyrz, "
                                          "door_access_cn) or the path of a layout YAML file.")],
    source_dir: Annotated[Path, typer.Argument(help="Folder holding the campus system's export files.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the contract-v1 files (keep it outside "
                                      "the repository: the files hold raw ids).")],
    key_file: KeyFileOpt = None,
    out_format: Annotated[str, typer.Option("--format", help="Output format: parquet or csv.")] = "parquet",
    limit_rows: Annotated[int | None, typer.Option(help="Read only the first N rows of each source "
                                                   "(a quick trial).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an earlier import in --out.")] = False,
) -> None:
    """Import a campus system's export through a declared layout into contract-v1 files.

    Drops rows the layout names (top-ups, refused gate swipes, ...) with a reason, validates
    the result against the contract, writes the accepted rows, the quarantine and
    _import_summary.json, and prints rows read, written, dropped and quarantined by reason.
    Exits 1 when the export does not fit the layout (wrong encoding, missing column, unmapped
    code) or no key is given.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    from riskmodel.adapters import AdapterError, ImportOptions, LayoutError, import_export
    from riskmodel.contracts import PseudonymKeyError

    opts = ImportOptions(limit_rows=limit_rows, out_format=out_format, overwrite=overwrite)
    tasks: dict[str, TaskID] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, transient=False) as bar:

        def finish_all() -> None:
            for tid in tasks.values():
                t = bar.tasks[tid]
                done = t.total or max(t.completed, 1)
                bar.update(tid, total=done, completed=done)

        def on_progress(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                finish_all()  # a new stage: the earlier ones are finished
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        try:
            summary = import_export(layout, source_dir, out, key_file=key_file, options=opts,
                                    progress=on_progress)
        except (AdapterError, LayoutError, PseudonymKeyError, FileExistsError, ValueError) as exc:
            bar.stop()
            err_console.print(f"[bold red]import failed[/]\n{exc}", markup=True, highlight=False)
            raise typer.Exit(1) from None
        finish_all()
    table = Table(title=f"Import through layout {summary.layout} (v{summary.layout_version})")
    for col in ("table", "read", "dropped", "mapped", "quarantined", "written"):
        table.add_column(col, justify="left" if col == "table" else "right")
    for t in summary.tables.values():
        table.add_row(t.table, f"{t.rows_read:,}", f"{t.rows_dropped:,}", f"{t.rows_mapped:,}",
                      f"{t.rows_quarantined:,}", f"{t.rows_written:,}")
    console.print(table)
    for t in summary.tables.values():
        for what, reasons in (("dropped", t.dropped), ("quarantined", t.quarantined)):
            for reason, n in sorted(reasons.items()):
                if n:
                    console.print(f"  {t.table} {what}: {reason}: {n:,}", highlight=False)
    console.print(f"data period: {summary.period_start} to {summary.period_end}")
    console.print(f"written to {out}: {', '.join(summary.written)}"
                  + (f"; quarantine: {', '.join(summary.quarantine_files)}" if summary.quarantine_files else ""))


alerts_app = typer.Typer(help="The named warnings: night absence, lost contact, hidden aid, "
                         "behavioural anomaly, academic warning (scoped and audited).", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


def _alert_command(what: str, data: Path, as_of: str, caller: str, role: str | None, scope: str | None,
                   out: Path, key_file: Path | None, access: Path | None, config: Path | None) -> None:
    """Load, authenticate, run one alert scoped and audited, write it; exit 1 on a refusal."""
    from riskmodel.alerts import load_alert_config, run_alert
    from riskmodel.alerts.config import CONF_DIR
    from riskmodel.contracts import ContractError, PseudonymKeyError, load_sources, resolve_key
    from riskmodel.scoping import Scope, ScopeError, authenticate, load_access_config

    try:
        acc = load_access_config(access or CONF_DIR / "access.yaml")
        who = authenticate(caller, role, acc)
        sc = Scope.parse(scope)
        key = resolve_key(key_file=key_file)
        loaded = load_sources(data, key)
        cfg = load_alert_config(what, config)
        alerts, gaps = run_alert(what, loaded, as_of, caller=who, scope=sc, audit_path=acc.audit_log, key=key,
                                 cfg=cfg)
    except ScopeError as exc:
        err_console.print(f"[bold red]refused[/]: {exc}", markup=True, highlight=False)
        raise typer.Exit(1) from None
    except (ContractError, PseudonymKeyError, ValueError, FileNotFoundError) as exc:
        err_console.print(f"[bold red]failed[/]: {exc}", markup=True, highlight=False)
        raise typer.Exit(1) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        alerts.to_parquet(out, index=False)
    else:
        alerts.to_csv(out, index=False)
    console.print(f"{what}: {len(alerts)} alert(s) for {who.name} ({who.role}, {sc}) as of {as_of} -> {out}")
    if not gaps.empty:
        gap_path = out.with_name(out.stem + ".gaps.csv")
        gaps.to_csv(gap_path, index=False)
        console.print(f"data gaps: {len(gaps)} -> {gap_path}")


_DataOpt = Annotated[Path, typer.Option("--data", help="Folder of contract-v1 source tables.")]
_AsOfOpt = Annotated[str, typer.Option("--as-of", help="As-of date (night absence: the night's date).")]
_CallerOpt = Annotated[str, typer.Option("--caller", help="Registered caller name (conf/alerts/access.yaml).")]
_RoleOpt = Annotated[str | None, typer.Option("--role", help="Role to check against the registry.")]
_ScopeOpt = Annotated[str | None, typer.Option("--scope", help="LEVEL=VALUE, e.g. college=CS (default school).")]
_OutOpt = Annotated[Path, typer.Option("--out", help="Output file (.csv or .parquet).")]
_AccessOpt = Annotated[Path | None, typer.Option("--access", help="Caller registry YAML.")]
_ConfOpt = Annotated[Path | None, typer.Option("--config", help="Alert config YAML (default conf/alerts/).")]


@alerts_app.command("night-absence")
def alerts_night_absence(data: _DataOpt, as_of: _AsOfOpt, out: _OutOpt = Path("alerts_night_absence.csv"),
                         caller: _CallerOpt = "local-admin", role: _RoleOpt = None, scope: _ScopeOpt = None,
                         key_file: KeyFileOpt = None, access: _AccessOpt = None, config: _ConfOpt = None) -> None:
    """Students not back in their dorm building on the night AS_OF (未归寝), with since when."""
    _alert_command("night_absence", data, as_of, caller, role, scope, out, key_file, access, config)


@alerts_app.command("lost-contact")
def alerts_lost_contact(data: _DataOpt, as_of: _AsOfOpt, out: _OutOpt = Path("alerts_lost_contact.csv"),
                        caller: _CallerOpt = "local-admin", role: _RoleOpt = None, scope: _ScopeOpt = None,
                        key_file: KeyFileOpt = None, access: _AccessOpt = None, config: _ConfOpt = None) -> None:
    """Students with no activity on any channel for 48 hours (失联), with last place and time seen."""
    _alert_command("lost_contact", data, as_of, caller, role, scope, out, key_file, access, config)


@alerts_app.command("hidden-aid")
def alerts_hidden_aid(data: _DataOpt, as_of: _AsOfOpt, out: _OutOpt = Path("alerts_hidden_aid.csv"),
                      caller: _CallerOpt = "aid-office", role: _RoleOpt = None, scope: _ScopeOpt = None,
                      key_file: KeyFileOpt = None, access: _AccessOpt = None, config: _ConfOpt = None) -> None:
    """Hidden-aid candidates from spending (隐性资助); aid office role only."""
    _alert_command("hidden_aid", data, as_of, caller, role, scope, out, key_file, access, config)


@alerts_app.command("anomaly")
def alerts_anomaly(data: _DataOpt, as_of: _AsOfOpt, out: _OutOpt = Path("alerts_anomaly.csv"),
                   caller: _CallerOpt = "local-admin", role: _RoleOpt = None, scope: _ScopeOpt = None,
                   key_file: KeyFileOpt = None, access: _AccessOpt = None, config: _ConfOpt = None) -> None:
    """Sustained behaviour change against own baseline and peers (行为异常)."""
    _alert_command("anomaly", data, as_of, caller, role, scope, out, key_file, access, config)


@alerts_app.command("academic")
def alerts_academic(data: _DataOpt, as_of: _AsOfOpt, out: _OutOpt = Path("alerts_academic.csv"),
                    caller: _CallerOpt = "local-admin", role: _RoleOpt = None, scope: _ScopeOpt = None,
                    key_file: KeyFileOpt = None, access: _AccessOpt = None, config: _ConfOpt = None) -> None:
    """First failures, failed credits, credits behind, grade drops (学业预警)."""
    _alert_command("academic", data, as_of, caller, role, scope, out, key_file, access, config)


@alerts_app.command("evaluate")
def alerts_evaluate(
    data: Annotated[Path | None, typer.Option("--data", help="Simulated campus folder (with truth/).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Results markdown.")] = Path("experiments/alerts_results.md"),
    key_file: KeyFileOpt = None,
    real: Annotated[bool, typer.Option("--real/--no-real", help="Also hidden aid on the UESTC card data.")] = True,
    mlflow: Annotated[bool, typer.Option("--mlflow/--no-mlflow", help="Log the figures to MLflow "
                                         "(experiment 'alerts', local store by default).")] = True,
) -> None:
    """Evaluate the alerts against simulated truth (and hidden aid on real data); write OUT."""
    import json as _json

    from riskmodel.alerts.evaluate import write_results

    path = write_results(out, sim_dir=data, key_file=key_file, real=real)
    console.print(f"results written to {path}")
    if mlflow:
        from riskmodel.tracking import Tracker, TrackingConfig, flatten

        figures = flatten(_json.loads(path.with_suffix(".json").read_text(encoding="utf-8")))
        metrics = {}
        for k, v in figures.items():
            try:
                metrics[k.replace(" ", "_").replace("(", "").replace(")", "").replace(",", "")] = float(v)
            except ValueError:
                continue
        tracker = Tracker(TrackingConfig(experiment_name="alerts"), Path(__file__).resolve().parents[2])
        run_id = tracker.start_run("alerts-evaluation", tags={"issue": "7"})
        tracker.log_metrics(run_id, metrics)
        tracker.log_text(run_id, path.read_text(encoding="utf-8"), "alerts_results.md")
        tracker.end_run(run_id)
        console.print(f"logged {len(metrics)} figures to MLflow run {run_id}")


_ModelOpt = Annotated[str, typer.Option("--model", help="name@alias, name/version, models:/..., runs:/... "
                                         "or a model folder.")]
_TrackingOpt = Annotated[str | None, typer.Option("--tracking-uri", help="MLflow store (default: the "
                                                  "project's mlruns/mlflow.db).")]


def _scoring_errors():  # type: ignore[no-untyped-def]
    from riskmodel.contracts import ContractError, PseudonymKeyError
    from riskmodel.scoping import ScopeError
    from riskmodel.scoring import ScoringError

    return ScopeError, (ScoringError, ContractError, PseudonymKeyError, FileNotFoundError, ValueError)


@app.command()
def score(
    data: _DataOpt, as_of: _AsOfOpt, model: _ModelOpt = "crisis-warning@champion",
    scope: _ScopeOpt = None, out: _OutOpt = Path("flags.parquet"),
    capacity: Annotated[float | None, typer.Option("--capacity", help="Top share flagged (0.01 = 1%) "
                                                   "or a whole number of students.")] = None,
    caller: _CallerOpt = "local-admin", key_file: KeyFileOpt = None, access: _AccessOpt = None,
    tracking_uri: _TrackingOpt = None,
    show: Annotated[int, typer.Option("--show", help="Print this many top flags.")] = 10,
) -> None:
    """Score the students in SCOPE at AS-OF with a registered model; write OUT (.parquet/.csv)."""
    import warnings

    from riskmodel.scoring.commands import flags_table, run_score

    refused, failed = _scoring_errors()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            scores = run_score(model, data, as_of, scope, out, caller, capacity, key_file, access, tracking_uri)
    except refused as exc:
        err_console.print(f"[bold red]refused[/]: {exc}", markup=True, highlight=False)
        raise typer.Exit(1) from None
    except failed as exc:
        err_console.print(f"[bold red]failed[/]: {exc}", markup=True, highlight=False)
        raise typer.Exit(1) from None
    for w in caught:
        err_console.print(f"[yellow]warning[/]: {w.message}", markup=True, highlight=False)
    counts = scores["band"].value_counts().to_dict()
    console.print(f"scored {len(scores)} student(s) as of {as_of} ({scope or 'school'}): "
                  + ", ".join(f"{b} {counts.get(b, 0)}" for b in ("flag", "watch", "none", "known")) + f" -> {out}")
    if show and len(scores):
        console.print(flags_table(scores, show))


@app.command()
def explain(
    student: Annotated[str, typer.Argument(help="Pseudonymous student id (as in the scores).")],
    as_of: _AsOfOpt, data: _DataOpt, model: _ModelOpt = "crisis-warning@champion",
    scope: _ScopeOpt = None, caller: _CallerOpt = "local-admin", key_file: KeyFileOpt = None,
    access: _AccessOpt = None, tracking_uri: _TrackingOpt = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Save the risk radar (.png/.svg).")] = None,
    waterfall: Annotated[Path | None, typer.Option("--waterfall", help="Save the waterfall (.png/.svg).")] = None,
) -> None:
    """Explain one student's score at AS-OF: probability and reasons (zh/en), optional plots."""
    from riskmodel.scoring.commands import run_explain

    refused, failed = _scoring_errors()
    try:
        one = run_explain(student, model, data, as_of, caller, scope, key_file, access, tracking_uri,
                          plot, waterfall)
    except refused as exc:
        err_console.print(f"[bold red]refused[/]: {exc}", markup=True, highlight=False)
        raise typer.Exit(1) from None
    except failed as exc:
        err_console.print(f"[bold red]failed[/]: {exc}", markup=True, highlight=False)
        raise typer.Exit(1) from None
    console.print(f"student {one.student_id} as of {one.as_of.date()}: probability {one.probability:.3f}")
    for i, r in enumerate(one.reasons, 1):
        console.print(f"{i}. {r.text_zh}\n   {r.text_en}  (+{r.contribution:.2f} log-odds)")
    for p in (plot, waterfall):
        if p is not None:
            console.print(f"saved {p}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train(
    overrides: Annotated[list[str] | None, typer.Argument(help="Hydra overrides, e.g. model=lgbm "
                                                           "data.sim.students=500 experiment=crisis_2y.")] = None,
    multirun: Annotated[bool, typer.Option("--multirun", "-m", help="Sweep: model=lgbm,sequence,logreg,census "
                                           "or experiment=lgbm_optuna (Optuna).")] = False,
    report: Annotated[Path | None, typer.Option(help="Do not train: rebuild the comparison table of a "
                                                "training run from the MLflow store and write it here.")] = None,
    training_id: Annotated[str | None, typer.Option(help="With --report: which training run "
                                                    "(default the latest).")] = None,
) -> None:
    """Train, evaluate, log to MLflow and register crisis early-warning models (a Hydra job).

    Same as `python -m riskmodel.train [OVERRIDES]`; prints the comparison table. With
    --report, the table of an earlier run is rebuilt from the MLflow store (tracking.* overrides
    choose the store).
    """
    from riskmodel.train import cli_main

    if report is not None:
        from riskmodel.train import comparison_markdown, report_from_store

        result = report_from_store(overrides or [], training_id, report)
        console.print(comparison_markdown(result), markup=False, highlight=False)
        console.print(f"written to {report}")
        return
    cli_main([*(["-m"] if multirun else []), *(overrides or [])])


@app.command()
def features(
    folder: Annotated[Path, typer.Argument(help="Folder of source tables (<table>.parquet or .csv).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (features.parquet, and the daily table "
                                                    "as the Parquet folder daily/).")],
    as_of: Annotated[list[str] | None, typer.Option("--as-of", help="As-of date (repeatable); default: "
                                                    "every Monday of the data period.")] = None,
    engine: Annotated[str, typer.Option(help="duckdb (default) or spark.")] = "duckdb",
    daily: Annotated[bool, typer.Option("--daily/--no-daily", help="Also write the daily table.")] = True,
    key_file: KeyFileOpt = None,
) -> None:
    """Build point-in-time features (and the daily table) and write them as Parquet.

    The campus is built in chunks of students (``FeatureConfig.chunk_students``); the
    progress bar counts chunks.
    """
    import warnings

    import pandas as pd
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    from riskmodel.contracts import ContractError, PseudonymKeyError, load_sources
    from riskmodel.features import FeatureConfig, MissingSourceWarning, build_feature_store
    from riskmodel.features.asof import weekly_as_of_dates
    from riskmodel.features.backends import connect

    cfg = FeatureConfig(engine=engine)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console) as progress, \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MissingSourceWarning)
        step = progress.add_task("loading and validating sources", total=None)
        try:
            loaded = load_sources(folder, key_file=key_file)
        except (ContractError, PseudonymKeyError) as exc:
            err_console.print(f"[bold red]cannot load sources[/]\n{exc}", markup=True, highlight=False)
            raise typer.Exit(1) from None
        if as_of:
            dates = [pd.Timestamp(d) for d in as_of]
        elif loaded.report.period is not None:
            dates = weekly_as_of_dates(loaded.report.period.start + pd.Timedelta(days=1), loaded.report.period.end)
        else:
            err_console.print("no data period (no calendar table): give --as-of dates")
            raise typer.Exit(1)
        con = connect(cfg)
        progress.update(step, description=f"daily table and features for {len(dates)} as-of date(s), "
                                          "chunks of students")

        def tick(done: int, total: int) -> None:
            progress.update(step, completed=done, total=total)

        paths = build_feature_store(loaded, dates, out, cfg, daily=daily, con=con, on_progress=tick)
        path = paths["features"]
        progress.update(step, description="done")
    for w in caught:
        if issubclass(w.category, MissingSourceWarning):
            msg = str(w.message)
            err_console.print(f"[yellow]warning:[/] {msg[:300]}{' ...' if len(msg) > 300 else ''}",
                              markup=True, highlight=False)
    console.print(f"features for {len(dates)} as-of date(s) written to {path}")


report_app = typer.Typer(help="Weekly check (周查), monthly report (月报) and one file per student "
                         "(一人一档) as self-contained HTML.", no_args_is_help=True)
app.add_typer(report_app, name="report")

_RDataArg = Annotated[Path, typer.Argument(help="Folder of contract-v1 source tables.")]
_ROutOpt = Annotated[Path, typer.Option("--out", help="HTML file to write (atomically).")]
_RScopeOpt = Annotated[str, typer.Option("--scope", help="school, college=..., grade=... or class=...")]
_RCallerOpt = Annotated[str, typer.Option("--caller", help="Caller name as registered in --access.")]
_RAccessOpt = Annotated[Path | None, typer.Option("--access", help="Caller registry YAML and audit-log path "
                                                  "(default conf/alerts/access.yaml).")]
_RModelOpt = Annotated[str, typer.Option("--model", help="name@alias, name/version, models:/..., runs:/... "
                                         "or a model folder.")]
_RTrackingOpt = Annotated[str | None, typer.Option("--tracking-uri", help="MLflow store (default: the "
                                                   "project's local store).")]
_RLangOpt = Annotated[str, typer.Option("--lang", help="zh (default) or en.")]
_R_MODEL = "crisis-warning@champion"


def _report_context(data: Path, access: Path | None, model: str, key_file: Path | None,  # type: ignore[no-untyped-def]
                    tracking_uri: str | None):
    """Load the data, the key and the scorer for a report command (exit 1 with a message)."""
    from riskmodel.contracts import ContractError, PseudonymKeyError, load_sources, resolve_key
    from riskmodel.scoring.commands import make_scorer
    from riskmodel.scoring.config import ScoringError

    try:
        key = resolve_key(key_file=key_file)
        loaded = load_sources(data, key=key)
        scorer = make_scorer(model, access, tracking_uri)
    except (ContractError, PseudonymKeyError, ScoringError, OSError, ValueError) as exc:
        err_console.print(f"[bold red]report failed[/]\n{exc}", markup=True, highlight=False)
        raise typer.Exit(1) from None
    return loaded, scorer, key


def _report_write(build, out: Path) -> None:  # type: ignore[no-untyped-def]
    """Render with ``build()`` and write ``out`` atomically; refusals and bad requests exit 1."""
    from riskmodel.reports.jobs import write_page
    from riskmodel.scoping import ScopeError
    from riskmodel.scoring.config import ScoringError

    try:
        html = build()
    except (ScopeError, ScoringError, ValueError) as exc:
        err_console.print(f"[bold red]report failed[/]\n{exc}", markup=True, highlight=False)
        raise typer.Exit(1) from None
    console.print(f"wrote {write_page(html, out)}")


@report_app.command("weekly")
def report_weekly(data: _RDataArg, out: _ROutOpt,
                  as_of: Annotated[str, typer.Option("--as-of", help="As-of date (a Monday).")],
                  scope: _RScopeOpt = "school", caller: _RCallerOpt = "local-admin", access: _RAccessOpt = None,
                  model: _RModelOpt = _R_MODEL, tracking_uri: _RTrackingOpt = None,
                  key_file: KeyFileOpt = None, lang: _RLangOpt = "zh") -> None:
    """Weekly check of a scope: flags with reasons, changes, alerts, data quality."""
    import pandas as pd

    from riskmodel.reports.jobs import weekly_page

    loaded, scorer, key = _report_context(data, access, model, key_file, tracking_uri)
    _report_write(lambda: weekly_page(scorer, loaded, as_of, scope=scope, caller=caller, key=key, lang=lang,
                                      now=pd.Timestamp.now()), out)


@report_app.command("monthly")
def report_monthly(data: _RDataArg, out: _ROutOpt,
                   month: Annotated[str, typer.Option("--month", help="Report month, YYYY-MM.")],
                   scope: _RScopeOpt = "school", caller: _RCallerOpt = "local-admin", access: _RAccessOpt = None,
                   model: _RModelOpt = _R_MODEL, tracking_uri: _RTrackingOpt = None,
                   months: Annotated[int, typer.Option(help="Months of trend.")] = 6,
                   min_group_size: Annotated[int, typer.Option(help="Smallest group shown on its own.")] = 10,
                   key_file: KeyFileOpt = None, lang: _RLangOpt = "zh") -> None:
    """Monthly report of a college or the school: trends, calibration, model in use."""
    import pandas as pd

    from riskmodel.reports.jobs import monthly_page

    loaded, scorer, key = _report_context(data, access, model, key_file, tracking_uri)
    _report_write(lambda: monthly_page(scorer, loaded, month, scope=scope, caller=caller, key=key, months=months,
                                       lang=lang, min_group_size=min_group_size, now=pd.Timestamp.now()), out)


@report_app.command("student")
def report_student(data: _RDataArg, student: Annotated[str, typer.Argument(help="Pseudonymous student id.")],
                   out: _ROutOpt, as_of: Annotated[str, typer.Option("--as-of", help="As-of date.")],
                   scope: _RScopeOpt = "school", caller: _RCallerOpt = "local-admin", access: _RAccessOpt = None,
                   model: _RModelOpt = _R_MODEL, tracking_uri: _RTrackingOpt = None,
                   key_file: KeyFileOpt = None, lang: _RLangOpt = "zh") -> None:
    """One file per student (一人一档) inside the caller's scope."""
    import pandas as pd

    from riskmodel.reports.jobs import student_page

    loaded, scorer, key = _report_context(data, access, model, key_file, tracking_uri)
    _report_write(lambda: student_page(scorer, loaded, student, as_of, scope=scope, caller=caller, key=key,
                                       lang=lang, now=pd.Timestamp.now()), out)


@app.command()
def simulate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the campus into (truth/ goes inside).")],
    students: Annotated[int | None, typer.Option(help="Students enrolled at the start.")] = None,
    start: Annotated[str | None, typer.Option(help="First day, e.g. 2023-09-01.")] = None,
    days: Annotated[int | None, typer.Option(help="Number of days.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (same seed and config: same bytes).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Simulate config YAML "
                                                "(default conf/simulate/default.yaml).")] = None,
    faults: Annotated[bool, typer.Option("--faults/--no-faults", help="Plant bad rows "
                                         "(for the validate demo).")] = False,
) -> None:
    """Simulate a campus: the eleven contract-v1 tables plus a separate truth/ folder."""
    from riskmodel.simulate import load_config, simulate_to_folder

    try:
        cfg = load_config(config, students=students, start=start, days=days, seed=seed)
    except (ValueError, FileNotFoundError) as exc:
        err_console.print(f"[bold red]bad simulate config[/]\n{exc}", markup=True, highlight=False)
        raise typer.Exit(2) from None
    if faults:
        cfg.faults.enabled = True
    summary = simulate_to_folder(cfg, out)
    console.print(summary.to_table(title=f"Simulated campus in {out}"))


if __name__ == "__main__":  # pragma: no cover
    app()
