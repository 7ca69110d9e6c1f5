"""Parity: the ibis engine against the plain-pandas reference, and DuckDB against Spark,
on the simulated test campus (``sim_campus_dir`` from tests/conftest.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from riskmodel.contracts import load_sources
from riskmodel.features import FeatureConfig, build_daily, build_features
from riskmodel.features.reference import REFERENCE_CHANNELS, reference_daily

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sim_loaded(sim_campus_dir, sim_key):  # type: ignore[no-untyped-def]
    return load_sources(sim_campus_dir, key=sim_key)


def _subset(loaded, n: int) -> dict[str, pd.DataFrame]:  # type: ignore[no-untyped-def]
    keep = set(sorted(loaded.tables["students"]["student_id"])[:n])
    return {name: (df[df["student_id"].isin(keep)] if "student_id" in df.columns else df).reset_index(drop=True)
            for name, df in loaded.tables.items()}


def test_engine_matches_pandas_reference(sim_loaded) -> None:  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        daily = build_daily(sim_loaded, FeatureConfig())
    ref = reference_daily(sim_loaded.tables, daily["date"].min(), daily["date"].max())
    assert len(ref) == len(daily) > 0
    cols = [c for c in ref.columns if c in REFERENCE_CHANNELS]
    assert len(cols) >= 12, f"the simulated campus lacks sources: {cols}"
    mine = daily[ref.columns].reset_index(drop=True)
    for c in ref.columns[2:]:
        a, b = mine[c].to_numpy(), ref[c].to_numpy()
        if a.dtype == bool:
            assert (a == b).all(), c
        else:
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=c)
    # and the reference is not trivially empty: values were observed and non-zero
    assert ref["card_meals"].gt(0).mean() > 0.3 and ref["door_in_count"].notna().mean() > 0.3


@pytest.fixture(scope="module")
def spark_cfg():  # type: ignore[no-untyped-def]
    pytest.importorskip("pyspark")
    cfg = FeatureConfig(engine="spark", spark_master="local[1]", windows=(7, 14),
                        spark_conf=(("spark.sql.shuffle.partitions", "1"), ("spark.sql.adaptive.enabled", "false"),
                                    ("spark.sql.codegen.wholeStage", "false")))
    yield cfg
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


def test_duckdb_and_spark_give_the_same_features(sim_loaded, spark_cfg, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # Spark may write a warehouse folder into the working directory
    tables = _subset(sim_loaded, 16)
    period_start = tables["calendar"]["date"].min()
    as_of = [period_start + pd.Timedelta(days=126)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        duck = build_features(tables, as_of, FeatureConfig(windows=(7, 14)))
        spark = build_features(tables, as_of, spark_cfg)
    assert duck.shape == spark.shape and duck.shape[0] == 16
    change = [c for c in duck.columns if "change_z" in c]
    assert duck[change].notna().any().any(), "the campus is too short to exercise change z-scores"
    pd.testing.assert_frame_equal(duck, spark, check_exact=False, rtol=1e-9, atol=1e-9)
