"""All real-data figures of the UESTC campus-card export, end to end, in one command.

Stages (each recorded in ``experiments/real_uestc.md`` / ``.json`` through
:func:`riskmodel.bench.import_uestc.update_real_uestc` when ``scale`` is ``full``):

1. ``import``: the export through the ``uestc_card`` layout into contract-v1 files
   (:mod:`riskmodel.bench.import_uestc`; rows dropped and quarantined by reason);
2. ``features``: ``load_sources`` on the import (validation and pseudonymisation), then the
   normal feature engine (:func:`riskmodel.features.build_daily` and
   :func:`~riskmodel.features.build_features`, weekly as-of dates; card channels, other
   sources absent): wall time, peak memory, rows per second against the simulated
   benchmark (``experiments/bench_features.json`` when it exists);
3. ``hidden_aid``: the hidden-aid detector on the same loaded tables, cross-validated AUROC
   and average precision for "received aid" (:func:`riskmodel.alerts.real_card.evaluate_real_via_adapter`).

Run (no make needed)::

    RISKMODEL_PSEUDONYM_KEY=<any key> nice -n 10 .venv/bin/python -m riskmodel.bench --only real_uestc

Scale ``small`` runs every stage on the first 200,000 card rows and records nothing in
``real_uestc.md``. The import goes to ``$RISKMODEL_IMPORT_DIR`` (default
``<tmp>/uestc_import``), outside the repository.
"""

from __future__ import annotations

import gc
import json
import os
import secrets
import tempfile
import warnings
from pathlib import Path
from typing import Any, cast

import pandas as pd

from riskmodel.bench import measure
from riskmodel.bench.import_uestc import import_dir, update_real_uestc
from riskmodel.bench.import_uestc import run as run_import

COMMAND = "RISKMODEL_PSEUDONYM_KEY=<any key> nice -n 10 .venv/bin/python -m riskmodel.bench --only real_uestc"


def simulated_reference(experiments_dir: Path) -> dict[str, Any] | None:
    """Rows-per-second figures of the simulated feature benchmark, or None when it has not run."""
    path = experiments_dir / "bench_features.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: data.get(k) for k in ("scale", "students", "days", "events_per_s", "daily_rows_per_s",
                                     "wall_s", "peak_rss_mb", "recorded_at")}


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process so far, all threads: wall time on a shared
    machine depends on the other jobs, CPU time much less."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def speed_vs_simulated(card_rows_per_s: float | None, daily_rows_per_s: float | None,
                       ref: dict[str, Any] | None) -> dict[str, Any]:
    """Figures comparing the real build's rows per second with the simulated benchmark (pure).

    The simulated benchmark counts events of every source (door, card, library, network)
    per second; the real build has card rows only, so its daily rows per second (students x
    days, the engine's unit of work) is the fairer comparison.
    """
    if ref is None:
        return {"simulated benchmark (bench_features.json)": "not available when this ran: "
                                                             "run `python -m riskmodel.bench --only features`"}
    out: dict[str, Any] = {"simulated benchmark: events per s / daily rows per s": (
        f"{ref['events_per_s']:,.0f} / {ref['daily_rows_per_s']:,.0f} ({ref['students']:,} students x "
        f"{ref['days']} days, all sources, scale {ref['scale']}, recorded {ref['recorded_at']})")}
    if ref.get("events_per_s") and card_rows_per_s:
        out["real card rows per s / simulated events per s"] = round(card_rows_per_s / ref["events_per_s"], 2)
    if ref.get("daily_rows_per_s") and daily_rows_per_s:
        out["real / simulated daily rows per s"] = round(daily_rows_per_s / ref["daily_rows_per_s"], 2)
    return out


def feature_stage(folder: Path, key: Any, work: Path, experiments_dir: Path) -> tuple[dict[str, Any], Any]:
    """Load the import and build daily table and weekly features; returns (figures, loaded tables)."""
    import pyarrow.parquet as pq

    from riskmodel.contracts import load_sources
    from riskmodel.features import (
        FeatureConfig,
        MissingSourceWarning,
        build_daily,
        build_features,
        weekly_as_of_dates,
    )

    cfg = FeatureConfig(threads=2, memory_limit="6GB", temp_directory=str(work / "spill"))
    with measure() as m_load:
        loaded = load_sources(folder, key=key)
    ts = loaded.tables["card_transactions"]["ts"]
    # every Monday after the first day of data up to the day after the last (UESTC: 2013-09-02..2015-08-31)
    end = ts.max().normalize() + pd.Timedelta(days=1)
    dates = weekly_as_of_dates(ts.min().normalize() + pd.Timedelta(days=1), end) or [end]
    card_rows = len(loaded.tables["card_transactions"])
    n_students = len(loaded.tables["students"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MissingSourceWarning)
        cpu0 = _cpu_s()
        with measure() as m_daily:
            daily_path = cast(Path, build_daily(loaded, cfg, out=work / "daily.parquet"))  # with ``out``: its path
        with measure() as m_feat:
            daily = pd.read_parquet(daily_path)
            feats = cast(pd.DataFrame, build_features(loaded, dates, cfg, daily=daily))
        cpu_s = _cpu_s() - cpu0
    daily_rows = pq.ParquetFile(daily_path).metadata.num_rows
    daily_cols = pq.ParquetFile(daily_path).schema_arrow.names
    del daily
    gc.collect()
    total_s = m_daily.wall_s + m_feat.wall_s
    left_out = sorted({str(w.message).split(":")[0] for w in caught if issubclass(w.category, MissingSourceWarning)})
    feat_cols = list(feats.columns[2:])
    nonnull = feats[feat_cols].notna().mean()
    fig: dict[str, Any] = {
        "card rows (after import, loaded)": card_rows,
        "students": n_students,
        "load_sources wall time (s): read, validate, pseudonymise": round(m_load.wall_s, 1),
        "load_sources peak memory (MiB, RSS)": round(m_load.peak_rss_mb, 1),
        "build_daily wall time (s)": round(m_daily.wall_s, 1),
        "build_features wall time (s, given the daily table)": round(m_feat.wall_s, 1),
        "feature build wall time (s, daily + features)": round(total_s, 1),
        "feature build CPU time (s, this process, all threads)": round(cpu_s, 1),
        "feature build peak memory (MiB, RSS)": round(max(m_daily.peak_rss_mb, m_feat.peak_rss_mb), 1),
        "daily rows (students x days)": daily_rows,
        "daily channels": len([c for c in daily_cols if c not in ("student_id", "date")
                               and not c.startswith("observed_")]),
        "as-of dates (weekly)": len(dates),
        "feature rows (students x as-of dates)": len(feats),
        "features computed": len(feat_cols),
        "features mostly present (>50% non-null)": int((nonnull > 0.5).sum()),
        "features never present (all null)": int((nonnull == 0).sum()),
        "sources left out (MissingSourceWarning)": "; ".join(left_out) or "-",
        "card rows per second (feature build)": round(card_rows / total_s) if total_s else None,
        "daily rows per second (feature build)": round(daily_rows / total_s) if total_s else None,
        "engine": "duckdb, threads=2, memory_limit=6GB",
    }
    fig.update(speed_vs_simulated(fig["card rows per second (feature build)"],
                                  fig["daily rows per second (feature build)"], simulated_reference(experiments_dir)))
    del feats
    gc.collect()
    return fig, loaded.tables


def hidden_aid_stage(tables: Any) -> dict[str, Any]:
    """Cross-validated AUROC / AP of the detector, both rules and the plain reference."""
    from riskmodel.alerts.real_card import evaluate_real_via_adapter, real_eval_config

    cfg = real_eval_config()
    with measure() as m:
        res = evaluate_real_via_adapter(tables, cfg, folds=5, seed=0)
    fig: dict[str, Any] = {
        "path": "uestc_card import -> load_sources -> spending_features -> PUDetector / rules",
        "students scored (>= 1 canteen meal)": res["students"],
        "received aid (on aid_roster)": res["aided"],
        "aided share": round(res["aided_share"], 3),
        "folds (stratified)": res["folds"],
        "detector features": f"{res['n_features']} (balance features: "
                             f"{'yes' if res['balance_features'] else 'no, contract v1 has no balance'})",
    }
    names = {"pu_detector": "PU detector (bagged LightGBM, 15 bags)",
             "plain_lightgbm_simple_summaries": "plain LightGBM on 5 simple summaries (reference, about 0.74)",
             "threshold_rule_published": "threshold rule, published (>60 meals, <420 CNY a month)",
             "threshold_rule_price_adjusted": f"threshold rule, price-adjusted ({res['adjusted_rule']})",
             "peer_rule": "peer rule (meal price vs peers with as many meals)"}
    for k, label in names.items():
        fig[f"{label}: AUROC / AP"] = f"{res[k]['auroc']:.3f} / {res[k]['average_precision']:.3f}"
    fig["detector beats the plain reference (AUROC)"] = (
        res["pu_detector"]["auroc"] > res["plain_lightgbm_simple_summaries"]["auroc"])
    fig["hidden_aid() on the same tables: scored / candidates"] = (
        f"{res['hidden_aid_run']['scored']:,} / {res['hidden_aid_run']['candidates']}")
    fig["students with a known econ_hardship"] = res["hidden_aid_run"]["registered_hardship_known"]
    fig["evaluation wall time (s)"] = round(m.wall_s, 1)
    fig["evaluation peak memory (MiB, RSS)"] = round(m.peak_rss_mb, 1)
    return {"figures": fig, "raw": res}


def run(out_dir: Path, scale: str) -> dict[str, Any]:
    """Import, feature build and hidden-aid evaluation on the UESTC export (see the module docstring)."""
    from riskmodel.contracts import KEY_ENV, PseudonymKey

    key = PseudonymKey(os.environ.get(KEY_ENV) or secrets.token_hex(32))
    imp = run_import(out_dir, scale)  # records the "import" stage itself at scale full
    folder = import_dir(scale)
    gc.collect()
    with tempfile.TemporaryDirectory(prefix="real_uestc_") as tmp:
        feat_fig, tables = feature_stage(folder, key, Path(tmp), out_dir)
    if scale == "full":
        update_real_uestc("features", feat_fig, command=COMMAND, experiments_dir=out_dir)
    aid = hidden_aid_stage(tables)
    if scale == "full":
        update_real_uestc("hidden_aid", aid["figures"], command=COMMAND, experiments_dir=out_dir)
    return {"import": imp, "features": feat_fig, "hidden_aid": aid["raw"]}


def main(argv: list[str] | None = None) -> int:
    """``python -m riskmodel.bench.real_uestc [--scale full|small] [--reuse-import] [--stage S]``:
    like ``python -m riskmodel.bench --only real_uestc``; ``--reuse-import`` skips the import
    when ``$RISKMODEL_IMPORT_DIR`` already holds one (its recorded figures stay), and ``--stage``
    (features or hidden_aid) then runs only that stage."""
    import argparse

    from riskmodel.adapters import SUMMARY_FILE
    from riskmodel.bench import write_result
    from riskmodel.contracts import KEY_ENV, PseudonymKey

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("--scale", choices=("full", "small"), default="full")
    p.add_argument("--reuse-import", action="store_true")
    p.add_argument("--stage", choices=("all", "features", "hidden_aid"), default="all")
    p.add_argument("--out", default="experiments")
    a = p.parse_args(argv)
    out = Path(a.out)
    folder = import_dir(a.scale)
    if not (a.reuse_import and (folder / SUMMARY_FILE).is_file()):
        result = run(out, a.scale)
    else:
        key = PseudonymKey(os.environ.get(KEY_ENV) or secrets.token_hex(32))
        command = f"{COMMAND_REUSE} --stage {a.stage}" if a.stage != "all" else COMMAND_REUSE
        result = {}
        tables = None
        if a.stage in ("all", "features"):
            with tempfile.TemporaryDirectory(prefix="real_uestc_") as tmp:
                feat_fig, tables = feature_stage(folder, key, Path(tmp), out)
            print(json.dumps(feat_fig, indent=1, default=str), flush=True)
            if a.scale == "full":
                update_real_uestc("features", feat_fig, command=command, experiments_dir=out)
            result["features"] = feat_fig
        if a.stage in ("all", "hidden_aid"):
            if tables is None:
                from riskmodel.contracts import load_sources

                tables = load_sources(folder, key=key).tables
            aid = hidden_aid_stage(tables)
            if a.scale == "full":
                update_real_uestc("hidden_aid", aid["figures"], command=command, experiments_dir=out)
            result["hidden_aid"] = aid["raw"]
    if a.stage == "all":  # a single stage is recorded in real_uestc.md only
        write_result(out, "real_uestc", result)
    print(json.dumps(result, indent=1, default=str))
    return 0


COMMAND_REUSE = ("RISKMODEL_PSEUDONYM_KEY=<any key> nice -n 10 .venv/bin/python -m riskmodel.bench.real_uestc "
                 "--reuse-import")

if __name__ == "__main__":
    raise SystemExit(main())
