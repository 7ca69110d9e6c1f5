"""The training job on the real simulator and feature engine (the session's small campus)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from riskmodel.contracts import PseudonymKey, read_table_file, validate_tables


def _tables(folder: Path, n_students: int) -> dict[str, pd.DataFrame]:
    tables = {p.stem: read_table_file(p) for p in sorted(folder.glob("*.parquet"))}
    keep = set(tables["students"]["student_id"].astype(str).iloc[:n_students])
    return {t: (f[f["student_id"].astype(str).isin(keep)].reset_index(drop=True) if "student_id" in f.columns else f)
            for t, f in tables.items()}


def test_planted_future_records_move_no_real_feature(sim_campus_dir: Path, sim_key: str) -> None:
    from riskmodel.features import FeatureConfig, build_features

    base = _tables(sim_campus_dir, 30)
    as_of = pd.DatetimeIndex(["2023-10-16", "2023-11-13", "2023-12-04", "2023-12-11"])
    day = as_of[2]
    sid = str(base["students"]["student_id"].iloc[3])
    planted = {k: v.copy() for k, v in base.items()}
    planted["crisis_events"] = pd.concat([planted["crisis_events"], pd.DataFrame(
        {"student_id": [sid], "occurred_on": [day.date()], "level": [3], "category": ["self_harm"]})],
        ignore_index=True)
    card = planted["card_transactions"]
    extra = card[card["student_id"].astype(str) == sid].head(1).copy()
    extra = pd.concat([extra.assign(ts=day + pd.Timedelta(hours=h), amount=99.0) for h in (0, 1, 12)])
    planted["card_transactions"] = pd.concat([card, extra], ignore_index=True)
    door = planted["door_events"]
    d_extra = door[door["student_id"].astype(str) == sid].head(1).copy().assign(ts=day + pd.Timedelta(hours=3))
    planted["door_events"] = pd.concat([door, d_extra], ignore_index=True)
    fcfg = FeatureConfig(period_start="2023-09-01", period_end="2024-02-07")
    a = build_features(validate_tables(base, sim_key), as_of, fcfg)
    b = build_features(validate_tables(planted, sim_key), as_of, fcfg)
    upto_a, upto_b = a[a.as_of <= day], b[b.as_of <= day]
    pd.testing.assert_frame_equal(upto_a.reset_index(drop=True), upto_b.reset_index(drop=True))
    # a week later the planted records are in the past and do move features (the test can fail)
    pid = PseudonymKey(sim_key).pseudonymise(sid)
    later = as_of[3]
    row_a = a[(a.student_id == pid) & (a.as_of == later)].drop(columns=["student_id", "as_of"])
    row_b = b[(b.student_id == pid) & (b.as_of == later)].drop(columns=["student_id", "as_of"])
    assert not row_a.reset_index(drop=True).equals(row_b.reset_index(drop=True))


def test_hydra_job_trains_logs_and_writes_the_table(sim_campus_dir: Path, sim_key: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from mlflow.tracking import MlflowClient

    from riskmodel.train import cli_main

    small = tmp_path / "campus"
    (small / "truth").mkdir(parents=True)
    tables = _tables(sim_campus_dir, 80)
    # a 160-day campus of 80 students records two crises; plant one for every other student,
    # spread over the period, so that train, valid and test all hold positives to learn,
    # calibrate and evaluate on (students are split by a keyed hash: the key is fixed here)
    ids = tables["students"]["student_id"].iloc[::2].reset_index(drop=True)
    days = pd.date_range("2023-10-05", "2024-01-20", periods=len(ids)).date
    planted = pd.DataFrame({"student_id": ids, "occurred_on": list(days), "level": 1,
                            "category": "other"})
    tables["crisis_events"] = pd.concat([tables["crisis_events"], planted], ignore_index=True)
    for name, frame in tables.items():
        frame.to_parquet(small / f"{name}.parquet", index=False)
    oracle = pd.read_parquet(sim_campus_dir / "truth" / "oracle_risk.parquet")
    oracle.to_parquet(small / "truth" / "oracle_risk.parquet", index=False)
    monkeypatch.setenv("RISKMODEL_PSEUDONYM_KEY", sim_key)
    monkeypatch.delenv("RISKMODEL_PSEUDONYM_KEY_FILE", raising=False)
    cli_main(["data=folder", f"data.folder={small}", "data.rows_in_memory=5000", "model=[census,lgbm]",
              "model.lgbm.params.n_estimators=20", "split.valid_fraction=0.15", "split.test_fraction=0.2",
              "dataset.horizon_days=14", "split.gap_days=14", "eval.min_group_size=20", f"project_root={tmp_path}",
              "report_path=results.md", f"hydra.run.dir={tmp_path}/hydra"])
    out = capsys.readouterr().out
    assert "| census |" in out and "| lgbm |" in out and "| oracle |" in out
    md = (tmp_path / "results.md").read_text()
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("crisis-warning").experiment_id])
    assert {r.info.run_name for r in runs} == {"census", "lgbm", "oracle"}
    for r in runs:
        assert r.info.run_id in md
        assert r.data.tags["feature_registry_version"] not in ("", "synthetic")
    lg = next(r for r in runs if r.info.run_name == "lgbm")
    assert "test_oracle_brier" in lg.data.metrics and "test_brier" in lg.data.metrics and int(lg.data.metrics["test_n_rows"]) > 0
    from riskmodel.tracking import scan_store

    raw = pd.read_parquet(sim_campus_dir / "students.parquet")["student_id"].astype(str).tolist()
    assert scan_store([tmp_path / "mlruns"], raw + [sim_key]) == []
    # the inputs were cached, pseudonymised, and a second job reuses them
    from riskmodel.train import config_from_dict, prepare_inputs

    (cache,) = (tmp_path / ".riskmodel" / "cache").glob("inputs-*")
    assert scan_store([cache], raw + [sim_key]) == []
    cfg = config_from_dict({"data": {"source": "folder", "folder": str(small)}, "model": {"lgbm": {}},
                            "dataset": {"horizon_days": 14}, "project_root": str(tmp_path)})
    again = prepare_inputs(cfg)
    assert again.description.endswith("(cached inputs)") and again.features.shape[0] > 0
    # an Optuna sweep over LightGBM parameters runs on the same (cached) inputs
    import yaml

    cli_main(["-m", "experiment=lgbm_optuna", "hydra.sweeper.n_trials=2", "data=folder", f"data.folder={small}",
              "model.lgbm.params.n_estimators=10", "split.valid_fraction=0.15", "split.test_fraction=0.2",
              "dataset.horizon_days=14", "split.gap_days=14", "eval.min_group_size=20", f"project_root={tmp_path}",
              f"hydra.sweep.dir={tmp_path}/sweep"])
    best = yaml.safe_load((tmp_path / "sweep" / "optimization_results.yaml").read_text())
    assert best["name"] == "optuna" and set(best["best_params"]) == {
        f"model.lgbm.params.{k}" for k in ("learning_rate", "num_leaves", "min_child_samples", "feature_fraction",
                                           "lambda_l2")}
    sweep_runs = client.search_runs([client.get_experiment_by_name("crisis-warning").experiment_id],
                                    "tags.experiment = 'lgbm_optuna'")
    assert len([r for r in sweep_runs if r.info.run_name == "lgbm"]) == 2
