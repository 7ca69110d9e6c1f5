"""Registry loading, the served pyfunc over HTTP, the CLI and the README quickstart.

A tiny LightGBM with the real feature columns is logged and registered in a throw-away
SQLite store; everything else runs the real path on the simulated test campus.
"""

from __future__ import annotations

import json
import os
import runpy
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from riskmodel.cli import app
from riskmodel.contracts import load_sources
from riskmodel.features import FeatureConfig, feature_names
from riskmodel.models import LGBMCrisisModel
from riskmodel.scoping import AccessConfig, CallerEntry, read_audit_log
from riskmodel.scoring import Scorer, ScoringError

AS_OF = "2024-01-22"
QUICKSTART = Path(__file__).resolve().parents[1] / "docs" / "quickstart_scoring.py"


@pytest.fixture(scope="module")
def store(tmp_path_factory, sim_campus_dir, sim_key):
    """A registered champion in a fresh store, plus the access registry and key file."""
    from riskmodel.tracking import Tracker, TrackingConfig

    tmp = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    cfg = TrackingConfig(tracking_uri=uri, artifact_location=(tmp / "artifacts").as_uri())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = load_sources(sim_campus_dir, sim_key)
    names = feature_names(FeatureConfig(windows=(14,)), sources=loaded.tables)
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(1500, len(names))), columns=names)
    X["door__away_night_sum__14d"] = rng.poisson(1.5, len(X)).astype(float)
    X["network__late_min_mean__14d"] = rng.gamma(1.0, 15.0, len(X))
    z = -3.5 + 0.6 * X["door__away_night_sum__14d"] + 0.03 * X["network__late_min_mean__14d"]
    y = (rng.random(len(X)) < 1 / (1 + np.exp(-z))).astype(int)
    model = LGBMCrisisModel(n_estimators=60, min_child_samples=20, num_threads=1, early_stopping_rounds=60,
                            calibration="platt").fit(X[:1000], y[:1000], X[1000:], y[1000:])
    tracker = Tracker(cfg, tmp)
    rid = tracker.start_run("lgbm")
    tracker.log_dict(rid, {"resolved_config": {"features": {"windows": [14]}}}, "config/resolved_config.json")
    example = X.iloc[:2].round(3)
    model_uri = tracker.log_model(rid, model, example, pd.DataFrame({"risk": model.predict_risk(example)}))
    tracker.end_run(rid)
    tracker.register(rid, model_uri, valid_auprc=0.5)
    key_file = tmp / "pseudonym.key"
    key_file.write_text(sim_key)
    access_yaml = tmp / "access.yaml"
    audit = tmp / "audit.jsonl"
    access_yaml.write_text(f"audit_log: {audit}\ncallers:\n  counselling-center: {{role: counselling_center}}\n"
                           "  dean: {role: college_leader, college: CS}\n", encoding="utf-8")
    access = AccessConfig(callers={"counselling-center": CallerEntry(role="counselling_center")},
                          audit_log=str(audit))
    return {"uri": uri, "run_id": rid, "model": model, "key_file": key_file, "access_yaml": access_yaml,
            "access": access, "loaded": loaded, "audit": audit}


@pytest.fixture(scope="module")
def scored(store):
    sc = Scorer.from_registry("crisis-warning", alias="champion", tracking_uri=store["uri"], access=store["access"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        week = sc.prepare(store["loaded"], AS_OF)
    return sc, week, sc.score(week, AS_OF, caller="counselling-center")


def test_from_registry_run_and_uri_agree(store, scored):
    sc, week, out = scored
    assert sc.name == "crisis-warning" and sc.version == "1"
    assert tuple(sc.feature_config.windows) == (14,)  # read from the run's logged config
    names = list(store["model"].feature_names_in_)
    X = week.current.set_index("student_id").loc[out["student_id"], names]
    np.testing.assert_allclose(out["probability"], store["model"].predict_risk(X), rtol=1e-12)
    by_run = Scorer.from_run(store["run_id"], tracking_uri=store["uri"], access=store["access"])
    by_version = Scorer.from_uri("models:/crisis-warning/1", tracking_uri=store["uri"])
    for other in (by_run, by_version):
        np.testing.assert_allclose(other.model.predict_risk(X), out["probability"], rtol=1e-12)


def test_bad_model_name_and_alias(store):
    with pytest.raises(ScoringError, match="no registered model named 'no-such-model'.*crisis-warning"):
        Scorer.from_registry("no-such-model", tracking_uri=store["uri"])
    with pytest.raises(ScoringError, match="no alias 'nope'.*champion->v1"):
        Scorer.from_registry("crisis-warning", alias="nope", tracking_uri=store["uri"])
    with pytest.raises(ScoringError, match="no run"):
        Scorer.from_run("0" * 32, tracking_uri=store["uri"])


def _wait(url: str, proc, limit: float, log: Path) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            raise AssertionError(f"mlflow models serve exited early with code {proc.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    raise AssertionError(f"mlflow models serve did not answer {url} within {limit:.0f} s")


@pytest.mark.slow
def test_served_pyfunc_agrees_with_scorer(tmp_path, store, scored):
    from riskmodel.tracking.serving import free_port, start_server, stop_server

    sc, week, out = scored
    port = free_port()
    proc = start_server("models:/crisis-warning@champion", port, tracking_uri=store["uri"],
                        log_path=tmp_path / "serve.log")
    try:
        _wait(f"http://127.0.0.1:{port}/ping", proc, limit=90, log=tmp_path / "serve.log")
        names = list(store["model"].feature_names_in_)
        rows = week.current.set_index("student_id").loc[out["student_id"].head(40), names]
        payload = {"dataframe_split": json.loads(rows.reset_index(drop=True).to_json(orient="split"))}
        req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            body = json.loads(r.read())
    finally:
        stop_server(proc)
    assert proc.poll() is not None
    preds = body["predictions"]
    served = np.array([p["risk"] if isinstance(p, dict) else p for p in preds], dtype=float)
    np.testing.assert_allclose(served, out["probability"].head(40).to_numpy(), rtol=1e-9)


def _cli(store, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, [*args, "--tracking-uri", store["uri"], "--access", str(store["access_yaml"]),
                                    "--key-file", str(store["key_file"])])


def test_cli_score_writes_atomically_and_refuses_cleanly(tmp_path, store, scored, sim_campus_dir):
    _, _, out = scored
    dest = tmp_path / "flags.csv"
    res = _cli(store, "score", "--model", "crisis-warning@champion", "--data", str(sim_campus_dir), "--as-of",
               AS_OF, "--scope", "college=CS", "--out", str(dest), "--caller", "dean", "--capacity", "0.05")
    assert res.exit_code == 0, res.output
    got = pd.read_csv(dest, keep_default_na=False)
    assert set(got["college"]) == {"CS"} and (got["band"] == "flag").sum() >= 1
    ref = out.set_index("student_id").loc[got["student_id"], "probability"].to_numpy()
    np.testing.assert_allclose(got["probability"], ref, rtol=1e-9)
    assert "Top flags" in res.output
    rec = read_audit_log(store["audit"])[-1]
    assert rec["caller"] == "dean" and rec["rows"] == len(got) and rec["what"] == "score"
    # bad alias, as-of outside the data, a scope out of reach: a clear message, exit 1, no file
    for args, msg in ((["--model", "crisis-warning@nope"], "no alias"),
                      (["--as-of", "2031-01-06"], "outside the data"),
                      (["--scope", "college=EE"], "may not see")):
        bad = tmp_path / "bad.parquet"
        base = {"--model": "crisis-warning@champion", "--as-of": AS_OF, "--scope": "college=CS"}
        base.update(dict(zip(args[::2], args[1::2], strict=True)))
        flat = [x for kv in base.items() for x in kv]
        res = _cli(store, "score", "--data", str(sim_campus_dir), "--out", str(bad), "--caller", "dean", *flat)
        assert res.exit_code == 1 and msg in res.output and "Traceback" not in res.output, res.output
        assert not bad.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flags.csv"]


def test_cli_explain_prints_reasons_and_plots(tmp_path, store, scored, sim_campus_dir):
    _, _, out = scored
    top = out.loc[out["band"] == "flag", "student_id"].iloc[0]
    radar = tmp_path / "radar.svg"
    res = _cli(store, "explain", top, "--as-of", AS_OF, "--data", str(sim_campus_dir), "--caller",
               "counselling-center", "--plot", str(radar))
    assert res.exit_code == 0, res.output
    assert "probability" in res.output and radar.exists()
    res = _cli(store, "explain", "0" * 16, "--as-of", AS_OF, "--data", str(sim_campus_dir), "--caller",
               "counselling-center")
    assert res.exit_code == 1 and "no scored student" in res.output


def test_quickstart_runs_as_written(tmp_path, store, sim_campus_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RISKMODEL_DATA", str(sim_campus_dir))
    monkeypatch.setenv("RISKMODEL_AS_OF", AS_OF)
    monkeypatch.setenv("RISKMODEL_PSEUDONYM_KEY_FILE", str(store["key_file"]))
    monkeypatch.setenv("RISKMODEL_ACCESS", str(store["access_yaml"]))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ns = runpy.run_path(str(QUICKSTART), run_name="__main__")
    assert (tmp_path / "radar.png").read_bytes()[:4] == b"\x89PNG"
    assert len(ns["one"].reasons) >= 1 and ns["flags"]["college"].eq("CS").all()
    assert os.environ["MLFLOW_TRACKING_URI"] == store["uri"]
