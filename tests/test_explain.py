"""Explanations: shapes, additivity (both families), reason rules, plots."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import shap
from hypothesis import given, settings
from hypothesis import strategies as st

from riskmodel.datasets import SequenceBatchDataset, build_sequence_store
from riskmodel.explain import (
    FAMILIES,
    explain_tabular,
    family_contributions,
    integrated_gradients,
    reasons_for,
    risk_radar,
    sentence,
    used_features,
    waterfall,
    week_sums,
)
from riskmodel.explain.reasons import format_value
from riskmodel.models import LGBMCrisisModel, LogRegCrisisModel
from riskmodel.models.sequence import SequenceCrisisModel


@dataclass(frozen=True)
class Spec:
    name: str
    family: str
    concerning: str | None
    unit: str
    description_zh: str
    description_en: str
    reason_zh: str
    reason_en: str


REGISTRY = [
    Spec("door__night_absent_count__14d", "sleep_routine", "high", "nights", "未归寝晚数", "nights away",
         "近14天有{value}晚未归寝（本人此前通常为{usual}晚）",
         "Did not return to the dormitory on {value} of the last 14 nights (usually {usual})"),
    Spec("card__meal_count__14d", "diet", "low", "meals", "用餐次数", "meals",
         "近14天食堂用餐{value}次（本人此前通常为{usual}次，同伴一般{peer}次）",
         "{value} canteen meals in the last 14 days (usually {usual}; peers {peer})"),
    Spec("lib__visits__28d", "study", "low", "visits", "图书馆次数", "library visits",
         "近28天去图书馆{value}次（通常{usual}次）", "{value} library visits in 28 days (usually {usual})"),
    Spec("const__zero", "context", None, "", "常数", "constant", "常数{value}", "constant {value}"),
]
NAMES = [s.name for s in REGISTRY]


def _tabular(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "door__night_absent_count__14d": rng.poisson(0.5, n).astype(float),
        "card__meal_count__14d": rng.normal(30, 6, n).round(),
        "lib__visits__28d": rng.poisson(6, n).astype(float),
        "const__zero": np.zeros(n),
    })
    X.loc[rng.random(n) < 0.1, "lib__visits__28d"] = np.nan
    z = 1.2 * X["door__night_absent_count__14d"] - 0.08 * (X["card__meal_count__14d"] - 30) - 2.5
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return X, y.to_numpy()


@pytest.fixture(scope="module")
def lgbm():
    X, y = _tabular()
    m = LGBMCrisisModel(n_estimators=40, min_child_samples=10, num_threads=1,
                        early_stopping_rounds=40).fit(X[:450], y[:450], X[450:], y[450:])
    return m, X


@pytest.fixture(scope="module")
def logreg():
    X, y = _tabular(seed=1)
    return LogRegCrisisModel().fit(X[:450], y[:450], X[450:], y[450:]), X


@pytest.fixture(scope="module")
def gru():
    rng = np.random.default_rng(3)
    n_students, n_days = 80, 70
    dates = pd.date_range("2024-09-02", periods=n_days)
    rows = []
    risky = rng.random(n_students) < 0.3
    for s in range(n_students):
        late = rng.normal(23, 0.5, n_days)
        if risky[s]:
            late[-21:] += 2.5
        rows.append(pd.DataFrame({"student_id": f"s{s:03d}", "date": dates, "observed": rng.random(n_days) > 0.05,
                                  "return_hour": late, "meals": rng.poisson(2.5, n_days).astype(float)}))
    daily = pd.concat(rows, ignore_index=True)
    store = build_sequence_store(daily, sequence_days=28)
    sid = pd.Series([f"s{s:03d}" for s in range(n_students)])
    as_of = pd.Series([dates[-1] + pd.Timedelta(days=1)] * n_students)
    ds = SequenceBatchDataset(store, sid, as_of, risky.astype(np.float32))
    m = SequenceCrisisModel(encoder="gru", hidden=8, epochs=2, batch_size=32, num_threads=1, patience=5)
    m.fit(ds, X_valid=ds)
    x, mask, _ = ds.batch(np.arange(len(ds)))
    return m, x, mask


# ----------------------------------------------------------------------------- shapes, additivity


def test_tree_shap_shape_and_additivity(lgbm):
    m, X = lgbm
    e = explain_tabular(m, X.iloc[:50], instance_names=[f"p{i}" for i in range(50)])
    assert isinstance(e, shap.Explanation)
    assert e.values.shape == (50, X.shape[1])
    assert e.base_values.shape == (50,)
    np.testing.assert_allclose(e.values.sum(1) + e.base_values, m.decision_function(X.iloc[:50]), atol=1e-8)
    # an unused feature contributes nothing and is not "used"
    assert np.all(e.values[:, NAMES.index("const__zero")] == 0)
    assert "const__zero" not in used_features(m)
    assert "door__night_absent_count__14d" in used_features(m)


def test_tree_shap_matches_shap_treeexplainer(lgbm):
    m, X = lgbm
    ours = explain_tabular(m, X.iloc[:20])
    ref = shap.TreeExplainer(m.booster_).shap_values(X.iloc[:20].to_numpy(np.float64))
    np.testing.assert_allclose(ours.values, np.asarray(ref), atol=1e-6)


def test_linear_shap_additivity_with_missing_values(logreg):
    m, X = logreg
    Xs = X.iloc[:60]
    assert Xs["lib__visits__28d"].isna().any()
    e = explain_tabular(m, Xs)
    assert e.values.shape == (60, X.shape[1])
    np.testing.assert_allclose(e.values.sum(1) + e.base_values, m.decision_function(Xs), atol=1e-9)


def test_explain_tabular_rejects_unknown_family():
    class Fake:
        family = "census"

    with pytest.raises(ValueError, match="census"):
        explain_tabular(Fake(), pd.DataFrame({"a": [1.0]}))


def test_integrated_gradients_shape_weeks_and_completeness(gru):
    m, x, mask = gru
    se = integrated_gradients(m, x[:12], mask[:12], n_steps=32)
    e = se.explanation
    assert e.values.shape == (12, 3) and list(e.feature_names) == ["observed", "return_hour", "meals"]
    assert se.weekly.shape == (12, 4, 3)
    np.testing.assert_allclose(se.weekly.sum(axis=1), e.values, atol=1e-8)
    logit = m.decision_function((x[:12], mask[:12]))
    # completeness of integrated gradients, up to the quadrature error
    np.testing.assert_allclose(e.values.sum(1) + e.base_values, logit, atol=2e-3)
    np.testing.assert_allclose(se.delta, logit - (e.values.sum(1) + e.base_values), atol=1e-9)


def test_integrated_gradients_rejects_wrong_channels(gru):
    m, x, mask = gru
    with pytest.raises(ValueError, match="channels"):
        integrated_gradients(m, x[:2, :, :1], mask[:2])


def test_week_sums_counts_back_from_as_of():
    per_day = np.zeros((1, 17, 1))
    per_day[0, -1, 0] = 1.0  # the day before as-of -> week 0
    per_day[0, 0, 0] = 5.0  # the oldest day -> the oldest week (with the 3 leftover days)
    w = week_sums(per_day)
    assert w.shape == (1, 2, 1)
    assert w[0, 0, 0] == 1.0 and w[0, 1, 0] == 5.0


# ----------------------------------------------------------------------------- reasons


def test_planted_night_absence_is_top_reason_in_both_languages(lgbm):
    m, X = lgbm
    student = X.iloc[[0]].copy()
    student["door__night_absent_count__14d"] = 5.0
    student["card__meal_count__14d"] = 30.0
    e = explain_tabular(m, student)
    usual = pd.DataFrame({"door__night_absent_count__14d": [0.0], "card__meal_count__14d": [31.0]})
    peer = X.median()
    (reasons,) = reasons_for(e, used_features(m), REGISTRY, usual=usual, peer=peer)
    assert reasons, "a student away 5 nights must get a reason"
    top = reasons[0]
    assert top.feature == "door__night_absent_count__14d" and top.family == "sleep_routine"
    assert top.text_zh == "近14天有5晚未归寝（本人此前通常为0晚）"
    assert top.text_en == "Did not return to the dormitory on 5 of the last 14 nights (usually 0)"


def test_reason_never_contradicts_direction():
    # a positive contribution on meals (concerning: low) while the student eats more than
    # usual and than peers: no honest sentence -> no reason
    e = shap.Explanation(values=np.array([[0.0, 0.9, 0.0, 0.0]]), base_values=np.array([-3.0]),
                         data=np.array([[0.0, 45.0, 6.0, 0.0]]), feature_names=NAMES)
    usual = pd.DataFrame({"card__meal_count__14d": [30.0]})
    peer = pd.Series({"card__meal_count__14d": 30.0})
    assert reasons_for(e, NAMES, REGISTRY, usual=usual, peer=peer) == [[]]
    e2 = shap.Explanation(values=np.array([[0.0, 0.9, 0.0, 0.0]]), base_values=np.array([-3.0]),
                          data=np.array([[0.0, 12.0, 6.0, 0.0]]), feature_names=NAMES)
    (r,) = reasons_for(e2, NAMES, REGISTRY, usual=usual, peer=peer)
    assert [x.feature for x in r] == ["card__meal_count__14d"]
    assert r[0].text_en == "12 canteen meals in the last 14 days (usually 30; peers 30)"


@settings(max_examples=60, deadline=None)
@given(vals=st.lists(st.floats(-3, 3, allow_nan=False), min_size=4, max_size=4),
       data=st.lists(st.floats(0, 50, allow_nan=False), min_size=4, max_size=4),
       usual=st.lists(st.floats(0, 50, allow_nan=False) | st.just(math.nan), min_size=4, max_size=4),
       used_mask=st.lists(st.booleans(), min_size=4, max_size=4),
       top_k=st.integers(1, 4))
def test_reason_rules_property(vals, data, usual, used_mask, top_k):
    e = shap.Explanation(values=np.array([vals]), base_values=np.array([0.0]), data=np.array([data]),
                         feature_names=NAMES)
    used = [n for n, u in zip(NAMES, used_mask, strict=True) if u]
    usual_df = pd.DataFrame([usual], columns=NAMES)
    peer = pd.Series(20.0, index=NAMES)
    (rs,) = reasons_for(e, used, REGISTRY, usual=usual_df, peer=peer, top_k=top_k)
    specs = {s.name: s for s in REGISTRY}
    assert len(rs) <= top_k
    assert len({r.family for r in rs}) == len(rs)  # one reason per family
    assert [r.family_contribution for r in rs] == sorted((r.family_contribution for r in rs), reverse=True)
    for r in rs:
        j = NAMES.index(r.feature)
        assert r.feature in used
        assert r.contribution > 0 and r.contribution == vals[j]
        c = specs[r.feature].concerning
        tpl = specs[r.feature].reason_en  # only the references the sentence shows count
        shown = [v for v, ref in ((usual[j], "{usual}"), (20.0, "{peer}")) if ref in tpl]
        refs = [v for v in shown if not math.isnan(v)]
        if not refs:
            continue
        if c == "high":
            assert any(data[j] > v for v in refs)
        if c == "low":
            assert any(data[j] < v for v in refs)
        assert r.text_zh and r.text_en


def test_sequence_reasons_say_when(gru):
    m, x, mask = gru
    se = integrated_gradients(m, x[:5], mask[:5], n_steps=16)
    rs = reasons_for(se.explanation, used_features(m), None, weekly=se.weekly, top_k=2)
    for row in rs:
        for r in row:
            assert r.week is not None and 0 <= r.week < 4
            assert ("week" in r.text_en) and ("周" in r.text_zh)


def test_sentence_without_template_uses_description_and_leaves_out_unknown_references():
    s = Spec("x", "social", None, "share", "独自用餐比例", "share of meals alone", "", "")
    assert sentence("x", s, 0.8, math.nan, 0.3, "en") == "share of meals alone: 80% (peers 30%)"
    assert sentence("x", s, 0.8, math.nan, 0.3, "zh") == "独自用餐比例：80%（同伴一般为30%）"
    assert sentence("x", s, 0.8, 0.5, 0.3, "en") == "share of meals alone: 80% (usually 50%; peers 30%)"
    assert sentence("x", s, 0.8, math.nan, math.nan, "zh") == "独自用餐比例：80%"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_registry_sentences_never_say_a_reference_is_unknown(lang):
    """A student without history (a freshman) or without peers: the sentence leaves the
    reference out instead of "usually unknown" (the demo once read "（本人此前通常为未知）")."""
    from riskmodel.features import FEATURES

    for spec in FEATURES:
        for usual, peer in ((math.nan, 3.0), (3.0, math.nan), (math.nan, math.nan)):
            text = sentence(spec.name, spec, 5.0, usual, peer, lang)
            assert "未知" not in text and "unknown" not in text, text
            assert "（）" not in text and "()" not in text, text
        both = sentence(spec.name, spec, 5.0, 2.0, 3.0, lang)
        assert "未知" not in both and "unknown" not in both


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_change_score_sentences_show_no_usual_z_score(lang):
    """A change score is a distance from the student's own usual level: its sentence shows the
    score, not the "usual" of the score itself (the demo once read "以往通常为0.33")."""
    from riskmodel.features import FEATURES

    changes = [f for f in FEATURES if f.aggregate == "change_z"]
    assert changes
    for spec in changes:
        text = sentence(spec.name, spec, -2.4, 0.33, 0.1, lang)
        assert "-2.4" in text and "0.33" not in text, text
        assert ("稳健标准差" if lang == "zh" else "robust SDs") in text


def test_family_contributions_sum_per_family(lgbm):
    m, X = lgbm
    e = explain_tabular(m, X.iloc[:10])
    fc = family_contributions(e, REGISTRY)
    assert list(fc.columns) == list(FAMILIES)
    np.testing.assert_allclose(fc.sum(axis=1), e.values.sum(1), atol=1e-12)


# ----------------------------------------------------------------------------- plots


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plots_write_png_and_svg(tmp_path, lgbm, suffix):
    m, X = lgbm
    e = explain_tabular(m, X.iloc[:3])
    p1 = tmp_path / f"wf{suffix}"
    waterfall(e, row=1, registry=REGISTRY, max_display=3, path=p1)
    fam = family_contributions(e, REGISTRY).iloc[1].to_dict()
    p2 = tmp_path / f"radar{suffix}"
    risk_radar(fam, peer_values={f: 0.1 for f in fam}, lang="zh", path=p2)
    for p in (p1, p2):
        head = p.read_bytes()[:64]
        assert head.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in p.read_bytes()[:2000]
    assert sorted(x.name for x in tmp_path.iterdir()) == sorted([p1.name, p2.name])  # no temp files left


def test_plot_bad_suffix_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="suffix"):
        risk_radar({"diet": 0.3}, path=tmp_path / "radar.pdf")
    assert list(tmp_path.iterdir()) == []


def test_clock_times_read_as_clock_times_and_spreads_as_minutes():
    from riskmodel.features import FEATURES

    reg = {f.name: f for f in FEATURES}
    mean = reg["door__return_min_mean__14d"]  # minutes after 18:00
    assert sentence(mean.name, mean, 330.0, 250.0, 270.0, "en") == (
        "Last return time averaged 23:30 over the last 14 days (usually 22:10; peers 22:30)")
    assert "平均为23:30" in sentence(mean.name, mean, 330.0, 250.0, 270.0, "zh")
    # past midnight wraps; first exit is minutes after 00:00
    assert format_value(400.0, "min after 18:00", "en") == "00:40"
    assert format_value(450.4, reg["door__first_out_min_mean__14d"].unit, "en") == "07:30"
    # a spread, a slope or a difference of clock times is a duration
    std = reg["door__return_min_std__14d"]
    assert std.unit == "min" and sentence(std.name, std, 60.0, 20.0, math.nan, "en").endswith(
        "varied by 60 min over the last 14 days (usually 20 min)")
    assert reg["door__return_min_mean_vs_class__14d"].unit == "min"
    assert reg["door__return_min_trend__14d"].unit == "min per week"


def test_a_drop_in_variability_is_never_a_reason():
    from riskmodel.features import FEATURES

    stds = [f for f in FEATURES if f.aggregate == "std"]
    assert stds and all(f.concerning == "higher" for f in stds)
    f = next(s for s in stds if s.family == "finance")
    e = shap.Explanation(values=np.array([[0.8]]), base_values=np.array([-3.0]), data=np.array([[2.0]]),
                         feature_names=[f.name])
    calmer = reasons_for(e, [f.name], FEATURES, usual=pd.DataFrame({f.name: [9.0]}), peer=pd.Series({f.name: 8.0}))
    assert calmer == [[]]
    e.data = np.array([[15.0]])
    (wilder,) = reasons_for(e, [f.name], FEATURES, usual=pd.DataFrame({f.name: [9.0]}), peer=pd.Series({f.name: 8.0}))
    assert [r.feature for r in wilder] == [f.name]


def test_a_reason_is_justified_only_by_the_references_its_sentence_shows():
    from riskmodel.features import FEATURES

    f = next(s for s in FEATURES if s.name == "card__meals_std__28d")
    assert "{peer}" not in f.reason_en and "{usual}" in f.reason_en
    e = shap.Explanation(values=np.array([[0.8]]), base_values=np.array([-3.0]), data=np.array([[0.63]]),
                         feature_names=[f.name])
    # below the student's usual spread but above the peers': the sentence would read "varied by
    # 0.63 (usually 0.84)", a drop presented as a concern, so it is no reason
    below_usual = reasons_for(e, [f.name], FEATURES, usual=pd.DataFrame({f.name: [0.84]}),
                              peer=pd.Series({f.name: 0.3}))
    assert below_usual == [[]]
    (above,) = reasons_for(e, [f.name], FEATURES, usual=pd.DataFrame({f.name: [0.4]}), peer=pd.Series({f.name: 0.9}))
    assert [r.feature for r in above] == [f.name]
