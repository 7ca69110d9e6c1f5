"""Scorer on a simulated campus: bands, known students, planted reasons, scope, audit, bad input."""

from __future__ import annotations

import json
import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskmodel.contracts import find_source_files, read_table_file, resolve_key, validate_tables
from riskmodel.features import FeatureConfig
from riskmodel.models import LGBMCrisisModel
from riskmodel.scoping import (
    AccessConfig,
    CallerEntry,
    ScopeError,
    read_audit_log,
    verify_audit_log,
)
from riskmodel.scoring import (
    OUTPUT_COLUMNS,
    Scorer,
    ScoringConfig,
    ScoringError,
    ScoringInputs,
    bands,
    reidentify_scores,
    write_table_atomic,
)
from riskmodel.scoring.scorer import default_featurizer

AS_OF = pd.Timestamp("2024-01-22")
FCFG = FeatureConfig(windows=(14,))
PLANT_DAYS = 12


def _plant(raw: dict[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Plant: one student stops returning to the dorm; one had a recorded crisis 20 days ago;
    one enrolled student has no events at all."""
    raw = {k: v.copy() for k, v in raw.items()}
    st_ = raw["students"]
    door = raw["door_events"]
    in_dorm = st_.loc[st_["dorm_building"].notna(), "student_id"].astype(str)
    counts = door.groupby(door["student_id"].astype(str)).size()
    regular = [s for s in in_dorm if counts.get(s, 0) > 100]
    planted, known = regular[0], regular[1]
    lo = AS_OF - pd.Timedelta(days=PLANT_DAYS)
    sid = door["student_id"].astype(str)
    ts = pd.to_datetime(door["ts"])
    building = door.loc[sid == planted, "building"].iloc[0]
    door = door.loc[~((sid == planted) & (ts >= lo - pd.Timedelta(hours=12)) & (ts < AS_OF))]
    outs = pd.DataFrame({"student_id": planted, "building": building, "direction": "out",
                         "ts": [lo + pd.Timedelta(days=d, hours=19) for d in range(-1, PLANT_DAYS)]})
    raw["door_events"] = pd.concat([door, outs.astype({"student_id": door["student_id"].dtype})],
                                   ignore_index=True)
    ce = raw["crisis_events"]
    row = {"student_id": known, "occurred_on": (AS_OF - pd.Timedelta(days=20)).date(), "level": 1,
           "category": "other"}
    raw["crisis_events"] = pd.concat([ce, pd.DataFrame([row]).astype({c: ce[c].dtype for c in row
                                                                      if c != "occurred_on"})],
                                     ignore_index=True)
    silent = st_.iloc[[0]].copy()
    silent["student_id"] = "2099999999"
    raw["students"] = pd.concat([st_, silent.astype(st_.dtypes.to_dict())], ignore_index=True)
    return raw, {"planted": planted, "known": known, "silent": "2099999999"}


@pytest.fixture(scope="module")
def campus(sim_campus_dir, sim_key):
    raw = {t: read_table_file(p) for t, p in find_source_files(sim_campus_dir).items()}
    raw, ids = _plant(raw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sources = validate_tables(raw, sim_key)
        dates = list(pd.date_range("2023-10-02", AS_OF, freq="7D"))
        feats = default_featurizer(sources, dates, FCFG)
    key = resolve_key(sim_key)
    pseudo = {k: key.pseudonymise(v) for k, v in ids.items()}
    return {"raw": raw, "sources": sources, "features": feats, "ids": pseudo, "raw_ids": ids}


@pytest.fixture(scope="module")
def model(campus):
    """A small LightGBM taught that nights away and late-night network use raise risk."""
    f = campus["features"]
    f = f[f["as_of"] < AS_OF - pd.Timedelta(days=7)].reset_index(drop=True)
    names = [c for c in f.columns if c not in ("student_id", "as_of")]
    rng = np.random.default_rng(0)
    away = f["door__away_night_sum__14d"].fillna(0).to_numpy()
    late = f["network__late_min_mean__14d"].fillna(0).to_numpy()
    z = -4.0 + 0.45 * away + 0.02 * late
    y = (rng.random(len(f)) < 1 / (1 + np.exp(-z))).astype(int)
    cut = f["as_of"] < pd.Timestamp("2023-12-18")
    m = LGBMCrisisModel(n_estimators=80, min_child_samples=20, num_threads=1, early_stopping_rounds=80,
                        calibration="platt")
    return m.fit(f.loc[cut, names], y[cut], f.loc[~cut, names], y[~cut])


def _access(tmp_path, campus, extra: dict | None = None) -> AccessConfig:
    return AccessConfig(callers={"center": CallerEntry(role="counselling_center"),
                                 "aid": CallerEntry(role="aid_office"), **(extra or {})},
                        audit_log=str(tmp_path / "audit.jsonl"))


@pytest.fixture(scope="module")
def inputs(campus, model):
    return Scorer(model, feature_config=FCFG).prepare(campus["sources"], AS_OF, features=campus["features"])


def _scorer(model, access, **cfg) -> Scorer:
    return Scorer(model, name="crisis-warning", version="7", feature_config=FCFG, access=access,
                  config=ScoringConfig(**cfg))


# ----------------------------------------------------------------------------- scoring


def test_score_columns_probabilities_bands(tmp_path, campus, model, inputs):
    sc = _scorer(model, _access(tmp_path, campus), capacity=0.02, watch_multiple=2.0)
    out = sc.score(inputs, AS_OF, caller="center")
    assert list(out.columns) == OUTPUT_COLUMNS
    assert out["student_id"].is_unique
    # calibrated probabilities are the model's on the same feature rows
    names = list(model.feature_names_in_)
    rows = inputs.current.set_index("student_id").loc[out["student_id"], names]
    np.testing.assert_allclose(out["probability"], model.predict_risk(rows), rtol=1e-12)
    ranked = out[out["band"] != "known"]
    n = len(ranked)
    assert sorted(ranked["rank"].astype(int)) == list(range(1, n + 1))
    assert (ranked.sort_values("rank")["probability"].diff().dropna() <= 0).all()
    n_flag = math.ceil(0.02 * n)
    assert (ranked["band"] == "flag").sum() == n_flag
    assert (ranked["band"] == "watch").sum() == 2 * n_flag
    assert set(out.loc[out["band"] == "flag", "rank"]) == set(range(1, n_flag + 1))
    assert (out["model_name"] == "crisis-warning").all() and (out["model_version"] == "7").all()
    assert (out["as_of"] == "2024-01-22").all()
    assert (out["grade"].notna()).all() and out["college"].notna().all()
    # every ranked student got reasons in both languages or none in both
    assert ((ranked["reasons_zh"] == "") == (ranked["reasons_en"] == "")).all()


def test_known_and_unobserved_students(tmp_path, campus, model, inputs):
    out = _scorer(model, _access(tmp_path, campus)).score(inputs, AS_OF, caller="center")
    ids = campus["ids"]
    row = out.set_index("student_id").loc[ids["known"]]
    assert row["band"] == "known" and bool(row["known"]) and pd.isna(row["rank"])
    assert ids["silent"] not in set(out["student_id"])  # enrolled but never observed
    assert ids["silent"] in set(inputs.students["student_id"])


def test_planted_night_absence_is_flagged_with_that_reason(tmp_path, campus, model, inputs):
    sc = _scorer(model, _access(tmp_path, campus), capacity=0.03)
    out = sc.score(inputs, AS_OF, caller="center").set_index("student_id")
    p = campus["ids"]["planted"]
    assert out.loc[p, "band"] == "flag"
    assert out.loc[p, "reason_features"].split(",")[0] == "door__away_night_sum__14d"
    # the planted nights plus any the simulated student already spent away just before them
    zh = re.match(r"近14天有(\d+)晚未归寝（本人此前通常为[\d.]+晚）", out.loc[p, "reasons_zh"])
    en = re.match(r"Did not return to the dormitory on (\d+) of the last 14 nights \(usually [\d.]+\)",
                  out.loc[p, "reasons_en"])
    assert zh and en and int(zh.group(1)) == int(en.group(1)) >= PLANT_DAYS
    one = sc.explain(p, AS_OF, data=inputs, caller="center")
    assert one.reasons[0].feature == "door__away_night_sum__14d"
    assert one.reasons[0].family == "sleep_routine" and one.reasons[0].usual < PLANT_DAYS
    e = one.explanation
    assert e.values.shape == (1, len(model.feature_names_in_))
    X = inputs.current.set_index("student_id").loc[[p], list(model.feature_names_in_)]
    np.testing.assert_allclose(e.values.sum(1) + e.base_values, model.decision_function(X), atol=1e-9)
    assert one.probability == pytest.approx(out.loc[p, "probability"])
    assert one.families["sleep_routine"] == max(one.families.values())
    path = one.radar(tmp_path / "radar.png")
    assert path is not None and (tmp_path / "radar.png").read_bytes()[:4] == b"\x89PNG"
    one.waterfall(tmp_path / "wf.svg")
    assert b"<svg" in (tmp_path / "wf.svg").read_bytes()[:2000]


def test_reasons_only_used_features_and_positive(tmp_path, campus, model, inputs):
    from riskmodel.explain import used_features

    sc = _scorer(model, _access(tmp_path, campus), capacity=0.05)
    out = sc.score(inputs, AS_OF, caller="center")
    used = set(used_features(model))
    for feats in out["reason_features"]:
        for f in filter(None, feats.split(",")):
            assert f in used


def test_featurizer_path_equals_prebuilt_features(tmp_path, campus, model, inputs):
    sc = _scorer(model, _access(tmp_path, campus))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh = sc.prepare(campus["sources"], AS_OF)
    a = sc.score(fresh, AS_OF, caller="center").set_index("student_id")
    b = sc.score(inputs, AS_OF, caller="center").set_index("student_id")
    # Two builds of the same sources by the feature engine are not always bit-identical (seen:
    # 2 of 300 students moved by <= 0.002 in probability; reported to the features owner), so
    # this asserts that the two scoring paths agree, not that the engine is deterministic.
    diff = np.abs(a["probability"].to_numpy() - b.loc[a.index, "probability"].to_numpy())
    assert (diff <= 1e-9).mean() >= 0.97 and diff.max() < 0.02
    same = (a["reason_features"] == b.loc[a.index, "reason_features"]).mean()
    assert same > 0.95
    p = campus["ids"]["planted"]
    assert a.loc[p, "reasons_zh"] == b.loc[p, "reasons_zh"]


# ----------------------------------------------------------------------------- scope + audit


def _expected_ids(students: pd.DataFrame, role: str, reach: str | None, level: str, value: str | None,
                  key) -> set[str] | None:
    """Independent statement of the scope rules; None when the request must be denied."""
    st_ = students
    if role == "counselor":
        classes = set(st_.loc[st_["counselor_id"] == key.pseudonymise(reach), "class_id"])
        r = st_["class_id"].isin(classes)
    elif role == "college_leader":
        r = st_["college"] == reach
    else:
        r = pd.Series(True, index=st_.index)
    col = {"college": "college", "grade": "enrollment_year", "class": "class_id", "dorm_room": "dorm_room"}
    w = (pd.Series(True, index=st_.index) if level == "school"
         else st_[col[level]].astype("string") == str(value))
    if w.any() and not (r & w).any():
        return None
    return set(st_.loc[r & w, "student_id"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_scope_property_no_student_outside_scope(tmp_path_factory, campus, model, inputs, sim_key, data):
    key = resolve_key(sim_key)
    raw_st = campus["raw"]["students"]
    students = inputs.students
    role = data.draw(st.sampled_from(["counselor", "college_leader", "counselling_center"]))
    reach = None
    entry = CallerEntry(role=role) if role == "counselling_center" else None
    if role == "counselor":
        reach = data.draw(st.sampled_from(sorted(raw_st["counselor_id"].dropna().astype(str).unique())))
        entry = CallerEntry(role=role, counselor_id=reach)
    elif role == "college_leader":
        reach = data.draw(st.sampled_from(sorted(students["college"].unique())))
        entry = CallerEntry(role=role, college=reach)
    level = data.draw(st.sampled_from(["school", "college", "grade", "class", "dorm_room"]))
    col = {"college": "college", "grade": "enrollment_year", "class": "class_id", "dorm_room": "dorm_room"}
    value = None
    if level != "school":
        value = data.draw(st.sampled_from(sorted(students[col[level]].dropna().astype(str).unique()) + ["nowhere"]))
    tmp = tmp_path_factory.mktemp("scope")
    assert entry is not None
    access = AccessConfig(callers={"who": entry}, audit_log=str(tmp / "audit.jsonl"))
    sc = _scorer(model, access, capacity=0.05)
    scope = "school" if level == "school" else f"{level}={value}"
    expected = _expected_ids(students, role, reach, level, value, key)
    if expected is None:
        with pytest.raises(ScopeError):
            sc.score(inputs, AS_OF, scope=scope, caller="who", key=key)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = sc.score(inputs, AS_OF, scope=scope, caller="who", key=key)
        assert set(out["student_id"]) <= expected
        assert set(out["student_id"]) == expected & set(inputs.scorable)
        # explaining: someone in scope works, someone outside never does and is not named
        outside = sorted(set(inputs.scorable) - expected)
        if outside:
            victim = data.draw(st.sampled_from(outside))
            with pytest.raises(ScoringError) as err:
                sc.explain(victim, AS_OF, data=inputs, scope=scope, caller="who", key=key)
            assert victim not in str(err.value)
        inside = sorted(set(out["student_id"]))
        if inside:
            e = sc.explain(data.draw(st.sampled_from(inside)), AS_OF, data=inputs, scope=scope, caller="who",
                           key=key)
            assert list(e.explanation.instance_names) == [e.student_id] and e.student_id in expected
    text = (tmp / "audit.jsonl").read_text(encoding="utf-8")
    every_id = set(students["student_id"]) | set(raw_st["student_id"].astype(str))
    assert not any(i in text for i in every_id)
    assert verify_audit_log(tmp / "audit.jsonl")


def test_audit_lines_appended_per_call(tmp_path, campus, model, inputs):
    access = _access(tmp_path, campus)
    sc = _scorer(model, access)
    out = sc.score(inputs, AS_OF, scope="college=" + inputs.students["college"].iloc[0], caller="center")
    first = (tmp_path / "audit.jsonl").read_text(encoding="utf-8")
    sc.explain(out["student_id"].iloc[0], AS_OF, data=inputs, caller="center")
    with pytest.raises(ScopeError):
        sc.score(inputs, AS_OF, caller="aid")  # the aid office may not score crises
    with pytest.raises(ScopeError):
        sc.score(inputs, AS_OF, caller="stranger")
    recs = read_audit_log(tmp_path / "audit.jsonl")
    assert (tmp_path / "audit.jsonl").read_text(encoding="utf-8").startswith(first)
    assert [r["what"] for r in recs] == ["score", "explain", "score", "score"]
    assert recs[0]["rows"] == len(out) and recs[0]["role"] == "counselling_center"
    assert recs[0]["model"] == "crisis-warning" and recs[0]["version"] == "7"
    assert recs[0]["as_of"] == "2024-01-22" and recs[0]["scope"].startswith("college=")
    assert recs[1]["rows"] == 1
    assert recs[2]["outcome"].startswith("denied") and recs[3]["outcome"].startswith("denied")
    assert verify_audit_log(tmp_path / "audit.jsonl")


def test_reidentification_needs_role_and_key(tmp_path, campus, model, inputs, sim_key):
    access = _access(tmp_path, campus, {"dean": CallerEntry(role="college_leader", college="CS")})
    out = _scorer(model, access).score(inputs, AS_OF, caller="center").head(5)
    raw_ids = campus["raw"]["students"]["student_id"].astype(str)
    with pytest.raises(ScopeError, match="re-identification"):
        reidentify_scores(out, raw_ids, sim_key, caller="dean", access=access)
    back = reidentify_scores(out, raw_ids, sim_key, caller="center", access=access)
    key = resolve_key(sim_key)
    assert all(key.pseudonymise(r) == p for r, p in zip(back["raw_student_id"], back["student_id"], strict=True))
    assert not any(r in (tmp_path / "audit.jsonl").read_text() for r in back["raw_student_id"])


# ----------------------------------------------------------------------------- bad input


def test_as_of_outside_data(tmp_path, campus, model):
    sc = _scorer(model, _access(tmp_path, campus))
    for bad in ("2030-01-07", "2023-08-01"):
        with pytest.raises(ScoringError, match="outside the data"):
            sc.prepare(campus["sources"], bad, features=campus["features"])
    with pytest.raises(ScoringError, match="date"):
        sc.prepare(campus["sources"], "not a date", features=campus["features"])


def test_missing_source_is_named(tmp_path, campus, model):
    from riskmodel.contracts import LoadedSources

    s = campus["sources"]
    without = LoadedSources(tables={k: v for k, v in s.tables.items() if k != "door_events"},
                            quarantine=s.quarantine, report=s.report)
    with pytest.raises(ScoringError, match="door_events"):
        _scorer(model, _access(tmp_path, campus)).prepare(without, AS_OF, features=campus["features"])


def test_missing_data_folder(tmp_path, campus, model):
    with pytest.raises(ScoringError, match="does not exist"):
        _scorer(model, _access(tmp_path, campus)).score(tmp_path / "nope", AS_OF, caller="center")


def test_empty_scope_warns_and_returns_empty(tmp_path, campus, model, inputs):
    sc = _scorer(model, _access(tmp_path, campus))
    with pytest.warns(UserWarning, match="no student"):
        out = sc.score(inputs, AS_OF, scope="class=NO-SUCH-CLASS", caller="center")
    assert out.empty and list(out.columns) == OUTPUT_COLUMNS
    assert read_audit_log(tmp_path / "audit.jsonl")[-1]["rows"] == 0


def test_bad_capacity_scope_and_caller(tmp_path, campus, model, inputs):
    sc = _scorer(model, _access(tmp_path, campus))
    with pytest.raises(ScoringError, match="capacity"):
        sc.score(inputs, AS_OF, capacity=1.5, caller="center")
    with pytest.raises(ScoringError, match="LEVEL=VALUE"):
        sc.score(inputs, AS_OF, scope="college", caller="center")
    with pytest.raises(ScoringError, match="access"):
        Scorer(model, feature_config=FCFG).score(inputs, AS_OF, caller="center")


@given(p=st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=300),
       cap=st.sampled_from([0.01, 0.05, 0.2, 1.0, 3.0]), watch=st.sampled_from([0.0, 1.0, 2.0]))
def test_bands_property(p, cap, watch):
    rank, band = bands(np.array(p), cap, watch)
    n = len(p)
    n_flag = min(n, int(cap)) if cap > 1 else max(1, math.ceil(cap * n))
    assert sorted(rank) == list(range(1, n + 1))
    assert (band == "flag").sum() == n_flag
    assert (band == "watch").sum() == min(n - n_flag, math.ceil(watch * n_flag))
    flagged = np.array(p)[band == "flag"]
    rest = np.array(p)[band != "flag"]
    assert not len(rest) or flagged.min() >= rest.max()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_atomic_write(tmp_path, suffix):
    f = pd.DataFrame({"student_id": ["a", "b"], "reasons_zh": ["近14天有5晚未归寝", ""]})
    p = write_table_atomic(f, tmp_path / f"flags{suffix}")
    back = pd.read_csv(p, keep_default_na=False) if suffix == ".csv" else pd.read_parquet(p)
    assert back["reasons_zh"].tolist() == f["reasons_zh"].tolist()
    bad = pd.DataFrame({"x": [object()]})
    with pytest.raises(Exception):  # noqa: B017 - whatever pyarrow raises, nothing may be left behind
        write_table_atomic(bad, tmp_path / "bad.parquet")
    assert sorted(x.name for x in tmp_path.iterdir()) == [p.name]
    with pytest.raises(ScoringError, match="parquet"):
        write_table_atomic(f, tmp_path / "flags.xlsx")


def test_scoring_inputs_as_of_mismatch(tmp_path, campus, model, inputs):
    assert isinstance(inputs, ScoringInputs)
    with pytest.raises(ScoringError, match="prepared inputs"):
        _scorer(model, _access(tmp_path, campus)).score(inputs, "2024-01-15", caller="center")


def test_output_holds_no_raw_ids(tmp_path, campus, model, inputs):
    out = _scorer(model, _access(tmp_path, campus)).score(inputs, AS_OF, caller="center")
    text = out.to_csv(index=False) + json.dumps(read_audit_log(tmp_path / "audit.jsonl"))
    assert not any(r in text for r in campus["raw"]["students"]["student_id"].astype(str))


def test_sequence_model_scores_and_explains_over_channels(tmp_path, campus):
    from riskmodel.datasets import SequenceBatchDataset, build_sequence_store
    from riskmodel.features import build_daily
    from riskmodel.models.sequence import SequenceCrisisModel

    sources = campus["sources"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        daily = build_daily(sources, FCFG)
    ids = pd.Index(sources["students"]["student_id"].astype(str))
    store = build_sequence_store(daily, 28, students=ids)
    snaps = pd.DataFrame([(s, d) for d in pd.date_range("2023-11-06", periods=6, freq="7D") for s in ids],
                         columns=["student_id", "as_of"])
    away = daily.set_index("date").groupby("student_id")["door_away_night"]
    rng = np.random.default_rng(0)
    y = rng.random(len(snaps)) < 0.05
    for i, (s, d) in enumerate(snaps.itertuples(index=False)):
        nights = away.get_group(s).loc[d - pd.Timedelta(days=14):d - pd.Timedelta(days=1)].sum() if s in away.groups else 0
        y[i] |= nights >= 5
    ds = SequenceBatchDataset(store, snaps["student_id"], snaps["as_of"], y.astype(np.float32))
    model = SequenceCrisisModel(encoder="gru", hidden=8, epochs=2, batch_size=256, num_threads=1,
                                patience=5).fit(ds, X_valid=ds)
    sc = Scorer(model, name="seq", version="1", feature_config=FCFG, access=_access(tmp_path, campus),
                config=ScoringConfig(capacity=0.05))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        week = sc.prepare(sources, AS_OF, daily=daily)
    out = sc.score(week, AS_OF, caller="center")
    assert list(out.columns) == OUTPUT_COLUMNS and len(out) == len(week.scorable)
    x, m = week.sequence
    rows = week.current.reset_index().set_index("student_id").loc[out["student_id"], "index"].to_numpy()
    np.testing.assert_allclose(out["probability"], model.predict_risk((x[rows], m[rows])), rtol=1e-6)
    assert out.loc[out["band"] == "flag", "reasons_en"].str.len().gt(0).all()
    one = sc.explain(out["student_id"].iloc[0], AS_OF, data=week, caller="center")
    e = one.explanation
    assert e.values.shape == (1, len(model.feature_names_in_)) and one.weekly.shape == (4, e.values.shape[1])
    logit = model.decision_function((x[rows[:1]], m[rows[:1]]))
    np.testing.assert_allclose(e.values.sum(1) + e.base_values, logit, atol=5e-3)
    for r in one.reasons:
        assert r.feature in model.feature_names_in_ and r.contribution > 0 and r.week is not None


def test_folder_with_prebuilt_features_reads_only_what_it_needs(tmp_path, campus, model, inputs, sim_key):
    folder = tmp_path / "export"
    folder.mkdir()
    for t, f in campus["raw"].items():
        f.to_parquet(folder / f"{t}.parquet", index=False)
    sc = _scorer(model, _access(tmp_path, campus))
    light = sc.score(folder, AS_OF, caller="center", key=sim_key, features=campus["features"])
    full = sc.score(inputs, AS_OF, caller="center")
    assert set(light["student_id"]) == set(full["student_id"])
    both = light.set_index("student_id").join(full.set_index("student_id"), rsuffix="_full")
    np.testing.assert_allclose(both["probability"], both["probability_full"], rtol=1e-12)
    assert (both["band"] == both["band_full"]).all()
    assert campus["ids"]["silent"] not in set(light["student_id"])
