"""MLflow helpers: store defaults, explicit run ids, champion/challenger aliases, store scans."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskmodel.models import CensusScreenModel
from riskmodel.tracking import (
    Tracker,
    TrackingConfig,
    flatten,
    load_pyfunc,
    resolve_store,
    scan_store,
)


def test_default_store_is_sqlite_under_the_project(tmp_path: Path) -> None:
    uri, art = resolve_store(TrackingConfig(), tmp_path)
    assert uri == f"sqlite:///{tmp_path.resolve()}/mlruns/mlflow.db"
    assert art == (tmp_path.resolve() / "mlruns" / "artifacts").as_uri()
    assert (tmp_path / "mlruns" / "artifacts").is_dir()
    uri2, _ = resolve_store(TrackingConfig(tracking_uri="http://mlflow.example:5000"), tmp_path)
    assert uri2 == "http://mlflow.example:5000"


def test_flatten_nested_params() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None}) == {"a.b": "1", "a.c.d": "[1, 2]", "e": "None"}


def _census_model() -> CensusScreenModel:
    X = pd.DataFrame({"screen_level": [0, 1, 2, 3] * 10, "screen_key_item": [0, 0, 0, 1] * 10})
    y = np.array([0, 0, 1, 1] * 10)
    return CensusScreenModel().fit(X, y, X, y)


@pytest.fixture(scope="module")
def tracker(tmp_path_factory: pytest.TempPathFactory) -> Tracker:
    return Tracker(TrackingConfig(experiment_name="t"), tmp_path_factory.mktemp("store"))


def _logged(tracker: Tracker, model: CensusScreenModel) -> tuple[str, str]:
    rid = tracker.start_run("census")
    ex = pd.DataFrame({"screen_level": [0.0, 2.0], "screen_key_item": [0.0, 1.0]})
    uri = tracker.log_model(rid, model, ex, pd.DataFrame({"risk": model.predict_risk(ex)}))
    tracker.end_run(rid)
    return rid, uri


def test_champion_only_when_better_and_previous_keeps_challenger(tracker: Tracker) -> None:
    model = _census_model()
    r1, u1 = _logged(tracker, model)
    first = tracker.register(r1, u1, valid_auprc=0.30)
    assert first.promoted and first.previous_champion is None
    worse = tracker.register(r1, u1, valid_auprc=0.20)
    assert not worse.promoted and worse.champion_version == first.version
    c = tracker.client
    assert str(c.get_model_version_by_alias("crisis-warning", "champion").version) == first.version
    assert str(c.get_model_version_by_alias("crisis-warning", "challenger").version) == worse.version
    better = tracker.register(r1, u1, valid_auprc=0.40)
    assert better.promoted and better.previous_champion == first.version
    assert str(c.get_model_version_by_alias("crisis-warning", "champion").version) == better.version
    assert str(c.get_model_version_by_alias("crisis-warning", "challenger").version) == first.version
    loaded = load_pyfunc("models:/crisis-warning@champion", tracker.tracking_uri)
    X = pd.DataFrame({"screen_level": [3.0, 0.0], "screen_key_item": [1.0, 0.0]})
    assert np.allclose(loaded.predict(X)["risk"], model.predict_risk(X))


def test_runs_are_addressed_by_id_without_an_active_run(tracker: Tracker) -> None:
    import mlflow

    rid = tracker.start_run("x", tags={"training_id": "abc"})
    tracker.log_metrics(rid, {"m": 1.5, "skipped": float("nan")})
    tracker.log_params(rid, {"p": {"q": 1}})
    tracker.end_run(rid)
    assert mlflow.active_run() is None
    runs = tracker.runs("tags.training_id = 'abc'")
    assert runs["run_id"].tolist() == [rid] and runs["metrics.m"].tolist() == [1.5]
    assert "metrics.skipped" not in runs.columns and runs["params.p.q"].tolist() == ["1"]


def test_scan_store_finds_a_planted_secret_without_echoing_it(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("nothing here")
    assert scan_store([tmp_path], ["s3cret-id"]) == []
    (tmp_path / "a" / "y.json").write_text('{"id": "s3cret-id"}')
    hits = scan_store([tmp_path], ["s3cret-id"])
    assert hits == [(str(tmp_path / "a" / "y.json"), "needle #0")]
