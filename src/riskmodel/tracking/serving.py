"""Fetching a registered crisis model and serving it: the scoring side of MLflow.

Kept in :mod:`riskmodel.tracking` so that every ``mlflow`` import stays in one package.
:func:`fetch_model` resolves ``models:/name@alias``, ``models:/name/version``, ``runs:/...``
or a local folder, downloads the logged pyfunc into a folder the caller owns, and returns
where the saved model files (``model.json`` ...) are plus the registry facts (name, version,
run id) and the run's logged configuration. Failures raise :class:`ModelNotFound` with a
message that names what was asked for and what exists -- never a library stack trace.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient


class ModelNotFound(LookupError):
    """A model name, alias, version, run or path that does not resolve."""


@dataclass(frozen=True)
class FetchedModel:
    """A downloaded pyfunc: where its saved model lives and what the registry says about it."""

    uri: str
    name: str
    version: str
    run_id: str | None
    pyfunc_dir: Path
    model_dir: Path
    run_config: dict[str, Any] = field(default_factory=dict)


def _client(tracking_uri: str | None) -> MlflowClient:
    uri = tracking_uri or mlflow.get_tracking_uri()
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _parse_models_uri(uri: str) -> tuple[str, str | None, str | None]:
    rest = uri[len("models:/"):].strip("/")
    if "@" in rest:
        name, alias = rest.split("@", 1)
        return name, alias, None
    if "/" in rest:
        name, version = rest.split("/", 1)
        return name, None, version
    return rest, None, None


def _resolve_registered(client: MlflowClient, name: str, alias: str | None, version: str | None):  # type: ignore[no-untyped-def]
    try:
        rm = client.get_registered_model(name)
    except MlflowException:
        names = sorted(m.name for m in client.search_registered_models(max_results=50))
        raise ModelNotFound(f"no registered model named {name!r} in the tracking store; registered models: "
                            f"{', '.join(names) or 'none'} (train and register one with `python -m "
                            "riskmodel.train`)") from None
    aliases = dict(getattr(rm, "aliases", {}) or {})
    try:
        if alias is not None:
            return client.get_model_version_by_alias(name, alias)
        if version is not None:
            return client.get_model_version(name, version)
        latest = client.search_model_versions(f"name='{name}'", order_by=["version_number DESC"], max_results=1)
        if not latest:
            raise MlflowException("no versions")
        return latest[0]
    except MlflowException:
        what = f"alias {alias!r}" if alias is not None else f"version {version!r}" if version else "any version"
        raise ModelNotFound(f"registered model {name!r} has no {what}; its aliases: "
                            f"{', '.join(f'{a}->v{v}' for a, v in sorted(aliases.items())) or 'none'}") from None


def _find_model_dir(root: Path) -> Path:
    hits = sorted(p.parent for p in root.rglob("model.json"))
    if not hits:
        raise ModelNotFound(f"the model files (model.json) were not found under the downloaded model {root.name!r}; "
                            "was it logged with riskmodel.tracking.Tracker.log_model?")
    return hits[0]


def _run_config(client: MlflowClient, run_id: str | None, dst: Path) -> dict[str, Any]:
    if not run_id:
        return {}
    try:
        path = client.download_artifacts(run_id, "config/resolved_config.json", str(dst))
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (MlflowException, OSError, ValueError):
        return {}


def fetch_model(uri: str, dst: str | Path, tracking_uri: str | None = None) -> FetchedModel:
    """Download the pyfunc at ``uri`` into ``dst`` (a folder the caller owns and removes).

    ``uri``: ``models:/<name>@<alias>``, ``models:/<name>/<version>``, ``runs:/<run_id>/<path>``
    or a local folder (a saved pyfunc, or a folder saved with ``model.save``).
    """
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    local = Path(uri)
    if "://" not in uri and not uri.startswith(("models:", "runs:")):
        if not local.exists():
            raise ModelNotFound(f"model path {uri!r} does not exist")
        return FetchedModel(uri=uri, name=local.name, version="local", run_id=None, pyfunc_dir=local,
                            model_dir=_find_model_dir(local))
    client = _client(tracking_uri)
    name, version, run_id = "", "", None
    if uri.startswith("models:/"):
        name, alias, ver = _parse_models_uri(uri)
        mv = _resolve_registered(client, name, alias, ver)
        version, run_id = str(mv.version), mv.run_id
        try:
            source = client.get_model_version_download_uri(name, version)
        except MlflowException:
            source = mv.source
    elif uri.startswith("runs:/"):
        run_id = uri[len("runs:/"):].split("/", 1)[0]
        try:
            client.get_run(run_id)
        except MlflowException:
            raise ModelNotFound(f"no run with id {run_id!r} in the tracking store") from None
        name, version = "run", run_id[:8]
        art = uri[len("runs:/"):].split("/", 1)[1] if uri.count("/") > 1 else ""
        try:
            path = Path(client.download_artifacts(run_id, art, str(dst / "pyfunc")))
        except (MlflowException, OSError) as exc:
            raise ModelNotFound(f"run {run_id!r} has no model at {art!r}: {str(exc).splitlines()[0][:200]}") from None
        return FetchedModel(uri=uri, name=name, version=version, run_id=run_id, pyfunc_dir=path,
                            model_dir=_find_model_dir(path), run_config=_run_config(client, run_id, dst / "run"))
    else:
        source = uri
        name, version = "uri", "unknown"
    store = tracking_uri or mlflow.get_tracking_uri()
    try:  # explicit store: never touch mlflow's process-wide tracking URI
        path = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(dst / "pyfunc"),
                                                        tracking_uri=store, registry_uri=store))
    except MlflowException as exc:
        raise ModelNotFound(f"could not download model {uri!r}: {str(exc).splitlines()[0][:200]}") from None
    return FetchedModel(uri=uri, name=name, version=version, run_id=run_id, pyfunc_dir=path,
                        model_dir=_find_model_dir(path), run_config=_run_config(client, run_id, dst / "run"))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serve_command(model_uri: str, port: int, host: str = "127.0.0.1", workers: int = 1) -> list[str]:
    """The ``mlflow models serve`` command line for a model (local env, no conda/virtualenv)."""
    mlflow_bin = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    return [mlflow_bin, "models", "serve", "-m", model_uri, "--env-manager", "local", "-h", host,
            "-p", str(port), "-w", str(workers)]


def start_server(model_uri: str, port: int, tracking_uri: str | None = None, host: str = "127.0.0.1",
                 log_path: str | Path | None = None) -> subprocess.Popen:
    """Start ``mlflow models serve`` in its own process group; the caller must stop it
    (:func:`stop_server`)."""
    env = dict(os.environ)
    # mlflow execs `uvicorn` by name: make this interpreter's scripts folder come first
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
        env["MLFLOW_REGISTRY_URI"] = tracking_uri
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(serve_command(model_uri, port, host), env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop_server(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Terminate the server's process group (it forks workers), then kill if it lingers."""
    import signal

    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


__all__ = ["FetchedModel", "ModelNotFound", "fetch_model", "free_port", "serve_command", "start_server",
           "stop_server"]
