"""Benchmark: training time of the crisis models (issue 5 targets: LightGBM < 5 min, sequence
model < 20 min on the 20,000-student, two-year campus, 2 cores).

``scale="full"`` is the issue's campus (20,000 students, 730 days); ``"small"`` 1,000 students
over 365 days. Simulation and feature building are timed apart from model fitting; MLflow is
left out (tracking disabled) so the figures are the models' own.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

SCALES = {"full": {"students": 20000, "days": 730}, "small": {"students": 1000, "days": 365}}


def run(out_dir: Path, scale: str) -> dict[str, Any]:
    """Simulate, build features, then fit LightGBM and the sequence model; return timings."""
    from riskmodel.bench import measure
    from riskmodel.datasets import build_sequence_store
    from riskmodel.train import ModelSpec, config_from_dict, fit_one, make_snapshots, prepare_inputs

    size = SCALES[scale]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config_from_dict({
            "data": {"source": "simulate", "cache_dir": "cache",
                     "sim": {"students": size["students"], "days": size["days"], "start": "2023-09-01",
                             "seed": 2023}},
            "split": {"kind": "year" if size["days"] > 400 else "fraction"},
            "model": {"lgbm": {}}, "tracking": {"enabled": False}, "project_root": tmp})
        result: dict[str, Any] = {"students": size["students"], "days": size["days"]}
        with measure() as m_in:
            inputs = prepare_inputs(cfg)
        result["prepare_inputs_s"], result["prepare_inputs_peak_rss_mb"] = m_in.wall_s, m_in.peak_rss_mb
        snaps = make_snapshots(inputs, cfg)
        result["snapshot_rows"] = len(snaps.frame)
        result["train_rows"] = int((snaps.frame["part"] == "train").sum())
        with measure() as m_lgb:
            lg = fit_one(ModelSpec("lgbm", {}), snaps, cfg)
        result["lgbm_fit_s"], result["lgbm_peak_rss_mb"] = m_lgb.wall_s, m_lgb.peak_rss_mb
        result["lgbm_test_auprc"] = float(lg.evaluation.overall.loc["auprc", "model"])
        seq_params = {"neg_sample_rate": 0.2, "epochs": 6, "max_valid_rows": 100000}
        with measure() as m_seq:
            store = build_sequence_store(inputs.daily, cfg.dataset.sequence_days)
            sq = fit_one(ModelSpec("sequence", seq_params), snaps, dataclasses.replace(cfg), store)
        result["sequence_fit_s"], result["sequence_peak_rss_mb"] = m_seq.wall_s, m_seq.peak_rss_mb
        result["sequence_test_auprc"] = float(sq.evaluation.overall.loc["auprc", "model"])
        result["sequence_choice"] = sq.notes
        result["lgbm_target_met"] = m_lgb.wall_s < 300 if scale == "full" else None
        result["sequence_target_met"] = m_seq.wall_s < 1200 if scale == "full" else None
    return result
