"""The registry (declared once), the generated reference, missing sources and the API edges."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pandas as pd
import pytest

from features_campus import AS_OF, loaded_hand_campus
from riskmodel.features import (
    DAILY_CHANNELS,
    FEATURES,
    REGISTRY_VERSION,
    FeatureConfig,
    FeatureEngineError,
    MissingSourceWarning,
    build_daily,
    build_features,
    feature_names,
)
from riskmodel.features.docs import is_up_to_date, render
from riskmodel.features.registry import CONCERNING, FAMILIES, FeatureSpec, build_registry

ROOT = Path(__file__).resolve().parents[1]


def test_registry_declares_every_feature_once_with_its_meaning() -> None:
    names = [f.name for f in FEATURES]
    assert len(names) == len(set(names)) > 150
    assert REGISTRY_VERSION
    for f in FEATURES:
        assert re.fullmatch(r"[a-z]+__[a-z0-9_]+__([0-9]+d|all|latest|asof)", f.name), f.name
        assert f.family in FAMILIES and f.concerning in CONCERNING
        assert f.description_zh and f.description_en and f.reason_zh and f.reason_en and f.unit
        assert "{value}" in f.reason_zh + f.reason_en or f.unit == "0/1"
        if f.window_days is not None:
            assert f.name.endswith(f"__{f.window_days}d")
    assert {f.family for f in FEATURES} == set(FAMILIES)
    assert len({c.name for c in DAILY_CHANNELS}) == len(DAILY_CHANNELS)
    assert any(f.reason_zh.startswith("近14天有{value}晚未归寝") for f in FEATURES)


def test_registry_rejects_bad_declarations() -> None:
    with pytest.raises(ValueError, match="family"):
        FeatureSpec("door__x__7d", "mood", "door_events", 7, "u", "higher", "z", "e", "r", "r")
    with pytest.raises(ValueError, match="source__aggregate__window"):
        FeatureSpec("door_x_7d", "diet", "door_events", 7, "u", "higher", "z", "e", "r", "r")


def test_registry_follows_the_configured_windows() -> None:
    names = feature_names(FeatureConfig(windows=(7, 30)))
    assert "card__meals_mean__30d" in names and "card__meals_mean__14d" not in names
    assert not any("_vs_class" in n for n in names)  # peer features use the 14-day window
    assert feature_names(FeatureConfig()) == [f.name for f in FEATURES]
    assert [f.name for f in build_registry()] == [f.name for f in FEATURES]


def test_generated_reference_is_up_to_date_and_complete() -> None:
    path = ROOT / "docs" / "features.md"
    assert is_up_to_date(path), "run: python -m riskmodel.features.docs"
    text = render()
    for f in FEATURES:
        assert f"`{f.name}`" in text
    for c in DAILY_CHANNELS:
        assert f"`{c.name}`" in text


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="engine"):
        FeatureConfig(engine="polars")
    with pytest.raises(ValueError, match="windows"):
        FeatureConfig(windows=(0,))


@pytest.fixture(scope="module")
def hand():  # type: ignore[no-untyped-def]
    return loaded_hand_campus()


@pytest.mark.slow
def test_missing_sources_leave_features_out_with_a_warning(hand) -> None:  # type: ignore[no-untyped-def]
    loaded, ids = hand
    tables = {k: v for k, v in loaded.tables.items() if k not in ("door_events", "census")}
    cfg = FeatureConfig(windows=(7, 14))
    with pytest.warns(MissingSourceWarning) as rec:
        feats = build_features(tables, [AS_OF], cfg)
    text = " ".join(str(w.message) for w in rec)
    assert "door_events" in text and "door__away_night_sum__14d" in text
    assert "census" in text and "census__screen_level__latest" in text
    assert not any(c.startswith(("door__", "census__")) for c in feats.columns)
    assert set(feature_names(cfg, tables)) == set(feats.columns[2:])
    # no silent zeros: the card features are the same as with every source present
    full = build_features(loaded, [AS_OF], cfg)
    card = [c for c in feats.columns if c.startswith("card__")]
    pd.testing.assert_frame_equal(feats[["student_id", *card]], full[["student_id", *card]])
    with pytest.warns(MissingSourceWarning, match="door_return_min"):
        daily = build_daily(tables, cfg)
    assert "door_return_min" not in daily.columns and "card_meals" in daily.columns


@pytest.mark.slow
def test_students_only_gives_rows_and_no_crash(hand) -> None:  # type: ignore[no-untyped-def]
    loaded, ids = hand
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        feats = build_features({"students": loaded.tables["students"], "calendar": loaded.tables["calendar"]},
                               [AS_OF], FeatureConfig(windows=(7,)))
    assert len(feats) == 3 and set(feats["student_id"]) == set(ids.values())
    assert all(c.startswith("context__") for c in feats.columns[2:])
    with pytest.raises(FeatureEngineError, match="students"):
        build_features({"card_transactions": loaded.tables["card_transactions"]}, [AS_OF])


@pytest.mark.slow
def test_precomputed_daily_and_parquet_output(hand, tmp_path) -> None:  # type: ignore[no-untyped-def]
    loaded, _ = hand
    cfg = FeatureConfig(windows=(7, 14))
    direct = build_features(loaded, [AS_OF], cfg)
    daily = build_daily(loaded, cfg)
    via_daily = build_features(loaded, [AS_OF], cfg, daily=daily)
    pd.testing.assert_frame_equal(direct, via_daily)
    path = build_features(loaded, [AS_OF], cfg, out=tmp_path / "f.parquet")
    on_disk = pd.read_parquet(path).sort_values(["as_of", "student_id"]).reset_index(drop=True)
    assert list(on_disk.columns) == list(direct.columns)
    on_disk = on_disk.astype({c: "float64" for c in on_disk.columns[2:]})
    on_disk["as_of"] = on_disk["as_of"].astype("datetime64[ns]")
    pd.testing.assert_frame_equal(on_disk, direct)
    with pytest.raises(FeatureEngineError, match="covers_as_of"):
        build_features(loaded, [AS_OF + pd.Timedelta(days=30)], cfg, daily=daily)
