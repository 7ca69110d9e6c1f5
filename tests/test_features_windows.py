"""The running sums of the window features: the numpy cumsum (DuckDB) against the window.

The fast path must give the window's sums on every students x segments grid, and must refuse
(return None, so the engine falls back to the window) when the grid is ragged or has NULLs:
summing across a student boundary would leak one student's behaviour into another's features.
"""

from __future__ import annotations

import gc

import ibis
import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from riskmodel.features.backends import connect, register_frames, temp_arrow_table
from riskmodel.features.config import FeatureConfig
from riskmodel.features.windows_grid import segment_sums

TERMS = ["s__a", "n__a", "q__b"]


def _running_sums_in_memory(g, terms, con):  # type: ignore[no-untyped-def]
    """The engine's fast path: the group-by's rows fetched sorted, cumsum on the grid."""
    sums = segment_sums(con.to_pyarrow(g.order_by(["student_id", "seg"])), terms)
    return None if sums is None else temp_arrow_table(con, sums.table(), "rm_running_sums")


def _window_sums(con, g):  # type: ignore[no-untyped-def]
    w = ibis.window(group_by=g.student_id, order_by=g.seg, rows=(None, 0))
    expr = g.select("student_id", "seg", **{t: g[t].sum().over(w) for t in TERMS})
    return con.execute(expr.order_by(["student_id", "seg"])).reset_index(drop=True)


def _grid(n_students: int, segs: list[int], values: np.ndarray) -> pd.DataFrame:
    ids = [f"S{k:03d}" for k in range(n_students)]
    frame = pd.DataFrame({"student_id": np.repeat(ids, len(segs)), "seg": np.tile(segs, n_students)})
    for j, t in enumerate(TERMS):
        frame[t] = values[:, j]
    return frame.sample(frac=1.0, random_state=0)  # row order must not matter


@settings(max_examples=25, deadline=None)
@given(n_students=st.integers(1, 6), first_seg=st.integers(0, 5), n_seg=st.integers(1, 9),
       seed=st.integers(0, 2**16))
def test_fast_path_equals_window_on_a_grid(n_students: int, first_seg: int, n_seg: int, seed: int) -> None:
    con = connect(FeatureConfig(threads=1))
    rng = np.random.default_rng(seed)
    values = rng.normal(0, 100, (n_students * n_seg, len(TERMS)))
    g = register_frames(con, {"g": _grid(n_students, list(range(first_seg, first_seg + n_seg)), values)})["g"]
    fast = _running_sums_in_memory(g, TERMS, con)
    assert fast is not None
    got = con.execute(fast.order_by(["student_id", "seg"])).reset_index(drop=True)
    pd.testing.assert_frame_equal(got[["student_id", "seg", *TERMS]], _window_sums(con, g), check_dtype=False,
                                  rtol=1e-12, atol=1e-9)


def test_ragged_grid_falls_back() -> None:
    """Student S001 lacks segment 2: a reshape would sum across the student boundary."""
    con = connect(FeatureConfig(threads=1))
    frame = _grid(2, [0, 1, 2], np.ones((6, len(TERMS))))
    frame = frame[~((frame.student_id == "S001") & (frame.seg == 2))]
    g = register_frames(con, {"g": frame})["g"]
    assert _running_sums_in_memory(g, TERMS, con) is None


def test_nulls_fall_back() -> None:
    con = connect(FeatureConfig(threads=1))
    frame = _grid(2, [0, 1], np.ones((4, len(TERMS))))
    frame.loc[frame.index[0], "s__a"] = np.nan
    g = register_frames(con, {"g": frame})["g"]
    assert _running_sums_in_memory(g, TERMS, con) is None


def test_running_sums_table_is_dropped_when_unused() -> None:
    con = connect(FeatureConfig(threads=1))
    g = register_frames(con, {"g": _grid(3, [0, 1, 2], np.ones((9, len(TERMS))))})["g"]
    fast = _running_sums_in_memory(g, TERMS, con)
    assert fast is not None
    name = fast.op().name
    assert name in con.list_tables()
    del fast
    gc.collect()
    assert name not in con.list_tables()


def test_empty_input_falls_back() -> None:
    con = connect(FeatureConfig(threads=1))
    frame = pd.DataFrame({"student_id": pd.Series([], dtype=str), "seg": pd.Series([], dtype="int64"),
                          **{t: pd.Series([], dtype="float64") for t in TERMS}})
    g = register_frames(con, {"g": frame})["g"]
    assert _running_sums_in_memory(g, TERMS, con) is None
