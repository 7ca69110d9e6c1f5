"""Training job: data -> features -> snapshots -> every requested model -> evaluation -> MLflow.

Library entry: :func:`run_training` takes a typed :class:`TrainConfig` (no Hydra). The Hydra
edge is :func:`main` (``python -m riskmodel.train model=lgbm``, ``-m`` to sweep), which turns
the composed config into the dataclasses with :func:`config_from_dict` and calls
``run_training``. Hydra is imported only inside the edge functions.

Examples
--------
From a notebook, with the same config a job gets::

    from hydra import compose, initialize_config_dir
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["model=[lgbm,census]", "data.sim.students=500"])
    result = run_training(config_from_hydra(cfg))
    print(result.comparison)
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskmodel.datasets import (
    DatasetConfig,
    SplitConfig,
    TemporalSplit,
    assert_no_student_overlap,
    census_screen,
    crisis_labels,
    held_out_students,
    snapshot_dates,
    temporal_split,
)
from riskmodel.evaluate import EvalConfig, EvalResult, evaluate_scores
from riskmodel.models import CENSUS_COLUMNS, FAMILIES, make_model

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = PROJECT_ROOT / "conf"
ID_COLUMNS = ("student_id", "as_of")


# ---------------------------------------------------------------------------------------------
# typed configuration
@dataclass(frozen=True)
class DataConfig:
    """Where the source tables come from.

    source : ``"simulate"`` (the embedded campus, cached under ``cache_dir``) or ``"folder"``
        (a contract-v1 export in ``folder``).
    key_file : pseudonymisation key file; None = ``RISKMODEL_PSEUDONYM_KEY(_FILE)`` or, for a
        simulated campus, a random key kept in ``<project>/.riskmodel/pseudonym.key``.
    cache_features : keep the pseudonymised tables and features of a (folder, key, feature
        config) under ``cache_dir`` so that sweeps build them once (ids there are pseudonymised).
    sim : keyword arguments of ``riskmodel.simulate.SimConfig`` (students, days, start, seed...).
    rows_in_memory : a source table with more rows is validated in parts of about half as many
        rows into Parquet (:func:`~riskmodel.contracts.load_sources_to_parquet`), so memory
        stays bounded however large the campus.
    """

    source: str = "simulate"
    folder: str | None = None
    key_file: str | None = None
    cache_dir: str = ".riskmodel/cache"
    cache_features: bool = True
    sim: dict = field(default_factory=dict)
    rows_in_memory: int = 4_000_000

    def __post_init__(self) -> None:
        if self.rows_in_memory < 1:
            raise ValueError(f"data.rows_in_memory must be positive, got {self.rows_in_memory}")
        if self.source not in ("simulate", "folder"):
            raise ValueError(f"data.source must be 'simulate' or 'folder', got {self.source!r}")
        if self.source == "folder" and not self.folder:
            raise ValueError("data.source='folder' needs data.folder (a folder of contract-v1 tables)")


@dataclass(frozen=True)
class ModelSpec:
    """One model family and its hyperparameters (keyword arguments of its class)."""

    family: str
    params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"model family {self.family!r} unknown; expected one of {FAMILIES}")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs (what ``conf/train.yaml`` composes to)."""

    data: DataConfig = field(default_factory=DataConfig)
    features: dict = field(default_factory=dict)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    models: tuple[ModelSpec, ...] = (ModelSpec("lgbm"),)
    eval: EvalConfig = field(default_factory=EvalConfig)
    tracking: Any = None  # riskmodel.tracking.TrackingConfig (imported lazily: mlflow is heavy)
    seed: int = 0
    project_root: str = str(PROJECT_ROOT)
    report_path: str | None = None
    tags: dict = field(default_factory=dict)


def _build(cls: type, values: dict | None, where: str) -> Any:
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"config section {where!r}: unknown key(s) {unknown}; known: {sorted(known)}")
    for f in dataclasses.fields(cls):
        if f.name in values and isinstance(values[f.name], list) and "tuple" in str(f.type):
            values[f.name] = tuple(values[f.name])
    return cls(**values)


def config_from_dict(d: dict) -> TrainConfig:
    """Plain nested dict (``OmegaConf.to_container(cfg, resolve=True)``) -> :class:`TrainConfig`.

    ``d["model"]`` maps family name -> parameters (``model=[lgbm,census]`` in Hydra gives two
    entries); each entry may carry ``family`` and ``params`` or be the parameters themselves.
    Raises ``ValueError`` naming the section and the unknown key.
    """
    from riskmodel.tracking import TrackingConfig

    d = dict(d)
    d.pop("hydra", None)
    models = []
    for name, spec in (d.pop("model", None) or {}).items():
        spec = dict(spec or {})
        fam = spec.pop("family", name)
        params = spec.pop("params", None)
        if params is None:
            params = spec
        elif spec:
            raise ValueError(f"config section 'model.{name}': unknown key(s) {sorted(spec)}")
        models.append(ModelSpec(fam, dict(params)))
    if not models:
        raise ValueError("config: no model selected; use model=lgbm or model=[census,logreg,lgbm,sequence]")
    order = {f: i for i, f in enumerate(FAMILIES)}
    models.sort(key=lambda m: order[m.family])
    top = {f.name for f in dataclasses.fields(TrainConfig)} - {"models"}
    unknown = sorted(set(d) - top - {"experiment"})
    if unknown:
        raise ValueError(f"config: unknown top-level key(s) {unknown}; known: {sorted(top | {'model'})}")
    return TrainConfig(
        data=_build(DataConfig, d.get("data"), "data"),
        features=dict(d.get("features") or {}),
        dataset=_build(DatasetConfig, d.get("dataset"), "dataset"),
        split=_build(SplitConfig, d.get("split"), "split"),
        models=tuple(models),
        eval=_build(EvalConfig, d.get("eval"), "eval"),
        tracking=_build(TrackingConfig, d.get("tracking"), "tracking"),
        seed=int(d.get("seed", 0)),
        project_root=str(d.get("project_root") or PROJECT_ROOT),
        report_path=d.get("report_path"),
        tags=dict(d.get("tags") or {}),
    )


def config_from_hydra(cfg: Any) -> TrainConfig:
    """A composed Hydra/OmegaConf config -> :class:`TrainConfig` (the one Hydra-aware seam)."""
    from omegaconf import OmegaConf

    return config_from_dict(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# inputs
@dataclass
class TrainingInputs:
    """What the models are trained on, all pseudonymised.

    features : ``student_id``, ``as_of`` + one float column per window feature.
    daily : the daily behaviour table (``student_id``, ``date``, flags, channels) or None.
    oracle : ``student_id``, ``as_of``, ``oracle`` (simulated campus only) or None.
    """

    students: pd.DataFrame
    crisis_events: pd.DataFrame | None
    census: pd.DataFrame | None
    features: pd.DataFrame
    daily: pd.DataFrame | None
    feature_names: list[str]
    registry_version: str
    data_start: pd.Timestamp
    data_end: pd.Timestamp
    oracle: pd.DataFrame | None = None
    fingerprint: str = ""
    description: str = ""


def frame_fingerprint(frames: dict[str, pd.DataFrame | None]) -> str:
    """SHA-256 (first 16 hex) over the row hashes of each table, in name order."""
    h = hashlib.sha256()
    for name in sorted(frames):
        f = frames[name]
        h.update(name.encode())
        if f is None:
            h.update(b"<none>")
            continue
        h.update(str(list(f.columns)).encode())
        h.update(pd.util.hash_pandas_object(f, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def _simulated_folder(cfg: TrainConfig) -> Path:
    from riskmodel.simulate import SimConfig, simulate_to_folder

    try:
        from riskmodel.simulate.config import config_from_dict as sim_from_dict

        sim = sim_from_dict(dict(cfg.data.sim))
    except ImportError:
        sim = SimConfig(**cfg.data.sim)
    tag = hashlib.sha256(repr(sorted(cfg.data.sim.items())).encode()).hexdigest()[:12]
    folder = Path(cfg.project_root) / cfg.data.cache_dir / f"sim-{tag}"
    if not (folder / "_COMPLETE").exists():
        simulate_to_folder(sim, folder)
        (folder / "_COMPLETE").write_text("ok\n", encoding="utf-8")
    return folder


def _key_for(cfg: TrainConfig) -> Any:
    from riskmodel.contracts import KEY_ENV, KEY_FILE_ENV, generate_key_file, resolve_key

    if cfg.data.key_file:
        return resolve_key(key_file=cfg.data.key_file)
    if os.environ.get(KEY_ENV) or os.environ.get(KEY_FILE_ENV):
        return resolve_key()
    if cfg.data.source == "simulate":
        return resolve_key(key_file=generate_key_file(Path(cfg.project_root) / ".riskmodel" / "pseudonym.key"))
    return resolve_key()


_CACHED_TABLES = ("students", "crisis_events", "census", "features", "daily", "oracle")


def _inputs_cache_dir(cfg: TrainConfig, folder: Path, key: Any) -> Path:
    from riskmodel.features import REGISTRY_VERSION

    files = sorted((p.relative_to(folder).as_posix(), p.stat().st_size, int(p.stat().st_mtime))
                   for p in folder.rglob("*.parquet"))
    files += sorted((p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in folder.glob("*.csv"))
    from riskmodel.datasets import ROSTER_FIELDS

    dataset = {k: v for k, v in dataclasses.asdict(cfg.dataset).items() if k not in ROSTER_FIELDS}
    blob = repr((str(folder.resolve()), files, sorted(cfg.features.items()), dataset,
                 key.fingerprint, str(REGISTRY_VERSION)))
    return Path(cfg.project_root) / cfg.data.cache_dir / f"inputs-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def _save_inputs(inputs: TrainingInputs, where: Path) -> None:
    import json

    tmp = where.with_name(where.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    for name in _CACHED_TABLES:
        frame = getattr(inputs, name)
        if frame is not None:
            frame.to_parquet(tmp / f"{name}.parquet", index=False)
    meta = {"feature_names": inputs.feature_names, "registry_version": inputs.registry_version,
            "data_start": str(inputs.data_start), "data_end": str(inputs.data_end),
            "fingerprint": inputs.fingerprint, "description": inputs.description}
    (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    if where.exists():
        import shutil

        shutil.rmtree(where)
    tmp.rename(where)


def _load_inputs(where: Path) -> TrainingInputs:
    import json

    meta = json.loads((where / "meta.json").read_text(encoding="utf-8"))
    frames = {n: (pd.read_parquet(where / f"{n}.parquet") if (where / f"{n}.parquet").exists() else None)
              for n in _CACHED_TABLES}
    return TrainingInputs(students=frames["students"], crisis_events=frames["crisis_events"],  # type: ignore[arg-type]
                          census=frames["census"], features=frames["features"], daily=frames["daily"],  # type: ignore[arg-type]
                          feature_names=list(meta["feature_names"]), registry_version=meta["registry_version"],
                          data_start=pd.Timestamp(meta["data_start"]), data_end=pd.Timestamp(meta["data_end"]),
                          oracle=frames["oracle"], fingerprint=meta["fingerprint"],
                          description=meta["description"] + " (cached inputs)")


def prepare_inputs(cfg: TrainConfig) -> TrainingInputs:
    """Simulate or read the source tables, validate and pseudonymise them, build features.

    Uses ``riskmodel.features`` (``build_feature_store``, chunked) for every feature. With
    ``data.cache_features`` the result is kept under ``data.cache_dir`` (pseudonymised only)
    and reused while the source files, key, feature and dataset configs are unchanged.
    """
    folder = _simulated_folder(cfg) if cfg.data.source == "simulate" else Path(cfg.data.folder)  # type: ignore[arg-type]
    key = _key_for(cfg)
    if not cfg.data.cache_features:
        return _build_inputs(cfg, folder, key)
    where = _inputs_cache_dir(cfg, folder, key)
    if (where / "meta.json").exists():
        return _load_inputs(where)
    inputs = _build_inputs(cfg, folder, key)
    _save_inputs(inputs, where)
    return inputs


def _build_inputs(cfg: TrainConfig, folder: Path, key: Any) -> TrainingInputs:
    from riskmodel.contracts import load_sources_to_parquet
    from riskmodel.evaluate import read_oracle
    from riskmodel.features import (
        REGISTRY_VERSION,
        FeatureConfig,
        build_feature_store,
        read_daily,
        read_features,
    )
    from riskmodel.features.backends import connect

    fcfg = FeatureConfig(**cfg.features)
    # bounded memory all the way: event tables are validated part by part into Parquet, the
    # features are built chunk by chunk from there; only the results come back into pandas
    with tempfile.TemporaryDirectory(prefix="riskmodel_inputs_") as tmp:
        loaded = load_sources_to_parquet(folder, Path(tmp) / "sources", key,
                                         max_rows_in_memory=cfg.data.rows_in_memory)
        period = loaded.report.period
        if period is None:
            raise ValueError(f"{folder}: no data period (calendar table absent and no period given)")
        start = pd.Timestamp(period.start).normalize()
        end = pd.Timestamp(period.end).normalize() - pd.Timedelta(days=1)
        as_of = snapshot_dates(start, end, cfg.dataset)
        con = connect(fcfg)
        paths = build_feature_store(loaded.ibis_tables(con), as_of, tmp, fcfg, con=con)
        _close(con)  # the engine's buffers go before pandas holds a whole campus
        fingerprint = sources_fingerprint(loaded)
        feats = read_features(paths["features"], float_dtype="float32")
        daily = read_daily(paths["daily"], float_dtype="float32")
    names = [c for c in feats.columns if c not in ID_COLUMNS]
    oracle = read_oracle(folder / "truth", key)
    return TrainingInputs(
        students=loaded.tables["students"], crisis_events=loaded.tables.get("crisis_events"),
        census=loaded.tables.get("census"), features=feats, daily=daily, feature_names=names,
        registry_version=str(REGISTRY_VERSION), data_start=start, data_end=end, oracle=oracle,
        fingerprint=fingerprint,
        description=(f"{loaded.tables['students'].shape[0]} students, {start.date()}..{end.date()}"
                     f" ({(end - start).days + 1} days), source={cfg.data.source}"))


def _close(con: Any) -> None:
    try:
        con.disconnect()
    except Exception:  # noqa: BLE001 - a backend without disconnect keeps its memory until collected
        log.debug("feature backend %s could not be closed", getattr(con, "name", "?"))


def sources_fingerprint(loaded: Any) -> str:
    """SHA-256 (first 16 hex) of the validated sources: in-memory tables by their row hashes,
    stored (Parquet) tables by an order-free DuckDB hash of their rows and the row count."""
    import duckdb

    h = hashlib.sha256(frame_fingerprint(dict(loaded.tables)).encode())
    with duckdb.connect() as db:
        for name in sorted(loaded.stored):
            path = str(loaded.stored[name] / "*.parquet").replace("'", "''")
            cols = [r[0] for r in db.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()]
            quoted = ", ".join(f'"{c}"' for c in cols)
            n, total = db.execute(f"SELECT count(*), sum(hash({quoted})::HUGEINT)::VARCHAR "
                                  f"FROM read_parquet('{path}')").fetchone()  # type: ignore[misc]
            h.update(f"{name}:{cols}:{n}:{total}".encode())
    return h.hexdigest()[:16]


def inputs_from_tables(students: pd.DataFrame, crisis_events: pd.DataFrame | None, census: pd.DataFrame | None,
                       features: pd.DataFrame, daily: pd.DataFrame | None, *, key: Any = None,
                       oracle: pd.DataFrame | None = None, registry_version: str = "synthetic",
                       description: str = "") -> TrainingInputs:
    """Build :class:`TrainingInputs` from in-memory tables (a notebook, a test, another engine).

    With ``key`` (a :class:`~riskmodel.contracts.PseudonymKey` or secret) every ``student_id``
    is pseudonymised first, as the loader does; without it ids are taken as already
    pseudonymised. The data period runs from the first to the last daily date (or as-of).
    """
    if key is not None:
        from riskmodel.contracts import resolve_key

        pkey = resolve_key(key)
        raw = pd.Index(students["student_id"].astype(str).unique())
        mapping = pd.Series([pkey.pseudonymise(r) for r in raw], index=raw)

        def pseudo(f: pd.DataFrame | None) -> pd.DataFrame | None:
            if f is None:
                return None
            f = f.copy()
            f["student_id"] = f["student_id"].astype(str).map(mapping)
            if f["student_id"].isna().any():
                raise ValueError("a table refers to students absent from the roster (students.student_id)")
            return f

        students, crisis_events, census, features, daily, oracle = (
            pseudo(students), pseudo(crisis_events), pseudo(census), pseudo(features), pseudo(daily), pseudo(oracle))
    assert students is not None and features is not None
    when = pd.to_datetime(daily["date"]) if daily is not None else pd.to_datetime(features["as_of"])
    names = [c for c in features.columns if c not in ID_COLUMNS]
    return TrainingInputs(students=students, crisis_events=crisis_events, census=census, features=features,
                          daily=daily, feature_names=names, registry_version=registry_version,
                          data_start=when.min().normalize(), data_end=when.max().normalize(), oracle=oracle,
                          fingerprint=frame_fingerprint({"students": students, "crisis_events": crisis_events,
                                                         "census": census, "features": features}),
                          description=description or f"{len(students)} students, in-memory tables")


# ---------------------------------------------------------------------------------------------
# snapshots
@dataclass
class Snapshots:
    """Eligible (not excluded) snapshot rows with label, features, census screen and split part."""

    frame: pd.DataFrame
    split: TemporalSplit
    feature_names: list[str]
    events: pd.DataFrame  # positive crises (student_id, occurred_on) for event recall
    n_excluded: int
    groups: pd.DataFrame | None = None  # student_id + the subgroup columns of the roster
    students_per_part: dict[str, int] = field(default_factory=dict)

    def describe_split(self) -> dict[str, str]:
        """Each part's as-of weeks and number of students (train/valid and test never share one)."""
        return self.split.describe(self.students_per_part)


def make_snapshots(inputs: TrainingInputs, cfg: TrainConfig) -> Snapshots:
    """Join labels, features and the census screen on (student, as-of); split by time and student.

    Rows fall into train < valid < test by as-of week (embargoed by the horizon); a share
    ``cfg.split.test_students`` of students is held out, so that their rows can only be test
    rows and nobody else's can: no student straddles train and test (DESIGN). Rows that fall
    on the wrong side, or in an embargo, are dropped.
    """
    as_of = snapshot_dates(inputs.data_start, inputs.data_end, cfg.dataset)
    feat_dates = pd.DatetimeIndex(pd.to_datetime(inputs.features["as_of"]).unique())
    as_of = as_of[as_of.isin(feat_dates)]
    if len(as_of) == 0:
        raise ValueError("no as-of date has both features and a complete label window; the data period "
                         f"{inputs.data_start.date()}..{inputs.data_end.date()} is too short for warmup "
                         f"{cfg.dataset.warmup_days} d + horizon {cfg.dataset.horizon_days} d")
    labels = crisis_labels(inputs.students, inputs.crisis_events, as_of, cfg.dataset)
    n_excluded = int(labels["excluded"].sum())
    labels = labels[~labels["excluded"]].drop(columns="excluded")
    feats = inputs.features  # no copy: a two-year campus has millions of rows
    when = pd.to_datetime(feats["as_of"])
    if not when.equals(when.dt.normalize()) or feats["as_of"].dtype != "datetime64[ns]":
        feats = feats.assign(as_of=when.dt.normalize().astype("datetime64[ns]"))
    frame = labels.merge(feats, on=["student_id", "as_of"], how="inner")
    screen = census_screen(inputs.census, frame[["student_id", "as_of"]])
    frame[CENSUS_COLUMNS] = screen[CENSUS_COLUMNS].to_numpy()
    split = temporal_split(as_of, cfg.split, cfg.dataset.horizon_days)
    part = split.part_of(frame["as_of"]).to_numpy().astype(object)
    held = held_out_students(frame["student_id"], cfg.split.test_students, cfg.split.student_seed)
    if cfg.split.test_students > 0:
        part[(part == "test") & ~held] = ""
        part[np.isin(part, ["train", "valid"]) & held] = ""
    frame["part"] = part
    frame = frame[frame["part"] != ""].reset_index(drop=True)
    if cfg.split.test_students > 0:
        assert_no_student_overlap(frame["student_id"], frame["part"])
    counts = {str(k): int(v) for k, v in frame.groupby("part")["student_id"].nunique().items()}
    if inputs.oracle is not None:
        frame = frame.merge(inputs.oracle, on=["student_id", "as_of"], how="left")
    ev = inputs.crisis_events
    events = (pd.DataFrame(columns=["student_id", "occurred_on"]) if ev is None else
              ev.loc[ev["level"] >= cfg.dataset.min_level, ["student_id", "occurred_on"]]
              .assign(occurred_on=lambda e: pd.to_datetime(e["occurred_on"]).dt.normalize()))
    gcols = [c for c in cfg.eval.group_columns if c in inputs.students.columns]
    return Snapshots(frame=frame, split=split, feature_names=list(inputs.feature_names), events=events,
                     n_excluded=n_excluded, groups=inputs.students[["student_id", *gcols]],
                     students_per_part=counts)


# ---------------------------------------------------------------------------------------------
# fitting
@dataclass
class FittedModel:
    family: str
    model: Any
    valid_auprc: float
    fit_seconds: float
    test_scored: pd.DataFrame  # student_id, as_of, label, score[, oracle]
    evaluation: EvalResult
    input_example: pd.DataFrame
    output_example: pd.DataFrame
    notes: str = ""


def _xy(frame: pd.DataFrame, cols: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    return frame[cols].astype("float64"), frame["label"].to_numpy()


def _synthetic_example(columns: list[str], seed: int) -> pd.DataFrame:
    """Two made-up rows (never real data) for the MLflow signature and input example."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(np.round(rng.normal(size=(2, len(columns))), 3), columns=columns)


def fit_one(spec: ModelSpec, snaps: Snapshots, cfg: TrainConfig, store: Any = None) -> FittedModel:
    """Fit one family on train, stop and calibrate on valid, score test, evaluate test."""
    f = snaps.frame
    tr, va, te = (f[f["part"] == p] for p in ("train", "valid", "test"))
    for name, part in (("train", tr), ("valid", va)):
        if int(part["label"].sum()) == 0:
            raise ValueError(f"model {spec.family}: split part {name!r} holds no positive snapshot "
                             f"({len(part):,} rows, {snaps.students_per_part.get(name, 0):,} students); nothing to "
                             "learn or calibrate from. Use more students or days, or hold out fewer students "
                             "(split.test_students)")
    params = dict(spec.params)
    model = make_model(spec.family, params)
    t0 = time.perf_counter()
    notes = ""
    if spec.family == "sequence":
        from riskmodel.datasets import SequenceBatchDataset
        from riskmodel.models.sequence import long_frame_from_arrays

        if store is None:
            raise ValueError("the sequence model needs the daily behaviour table (inputs.daily)")

        def ds(part: pd.DataFrame) -> SequenceBatchDataset:
            return SequenceBatchDataset(store, part["student_id"], part["as_of"], part["label"].to_numpy())

        dtr, dva, dte = ds(tr), ds(va), ds(te)
        model.fit(dtr, None, dva, None)
        valid_raw, test_p = model.decision_function(dva), model.predict_risk(dte)
        notes = model.encoder_choice_
        rng = np.random.default_rng(cfg.seed)
        x = rng.normal(size=(1, store.pad, len(store.channels))).round(3).astype(np.float32)
        inp = long_frame_from_arrays(x, np.ones((1, store.pad), dtype=np.float32), list(store.channels))
        out = pd.DataFrame({"snapshot": [0], "risk": [0.01]})
    else:
        cols = CENSUS_COLUMNS if spec.family == "census" else snaps.feature_names
        model.fit(*_xy(tr, cols), *_xy(va, cols))
        valid_raw = model.decision_function(va[cols].astype("float64"))
        test_p = model.predict_risk(te[cols].astype("float64"))
        inp = _synthetic_example(list(model.feature_names_in_), cfg.seed)
        out = pd.DataFrame({"risk": model.predict_risk(inp)})
        if spec.family == "lgbm":
            notes = f"best iteration {model.best_iteration_}"
    fit_s = time.perf_counter() - t0
    from sklearn.metrics import average_precision_score

    yv = va["label"].to_numpy()
    vap = float(average_precision_score(yv, valid_raw)) if 0 < yv.sum() < len(yv) else float("nan")
    keep = ["student_id", "as_of", "label"] + (["oracle"] if "oracle" in te.columns else [])
    scored = te[keep].assign(score=test_p).reset_index(drop=True)
    ev = evaluate_scores(scored, cfg.eval, events=snaps.events, groups=snaps.groups)
    return FittedModel(spec.family, model, vap, fit_s, scored, ev, inp, out, notes)


# ---------------------------------------------------------------------------------------------
# the job
@dataclass
class TrainResult:
    """What a training run produced."""

    training_id: str
    comparison: pd.DataFrame
    fitted: dict[str, FittedModel]
    run_ids: dict[str, str]
    registration: Any
    split: dict[str, str]
    data_description: str
    tracking_uri: str | None
    oracle: EvalResult | None = None


COMPARISON_METRICS = ("auroc", "auprc", "precision_at_capacity", "recall_at_capacity", "event_recall",
                      "median_lead_days", "brier", "ece", "top_predicted", "top_observed", "base_rate",
                      "ppv_lift", "n_rows", "n_positive", "n_events")


def _comparison(fitted: dict[str, FittedModel], oracle_eval: EvalResult | None, run_ids: dict[str, str]
                ) -> pd.DataFrame:
    rows = []
    for fam, fm in fitted.items():
        row = {"model": fam, "run_id": run_ids.get(fam, ""), "valid_auprc": fm.valid_auprc,
               "fit_seconds": fm.fit_seconds}
        row.update({m: fm.evaluation.overall.loc[m, "model"] for m in COMPARISON_METRICS
                    if m in fm.evaluation.overall.index})
        row["notes"] = fm.notes
        rows.append(row)
    if oracle_eval is not None:
        row = {"model": "oracle", "run_id": run_ids.get("oracle", ""), "valid_auprc": np.nan, "fit_seconds": np.nan}
        row.update({m: oracle_eval.overall.loc[m, "model"] for m in COMPARISON_METRICS
                    if m in oracle_eval.overall.index})
        row["notes"] = "knows the hidden state (truth/); an upper reference, not a model"
        rows.append(row)
    return pd.DataFrame(rows)


def run_training(cfg: TrainConfig, inputs: TrainingInputs | None = None, tracker: Any = None) -> TrainResult:
    """The whole job: inputs -> snapshots -> fit each model -> evaluate -> log -> register.

    ``inputs`` defaults to :func:`prepare_inputs` (simulate or read, then features).
    ``tracker`` defaults to a :class:`riskmodel.tracking.Tracker` on ``cfg.tracking`` (set
    ``tracking.enabled=false`` to skip MLflow). Returns the comparison table (one row per
    model, plus the oracle when ``truth/`` exists) with the MLflow run ids.
    """
    training_id = uuid.uuid4().hex[:12]
    own_inputs = inputs is None
    if inputs is None:
        inputs = prepare_inputs(cfg)
    snaps = make_snapshots(inputs, cfg)
    store = None
    if any(m.family == "sequence" for m in cfg.models):
        from riskmodel.datasets import build_sequence_store

        if inputs.daily is None:
            raise ValueError("model 'sequence' needs the daily behaviour table; none was built")
        store = build_sequence_store(inputs.daily, cfg.dataset.sequence_days,
                                     students=pd.Index(inputs.students["student_id"].astype(str)))
        if own_inputs:  # the store holds the daily table now; free the frame (GBs on a large campus)
            inputs.daily = None
    tracking_on = cfg.tracking is not None and getattr(cfg.tracking, "enabled", True)
    if tracker is None and tracking_on:
        from riskmodel.tracking import Tracker

        tracker = Tracker(cfg.tracking, cfg.project_root)
    common_params = {"training_id": training_id, "data": dataclasses.asdict(cfg.data), "features": cfg.features,
                     "dataset": dataclasses.asdict(cfg.dataset), "split": dataclasses.asdict(cfg.split),
                     "eval": dataclasses.asdict(cfg.eval), "seed": cfg.seed}
    common_tags = {"training_id": training_id, "data_fingerprint": inputs.fingerprint,
                   "feature_registry_version": inputs.registry_version, "data": inputs.description,
                   **{k: str(v) for k, v in cfg.tags.items()}}
    split_desc = snaps.describe_split()
    fitted: dict[str, FittedModel] = {}
    run_ids: dict[str, str] = {}
    model_uris: dict[str, str] = {}
    for spec in cfg.models:
        log.info("fitting %s", spec.family)
        fm = fit_one(spec, snaps, cfg, store)
        fitted[spec.family] = fm
        if tracker is not None:
            run_ids[spec.family], model_uris[spec.family] = _log_run(tracker, fm, spec, cfg, inputs, snaps,
                                                                     common_params, common_tags, split_desc)
    oracle_eval = None
    if "oracle" in snaps.frame.columns and snaps.frame["oracle"].notna().any():
        te = snaps.frame[snaps.frame["part"] == "test"]
        te = te[te["oracle"].notna()]
        scored = te[["student_id", "as_of", "label"]].assign(score=te["oracle"].to_numpy()).reset_index(drop=True)
        oracle_eval = evaluate_scores(scored, cfg.eval, events=snaps.events, groups=snaps.groups)
        if tracker is not None:
            rid = tracker.start_run("oracle", {**common_tags, "model_family": "oracle"})
            tracker.log_params(rid, common_params)
            tracker.log_metrics(rid, oracle_eval.flat_metrics("test"))
            tracker.end_run(rid)
            run_ids["oracle"] = rid
    registration = None
    if tracker is not None and cfg.tracking.register and fitted:
        ok = {k: v for k, v in fitted.items() if not np.isnan(v.valid_auprc)}
        if ok:
            best = max(ok, key=lambda k: ok[k].valid_auprc)
            registration = tracker.register(run_ids[best], model_uris[best], ok[best].valid_auprc,
                                            tags={"model_family": best, "training_id": training_id})
            for fam, rid in run_ids.items():
                tracker.set_tags(rid, {"selected_for_registry": str(fam == best)})
            log_model_card(tracker, best, fitted, registration.version, run_ids[best], inputs.description,
                           cfg.eval.capacity)
    comparison = _comparison(fitted, oracle_eval, run_ids)
    result = TrainResult(training_id=training_id, comparison=comparison, fitted=fitted, run_ids=run_ids,
                         registration=registration, split=split_desc, data_description=inputs.description,
                         tracking_uri=getattr(tracker, "tracking_uri", None), oracle=oracle_eval)
    if cfg.report_path:
        write_comparison(result, Path(cfg.report_path) if Path(cfg.report_path).is_absolute()
                         else Path(cfg.project_root) / cfg.report_path)
    return result


MODEL_LABELS = {"census": "census screen", "logreg": "logistic regression", "lgbm": "LightGBM",
                "sequence": "sequence model"}


def log_model_card(tracker: Any, best: str, fitted: dict[str, FittedModel], version: str, run_id: str,
                   data_description: str, capacity: float) -> None:
    """Log the registered model's card (Markdown and HTML, zh and en) beside it in MLflow.

    The card holds the evaluation with the oracle and the other families as baselines, the
    results by group, calibration, the features it uses by family and the intended use.
    """
    from riskmodel.features import FEATURES
    from riskmodel.reports.model_card import card_info_from_evaluation, render_model_card

    used = {str(c) for c in getattr(fitted[best].model, "feature_names_in_", [])}
    features = [f for f in FEATURES if not used or f.name in used]
    baselines = {MODEL_LABELS.get(f, f): fm.evaluation for f, fm in fitted.items() if f != best}
    info = card_info_from_evaluation("crisis-warning", str(version), best, fitted[best].evaluation,
                                     baselines=baselines, features=features, run_id=run_id,
                                     data_description=data_description, capacity=capacity)
    for lang in ("zh", "en"):
        markdown, html = render_model_card(info, lang)
        tracker.log_text(run_id, markdown, f"model_card/model_card_{lang}.md")
        tracker.log_text(run_id, html, f"model_card/model_card_{lang}.html")


def _log_run(tracker: Any, fm: FittedModel, spec: ModelSpec, cfg: TrainConfig, inputs: TrainingInputs,
             snaps: Snapshots, common_params: dict, common_tags: dict, split_desc: dict) -> tuple[str, str]:
    from riskmodel.evaluate.plots import close_all, evaluation_figures

    rid = tracker.start_run(spec.family, {**common_tags, "model_family": spec.family})
    failed = True
    try:
        tracker.log_params(rid, {**common_params, "model": {"family": spec.family, **spec.params}})
        tracker.log_metrics(rid, {"valid_auprc": fm.valid_auprc, "fit_seconds": fm.fit_seconds,
                                  **fm.evaluation.flat_metrics("test")})
        tracker.log_dict(rid, {"resolved_config": _jsonable(common_params), "model": spec.family,
                               "params": spec.params, "split": split_desc,
                               "n_excluded_recent_crisis": snaps.n_excluded}, "config/resolved_config.json")
        names = list(fm.model.feature_names_in_)
        tracker.log_dict(rid, {"registry_version": inputs.registry_version, "n_features": len(names),
                               "features": names}, "features/feature_list.json")
        tracker.log_frame(rid, fm.evaluation.overall.reset_index(names="metric"), "evaluation/overall.csv")
        tracker.log_frame(rid, fm.evaluation.groups, "evaluation/by_group.csv")
        tracker.log_frame(rid, fm.evaluation.group_gaps, "evaluation/group_gaps.csv")
        for name, curve in fm.evaluation.curves.items():
            tracker.log_frame(rid, curve, f"evaluation/{name}_curve.csv")
        figs = evaluation_figures(fm.test_scored, cfg.eval, spec.family)
        for fname, fig in figs.items():
            tracker.log_figure(rid, fig, f"plots/{fname}")
        close_all(figs)
        if fm.notes:
            tracker.set_tags(rid, {"notes": fm.notes})
        uri = tracker.log_model(rid, fm.model, fm.input_example, fm.output_example)
        failed = False
    finally:
        tracker.end_run(rid, failed=failed)
    return rid, uri


def _jsonable(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _jsonable(v) for k, v in d.items()}
    if isinstance(d, list | tuple):
        return [_jsonable(v) for v in d]
    return d if isinstance(d, str | int | float | bool) or d is None else str(d)


# ---------------------------------------------------------------------------------------------
# the results table
TABLE_COLUMNS = [("model", "model"), ("valid_auprc", "valid AUPRC"), ("auroc", "AUROC"), ("auprc", "AUPRC"),
                 ("precision_at_capacity", "precision @cap"), ("recall_at_capacity", "recall @cap"),
                 ("event_recall", "event recall @cap"), ("median_lead_days", "median lead (d)"),
                 ("brier", "Brier"), ("ece", "ECE"), ("top_predicted", "top-5% predicted"),
                 ("top_observed", "top-5% observed"), ("fit_seconds", "fit (s)"), ("run_id", "MLflow run")]


def comparison_markdown(result: TrainResult, title: str = "Crisis early warning: model comparison") -> str:
    """The comparison table as Markdown, with the data, split and targets stated."""
    df = result.comparison
    lines = [f"# {title}", "", f"Data: {result.data_description}.  ", f"Training id: `{result.training_id}`; "
             f"MLflow store: `{result.tracking_uri}`.  ",
             f"Regenerate this table from the store: `riskmodel train --report PATH --training-id "
             f"{result.training_id}`.  ",
             "Split (as-of weeks, embargoed by the horizon; test students held out from train and valid): "
             + "; ".join(f"{k} {v}" for k, v in result.split.items()) + ".", ""]
    if not df.empty:
        base = df["base_rate"].iloc[0] if "base_rate" in df else float("nan")
        lines.append(f"Test rows {int(df['n_rows'].iloc[0]):,}, positives {int(df['n_positive'].iloc[0]):,} "
                     f"(base rate {base:.4f}); capacity and top-share per `eval` config.")
        lines.append("")
    cols = [(k, h) for k, h in TABLE_COLUMNS if k in df.columns]
    lines.append("| " + " | ".join(h for _, h in cols) + " |")
    lines.append("|" + "---|" * len(cols))
    for _, r in df.iterrows():
        cells = []
        for k, _ in cols:
            v = r[k]
            if isinstance(v, float | np.floating):
                cells.append("-" if np.isnan(v) else (f"{v:.1f}" if k in ("fit_seconds", "top_predicted",
                                                                           "top_observed", "median_lead_days")
                                                      else f"{v:.4f}"))
            else:
                cells.append(f"`{v}`" if k == "run_id" and v else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *targets_markdown(df)]
    notes = [f"- {r['model']}: {r['notes']}" for _, r in df.iterrows() if r.get("notes")]
    if notes:
        lines += ["", "Notes:", *notes]
    if result.registration is not None:
        reg = result.registration
        lines += ["", f"Registry: `{reg.name}` version {reg.version} "
                  f"({'promoted to champion' if reg.promoted else 'kept as challenger'}; champion is version "
                  f"{reg.champion_version})."]
    return "\n".join(lines) + "\n"


def targets_markdown(df: pd.DataFrame) -> list[str]:
    """The issue's targets, checked against the table (met / missed / not measurable)."""
    by = df.set_index("model")
    out = ["Targets (issue 5):", ""]

    def get(m: str, k: str) -> float:
        return float(by.loc[m, k]) if m in by.index and k in by.columns else float("nan")

    def line(ok: float | bool, text: str) -> str:
        state = "not measurable" if isinstance(ok, float) else ("met" if ok else "missed")
        return f"- {text}: **{state}**"

    lg, orc, cen, sq = (get("lgbm", "auprc"), get("oracle", "auprc"), get("census", "event_recall"),
                        get("sequence", "auprc"))
    r = lg / orc if orc == orc and lg == lg else float("nan")
    out.append(line(float("nan") if r != r else bool(r >= 0.75), f"LightGBM test AUPRC >= 0.75 x oracle (ratio {r:.2f})"))
    er = get("lgbm", "event_recall")
    out.append(line(float("nan") if (er != er or cen != cen) else bool(er > 0 and er >= 2 * cen),
                    f"LightGBM event recall >= 2 x census screen ({er:.3f} vs {cen:.3f})"))
    lead = get("lgbm", "median_lead_days")
    out.append(line(float("nan") if lead != lead else bool(lead >= 14), f"median lead time >= 14 days ({lead:.1f})"))
    tp, to = get("lgbm", "top_predicted"), get("lgbm", "top_observed")
    rel = abs(tp - to) / to if to else float("nan")
    out.append(line(float("nan") if rel != rel else bool(rel <= 0.25),
                    f"top-5% predicted vs observed crises within 25% ({tp:.1f} vs {to:.0f})"))
    sr = sq / lg if sq == sq and lg == lg else float("nan")
    out.append(line(float("nan") if sr != sr else bool(sr >= 0.9),
                    f"sequence model AUPRC within 10% of LightGBM (ratio {sr:.2f})"))
    return out


def result_from_mlflow(tracking: Any, project_root: str | Path = PROJECT_ROOT,
                       training_id: str | None = None) -> TrainResult:
    """Rebuild a training run's comparison from the MLflow store (no model is loaded).

    ``training_id`` None = the most recent training run in the experiment. Raises
    ``LookupError`` when the store holds no such run.
    """
    from riskmodel.tracking import Tracker

    tracker = Tracker(tracking, project_root)
    runs = tracker.runs()
    if runs.empty or "tags.training_id" not in runs:
        raise LookupError(f"no training runs in experiment {tracking.experiment_name!r} at {tracker.tracking_uri}")
    if training_id is None:
        training_id = str(runs.sort_values("start_time")["tags.training_id"].dropna().iloc[-1])
    mine = runs[runs["tags.training_id"] == training_id]
    if mine.empty:
        raise LookupError(f"no runs with training id {training_id!r} at {tracker.tracking_uri}")
    order = {f: i for i, f in enumerate((*FAMILIES, "oracle"))}
    mine = mine.assign(_o=mine["tags.model_family"].map(order)).sort_values("_o")
    rows = []
    for _, r in mine.iterrows():
        row = {"model": r["tags.model_family"], "run_id": r["run_id"],
               "valid_auprc": r.get("metrics.valid_auprc", np.nan), "fit_seconds": r.get("metrics.fit_seconds", np.nan)}
        row.update({m: r.get(f"metrics.test_{m}", np.nan) for m in COMPARISON_METRICS})
        note = r.get("tags.notes")
        row["notes"] = note if isinstance(note, str) else (
            "knows the hidden state (truth/); an upper reference, not a model" if row["model"] == "oracle" else "")
        rows.append(row)
    model_run = mine[mine["tags.model_family"] != "oracle"]["run_id"]
    split = tracker.load_dict(model_run.iloc[0], "config/resolved_config.json").get("split", {}) if len(model_run) else {}
    first = mine.iloc[0]
    return TrainResult(training_id=training_id, comparison=pd.DataFrame(rows), fitted={},
                       run_ids=dict(zip(mine["tags.model_family"], mine["run_id"], strict=True)),
                       registration=tracker.registration_of(training_id), split=split,
                       data_description=str(first.get("tags.data", "")), tracking_uri=tracker.tracking_uri)


def write_comparison(result: TrainResult, path: Path) -> Path:
    """Write :func:`comparison_markdown` to ``path`` (creating the folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(comparison_markdown(result), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# the Hydra edge
def main(cfg: Any) -> float:
    """Hydra job body: config -> dataclasses -> :func:`run_training`; prints the table.

    Returns the best validation AUPRC (the objective an Optuna sweep maximises).
    """
    tcfg = config_from_hydra(cfg)
    result = run_training(tcfg)
    print(comparison_markdown(result))
    vals = [fm.valid_auprc for fm in result.fitted.values() if not np.isnan(fm.valid_auprc)]
    return float(max(vals)) if vals else 0.0


def report_from_store(overrides: list[str], training_id: str | None, out: Path) -> TrainResult:
    """Compose the config (for the tracking store), rebuild a run's table, write it to ``out``."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = config_from_hydra(compose("train", overrides=list(overrides)))
    result = result_from_mlflow(cfg.tracking, cfg.project_root, training_id)
    write_comparison(result, out)
    return result


def cli_main(argv: list[str] | None = None) -> None:
    """``python -m riskmodel.train [overrides] [-m]``: the ``@hydra.main`` entry."""
    import sys

    import hydra

    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    hydra.main(config_path=str(CONF_DIR), config_name="train", version_base="1.3")(main)()


if __name__ == "__main__":  # pragma: no cover
    cli_main()
