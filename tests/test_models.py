"""The estimator contract of every model family, calibration, determinism and the file format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from riskmodel.datasets import SequenceBatchDataset, build_sequence_store
from riskmodel.datasets.synthetic import synthetic_campus
from riskmodel.models import (
    Calibrator,
    CensusScreenModel,
    LGBMCrisisModel,
    LogRegCrisisModel,
    load_model,
    make_model,
)
from riskmodel.models.sequence import (
    SequenceCrisisModel,
    arrays_from_long_frame,
    long_frame_from_arrays,
)


def _tabular(n: int = 1200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "noise": rng.normal(size=n)})
    X.loc[rng.random(n) < 0.1, "b"] = np.nan
    logit = -3.0 + 1.5 * X["a"] + np.nan_to_num(X["b"]) * 0.8
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    return X, y


def _census(n: int = 800, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    lvl = rng.integers(0, 4, n).astype(float)
    lvl[rng.random(n) < 0.1] = np.nan
    key = (rng.random(n) < 0.1).astype(float)
    p = 0.02 + 0.05 * np.nan_to_num(lvl) + 0.1 * key
    return pd.DataFrame({"screen_level": lvl, "screen_key_item": key}), (rng.random(n) < p).astype(int)


TABULAR = [("lgbm", {"n_estimators": 40, "early_stopping_rounds": 10}), ("logreg", {})]


@pytest.mark.parametrize(("family", "params"), [*TABULAR, ("census", {})])
def test_estimator_contract(family: str, params: dict, tmp_path: Path) -> None:
    X, y = _census() if family == "census" else _tabular()
    model = make_model(family, params)
    assert not [k for k in vars(model) if k.endswith("_")]  # __init__ stores hyperparameters only
    with pytest.raises(NotFittedError, match="Call 'fit'"):
        model.predict_proba(X)
    model.fit(X[:600], y[:600], X[600:], y[600:])
    learned = [k for k in vars(model) if k.endswith("_")]
    assert "feature_names_in_" in learned and "calibrator_" in learned
    proba = model.predict_proba(X[600:])
    assert proba.shape == (len(X) - 600, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert ((proba >= 0) & (proba <= 1)).all()
    with pytest.raises(ValueError, match="missing at predict"):
        model.predict_proba(X.drop(columns=[X.columns[0]]))
    # the saved files are JSON, LightGBM text and nothing pickled; loading gives the same scores
    model.save(tmp_path / family)
    assert {p.suffix for p in (tmp_path / family).iterdir()} <= {".json", ".txt"}
    again = load_model(tmp_path / family)
    assert np.allclose(again.predict_risk(X[600:]), model.predict_risk(X[600:]))


def test_feature_order_at_predict_does_not_matter_and_inconsistent_lengths_fail() -> None:
    X, y = _tabular()
    m = LogRegCrisisModel().fit(X[:600], y[:600], X[600:], y[600:])
    assert np.allclose(m.predict_risk(X[600:][["noise", "b", "a"]]), m.predict_risk(X[600:]))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        LogRegCrisisModel().fit(X[:600], y[:500], X[600:], y[600:])


def test_lgbm_stops_early_and_learns_the_signal() -> None:
    X, y = _tabular(3000)
    m = LGBMCrisisModel(n_estimators=400, early_stopping_rounds=15, learning_rate=0.1).fit(
        X[:2000], y[:2000], X[2000:2500], y[2000:2500])
    assert m.best_iteration_ < 400
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y[2500:], m.predict_risk(X[2500:])) > 0.75


def test_logreg_imputes_with_an_indicator() -> None:
    X, y = _tabular()
    m = LogRegCrisisModel().fit(X[:600], y[:600], X[600:], y[600:])
    assert m.indicator_idx_.tolist() == [1]  # only "b" had NaN in training
    assert len(m.coef_) == 4
    assert np.isfinite(m.predict_risk(X.assign(a=np.nan))).all()


def test_census_screen_ranks_by_level_then_key_item() -> None:
    X, y = _census()
    m = CensusScreenModel().fit(X, y, X, y)
    s = m.decision_function(pd.DataFrame({"screen_level": [np.nan, 0, 2, 2, 3], "screen_key_item": [0, 0, 0, 1, 0]}))
    assert list(np.argsort(s)) == [0, 1, 2, 4, 3]
    with pytest.raises(ValueError, match="screen_level"):
        CensusScreenModel().fit(X[["screen_key_item"]], y, X, y)


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibrator_matches_base_rate_and_round_trips(method: str) -> None:
    rng = np.random.default_rng(1)
    s = rng.normal(size=5000)
    y = (rng.random(5000) < 1 / (1 + np.exp(-(2 * s - 3)))).astype(int)
    c = Calibrator(method).fit(5 * s + 7, y)  # a score on the wrong scale
    p = c.transform(5 * s + 7)
    assert abs(p.mean() - y.mean()) < 0.01
    assert np.all(np.diff(p[np.argsort(s)]) >= -1e-12)  # monotone
    assert np.allclose(Calibrator.from_dict(c.to_dict()).transform(5 * s + 7), p)
    with pytest.raises(ValueError, match="method"):
        Calibrator("magic").fit(s, y)


# -- sequence -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seq_data() -> tuple:
    c = synthetic_campus(n_students=120, days=140, seed=3)
    store = build_sequence_store(c.daily, sequence_days=28)
    from riskmodel.datasets import DatasetConfig, crisis_labels, snapshot_dates

    asof = snapshot_dates(c.start, c.end, DatasetConfig(warmup_days=14))
    lab = crisis_labels(c.students, c.crisis_events, asof, DatasetConfig())
    tr, va = lab[lab.as_of < asof[8]], lab[lab.as_of >= asof[12]]

    def ds(p: pd.DataFrame) -> SequenceBatchDataset:
        return SequenceBatchDataset(store, p["student_id"], p["as_of"], p["label"].to_numpy())

    return store, ds(tr), ds(va)


def test_sequence_model_is_deterministic_and_records_its_encoder_choice(seq_data: tuple, tmp_path: Path) -> None:
    store, tr, va = seq_data
    params = {"epochs": 2, "hidden": 8, "batch_size": 128, "seed": 5}
    m1 = SequenceCrisisModel(**params).fit(tr, None, va, None)
    m2 = SequenceCrisisModel(**params).fit(tr, None, va, None)
    assert np.array_equal(m1.predict_risk(va), m2.predict_risk(va))
    assert m1.encoder_ in ("gru", "tcn") and set(m1.encoder_scores_) == {"gru", "tcn"}
    assert "validation AUPRC" in m1.encoder_choice_
    assert m1.best_epoch_ >= 1
    m1.save(tmp_path / "seq")
    assert {p.suffix for p in (tmp_path / "seq").iterdir()} == {".json", ".npz"}
    again = load_model(tmp_path / "seq")
    assert np.allclose(again.predict_risk(va), m1.predict_risk(va), atol=1e-6)
    x, m, _ = va.batch(np.arange(10))
    frame = long_frame_from_arrays(x, m, list(store.channels))
    snaps, x2, m2_ = arrays_from_long_frame(frame, list(store.channels), store.pad)
    assert np.allclose(again.predict_risk((x2, m2_)), m1.predict_risk(va)[:10], atol=1e-6)


def test_sequence_model_contract(seq_data: tuple) -> None:
    store, tr, va = seq_data
    m = SequenceCrisisModel(encoder="gru", epochs=1, hidden=4)
    with pytest.raises(NotFittedError, match="Call 'fit'"):
        m.predict_proba(va)
    with pytest.raises(ValueError, match="validation dataset"):
        m.fit(tr)
    with pytest.raises(ValueError, match="encoder"):
        SequenceCrisisModel(encoder="lstm", epochs=1).fit(tr, None, va, None)
    m.fit(tr, None, va, None)
    assert m.encoder_ == "gru" and "fixed by config" in m.encoder_choice_
    x, mask, _ = va.batch(np.arange(4))
    with pytest.raises(ValueError, match="channels"):
        m.predict_proba((x[:, :, :2], mask))
