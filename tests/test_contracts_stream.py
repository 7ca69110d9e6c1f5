"""load_sources_to_parquet: the same contract outcome as load_sources, in bounded parts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from riskmodel.contracts import ContractError, load_sources, load_sources_to_parquet
from riskmodel.simulate import SimConfig, simulate_to_folder

from campus_fixture import RAW_IDS, TEST_KEY, tiny_campus, write_campus

KEY = "stream-key-0123456789abcdef"


def _sorted(f: pd.DataFrame) -> pd.DataFrame:
    return f.sort_values(list(f.columns), kind="stable").reset_index(drop=True)


@pytest.fixture(scope="module")
def faulty_campus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = SimConfig(students=120, days=40, seed=5)
    cfg.faults.enabled = True
    out = tmp_path_factory.mktemp("stream") / "campus"
    simulate_to_folder(cfg, out)
    return out


def test_parts_give_the_same_tables_quarantine_and_report(faulty_campus: Path, tmp_path: Path) -> None:
    whole = load_sources(faulty_campus, KEY)
    parts = load_sources_to_parquet(faulty_campus, tmp_path / "store", KEY, max_rows_in_memory=2_000)
    assert parts.stored, "no table was large enough to be validated in parts"
    assert "door_events" in parts.stored and "students" in parts.tables
    assert len(list(parts.stored["card_transactions"].glob("part-*.parquet"))) > 2
    for table, frame in whole.tables.items():
        got = parts[table]
        pd.testing.assert_frame_equal(_sorted(got), _sorted(frame), check_dtype=True, obj=table)
        q_want, q_got = whole.quarantine[table], parts.quarantine[table]
        if len(q_want):  # same rows (by source row number) for the same reasons
            pd.testing.assert_frame_equal(q_got.reset_index(drop=True),
                                          q_want.sort_values("source_row").reset_index(drop=True), obj=table)
        else:
            assert q_got.empty, table
    assert whole.report.rows_quarantined > 0  # the planted faults are there to be found
    assert parts.report.to_frame().equals(whole.report.to_frame())
    assert parts.report.period == whole.report.period
    # nothing with a raw id stays behind: only accepted (pseudonymised) parts
    left = sorted(p.relative_to(tmp_path / "store").parts[0] for p in (tmp_path / "store").rglob("*.parquet"))
    assert set(left) == set(parts.stored)
    raw_ids = set(pd.read_parquet(faulty_campus / "students.parquet")["student_id"].astype(str))
    assert not raw_ids & set(parts["door_events"]["student_id"])


def test_one_part_per_table_when_everything_fits(faulty_campus: Path, tmp_path: Path) -> None:
    parts = load_sources_to_parquet(faulty_campus, tmp_path / "s", KEY)
    assert parts.stored == {} and set(parts.tables) == set(load_sources(faulty_campus, KEY).tables)


def test_csv_parts_name_source_rows_of_the_file(tmp_path: Path) -> None:
    campus = tiny_campus()
    campus["card_transactions"].loc[0, "amount"] = -2.0
    campus["card_transactions"].loc[2, "category"] = "karaoke"
    campus["door_events"].loc[1, "student_id"] = "5555555555"
    write_campus(campus, tmp_path / "data", "csv")
    parts = load_sources_to_parquet(tmp_path / "data", tmp_path / "store", TEST_KEY, max_rows_in_memory=3)
    whole = load_sources(tmp_path / "data", TEST_KEY)
    assert "card_transactions" in parts.stored
    assert sorted(parts.quarantine["card_transactions"]["source_row"]) == [0, 2]
    assert parts.quarantine["door_events"]["source_row"].tolist() == [1]
    assert parts.report.to_frame().equals(whole.report.to_frame())
    for raw in RAW_IDS:
        assert raw not in set(parts["card_transactions"]["student_id"])


def test_a_table_level_fault_in_a_part_names_the_source_row(tmp_path: Path) -> None:
    campus = tiny_campus()
    campus["door_events"] = campus["door_events"].drop(columns="direction")
    write_campus(campus, tmp_path / "data", "csv")
    with pytest.raises(ContractError, match="door_events.direction: rule 'required_column'"):
        load_sources_to_parquet(tmp_path / "data", tmp_path / "store", TEST_KEY, max_rows_in_memory=3)
    with pytest.raises(ValueError, match="positive"):
        load_sources_to_parquet(tmp_path / "data", tmp_path / "store", TEST_KEY, max_rows_in_memory=0)


def test_stored_tables_feed_the_feature_engine(faulty_campus: Path, tmp_path: Path) -> None:
    from riskmodel.features import FeatureConfig, build_feature_store, build_features, read_features
    from riskmodel.features.backends import connect

    as_of = pd.DatetimeIndex(["2023-10-02", "2023-10-09"])
    want = build_features(load_sources(faulty_campus, KEY), as_of)
    parts = load_sources_to_parquet(faulty_campus, tmp_path / "store", KEY, max_rows_in_memory=2_000)
    cfg = FeatureConfig(chunk_students=50)
    con = connect(cfg)
    paths = build_feature_store(parts.ibis_tables(con), as_of, tmp_path / "feats", cfg, daily=False, con=con)
    pd.testing.assert_frame_equal(read_features(paths["features"]), want)
