"""Window features as numpy kernels (DuckDB fast path) against the ibis joins and windows.

Both must give the same rows and values on any dense daily table and any as-of dates: weekly
dates (where the ibis path takes the change medians as window aggregates) and irregular ones
(where it fans the blocks out and groups), dates before the table starts (no row), missing
values anywhere, other window lengths and change settings. A wrong column index would read
another week's or another student's running sums, which only a value-by-value comparison
catches.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskmodel.contracts import load_sources
from riskmodel.features import FeatureConfig, build_daily, build_features, weekly_as_of_dates
from riskmodel.features.backends import connect, register_frames
from riskmodel.features.registry import registry_for
from riskmodel.features.windows import WINDOW_AGGS, window_features_expr
from riskmodel.features.windows_grid import daily_segment_sums, robust_stats

FIRST_DAY = 19_800  # a Monday is 19_802 (day 0 = 1970-01-01, a Thursday)


def _window_specs(cfg: FeatureConfig) -> list:  # type: ignore[type-arg]
    return [s for s in registry_for(cfg) if s.aggregate in WINDOW_AGGS]


def _random_daily(seed: int, n_students: int, n_days: int, nan_share: float, specs: list) -> pd.DataFrame:  # type: ignore[type-arg]
    """A dense daily table with every column the specs read: small counts (ties, zeros and
    constant stretches, the formulas' edge cases) times a scale, NaN at random."""
    rng = np.random.default_rng(seed)
    n = n_students * n_days
    frame = pd.DataFrame({"student_id": np.repeat([f"S{k}" for k in range(n_students)], n_days),
                          "day": np.tile(np.arange(FIRST_DAY, FIRST_DAY + n_days, dtype="int64"), n_students)})
    for col in sorted({c for s in specs for c in (s.channel, *s.inputs) if c}):
        x = rng.integers(0, 4, n) * rng.choice([1.0, 0.5, 37.25])
        x[rng.random(n) < nan_share] = np.nan
        frame[col] = x
    return frame


def _windows(frame: pd.DataFrame, as_of_days: list[int], specs: list, cfg: FeatureConfig) -> pd.DataFrame:  # type: ignore[type-arg]
    con = connect(cfg)
    frame = frame.sample(frac=1.0, random_state=len(frame))  # row order must not matter
    daily = register_frames(con, {"daily": frame})["daily"]
    last = int(frame["day"].max())
    expr = window_features_expr(daily, as_of_days, FIRST_DAY, last, specs, cfg, con=con)
    return con.execute(expr).sort_values(["student_id", "as_of_day"]).reset_index(drop=True)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), n_students=st.integers(1, 4), n_days=st.integers(15, 130),
       nan_share=st.sampled_from([0.0, 0.3, 0.9]), weekly=st.booleans(),
       windows=st.sets(st.sampled_from([3, 7, 14, 28]), min_size=1).map(lambda w: tuple(sorted(w))),
       recent=st.sampled_from([7, 14]), baseline_weeks=st.integers(2, 6), min_blocks=st.integers(1, 4),
       picks=st.lists(st.integers(-10, 140), min_size=1, max_size=8))
def test_numpy_windows_equal_ibis_windows(seed: int, n_students: int, n_days: int, nan_share: float,
                                          weekly: bool, windows: tuple[int, ...], recent: int,
                                          baseline_weeks: int, min_blocks: int, picks: list[int]) -> None:
    cfg = FeatureConfig(threads=1, windows=windows, change_recent_days=recent,
                        change_baseline_days=7 * baseline_weeks, change_min_blocks=min_blocks)
    specs = _window_specs(cfg)
    frame = _random_daily(seed, n_students, n_days, nan_share, specs)
    last_as_of = FIRST_DAY + n_days  # the table must reach the day before every as-of date
    if weekly:  # Mondays, some before the table starts
        as_of_days = list(range(FIRST_DAY - 12, last_as_of + 1, 7))
    else:
        as_of_days = sorted({min(FIRST_DAY + p, last_as_of) for p in picks})
    fast = _windows(frame, as_of_days, specs, cfg)
    slow = _windows(frame, as_of_days, specs, replace(cfg, numpy_kernels=False))
    assert len(fast) > 0 or len(slow) == 0
    pd.testing.assert_frame_equal(fast, slow, check_exact=False, rtol=1e-9, atol=1e-9)


def test_threads_do_not_change_a_value() -> None:
    """Segment sums and formulas run on threads when DuckDB has several: same bits as one."""
    cfg = FeatureConfig(threads=1)
    specs = _window_specs(cfg)
    frame = _random_daily(11, 5, 120, 0.3, specs)
    as_of_days = list(range(FIRST_DAY + 2, FIRST_DAY + 121, 7))
    one = _windows(frame, as_of_days, specs, cfg)
    two = _windows(frame, as_of_days, specs, replace(cfg, threads=2))
    pd.testing.assert_frame_equal(one, two, check_exact=True)


def test_daily_segment_sums_refuse_a_student_without_a_segment() -> None:
    """Student B has no row in the second segment (days 2-3): the running sums would not be
    a students x segments grid, so the group-by and window path is used."""
    import pyarrow as pa

    frame = pd.DataFrame({"student_id": np.repeat(["A", "B"], 5), "day": np.tile(np.arange(5), 2),
                          "x": np.arange(10, dtype="float64")})
    frame = frame[~((frame.student_id == "B") & frame.day.isin([2, 3]))]
    got = daily_segment_sums(pa.Table.from_pandas(frame, preserve_index=False), 0, 4, np.array([1, 3]),
                             [("s", "x")])
    assert got is None


def test_daily_segment_sums_by_hand() -> None:
    """Segments end on the lookup days (1 and 3); day 4 lies after the last one."""
    import pyarrow as pa

    frame = pd.DataFrame({"student_id": np.repeat(["B", "A"], 5), "day": np.tile(np.arange(5), 2),
                          "x": [1.0, 2.0, None, 4.0, 5.0, 10.0, 20.0, 30.0, None, 50.0]})
    got = daily_segment_sums(pa.Table.from_pandas(frame.iloc[::-1], preserve_index=False), 0, 4,
                             np.array([1, 3]), [("s", "x"), ("n", "x"), ("si", "x")])
    assert got is not None
    assert got.students.to_pylist() == ["A", "B"] and got.segs.tolist() == [0, 1]
    np.testing.assert_array_equal(got.sums["s__x"], [[30.0, 60.0], [3.0, 7.0]])
    np.testing.assert_array_equal(got.sums["n__x"], [[2.0, 3.0], [2.0, 3.0]])
    np.testing.assert_array_equal(got.sums["si__x"], [[20.0, 80.0], [2.0, 14.0]])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), n_students=st.integers(1, 4), n_days=st.integers(1, 20),
       n_cuts=st.integers(0, 6), nan_share=st.sampled_from([0.0, 0.3, 1.0]))
def test_daily_segment_sums_read_arrow_chunks_in_place(seed: int, n_students: int, n_days: int, n_cuts: int,
                                                      nan_share: float) -> None:
    """Values and validity bitmaps are read from the Arrow chunks in place (slices with
    offsets, chunks without NULLs, all-NULL chunks, an integer column cast to float): the
    sums equal ``np.bincount`` of the same terms, bit for bit, however the table is cut."""
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    n = n_students * n_days
    day = np.tile(np.arange(n_days), n_students)
    x = rng.integers(0, 5, n) * 0.37
    x[rng.random(n) < nan_share] = np.nan
    table = pa.table({"student_id": np.repeat([f"S{k}" for k in range(n_students)], n_days), "day": day,
                      "x": pa.array(x, mask=np.isnan(x)), "y": rng.integers(0, 9, n)})
    cuts = np.unique(np.concatenate(([0, n], rng.integers(0, n + 1, n_cuts))))
    batch = table.combine_chunks().to_batches()[0]
    chunked = pa.Table.from_batches([batch.slice(a, b - a) for a, b in zip(cuts[:-1], cuts[1:], strict=True)])
    lookup = np.unique(np.append(rng.integers(0, n_days, 3), n_days - 1))
    terms = [(k, c) for c in ("x", "y") for k in ("n", "s", "q", "ni", "nii", "si")]
    got = daily_segment_sums(chunked, 0, n_days - 1, lookup, terms)
    assert got is not None
    key = np.repeat(np.arange(n_students), n_days) * len(lookup) + np.searchsorted(lookup, day)
    i = day.astype("float64")
    for c, v in (("x", x), ("y", table.column("y").to_numpy().astype("float64"))):
        ok = ~np.isnan(v)
        cnt, val = ok.astype("float64"), np.where(ok, v, 0.0)
        weights = {"n": cnt, "s": val, "q": val * val, "ni": cnt * i, "nii": cnt * i * i, "si": val * i}
        for k, w in weights.items():
            want = np.cumsum(np.bincount(key, w, minlength=n_students * len(lookup)).reshape(n_students, -1), axis=1)
            np.testing.assert_array_equal(got.sums[f"{k}__{c}"], want, err_msg=f"{k}__{c}")


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.lists(st.one_of(st.none(), st.floats(-1e3, 1e3)), min_size=1, max_size=9),
                     min_size=1, max_size=5))
def test_robust_stats_are_nan_median_and_mad(rows: list[list[float | None]]) -> None:
    width = max(len(r) for r in rows)
    x = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        x[i, :len(r)] = [np.nan if v is None else v for v in r]
    med, mad, count = robust_stats(x)
    for i in range(len(rows)):
        vals = x[i][~np.isnan(x[i])]
        assert count[i] == len(vals)
        if len(vals) == 0:
            assert np.isnan(med[i]) and np.isnan(mad[i])
            continue
        assert med[i] == pytest.approx(np.median(vals), rel=1e-12, abs=1e-12)
        assert mad[i] == pytest.approx(np.median(np.abs(vals - np.median(vals))), rel=1e-12, abs=1e-9)


@pytest.mark.slow
def test_simulated_campus_features_equal_both_ways(sim_campus_dir, sim_key) -> None:  # type: ignore[no-untyped-def]
    """Every feature of the simulated campus, weekly and on irregular dates, both ways."""
    loaded = load_sources(sim_campus_dir, key=sim_key)
    cal = loaded.tables["calendar"]["date"]
    weekly = weekly_as_of_dates(cal.min() + pd.Timedelta(days=7), cal.max())
    irregular = [cal.min() + pd.Timedelta(days=d) for d in (3, 40, 41, 97, 150)]
    cfg = FeatureConfig(threads=2, chunk_students=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        daily = build_daily(loaded, cfg)
        for as_of in (weekly, irregular):
            fast = build_features(loaded, as_of, cfg, daily=daily)
            slow = build_features(loaded, as_of, replace(cfg, numpy_kernels=False), daily=daily)
            assert fast.shape == slow.shape and fast.shape[0] > 0
            # the segment sums are added in another order (numpy along days, DuckDB by hash
            # group); a std or trend is a difference of running sums of ~1e7 (minutes
            # squared over a year), so last-bit differences reach ~1e-8 of a small std
            pd.testing.assert_frame_equal(fast, slow, check_exact=False, rtol=1e-6, atol=1e-9)
