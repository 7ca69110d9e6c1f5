"""The training job: real Hydra config composed and shrunk, a tiny end-to-end run into a
temporary MLflow store, the registry, pyfunc round trips and a scan of the store for ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from riskmodel.datasets import DatasetConfig, snapshot_dates
from riskmodel.datasets.synthetic import synthetic_campus, window_features
from riskmodel.train import (
    CONF_DIR,
    TrainConfig,
    comparison_markdown,
    config_from_dict,
    config_from_hydra,
    inputs_from_tables,
    make_snapshots,
    run_training,
    write_comparison,
)

KEY = "test-key-0123456789abcdef"
EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


def _compose(overrides: list[str], hydra_cfg: bool = False):  # type: ignore[no-untyped-def]
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=hydra_cfg)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_composes_and_converts(name: str) -> None:
    cfg = config_from_hydra(_compose([f"experiment={name}"]))
    assert isinstance(cfg, TrainConfig) and cfg.models
    assert cfg.dataset.horizon_days == 28 and cfg.tracking.experiment_name == "crisis-warning"


def test_experiments_exist() -> None:
    assert {"crisis_2y", "crisis_small", "lgbm_optuna"} <= set(EXPERIMENTS)


def test_model_group_selects_one_or_several_families() -> None:
    assert [m.family for m in config_from_hydra(_compose(["model=lgbm"])).models] == ["lgbm"]
    both = config_from_hydra(_compose(["model=[sequence,census]", "seed=7"]))
    assert [m.family for m in both.models] == ["census", "sequence"]
    assert both.models[1].params["seed"] == 7  # interpolated from the top-level seed
    default = config_from_hydra(_compose([]))
    assert [m.family for m in default.models] == ["census", "logreg", "lgbm", "sequence"]
    assert default.tracking.tracking_uri is None  # -> the project's sqlite store


def test_optuna_sweep_is_configured_over_lgbm_parameters() -> None:
    cfg = _compose(["experiment=lgbm_optuna"], hydra_cfg=True)
    assert "optuna" in cfg.hydra.sweeper._target_.lower()
    assert cfg.hydra.sweeper.direction == "maximize"
    assert all(k.startswith("model.lgbm.params.") for k in cfg.hydra.sweeper.params)


def test_unknown_config_keys_are_named() -> None:
    base = {"model": {"lgbm": {"family": "lgbm", "params": {}}}}
    with pytest.raises(ValueError, match="'dataset'.*horizon"):
        config_from_dict({**base, "dataset": {"horizon": 28}})
    with pytest.raises(ValueError, match="no model selected"):
        config_from_dict({"model": {}})
    with pytest.raises(ValueError, match="family 'xgb'"):
        config_from_dict({"model": {"xgb": {"family": "xgb", "params": {}}}})


# -- tiny end to end ---------------------------------------------------------------------------
def _campus_inputs(seed: int = 1, days: int = 210, plant: tuple[int, pd.Timestamp] | None = None):  # type: ignore[no-untyped-def]
    c = synthetic_campus(n_students=300, days=days, seed=seed)
    if plant is not None:  # a future crisis plus wild behaviour on and after its day
        i, day = plant
        sid = c.students["student_id"].iloc[i]
        c.crisis_events = pd.concat([c.crisis_events, pd.DataFrame(
            {"student_id": [sid], "occurred_on": [day.date()], "level": [3], "category": ["self_harm"]})])
        later = (c.daily["student_id"] == sid) & (c.daily["date"] >= day)
        c.daily.loc[later, "network__hours"] = 23.0
    asof = snapshot_dates(c.start, c.end, DatasetConfig())
    feats = window_features(c.daily, asof)
    return c, inputs_from_tables(c.students, c.crisis_events, c.census, feats, c.daily, key=KEY, oracle=c.oracle)


def _tiny_config(tmp: Path) -> TrainConfig:
    cfg = _compose([
        "model=[census,logreg,lgbm,sequence]", "model.lgbm.params.n_estimators=30",
        "model.lgbm.params.min_child_samples=20", "model.lgbm.params.learning_rate=0.1",
        "model.sequence.params.epochs=1", "model.sequence.params.hidden=8", "model.sequence.params.encoder=tcn",
        "model.sequence.params.batch_size=512", "dataset.sequence_days=28",
        "eval.min_group_size=50", "eval.min_group_positives=2", f"project_root={tmp}",
        "report_path=report/crisis_results.md"])
    return config_from_hydra(cfg)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("train")
    campus, inputs = _campus_inputs()
    cfg = _tiny_config(tmp)
    return tmp, campus, inputs, cfg, run_training(cfg, inputs)


def test_end_to_end_trains_every_family_and_writes_the_table(trained) -> None:  # type: ignore[no-untyped-def]
    tmp, _, _, _, result = trained
    table = result.comparison
    assert table["model"].tolist() == ["census", "logreg", "lgbm", "sequence", "oracle"]
    assert table["run_id"].str.len().eq(32).all()
    assert table["auprc"].between(0, 1).all() and table["brier"].between(0, 1).all()
    ora, lg = table.set_index("model").loc["oracle"], table.set_index("model").loc["lgbm"]
    assert ora["auroc"] > 0.7 and lg["auroc"] > 0.55  # the planted signal is found
    md = (tmp / "report" / "crisis_results.md").read_text()
    assert md == comparison_markdown(result)
    for rid in table["run_id"]:
        assert rid in md
    assert "Targets (issue 5)" in md and "300 students" in md
    assert write_comparison(result, tmp / "again.md").read_text() == md


def test_registered_champion_loads_through_pyfunc_with_the_same_scores(trained) -> None:  # type: ignore[no-untyped-def]
    from riskmodel.tracking import load_pyfunc

    tmp, _, inputs, cfg, result = trained
    reg = result.registration
    assert reg.promoted and reg.version == "1" and reg.champion_version == "1"
    best = max((f for f in result.fitted.values()), key=lambda f: f.valid_auprc)
    snaps = make_snapshots(inputs, cfg)
    test = snaps.frame[snaps.frame.part == "test"]
    for fam, fm in result.fitted.items():
        uri = "models:/crisis-warning@champion" if fam == best.family else f"runs:/{result.run_ids[fam]}/model"
        loaded = load_pyfunc(uri, result.tracking_uri)
        if fam == "sequence":
            from riskmodel.datasets import SequenceBatchDataset, build_sequence_store
            from riskmodel.models.sequence import long_frame_from_arrays

            store = build_sequence_store(inputs.daily, cfg.dataset.sequence_days,
                                         students=pd.Index(inputs.students["student_id"]))
            ds = SequenceBatchDataset(store, test["student_id"][:50], test["as_of"][:50])
            x, m, _ = ds.batch(np.arange(50))
            got = loaded.predict(long_frame_from_arrays(x, m, list(store.channels)))["risk"].to_numpy()
            want = fm.model.predict_risk(ds)
        else:
            cols = list(fm.model.feature_names_in_)
            got = loaded.predict(test[cols].astype("float64"))["risk"].to_numpy()
            want = fm.model.predict_risk(test[cols].astype("float64"))
        assert np.allclose(got, want, atol=1e-6), fam
        assert np.allclose(want[: len(fm.test_scored)], fm.test_scored["score"].to_numpy()[: len(want)], atol=1e-6)


def test_mlflow_store_holds_no_raw_id_and_no_key(trained) -> None:  # type: ignore[no-untyped-def]
    from riskmodel.tracking import scan_store

    tmp, campus, inputs, _, _ = trained
    raw = campus.students["student_id"].tolist()
    store = tmp / "mlruns"
    assert (store / "mlflow.db").exists() and any((store / "artifacts").rglob("MLmodel"))
    assert scan_store([store], raw + [KEY]) == []
    # the scan does find what is there: pseudonymised ids must not be logged either
    assert scan_store([store], inputs.students["student_id"].tolist()) == []
    assert scan_store([store], ["crisis-warning"])  # sanity: the scan reads the store


def test_logged_run_has_config_fingerprint_features_metrics_and_plots(trained) -> None:  # type: ignore[no-untyped-def]
    from mlflow.tracking import MlflowClient

    tmp, _, inputs, _, result = trained
    client = MlflowClient(result.tracking_uri)
    run = client.get_run(result.run_ids["lgbm"])
    assert run.data.tags["data_fingerprint"] == inputs.fingerprint
    assert run.data.tags["feature_registry_version"] == "synthetic"
    assert {"test_auprc", "test_oracle_auprc", "test_event_recall", "test_ece", "valid_auprc"} <= set(run.data.metrics)
    assert any(k.startswith("test_group_gender_") for k in run.data.metrics)
    assert run.data.params["model.n_estimators"] == "30"
    arts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert arts == {"plots/pr_curve.png", "plots/calibration.png", "plots/capacity_curve.png"}
    feats = client.list_artifacts(run.info.run_id, "features")
    assert [a.path for a in feats] == ["features/feature_list.json"]
    model_files = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert "model/MLmodel" in model_files and not any(p.endswith(".pkl") for p in model_files)


def test_no_student_straddles_train_and_test() -> None:
    _, inputs = _campus_inputs(seed=2, days=120)
    split = {"valid_fraction": 0.2, "test_fraction": 0.2, "gap_days": 7}
    cfg = config_from_dict({"model": {"lgbm": {}}, "split": split, "dataset": {"horizon_days": 7}})
    snaps = make_snapshots(inputs, cfg)
    f = snaps.frame
    test, fit = set(f.student_id[f.part == "test"]), set(f.student_id[f.part.isin(["train", "valid"])])
    assert test and fit and not test & fit
    assert len(test) + len(fit) == f.student_id.nunique()
    assert snaps.students_per_part["test"] == len(test)
    assert "students" in snaps.describe_split()["test"]
    # time-only split (test_students=0): the same students show up on both sides
    timed = make_snapshots(inputs, config_from_dict({"model": {"lgbm": {}}, "dataset": {"horizon_days": 7},
                                                     "split": {**split, "test_students": 0.0}})).frame
    assert set(timed.student_id[timed.part == "test"]) & set(timed.student_id[timed.part == "train"])
    assert len(timed) > len(f)


def test_a_planted_future_crisis_moves_no_feature() -> None:
    _, base = _campus_inputs(seed=2, days=120)
    day = pd.Timestamp("2024-11-20")
    _, planted = _campus_inputs(seed=2, days=120, plant=(7, day))
    cfg = config_from_dict({"model": {"lgbm": {}}, "split": {"valid_fraction": 0.2, "test_fraction": 0.2,
                                                              "gap_days": 7}, "dataset": {"horizon_days": 7}})
    a, b = make_snapshots(base, cfg).frame, make_snapshots(planted, cfg).frame
    cut_a, cut_b = a[a.as_of <= day], b[b.as_of <= day]
    cols = base.feature_names + ["screen_level", "screen_key_item"]
    pd.testing.assert_frame_equal(cut_a[["student_id", "as_of", *cols]].reset_index(drop=True),
                                  cut_b[["student_id", "as_of", *cols]].reset_index(drop=True))
    sid = planted.students["student_id"].iloc[7]
    hit = b[(b.student_id == sid) & (b.as_of <= day) & (b.as_of > day - pd.Timedelta(days=7))]
    assert len(hit) <= 1 and hit["label"].eq(1).all()
    # the engine does see the planted behaviour once the as-of is past it (the test can fail)
    fa, fb = base.features, planted.features
    after = (fb.student_id == sid) & (fb.as_of > day + pd.Timedelta(days=7))
    assert after.any()
    col = "network__hours__mean__7d"
    assert not np.allclose(fa.loc[after, col], fb.loc[after, col])


def test_the_table_is_rebuilt_from_the_mlflow_store(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from riskmodel.train import report_from_store, result_from_mlflow

    tmp, _, _, cfg, result = trained
    again = result_from_mlflow(cfg.tracking, tmp, None)  # the latest training run
    assert again.training_id == result.training_id
    a, b = result.comparison.set_index("model"), again.comparison.set_index("model")
    assert list(b.index) == list(a.index) and (b["run_id"] == a["run_id"]).all()
    for col in ("auprc", "auroc", "event_recall", "ece", "valid_auprc", "top_observed"):
        assert np.allclose(a[col].astype(float), b[col].astype(float), equal_nan=True), col
    assert again.split == result.split and again.registration.version == result.registration.version
    out = tmp_path / "table.md"
    report_from_store([f"project_root={tmp}"], result.training_id, out)
    text = out.read_text()
    assert all(rid in text for rid in a["run_id"]) and "Regenerate this table" in text
    with pytest.raises(LookupError, match="no runs with training id"):
        result_from_mlflow(cfg.tracking, tmp, "nope")


def test_registered_model_has_its_model_card_beside_it(trained) -> None:  # type: ignore[no-untyped-def]
    import mlflow

    _, _, _, _, result = trained
    # registry_uri explicitly: another test in this worker may have set a process-wide one
    client = mlflow.MlflowClient(tracking_uri=result.tracking_uri, registry_uri=result.tracking_uri)
    version = client.get_model_version_by_alias("crisis-warning", "champion")
    names = {a.path for a in client.list_artifacts(version.run_id, "model_card")}
    assert names == {f"model_card/model_card_{lang}.{ext}" for lang in ("zh", "en") for ext in ("md", "html")}
    md_en = client.download_artifacts(version.run_id, "model_card/model_card_en.md")
    with open(md_en, encoding="utf-8") as fh:
        text = fh.read()
    assert "oracle" in text.lower() and "never" in text.lower()  # baselines beside it; intended use


def test_a_part_without_positives_is_a_clear_error() -> None:
    from riskmodel.train import ModelSpec, fit_one

    _, inputs = _campus_inputs(seed=2, days=120)
    cfg = config_from_dict({"model": {"logreg": {}}, "dataset": {"horizon_days": 7},
                            "split": {"valid_fraction": 0.2, "test_fraction": 0.2, "gap_days": 7}})
    snaps = make_snapshots(inputs, cfg)
    assert snaps.frame.loc[snaps.frame.part == "train", "label"].sum() > 0
    snaps.frame.loc[snaps.frame.part == "train", "label"] = 0
    with pytest.raises(ValueError, match=r"logreg: split part 'train' holds no positive snapshot .*test_students"):
        fit_one(ModelSpec("logreg"), snaps, cfg)
