"""Chunked and trimmed builds give the same features as one build over everything.

The engine builds campuses larger than ``FeatureConfig.chunk_students`` chunk by chunk,
builds only the daily rows the windows read, and :func:`build_feature_store` writes
daily table and features chunk by chunk. None of that may change a value.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from riskmodel.contracts import load_sources
from riskmodel.features import (
    FeatureConfig,
    build_daily,
    build_feature_store,
    build_features,
    read_daily,
    read_features,
    weekly_as_of_dates,
)
from riskmodel.features.engine import daily_days_needed
from riskmodel.features.reference import REFERENCE_CHANNELS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loaded(sim_campus_dir, sim_key):  # type: ignore[no-untyped-def]
    return load_sources(sim_campus_dir, key=sim_key)


@pytest.fixture(scope="module")
def as_of(loaded) -> list[pd.Timestamp]:  # type: ignore[no-untyped-def]
    cal = loaded.tables["calendar"]["date"]
    return weekly_as_of_dates(cal.min() + pd.Timedelta(days=7), cal.max())


@pytest.fixture(scope="module")
def whole(loaded, as_of):  # type: ignore[no-untyped-def]
    """Daily table and features of the whole campus in one chunk."""
    cfg = FeatureConfig(chunk_students=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_daily(loaded, cfg), build_features(loaded, as_of, cfg)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    keys = list(a.columns[:2])
    a = a.sort_values(keys).reset_index(drop=True)
    b = b.sort_values(keys).reset_index(drop=True)
    assert list(a.columns) == list(b.columns)
    assert a[keys].equals(b[keys])
    for c in a.columns[2:]:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        if x.dtype == bool:
            assert (x == y).all(), c
        else:
            np.testing.assert_allclose(x.astype(float), y.astype(float), rtol=1e-7, atol=1e-7, equal_nan=True,
                                       err_msg=c)


def test_chunks_change_nothing(loaded, as_of, whole) -> None:  # type: ignore[no-untyped-def]
    n = len(loaded.tables["students"])
    cfg = FeatureConfig(chunk_students=n // 3 + 1)  # three chunks
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        daily = build_daily(loaded, cfg)
        feats = build_features(loaded, as_of, cfg)
    _same(whole[0], daily)
    _same(whole[1], feats)
    # peer features compare students of different chunks: they are not all missing
    peer = [c for c in feats.columns if "_vs_" in c]
    assert feats[peer].notna().mean().min() > 0.3


def test_feature_store_writes_the_same_tables(loaded, as_of, whole, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ticks: list[tuple[int, int]] = []
    cfg = FeatureConfig(chunk_students=len(loaded.tables["students"]) // 2 + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paths = build_feature_store(loaded, as_of, tmp_path / "store", cfg,
                                    on_progress=lambda done, total: ticks.append((done, total)))
    assert ticks == [(1, 2), (2, 2)]
    assert paths["daily"].is_dir() and len(list(paths["daily"].glob("part-*.parquet"))) == 2
    daily, feats = pd.read_parquet(paths["daily"]), pd.read_parquet(paths["features"])
    _same(whole[0], daily)
    _same(whole[1], feats)
    assert "day" not in daily.columns and daily["date"].dtype.kind == "M"
    assert not any(p.name.startswith("riskmodel_store_") for p in (tmp_path / "store").iterdir())


@pytest.mark.parametrize("k", [0, 9, -1])
def test_one_as_of_date_alone_equals_its_row_in_the_weekly_build(loaded, as_of, whole, k) -> None:  # type: ignore[no-untyped-def]
    t = as_of[k]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = build_features(loaded, [t], FeatureConfig())
    _same(whole[1][whole[1]["as_of"] == t], one)


def test_chunks_shrink_over_long_periods() -> None:
    """A chunk's memory grows with students x days: two years get about half the students."""
    cfg = FeatureConfig()
    assert cfg.chunk_size(365) == 8000
    assert cfg.chunk_size(730) == 3_000_000 // 730 < 4200
    assert FeatureConfig(chunk_students=None, chunk_student_days=None).chunk_size(730) is None
    assert FeatureConfig(chunk_students=None).chunk_size(10) == 300_000
    assert FeatureConfig(chunk_student_days=10).chunk_size(730) == 1
    with pytest.raises(ValueError, match="chunk_student_days"):
        FeatureConfig(chunk_student_days=0)


def test_only_the_days_the_windows_read_are_needed() -> None:
    cfg = FeatureConfig()
    first, last = daily_days_needed([20000, 20007], cfg)
    assert last == 20006
    assert first == 20000 - (cfg.change_recent_days + cfg.change_baseline_days) - cfg.observed_lookback_days - 1
    first_long, _ = daily_days_needed([20000], FeatureConfig(windows=(7, 200)))
    assert first_long == 20000 - 200 - cfg.observed_lookback_days - 1


def test_a_channel_subset_equals_the_full_table(loaded, whole) -> None:  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sub = build_daily(loaded, FeatureConfig(), channels=REFERENCE_CHANNELS)
    flags = [c for c in whole[0].columns if c.startswith("observed_")]
    cols = ["student_id", "date", *flags, *[c for c in whole[0].columns if c in REFERENCE_CHANNELS]]
    assert list(sub.columns) == cols
    _same(whole[0][cols], sub)
    with pytest.raises(ValueError, match="unknown daily channels: no_such"):
        build_daily(loaded, FeatureConfig(), channels=["no_such"])


def test_features_command_writes_daily_folder_and_features(sim_campus_dir, sim_key, tmp_path, loaded, as_of) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from riskmodel.cli import app

    dates = [str(d.date()) for d in as_of[-2:]]
    result = CliRunner().invoke(app, ["features", str(sim_campus_dir), "--out", str(tmp_path / "out"),
                                      "--as-of", dates[0], "--as-of", dates[1]],
                                env={"RISKMODEL_PSEUDONYM_KEY": sim_key, "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    feats = pd.read_parquet(tmp_path / "out" / "features.parquet")
    assert sorted(feats["as_of"].dt.strftime("%Y-%m-%d").unique()) == dates
    assert len(feats) == 2 * len(loaded.tables["students"])
    daily = pd.read_parquet(tmp_path / "out" / "daily")
    assert len(daily) > 0 and daily["student_id"].isin(loaded.tables["students"]["student_id"]).all()


def test_duckdb_gets_a_memory_limit_that_leaves_room_for_pandas() -> None:
    import os

    from riskmodel.features import FeatureConfig
    from riskmodel.features.backends import connect, default_memory_limit

    total_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    limit = default_memory_limit()
    assert limit.endswith("GiB") and 1 <= int(limit[:-3]) <= 0.5 * total_gib + 1
    got = connect(FeatureConfig()).raw_sql("SELECT current_setting('memory_limit')").fetchone()[0]
    assert got.startswith(f"{int(limit[:-3])}.0 GiB") or got.startswith(f"{int(limit[:-3])} GiB")
    explicit = connect(FeatureConfig(memory_limit="1GB")).raw_sql("SELECT current_setting('memory_limit')").fetchone()[0]
    assert explicit.startswith("953")  # 1 GB = 953.6 MiB: the config wins


def test_reading_the_store_as_float32_keeps_order_types_and_values(loaded, as_of, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paths = build_feature_store(loaded, as_of[:3], tmp_path / "store", FeatureConfig(chunk_students=100))
    for read in (read_daily, read_features):
        path = paths["daily"] if read is read_daily else paths["features"]
        wide, narrow = read(path), read(path, float_dtype="float32")
        assert list(wide.columns) == list(narrow.columns) and len(wide) == len(narrow)
        floats = [c for c in wide.columns if wide[c].dtype == np.float64]
        assert floats and all(narrow[c].dtype == np.float32 for c in floats)
        assert wide.drop(columns=floats).equals(narrow.drop(columns=floats))  # ids, dates, flags, order
        np.testing.assert_allclose(narrow[floats].to_numpy(np.float64), wide[floats].to_numpy(), rtol=1e-6, atol=1e-6)


def test_whole_campus_step_in_passes_of_as_of_dates_changes_nothing(loaded, as_of, whole, tmp_path) -> None:  # type: ignore[no-untyped-def]
    n = len(loaded.tables["students"])
    cfg = FeatureConfig(chunk_students=n // 2 + 1, finish_rows=3 * n)  # three as-of dates per pass
    assert len(as_of) > 6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paths = build_feature_store(loaded, as_of, tmp_path / "store", cfg, daily=False)
    _same(whole[1], read_features(paths["features"]))
    with pytest.raises(ValueError, match="finish_rows"):
        FeatureConfig(finish_rows=0)
