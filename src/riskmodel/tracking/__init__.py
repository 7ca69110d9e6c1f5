"""MLflow helpers: the only module that imports mlflow.

A local SQLite store under the project by default (``sqlite:///<project>/mlruns/mlflow.db``,
artifacts in ``<project>/mlruns/artifacts``, both set explicitly); ``tracking_uri`` in the
config points elsewhere (a shared server). Every call takes an explicit run id: no global
active run, no autologging.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")


@dataclass(frozen=True)
class TrackingConfig:
    """Where runs go.

    tracking_uri : None = ``sqlite:///<project_root>/<store_dir>/mlflow.db``.
    artifact_location : None = ``<project_root>/<store_dir>/artifacts``.
    experiment_name : the MLflow experiment.
    registered_model_name : the registry entry of the best model.
    register : register the best model of a training run.
    """

    tracking_uri: str | None = None
    artifact_location: str | None = None
    store_dir: str = "mlruns"
    experiment_name: str = "crisis-warning"
    registered_model_name: str = "crisis-warning"
    register: bool = True
    enabled: bool = True


def resolve_store(cfg: TrackingConfig, project_root: str | Path) -> tuple[str, str]:
    """(tracking URI, artifact location URI) with the project defaults filled in."""
    root = Path(project_root).resolve()
    store = root / cfg.store_dir
    uri = cfg.tracking_uri or f"sqlite:///{store / 'mlflow.db'}"
    art = cfg.artifact_location or (store / "artifacts").as_uri()
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    if art.startswith("file://"):
        Path(art[len("file://"):]).mkdir(parents=True, exist_ok=True)
    return uri, art


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested dict -> ``{"a.b.c": "value"}`` (values as strings, MLflow's 6000-char limit)."""
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = str(v)[:6000]
    return out


@dataclass
class Registration:
    """What registering a model did."""

    name: str
    version: str
    champion_version: str
    promoted: bool
    previous_champion: str | None
    valid_auprc: float


class Tracker:
    """An MLflow client bound to one store and experiment; every method takes a run id."""

    def __init__(self, cfg: TrackingConfig, project_root: str | Path):
        self.cfg = cfg
        self.tracking_uri, self.artifact_location = resolve_store(cfg, project_root)
        self.client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        exp = self.client.get_experiment_by_name(cfg.experiment_name)
        self.experiment_id = (exp.experiment_id if exp is not None else
                              self.client.create_experiment(cfg.experiment_name,
                                                            artifact_location=self.artifact_location))

    def start_run(self, run_name: str, tags: dict[str, str] | None = None) -> str:
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags or {})
        return run.info.run_id

    def end_run(self, run_id: str, failed: bool = False) -> None:
        self.client.set_terminated(run_id, status="FAILED" if failed else "FINISHED")

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        flat = flatten(params)
        items = [Param(k[:250], v) for k, v in flat.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[i:i + 100])

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int = 0) -> None:
        import time

        ts = int(time.time() * 1000)
        items = [Metric(k[:250], float(v), ts, step) for k, v in metrics.items()
                 if v is not None and math.isfinite(float(v))]
        for i in range(0, len(items), 500):
            self.client.log_batch(run_id, metrics=items[i:i + 500])

    def log_dict(self, run_id: str, obj: Any, artifact_file: str) -> None:
        self.client.log_dict(run_id, obj, artifact_file)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.client.log_text(run_id, text, artifact_file)

    def log_frame(self, run_id: str, frame: pd.DataFrame, artifact_file: str) -> None:
        self.client.log_text(run_id, frame.to_csv(index=False), artifact_file)

    def log_figure(self, run_id: str, fig: Any, artifact_file: str) -> None:
        self.client.log_figure(run_id, fig, artifact_file)

    def log_model(self, run_id: str, model: Any, input_example: pd.DataFrame, output_example: pd.DataFrame,
                  artifact_path: str = "model") -> str:
        """Save ``model`` (its JSON/text/npz files) as a models-from-code pyfunc and log it.

        The signature is inferred from ``input_example`` -> ``output_example``; both must be
        synthetic. Returns the artifact URI of the logged model.
        """
        from mlflow.models import infer_signature

        with tempfile.TemporaryDirectory() as tmp:
            mdir = Path(tmp) / "saved"
            model.save(mdir)
            out = Path(tmp) / artifact_path
            mlflow.pyfunc.save_model(str(out), python_model=str(PYFUNC_CODE), artifacts={"model_dir": str(mdir)},
                                     signature=infer_signature(input_example, output_example),
                                     input_example=input_example)
            self.client.log_artifacts(run_id, str(out), artifact_path)
        return f"{self.client.get_run(run_id).info.artifact_uri}/{artifact_path}"

    def register(self, run_id: str, model_uri: str, valid_auprc: float, tags: dict[str, str] | None = None
                 ) -> Registration:
        """Register a new version; alias ``champion`` only when it beats the current champion's
        validation AUPRC. The displaced champion gets ``challenger``; a losing newcomer gets
        ``challenger`` too (the latest contender), and the champion stays.
        """
        name = self.cfg.registered_model_name
        try:
            self.client.get_registered_model(name)
        except MlflowException:
            self.client.create_registered_model(name, description="Crisis early warning: P(recorded crisis "
                                                "within the horizon) per student and as-of week.")
        mv = self.client.create_model_version(name, source=model_uri, run_id=run_id,
                                              tags={"valid_auprc": f"{valid_auprc:.6f}", **(tags or {})})
        try:
            champ = self.client.get_model_version_by_alias(name, "champion")
        except MlflowException:
            champ = None
        old = float(champ.tags.get("valid_auprc", "nan")) if champ is not None else float("nan")
        promoted = champ is None or not (old >= valid_auprc)
        if promoted:
            self.client.set_registered_model_alias(name, "champion", mv.version)
            if champ is not None:
                self.client.set_registered_model_alias(name, "challenger", champ.version)
        else:
            self.client.set_registered_model_alias(name, "challenger", mv.version)
        return Registration(name=name, version=str(mv.version),
                            champion_version=str(mv.version if promoted else champ.version),  # type: ignore[union-attr]
                            promoted=promoted, previous_champion=str(champ.version) if champ is not None else None,
                            valid_auprc=valid_auprc)

    def runs(self, filter_string: str = "") -> pd.DataFrame:
        """Runs of the experiment as a frame (params, metrics and tags as columns)."""
        rows = []
        for r in self.client.search_runs([self.experiment_id], filter_string=filter_string, max_results=5000):
            row = {"run_id": r.info.run_id, "run_name": r.info.run_name, "start_time": r.info.start_time}
            row.update({f"metrics.{k}": v for k, v in r.data.metrics.items()})
            row.update({f"tags.{k}": v for k, v in r.data.tags.items()})
            row.update({f"params.{k}": v for k, v in r.data.params.items()})
            rows.append(row)
        return pd.DataFrame(rows)


    def load_dict(self, run_id: str, artifact_file: str) -> Any:
        """A JSON artifact of a run, parsed."""
        import json

        with tempfile.TemporaryDirectory() as tmp:
            path = self.client.download_artifacts(run_id, artifact_file, tmp)
            return json.loads(Path(path).read_text(encoding="utf-8"))

    def registration_of(self, training_id: str) -> Registration | None:
        """What the registry holds for a training id: its version and the current champion."""
        name = self.cfg.registered_model_name
        try:
            versions = self.client.search_model_versions(f"name='{name}'")
        except MlflowException:
            return None
        mine = [v for v in versions if v.tags.get("training_id") == training_id]
        if not mine:
            return None
        v = mine[0]
        try:
            champ = str(self.client.get_model_version_by_alias(name, "champion").version)
        except MlflowException:
            champ = ""
        return Registration(name=name, version=str(v.version), champion_version=champ,
                            promoted=champ == str(v.version), previous_champion=None,
                            valid_auprc=float(v.tags.get("valid_auprc", "nan")))


def load_pyfunc(model_uri: str, tracking_uri: str | None = None):  # type: ignore[no-untyped-def]
    """``mlflow.pyfunc.load_model`` of a model in a given store, without touching global state.

    ``models:/`` and ``runs:/`` URIs are resolved and downloaded through a client bound to
    ``tracking_uri`` (as tracking and registry URI), into a temporary folder that lives as long
    as the loaded model; the process-wide MLflow URIs are never set.
    """
    import tempfile

    from riskmodel.tracking.serving import fetch_model

    if not tracking_uri or not model_uri.startswith(("models:/", "runs:/")):
        return mlflow.pyfunc.load_model(model_uri)
    tmp = tempfile.TemporaryDirectory(prefix="riskmodel-pyfunc-")
    fetched = fetch_model(model_uri, tmp.name, tracking_uri=tracking_uri)
    model = mlflow.pyfunc.load_model(str(fetched.pyfunc_dir))
    model._riskmodel_tmpdir = tmp  # keep the files while the model is used
    return model


def scan_store(paths: list[str | Path], needles: list[str]) -> list[tuple[str, str]]:
    """Files under ``paths`` (the SQLite file, the artifact folder) whose bytes contain a needle.

    Returns ``(file, needle_index)`` pairs -- the needle itself is never echoed.
    """
    hits = []
    enc = [(i, n.encode("utf-8")) for i, n in enumerate(needles) if n]
    for root in paths:
        root = Path(root)
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for f in files:
            data = f.read_bytes()
            for i, n in enc:
                if n in data:
                    hits.append((str(f), f"needle #{i}"))
    return hits


def json_safe(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        return None if not math.isfinite(float(v)) else float(v)
    return v


__all__ = ["PYFUNC_CODE", "Registration", "Tracker", "TrackingConfig", "flatten", "json_safe", "load_pyfunc",
           "resolve_store", "scan_store"]
