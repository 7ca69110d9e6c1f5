"""The importable scorer: one featurisation path, scoped, audited, explained.

Examples
--------
::

    from riskmodel.scoring import Scorer
    from riskmodel.scoping import AccessConfig, CallerEntry

    access = AccessConfig(callers={"center": CallerEntry(role="counselling_center")},
                          audit_log="audit/riskmodel_audit.jsonl")
    scorer = Scorer.from_registry("crisis-warning", alias="champion", access=access)
    flags = scorer.score("export/2024-11-04", "2024-11-04", scope="college=C01", caller="center")
    one = scorer.explain(flags.student_id[0], "2024-11-04", data="export/2024-11-04", caller="center")
    one.radar("radar.png")
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import shap

from riskmodel.contracts import LoadedSources
from riskmodel.explain import (
    Reason,
    explain_tabular,
    family_contributions,
    integrated_gradients,
    reasons_for,
    risk_radar,
    used_features,
    waterfall,
)
from riskmodel.scoping import (
    AccessConfig,
    Caller,
    Scope,
    ScopeError,
    allowed_students,
    audit,
    authenticate,
    check_role,
)
from riskmodel.scoring.config import ScoringConfig, ScoringError, check_capacity
from riskmodel.scoring.core import (
    as_of_date,
    bands,
    check_as_of,
    data_period,
    enrolled,
    known_students,
    observed_ids,
    usual_values,
)

log = logging.getLogger(__name__)
Featurizer = Callable[[Any, list[pd.Timestamp], Any], pd.DataFrame]
OUTPUT_COLUMNS = ["student_id", "college", "grade", "class_id", "probability", "rank", "band", "known",
                  "reasons_zh", "reasons_en", "reason_features", "model_name", "model_version", "as_of"]
RECENT_DAYS = 14
#: Tables read from a folder when the features are prebuilt (the event tables are not needed).
LIGHT_TABLES = ("students", "crisis_events", "calendar")


# ----------------------------------------------------------------------------- inputs


@dataclass
class PartialSources(LoadedSources):
    """A folder read for scoring prebuilt features: only :data:`LIGHT_TABLES` are loaded and
    validated; ``exported`` names every table file present (the features were built from them).
    Whether a student was observed then comes from the features' coverage columns."""

    exported: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScoringInputs:
    """Everything scoring needs at one as-of date, built once by :meth:`Scorer.prepare`.

    ``current``: one row per enrolled student (``student_id`` + model inputs) at ``as_of``;
    ``usual``: the student's own usual feature values (index ``student_id``); ``peer``: the
    campus median of each feature among scorable students; ``scorable``: enrolled and
    observed; ``known``: recent recorded crisis; ``sequence``: (values, mask) arrays aligned
    with ``current`` for the sequence model.
    """

    as_of: pd.Timestamp
    students: pd.DataFrame
    current: pd.DataFrame
    usual: pd.DataFrame
    peer: pd.Series
    scorable: pd.Index
    known: pd.Index
    period: tuple[pd.Timestamp, pd.Timestamp]
    sources_present: tuple[str, ...]
    sequence: tuple[np.ndarray, np.ndarray] | None = None


@dataclass(frozen=True)
class StudentExplanation:
    """One student's flag explained: probability, Explanation (1 row), reasons, families."""

    student_id: str
    as_of: pd.Timestamp
    probability: float
    explanation: shap.Explanation
    reasons: list[Reason]
    families: dict[str, float]
    weekly: np.ndarray | None = None
    registry: Any = field(default=None, repr=False)

    def waterfall(self, path: str | Path | None = None, lang: str = "auto", max_display: int = 10):  # type: ignore[no-untyped-def]
        """The waterfall figure (saved to ``path`` as PNG/SVG when given)."""
        return waterfall(self.explanation, 0, registry=self.registry, max_display=max_display, lang=lang,
                         path=path)

    def radar(self, path: str | Path | None = None, lang: str = "auto",
              peer_values: Mapping[str, float] | None = None):  # type: ignore[no-untyped-def]
        """The risk radar over the families (saved to ``path`` as PNG/SVG when given)."""
        return risk_radar(self.families, peer_values=peer_values, lang=lang, path=path)


def _channel_registry() -> dict[str, Any]:
    """Reason templates for the daily channels (the sequence model explains channels)."""
    from riskmodel.features.registry import DAILY_CHANNELS

    out = {}
    for c in DAILY_CHANNELS:
        out[c.name] = {
            "name": c.name, "family": c.family, "unit": c.unit, "concerning": c.concerning, "source": c.source,
            "description_zh": c.label_zh or c.name, "description_en": c.label_en or c.name,
            "reason_zh": f"近{RECENT_DAYS}天{c.label_zh}平均为{{value}}（本人此前通常为{{usual}}，同伴为{{peer}}）",
            "reason_en": f"{(c.label_en or c.name)[:1].upper() + (c.label_en or c.name)[1:]} averaged {{value}} "
                         f"over the last {RECENT_DAYS} days (usually {{usual}}; peers {{peer}})",
        }
    return out


def default_featurizer(sources: Any, dates: list[pd.Timestamp], cfg: Any) -> pd.DataFrame:
    """Window features at the as-of ``dates`` with :func:`riskmodel.features.build_features`
    (the same call training makes)."""
    from riskmodel.features import build_features

    return build_features(sources, pd.DatetimeIndex(dates), cfg)


# ----------------------------------------------------------------------------- the scorer


class Scorer:
    """Scores students for one model; owns featurisation so training and scoring share a path.

    Parameters
    ----------
    model : a fitted riskmodel crisis model (``predict_risk``, ``feature_names_in_``).
    name, version : what the output and the audit log call the model.
    feature_config : the :class:`riskmodel.features.FeatureConfig` the model was trained
        with (default config when None).
    config : :class:`ScoringConfig` (capacity, bands, known window, reasons).
    access : the caller registry and audit-log path (:class:`riskmodel.scoping.AccessConfig`);
        required for :meth:`score` and :meth:`explain`.
    featurizer : ``f(sources, as_of_dates, feature_config) -> frame`` (default: the feature
        engine); tests may pass their own.
    """

    def __init__(self, model: Any, *, name: str = "in-memory", version: str = "0",
                 feature_config: Any = None, config: ScoringConfig | None = None,
                 access: AccessConfig | None = None, featurizer: Featurizer | None = None):
        if not hasattr(model, "predict_risk") or not hasattr(model, "feature_names_in_"):
            raise ScoringError(f"Scorer needs a fitted riskmodel crisis model, got {type(model).__name__}")
        self._model = model
        self._name = str(name)
        self._version = str(version)
        self._fcfg = feature_config
        self._config = config or ScoringConfig()
        self._access = access
        self._featurizer = featurizer or default_featurizer
        self._used = used_features(model)

    # -- read-only views -------------------------------------------------------------
    model = property(lambda self: self._model)
    name = property(lambda self: self._name)
    version = property(lambda self: self._version)
    config = property(lambda self: self._config)
    family = property(lambda self: getattr(self._model, "family", "unknown"))

    @property
    def feature_config(self) -> Any:
        if self._fcfg is None:
            from riskmodel.features import FeatureConfig

            return FeatureConfig()
        return self._fcfg

    @property
    def registry(self) -> dict[str, Any]:
        """The specs that turn this model's inputs into sentences (features or channels)."""
        if self.family == "sequence":
            return _channel_registry()
        from riskmodel.explain import registry_index
        from riskmodel.features.registry import registry_for

        return registry_index(registry_for(self.feature_config))

    # -- loading ---------------------------------------------------------------------
    @classmethod
    def from_uri(cls, uri: str, *, tracking_uri: str | None = None, **kwargs: Any) -> Scorer:
        """Load from ``models:/name@alias``, ``models:/name/version``, ``runs:/id/model`` or a
        local folder (a logged pyfunc or a ``model.save`` folder).

        The feature config the model was trained with is read from the run's logged
        configuration unless ``feature_config`` is passed. ``tracking_uri`` defaults to
        ``MLFLOW_TRACKING_URI``, else the project's local store (where training registers).
        """
        from riskmodel.models import load_model
        from riskmodel.tracking.serving import ModelNotFound, fetch_model

        with tempfile.TemporaryDirectory(prefix="riskmodel-model-") as tmp:
            try:
                fetched = fetch_model(uri, tmp, tracking_uri=tracking_uri or _default_tracking_uri())
                model = load_model(fetched.model_dir)
            except ModelNotFound as exc:
                raise ScoringError(str(exc)) from None
            except (OSError, KeyError, ValueError) as exc:
                raise ScoringError(f"model {uri!r} could not be loaded: {type(exc).__name__}: {exc}") from None
        if "feature_config" not in kwargs:
            rc = fetched.run_config
            feats = (rc.get("resolved_config") or rc).get("features")
            if isinstance(feats, dict):
                from riskmodel.features import FeatureConfig

                known = {f.name for f in dataclasses.fields(FeatureConfig)}
                fc: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in feats.items() if k in known}
                kwargs["feature_config"] = FeatureConfig(**fc)
        kwargs.setdefault("name", fetched.name)
        kwargs.setdefault("version", fetched.version)
        return cls(model, **kwargs)

    @classmethod
    def from_registry(cls, name: str = "crisis-warning", alias: str | None = "champion", *,
                      version: str | int | None = None, tracking_uri: str | None = None,
                      **kwargs: Any) -> Scorer:
        """Load a registered model by alias (default ``champion``) or version."""
        uri = f"models:/{name}/{version}" if version is not None else f"models:/{name}@{alias}"
        return cls.from_uri(uri, tracking_uri=tracking_uri, **kwargs)

    @classmethod
    def from_run(cls, run_id: str, artifact_path: str = "model", *, tracking_uri: str | None = None,
                 **kwargs: Any) -> Scorer:
        """Load the model logged by a training run."""
        return cls.from_uri(f"runs:/{run_id}/{artifact_path}", tracking_uri=tracking_uri, **kwargs)

    # -- featurisation -----------------------------------------------------------------
    def _load(self, data: Any, key: Any, light: bool = False) -> Any:
        from riskmodel.contracts import (
            LoadedSources,
            find_source_files,
            load_sources,
            read_table_file,
            validate_tables,
        )

        if isinstance(data, LoadedSources):
            return data
        if isinstance(data, str | Path):
            folder = Path(data)
            if not folder.is_dir():
                raise ScoringError(f"data folder {str(folder)!r} does not exist or is not a folder")
            files = find_source_files(folder)
            if light and self.family != "sequence" and "calendar" in files and "students" in files:
                raw = {t: read_table_file(files[t]) for t in LIGHT_TABLES if t in files}
                part = validate_tables(raw, key)
                return PartialSources(tables=part.tables, quarantine=part.quarantine, report=part.report,
                                      exported=tuple(sorted(files)))
            return load_sources(folder, key)
        raise ScoringError(f"data must be a folder of contract-v1 tables, LoadedSources or ScoringInputs, "
                           f"got {type(data).__name__}")

    def _check_sources(self, present: set[str]) -> None:
        from riskmodel.features.registry import source_available

        if self.family == "census":
            if "census" not in present:
                raise ScoringError("the census-screen model needs the source table 'census', which the data "
                                   "lacks")
            return
        reg = self.registry
        missing: dict[str, list[str]] = {}
        for nm in self._model.feature_names_in_:
            spec = reg.get(str(nm))
            src = spec.get("source") if isinstance(spec, dict) else getattr(spec, "source", None)
            if src is not None and not source_available(str(src), present):
                missing.setdefault(str(src), []).append(str(nm))
        if missing:
            parts = [f"{src} (for {len(v)} input(s), e.g. {v[0]})" for src, v in sorted(missing.items())]
            raise ScoringError(f"model {self._name} v{self._version} needs source table(s) the data lacks: "
                               + "; ".join(parts) + ". Add the table(s) to the export, or score with a model "
                               "trained without them")

    def prepare(self, data: Any, as_of: Any, *, key: Any = None, features: pd.DataFrame | None = None,
                daily: pd.DataFrame | None = None) -> ScoringInputs:
        """Load (if a folder), check and featurise the data at ``as_of`` and the usual-value
        lookbacks. ``features``: window features already built (``student_id``, ``as_of`` and
        feature columns) for as-of and the lookback dates, to skip the feature engine;
        ``daily``: the daily behaviour table already built (sequence model), likewise.

        Raises :class:`ScoringError` for an as-of outside the data or a missing source.
        """
        from riskmodel.datasets import census_screen
        from riskmodel.models import CENSUS_COLUMNS

        t = as_of_date(as_of)
        sources = self._load(data, key, light=features is not None)
        tables = sources.tables
        start, end = data_period(tables, sources.report.period)
        check_as_of(t, start, end)
        present = set(tables) | set(getattr(sources, "exported", ()))
        self._check_sources(present)
        students = tables["students"].copy()
        students["student_id"] = students["student_id"].astype(str)
        enrolled_ids = students.loc[enrolled(students, t, self._config.enrollment_month).to_numpy(), "student_id"]
        cfg = self._config
        seq = None
        if self.family == "sequence":
            current, usual, peer, seq, obs = self._prepare_sequence(sources, t, enrolled_ids, daily)
        else:
            dates = [t] + [t - pd.Timedelta(days=k) for k in cfg.usual_lookback_days
                           if t - pd.Timedelta(days=k) > start]
            if features is None:
                feats = self._featurizer(sources, dates, self.feature_config)
            else:
                feats = features.loc[pd.to_datetime(features["as_of"]).isin(dates)]
            feats = feats.copy()
            feats["student_id"] = feats["student_id"].astype(str)
            feats["as_of"] = pd.to_datetime(feats["as_of"]).dt.normalize()
            names = [str(c) for c in self._model.feature_names_in_]
            if self.family == "census":
                screen = census_screen(tables.get("census"), feats[["student_id", "as_of"]])
                feats[CENSUS_COLUMNS] = screen[CENSUS_COLUMNS].to_numpy()
            absent = [c for c in names if c not in feats.columns]
            if absent:
                raise ScoringError(f"the features built from this data lack {len(absent)} input(s) of model "
                                   f"{self._name} v{self._version} (e.g. {absent[:3]}); the feature config or "
                                   "registry differs from training, or a source is missing")
            cur = feats.loc[feats["as_of"] == t]
            if cur.empty:
                raise ScoringError(f"no features at as-of {t.date()}; build them for that date")
            cur = cur.loc[cur["student_id"].isin(enrolled_ids)].reset_index(drop=True)
            obs = (_observed_from_features(feats, cur["student_id"]) if isinstance(sources, PartialSources)
                   else self._observed(tables, t, cur["student_id"]))
            current = cur[["student_id", *names]].copy()
            current[names] = current[names].astype("float64")
            reg = self.registry
            windows = {n: getattr(reg.get(n), "window_days", None) for n in names}
            usual = usual_values(feats.loc[feats["as_of"] != t, ["student_id", "as_of", *names]], t, names,
                                 windows, cfg.usual_lookback_days).reindex(current["student_id"])
            peer = current.loc[obs, names].median(numeric_only=True)
        scorable = pd.Index(current.loc[np.asarray(obs, dtype=bool), "student_id"])
        known = known_students(tables.get("crisis_events"), t, cfg.known_recent_days)
        return ScoringInputs(as_of=t, students=students, current=current, usual=usual, peer=peer,
                             scorable=scorable, known=known, period=(start, end),
                             sources_present=tuple(sorted(present)), sequence=seq)

    def _observed(self, tables: Mapping[str, pd.DataFrame], t: pd.Timestamp, ids: pd.Series) -> np.ndarray:
        if not self._config.require_observed:
            return np.ones(len(ids), dtype=bool)
        seen = observed_ids(tables, t)
        return np.ones(len(ids), dtype=bool) if seen is None else ids.astype(str).isin(seen).to_numpy()

    def _prepare_sequence(self, sources: Any, t: pd.Timestamp, ids: pd.Series,  # type: ignore[no-untyped-def]
                          daily: pd.DataFrame | None = None):
        from riskmodel.datasets import build_sequence_store
        from riskmodel.features import build_daily

        days = int(getattr(self._model, "sequence_days_", 84))
        if daily is None:
            daily = cast(pd.DataFrame, build_daily(sources, self.feature_config))
        daily = daily.loc[(pd.to_datetime(daily["date"]) < t)
                          & (pd.to_datetime(daily["date"]) >= t - pd.Timedelta(days=days))]
        store = build_sequence_store(daily, days, students=pd.Index(ids.astype(str)))
        if list(store.channels) != [str(c) for c in self._model.feature_names_in_]:
            raise ScoringError(f"the daily table built from this data has channels that differ from those model "
                               f"{self._name} v{self._version} was trained on ({len(store.channels)} vs "
                               f"{len(self._model.feature_names_in_)}); use the training feature config")
        sid = pd.Series(store.student_index.astype(str))
        s, e = store.positions(sid, pd.Series([t] * len(sid)))
        x, m = store.batch(s, e)
        m = m.astype(np.float32)
        current = pd.DataFrame({"student_id": sid})
        recent = _masked_mean(x[:, -RECENT_DAYS:], m[:, -RECENT_DAYS:])
        before = _masked_mean(x[:, :-RECENT_DAYS], m[:, :-RECENT_DAYS])
        names = list(store.channels)
        obs = self._observed(sources.tables, t, sid)
        usual = pd.DataFrame(before, columns=names, index=pd.Index(sid, name="student_id"))
        peer = pd.Series(np.nanmedian(np.where(obs[:, None], recent, np.nan), axis=0) if obs.any()
                         else np.full(len(names), np.nan), index=names)
        return current, usual, peer, (x, m), obs

    # -- scope and audit ---------------------------------------------------------------
    def _caller(self, caller: Caller | str | None) -> tuple[AccessConfig, Caller]:
        if self._access is None:
            raise ScoringError("this Scorer has no access configuration; pass access=AccessConfig(...) (the "
                               "caller registry and audit-log path) when creating it")
        if caller is None:
            raise ScoringError("name the caller (caller='...' as registered in the access configuration)")
        if isinstance(caller, Caller):
            # re-derive role and reach from the registry, never from the object's say-so
            return self._access, authenticate(caller.name, caller.role, self._access)
        return self._access, authenticate(str(caller), None, self._access)

    def _allowed(self, students: pd.DataFrame, caller: Caller, scope: Scope, key: Any) -> pd.Index:
        pkey = None
        if caller.role == "counselor":
            from riskmodel.contracts import PseudonymKeyError, resolve_key

            try:
                pkey = resolve_key(key)
            except PseudonymKeyError as exc:
                raise ScopeError(f"a counselor's scope needs the pseudonymisation key: {exc}") from None
        return allowed_students(students, caller, scope, self._access, pkey)

    def _resolve(self, data: Any, as_of: Any, key: Any, who: Caller, scope: Scope, what: str,
                 light: bool = False) -> tuple[Any, pd.DataFrame, pd.Index, pd.Timestamp]:
        """Load (unless prepared), check as-of, and find the caller's students -- before any
        featurisation, so a refused or impossible request costs nothing."""
        if isinstance(data, ScoringInputs):
            if as_of is not None and as_of_date(as_of) != data.as_of:
                raise ScoringError(f"the prepared inputs are for as-of {data.as_of.date()}, not "
                                   f"{as_of_date(as_of).date()}")
            sources, students, t = data, data.students, data.as_of
        else:
            t = as_of_date(as_of)
            sources = self._load(data, key, light=light)
            check_as_of(t, *data_period(sources.tables, sources.report.period))
            students = sources["students"].assign(student_id=lambda f: f["student_id"].astype(str))
        try:
            allowed = self._allowed(students, who, scope, key)
        except ScopeError as exc:
            self._audit(who, scope, t, what, 0, f"denied: {exc}")
            raise
        return sources, students, allowed, t

    def _audit(self, caller: Caller | None, scope: Scope, as_of: Any, what: str, rows: int, outcome: str = "ok",
               name: str | None = None) -> None:
        if self._access is None:
            return
        who = caller or Caller(name=str(name or "unknown"), role="unknown")
        audit(self._access.audit_log, caller=who, scope=scope, as_of=str(pd.Timestamp(as_of).date())
              if _is_date(as_of) else str(as_of), what=what, rows=rows, model=self._name, version=self._version,
              outcome=outcome)

    # -- scoring -------------------------------------------------------------------------
    def _predict(self, inputs: ScoringInputs, rows: np.ndarray) -> np.ndarray:
        if self.family == "sequence":
            x, m = inputs.sequence  # type: ignore[misc]
            return self._model.predict_risk((x[rows], m[rows]))
        names = [str(c) for c in self._model.feature_names_in_]
        return self._model.predict_risk(inputs.current.iloc[rows][names])

    def _explain_rows(self, inputs: ScoringInputs, rows: np.ndarray, top_k: int
                      ) -> tuple[shap.Explanation, list[list[Reason]], np.ndarray | None]:
        ids = inputs.current["student_id"].iloc[rows].tolist()
        weekly = None
        if self.family == "sequence":
            x, m = inputs.sequence  # type: ignore[misc]
            se = integrated_gradients(self._model, x[rows], m[rows], instance_names=ids, recent_days=RECENT_DAYS)
            expl, weekly = se.explanation, se.weekly
        elif self.family == "census":
            raise ScoringError("the census-screen model has no per-feature explanation beyond its two inputs "
                               "(screen level and key item)")
        else:
            names = [str(c) for c in self._model.feature_names_in_]
            expl = explain_tabular(self._model, inputs.current.iloc[rows][names], instance_names=ids)
        usual = inputs.usual.reindex(pd.Index(ids, name="student_id")).reset_index(drop=True)
        reasons = reasons_for(expl, self._used, self.registry, usual=usual, peer=inputs.peer, top_k=top_k,
                              weekly=weekly)
        return expl, reasons, weekly

    def score(self, data: Any, as_of: Any, scope: Scope | str | None = None, capacity: float | None = None,
              *, caller: Caller | str | None = None, key: Any = None,
              features: pd.DataFrame | None = None) -> pd.DataFrame:
        """Score the students in ``scope`` that ``caller`` may see, at ``as_of``.

        ``data``: a folder of contract-v1 tables, :class:`~riskmodel.contracts.LoadedSources`
        or :class:`ScoringInputs` from :meth:`prepare`. Only students enrolled and observed
        before as-of are scored; those with a recorded crisis in the last
        ``known_recent_days`` are band ``known`` and not ranked. Returns one row per student
        (columns :data:`OUTPUT_COLUMNS`), flags first; an empty frame with a warning when the
        scope names nobody. Every call (also a denied one) appends an audit line.
        """
        scope_obj = _scope(scope)
        cap = check_capacity(self._config.capacity if capacity is None else capacity)
        access, who = None, None
        try:
            access, who = self._caller(caller)
            check_role(who, "score")
        except ScopeError as exc:
            self._audit(who, scope_obj, as_of, "score", 0, f"denied: {exc}",
                        name=caller.name if isinstance(caller, Caller) else caller)
            raise
        sources, _, allowed, t = self._resolve(data, as_of, key, who, scope_obj, "score",
                                               light=features is not None)
        inputs = sources if isinstance(sources, ScoringInputs) else self.prepare(sources, t, key=key,
                                                                                 features=features)
        cur = inputs.current
        in_scope = cur["student_id"].isin(allowed) & cur["student_id"].isin(inputs.scorable)
        rows = np.flatnonzero(in_scope.to_numpy())
        if len(rows) == 0:
            msg = f"scope {scope_obj} holds no student enrolled and observed before {inputs.as_of.date()}"
            warnings.warn(msg, UserWarning, stacklevel=2)
            log.warning(msg)
            self._audit(who, scope_obj, inputs.as_of, "score", 0, "ok: empty scope")
            return _empty_output()
        out = self._score_rows(inputs, rows, cap)
        self._audit(who, scope_obj, inputs.as_of, "score", len(out))
        return out

    def _score_rows(self, inputs: ScoringInputs, rows: np.ndarray, cap: float) -> pd.DataFrame:
        cfg = self._config
        cur = inputs.current.iloc[rows]
        prob = self._predict(inputs, rows)
        known = cur["student_id"].isin(inputs.known).to_numpy()
        ranked = np.flatnonzero(~known)
        rank = np.full(len(rows), np.nan)
        band = np.full(len(rows), "known", dtype=object)
        if len(ranked):
            r, b = bands(prob[ranked], cap, cfg.watch_multiple)
            rank[ranked], band[ranked] = r, b
        zh = np.full(len(rows), "", dtype=object)
        en = np.full(len(rows), "", dtype=object)
        feats = np.full(len(rows), "", dtype=object)
        if cfg.top_reasons > 0 and self.family != "census":
            pick = ranked if cfg.reasons_for == "ranked" else np.flatnonzero(np.isin(band, ("flag", "watch")))
            if len(pick):
                _, reasons, _ = self._explain_rows(inputs, rows[pick], cfg.top_reasons)
                zh[pick] = ["；".join(r.text_zh for r in rs) for rs in reasons]
                en[pick] = ["; ".join(r.text_en for r in rs) for rs in reasons]
                feats[pick] = [",".join(r.feature for r in rs) for rs in reasons]
        st = inputs.students.set_index("student_id").reindex(cur["student_id"])
        out = pd.DataFrame({
            "student_id": cur["student_id"].to_numpy(),
            "college": st["college"].to_numpy() if "college" in st else None,
            "grade": pd.array(st["enrollment_year"].to_numpy() if "enrollment_year" in st else None, dtype="Int64"),
            "class_id": st["class_id"].to_numpy() if "class_id" in st else None,
            "probability": prob.astype(np.float64),
            "rank": pd.array(rank, dtype="Int64"),
            "band": band, "known": known,
            "reasons_zh": zh, "reasons_en": en, "reason_features": feats,
            "model_name": self._name, "model_version": self._version,
            "as_of": inputs.as_of.date().isoformat(),
        })
        order = np.lexsort((out["rank"].fillna(10**9).to_numpy(), out["band"].map(
            {"flag": 0, "watch": 1, "none": 2, "known": 3}).to_numpy()))
        return out.iloc[order].reset_index(drop=True)

    def explain(self, student: str, as_of: Any, *, data: Any, caller: Caller | str | None = None,
                scope: Scope | str | None = None, key: Any = None, top_k: int | None = None,
                features: pd.DataFrame | None = None) -> StudentExplanation:
        """Explanation and reasons for one (pseudonymous) student at ``as_of``.

        The student must be in the caller's scope and scored at as-of; otherwise a
        :class:`ScoringError` that says so without telling whether the student exists.
        """
        scope_obj = _scope(scope)
        who = None
        try:
            _, who = self._caller(caller)
            check_role(who, "explain")
        except ScopeError as exc:
            self._audit(who, scope_obj, as_of, "explain", 0, f"denied: {exc}",
                        name=caller.name if isinstance(caller, Caller) else caller)
            raise
        sources, _, allowed, t = self._resolve(data, as_of, key, who, scope_obj, "explain",
                                               light=features is not None)
        if str(student) not in allowed:
            self._audit(who, scope_obj, t, "explain", 0, "not found in scope")
            raise ScoringError(f"no scored student with that id in your scope ({scope_obj}) at {t.date()}")
        inputs = sources if isinstance(sources, ScoringInputs) else self.prepare(sources, t, key=key,
                                                                                 features=features)
        sid = str(student)
        cur = inputs.current
        hit = np.flatnonzero(((cur["student_id"] == sid) & cur["student_id"].isin(allowed)
                              & cur["student_id"].isin(inputs.scorable)).to_numpy())
        if len(hit) == 0:
            self._audit(who, scope_obj, inputs.as_of, "explain", 0, "not found in scope")
            raise ScoringError(f"no scored student with that id in your scope ({scope_obj}) at "
                               f"{inputs.as_of.date()}")
        expl, reasons, weekly = self._explain_rows(inputs, hit[:1], top_k or max(self._config.top_reasons, 1))
        prob = float(self._predict(inputs, hit[:1])[0])
        fams = family_contributions(expl, self.registry).iloc[0].to_dict()
        self._audit(who, scope_obj, inputs.as_of, "explain", 1)
        return StudentExplanation(student_id=sid, as_of=inputs.as_of, probability=prob, explanation=expl,
                                  reasons=reasons[0], families={k: float(v) for k, v in fams.items()},
                                  weekly=None if weekly is None else weekly[0], registry=self.registry)


def _default_tracking_uri() -> str:
    import os

    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    from riskmodel.tracking import TrackingConfig, resolve_store

    return resolve_store(TrackingConfig(), Path(__file__).resolve().parents[3])[0]


def _observed_from_features(feats: pd.DataFrame, ids: pd.Series) -> np.ndarray:
    """Students with any ``*__observed_days__*`` coverage > 0 at as-of or a lookback date."""
    cols = [c for c in feats.columns if "__observed_days__" in c]
    if not cols:
        return np.ones(len(ids), dtype=bool)
    seen = feats.loc[(feats[cols].fillna(0).to_numpy(np.float64) > 0).any(axis=1), "student_id"]
    return ids.astype(str).isin(set(seen.astype(str))).to_numpy()


def _masked_mean(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    xs = np.where(m[:, :, None] > 0, x.astype(np.float64), np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(xs, axis=1)


def _scope(scope: Scope | str | None) -> Scope:
    if isinstance(scope, Scope):
        return scope
    try:
        return Scope.parse(scope)
    except ValueError as exc:
        raise ScoringError(str(exc)) from None


def _is_date(v: Any) -> bool:
    try:
        pd.Timestamp(v)
        return True
    except (ValueError, TypeError):
        return False


def _empty_output() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64" if c == "probability" else "Int64" if c in ("rank", "grade")
                                      else bool if c == "known" else object) for c in OUTPUT_COLUMNS})
