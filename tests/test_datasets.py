"""Snapshots, labels, exclusion, census screen, temporal splits and lazy sequence slicing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskmodel.datasets import (
    DatasetConfig,
    SequenceBatchDataset,
    SplitConfig,
    TemporalSplit,
    assert_no_label_overlap,
    assert_no_student_overlap,
    build_sequence_store,
    census_screen,
    crisis_labels,
    held_out_students,
    leave_one_year_out,
    snapshot_dates,
    temporal_split,
)

MON = pd.Timestamp("2024-10-07")  # a Monday


def _labels(events: list[tuple[str, str, int]], as_of: list[pd.Timestamp], **cfg) -> pd.DataFrame:
    st_ = pd.DataFrame({"student_id": ["a", "b"]})
    ev = pd.DataFrame(events, columns=["student_id", "occurred_on", "level"])
    return crisis_labels(st_, ev, pd.DatetimeIndex(as_of), DatasetConfig(**cfg)).set_index(["student_id", "as_of"])


@pytest.mark.parametrize(("offset", "label"), [(-1, 0), (0, 1), (13, 1), (27, 1), (28, 0)])
def test_label_window_is_as_of_day_through_27_days_after(offset: int, label: int) -> None:
    day = (MON + pd.Timedelta(days=offset)).date().isoformat()
    lab = _labels([("a", day, 1)], [MON])
    assert lab.loc[("a", MON), "label"] == label
    assert lab.loc[("b", MON), "label"] == 0
    if label:
        assert lab.loc[("a", MON), "days_to_event"] == offset


def test_min_level_filters_the_label() -> None:
    day = (MON + pd.Timedelta(days=3)).date().isoformat()
    assert _labels([("a", day, 1)], [MON], min_level=2).loc[("a", MON), "label"] == 0
    assert _labels([("a", day, 2)], [MON], min_level=2).loc[("a", MON), "label"] == 1


@pytest.mark.parametrize(("days_before", "excluded"), [(0, False), (1, True), (180, True), (181, False)])
def test_recent_crisis_excludes_for_180_days_before_as_of(days_before: int, excluded: bool) -> None:
    day = (MON - pd.Timedelta(days=days_before)).date().isoformat()
    lab = _labels([("a", day, 1)], [MON])
    assert bool(lab.loc[("a", MON), "excluded"]) is excluded
    assert not lab.loc[("b", MON), "excluded"]


def test_exclusion_can_be_disabled_and_any_level_excludes() -> None:
    day = (MON - pd.Timedelta(days=10)).date().isoformat()
    assert _labels([("a", day, 1)], [MON], min_level=3).loc[("a", MON), "excluded"]
    assert not _labels([("a", day, 1)], [MON], exclude_recent_days=0).loc[("a", MON), "excluded"]


def test_snapshot_dates_are_mondays_with_complete_label_windows() -> None:
    d = snapshot_dates("2024-09-01", "2025-01-31", DatasetConfig())
    assert (d.dayofweek == 0).all()
    assert d[0] >= pd.Timestamp("2024-09-29")
    assert (d[-1] + pd.Timedelta(days=28)) <= pd.Timestamp("2025-02-01")
    assert (d[-1] + pd.Timedelta(days=35)) > pd.Timestamp("2025-02-01")
    assert snapshot_dates("2024-09-01", "2024-09-20", DatasetConfig()).empty


def test_dataset_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="min_level"):
        DatasetConfig(min_level=4)
    with pytest.raises(ValueError, match="horizon_days"):
        DatasetConfig(horizon_days=0)


def test_census_screen_known_only_after_its_assessment_day() -> None:
    census = pd.DataFrame({"student_id": ["a", "a", "a"], "assessed_on": ["2024-10-01", "2024-10-01", "2024-10-07"],
                           "instrument": ["UPI", "PHQ-9", "UPI"], "screen_level": [1, 2, 3],
                           "key_item_positive": [False, True, False]})
    keys = pd.DataFrame({"student_id": ["a", "a", "a", "b"],
                         "as_of": pd.to_datetime(["2024-10-14", "2024-10-07", "2024-10-01", "2024-10-14"])})
    out = census_screen(census, keys)
    assert out["screen_level"].tolist()[:2] == [3.0, 2.0]  # the as-of day's own census is not known yet
    assert out["screen_key_item"].tolist()[:2] == [0.0, 1.0]
    assert np.isnan(out["screen_level"].iloc[2]) and np.isnan(out["screen_level"].iloc[3])
    assert out["student_id"].tolist() == keys["student_id"].tolist()


# -- splits ---------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(n=st.integers(20, 120), vf=st.floats(0.05, 0.3), tf=st.floats(0.05, 0.3), horizon=st.integers(7, 42),
       gap=st.integers(0, 60))
def test_fraction_split_never_lets_label_windows_overlap(n: int, vf: float, tf: float, horizon: int, gap: int) -> None:
    dates = pd.date_range("2023-09-04", periods=n, freq="7D")
    try:
        s = temporal_split(dates, SplitConfig(valid_fraction=vf, test_fraction=tf, gap_days=gap), horizon)
    except ValueError as exc:
        assert "empty" in str(exc)
        return
    assert s.train.max() + pd.Timedelta(days=horizon) <= s.valid.min()
    assert s.valid.max() + pd.Timedelta(days=horizon) <= s.test.min()
    # and no crisis day can be the label of a train row and a test row
    train_days = {d + pd.Timedelta(days=k) for d in s.train for k in range(horizon)}
    test_days = {d + pd.Timedelta(days=k) for d in s.test for k in range(horizon)}
    assert not train_days & test_days
    assert len(set(s.train) | set(s.valid) | set(s.test)) == len(s.train) + len(s.valid) + len(s.test)


@settings(max_examples=60, deadline=None)
@given(ids=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=60, unique=True),
       share=st.floats(0.05, 0.95), seed=st.integers(0, 10_000), data=st.data())
def test_a_students_side_depends_only_on_its_id(ids: list[str], share: float, seed: int, data) -> None:  # type: ignore[no-untyped-def]
    full = held_out_students(pd.Series(ids), share, seed)
    subset = data.draw(st.lists(st.sampled_from(ids), min_size=1, max_size=len(ids)))
    want = dict(zip(ids, full, strict=True))
    got = held_out_students(pd.Series(subset), share, seed)
    assert [want[i] for i in subset] == got.tolist()  # other students, order and repeats do not matter
    assert not held_out_students(pd.Series(ids), 0.0, seed).any()


def test_held_out_share_is_close_to_the_config_and_seeds_differ() -> None:
    ids = pd.Series([f"p{i:05d}" for i in range(20_000)])
    a, b = held_out_students(ids, 0.3, 0), held_out_students(ids, 0.3, 1)
    assert abs(a.mean() - 0.3) < 0.015 and abs(b.mean() - 0.3) < 0.015
    assert (a != b).mean() > 0.3  # another seed draws another hold-out
    with pytest.raises(ValueError, match="test_students"):
        SplitConfig(test_students=1.0)


def test_student_overlap_check_catches_a_shared_student() -> None:
    assert_no_student_overlap(pd.Series(["a", "a", "b"]), pd.Series(["train", "valid", "test"]))
    with pytest.raises(AssertionError, match="1 student"):
        assert_no_student_overlap(pd.Series(["a", "b", "a"]), pd.Series(["train", "test", "test"]))


def test_date_split_and_year_split() -> None:
    dates = pd.date_range("2023-09-04", "2025-07-28", freq="7D")
    s = temporal_split(dates, SplitConfig(kind="dates", valid_start="2024-03-04", test_start="2024-09-02"), 28)
    assert s.test.min() >= pd.Timestamp("2024-09-02") and s.valid.min() >= pd.Timestamp("2024-03-04")
    y = temporal_split(dates, SplitConfig(kind="year"), 28)
    assert y.test.min() >= pd.Timestamp("2024-09-01") and y.train.max() < pd.Timestamp("2024-09-01")
    assert_no_label_overlap(y, 28)
    with pytest.raises(ValueError, match="two academic years"):
        temporal_split(dates[:30], SplitConfig(kind="year"), 28)


def test_overlap_check_catches_a_bad_split() -> None:
    d = pd.date_range("2024-01-01", periods=10, freq="7D")
    bad = TemporalSplit(train=d[:5], valid=d[5:7], test=d[8:], gap_days=0)
    with pytest.raises(AssertionError, match="overlap"):
        assert_no_label_overlap(bad, 28)


def test_leave_one_year_out_embargoes_both_sides() -> None:
    dates = pd.date_range("2022-09-05", "2025-07-28", freq="7D")
    folds = leave_one_year_out(dates, horizon_days=28)
    assert [y for y, _, _ in folds] == [2022, 2023, 2024]
    for _, train, test in folds:
        before, after = train[train < test.min()], train[train > test.max()]
        assert len(before) == 0 or before.max() + pd.Timedelta(days=28) <= test.min()
        assert len(after) == 0 or after.min() >= test.max() + pd.Timedelta(days=28)
        assert not set(train) & set(test)
    assert leave_one_year_out(dates[:20], 28) == []


# -- sequences -------------------------------------------------------------------------------
def _daily() -> pd.DataFrame:
    dates = pd.date_range("2024-09-02", periods=20)
    rows = []
    for sid, base in (("a", 0.0), ("b", 100.0)):
        for i, d in enumerate(dates):
            if sid == "b" and i == 5:
                continue  # a missing day
            rows.append({"student_id": sid, "date": d, "card__observed": i != 3, "x": base + i,
                         "y": np.nan if i == 4 else 2.0 * i})
    return pd.DataFrame(rows)


def test_sequence_slice_is_the_days_strictly_before_as_of() -> None:
    store = build_sequence_store(_daily(), sequence_days=7)
    as_of = pd.Series(pd.to_datetime(["2024-09-12", "2024-09-12", "2024-09-04"]))
    ds = SequenceBatchDataset(store, pd.Series(["a", "b", "a"]), as_of, np.array([1, 0, 0]))
    x, m, y = ds.batch(np.arange(3))
    assert x.shape == (3, 7, 3) and x.dtype == np.float32 and m.shape == (3, 7)
    ch = store.channels.index("x")
    # as-of 2024-09-12 is day 10: the window is days 3..9
    assert x[0, :, ch].tolist() == [3, 4, 5, 6, 7, 8, 9]
    assert m[0].tolist() == [0, 1, 1, 1, 1, 1, 1]  # day 3 has no observed flag
    assert m[1, 2] == 0 and np.isnan(x[1, 2, ch])  # b's missing day 5
    assert m[2, :5].sum() == 0 and x[2, 5:, ch].tolist() == [0, 1]  # padded before the data start
    assert np.isnan(x[0, 1, store.channels.index("y")])
    xi, mi, yi = ds[0]
    assert np.array_equal(xi, x[0], equal_nan=True) and yi == 1.0


def test_sequence_dataset_holds_indices_not_windows() -> None:
    store = build_sequence_store(_daily(), sequence_days=7)
    ids = pd.Series(["a", "b"] * 50)
    ds = SequenceBatchDataset(store, ids, pd.Series([pd.Timestamp("2024-09-12")] * 100))
    big = [v for v in vars(ds).values() if isinstance(v, np.ndarray) and v.ndim > 1]
    assert big == []  # nothing of size snapshots x days was built
    assert ds.s.shape == (100,) and ds.end.shape == (100,)
    with pytest.raises(KeyError, match="absent from the daily"):
        SequenceBatchDataset(store, pd.Series(["zz"]), pd.Series([pd.Timestamp("2024-09-12")]))


def test_labels_when_no_event_falls_in_any_window() -> None:
    far = (MON - pd.Timedelta(days=400)).date().isoformat()
    lab = _labels([("a", far, 2)], [MON, MON + pd.Timedelta(days=7)])
    assert lab["label"].tolist() == [0, 0, 0, 0] and lab["days_to_event"].isna().all()
    assert not lab["excluded"].any()


# -- roster ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("year", "degree", "as_of", "want"), [
    (2020, "undergraduate", "2024-06-24", True),   # last week of the final year
    (2020, "undergraduate", "2024-07-01", False),  # graduated on June 30
    (2024, "master", "2024-08-26", False),         # not arrived yet
    (2024, "master", "2024-09-02", True),          # arrived on September 1
    (2021, "master", "2024-07-01", False),
    (2020, "doctoral", "2024-09-02", True),        # five nominal years
    (None, "master", "2030-01-01", True),          # unknown year: always
    (2010, "unknown", "2024-09-02", True),         # unknown degree: no end
])
def test_on_roster_follows_enrolment_and_nominal_length(year, degree, as_of, want) -> None:  # type: ignore[no-untyped-def]
    from riskmodel.datasets import on_roster

    st = pd.DataFrame({"student_id": ["s"], "enrollment_year": pd.array([year], dtype="Int64"),
                       "degree_level": [degree]})
    got = on_roster(st, pd.Series([pd.Timestamp(as_of)]), pd.Series(["s"]), DatasetConfig())
    assert got.tolist() == [want]
    assert on_roster(st, pd.Series([pd.Timestamp(as_of)]), pd.Series(["s"]),
                     DatasetConfig(program_years={})).tolist() == [year is None or pd.Timestamp(as_of)
                                                                   >= pd.Timestamp(f"{year}-09-01")]


def test_snapshots_exist_exactly_while_the_simulated_student_is_on_campus(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from riskmodel.simulate import SimConfig, simulate_to_folder

    cfg = SimConfig(students=150, start="2023-09-01", days=400, seed=2)
    simulate_to_folder(cfg, tmp_path)
    students = pd.read_parquet(tmp_path / "students.parquet")
    truth = pd.read_parquet(tmp_path / "truth" / "population.parquet")
    as_of = snapshot_dates("2023-09-01", "2024-10-04", DatasetConfig())
    lab = crisis_labels(students, None, as_of, DatasetConfig())
    day = (lab["as_of"] - pd.Timestamp("2023-09-01")).dt.days
    t = truth.set_index(truth["student_id"].astype(str)).reindex(lab["student_id"].astype(str))
    active = (day.to_numpy() >= t["active_from_day"].to_numpy()) & (day.to_numpy() < t["active_to_day"].to_numpy())
    assert active.all()  # nobody is scored before arrival or after graduation
    days = (as_of - pd.Timestamp("2023-09-01")).days.to_numpy()
    n_active = sum(int(((days >= a) & (days < b)).sum())
                   for a, b in zip(truth["active_from_day"], truth["active_to_day"], strict=True))
    assert len(lab) == n_active  # and everybody on campus is
    assert (truth["active_to_day"] < 400).any() and (truth["active_from_day"] > 0).any()  # both cases occur
