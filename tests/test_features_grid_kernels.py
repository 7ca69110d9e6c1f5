"""The compiled one-pass loops of :mod:`riskmodel.features.grid_kernels` against plain pandas
group-bys on random events: swipes outside the grid's days, swipes without a merchant, the
same merchant twice in a day, sessions past midnight and past 24 h."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from riskmodel.features.asof import DAY_S, HOUR_S
from riskmodel.features.grid_kernels import card_day_sums, network_day_sums, segment_term_sums


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(0, 200), n_students=st.integers(1, 4), n_days=st.integers(1, 5))
def test_card_day_sums_equal_a_group_by(seed: int, n: int, n_students: int, n_days: int) -> None:
    rng = np.random.default_rng(seed)
    first_day = 100
    ev = pd.DataFrame({
        "sidx": rng.integers(0, n_students, n), "day": first_day + rng.integers(-1, n_days + 1, n),
        "cat": rng.integers(0, 4, n).astype(np.int8), "mcode": rng.integers(-1, 3, n),
        "amount": rng.integers(1, 40, n) / 4.0, "cslot": rng.integers(-1, 3, n), "cbin": rng.integers(-1, 10, n)})
    count, slots, spend, has_cat, total, merchants, bins = card_day_sums(
        *(ev[c].to_numpy() for c in ("sidx", "day", "cat", "mcode", "amount", "cslot", "cbin")),
        first_day, n_days, n_students, 10)
    on = ev[(ev["day"] >= first_day) & (ev["day"] < first_day + n_days)]
    pos = on["sidx"] * n_days + on["day"] - first_day
    g = on.groupby(pos)
    size = n_students * n_days

    def dense(s: pd.Series, fill: float = 0) -> np.ndarray:
        return s.reindex(range(size), fill_value=fill).to_numpy()

    np.testing.assert_array_equal(count, dense(g.size()))
    np.testing.assert_allclose(total, dense(g["amount"].sum()))
    np.testing.assert_array_equal(merchants, dense(on[on["mcode"] >= 0].groupby(pos)["mcode"].nunique()))
    for k in range(3):
        np.testing.assert_array_equal(slots[k], dense(on[on["cslot"] == k].groupby(pos).size()) > 0)
        np.testing.assert_allclose(spend[k], dense(on[on["cat"] == k].groupby(pos)["amount"].sum()))
        np.testing.assert_array_equal(has_cat[k], dense(on[on["cat"] == k].groupby(pos).size()) > 0)
    for k in range(10):
        np.testing.assert_array_equal(bins[k], dense(on[on["cbin"] == k].groupby(pos).size()))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(0, 60))
def test_network_day_sums_split_sessions_at_midnight(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    first_day, n_days, n_students = 50, 3, 2
    start = (first_day - 1) * DAY_S + rng.integers(0, (n_days + 1) * DAY_S, n)
    end = start + rng.integers(0, 30 * HOUR_S, n)  # some run past midnight, some past 24 h
    sidx = rng.integers(0, n_students, n)
    rows, started, secs, late = network_day_sums(sidx, start, end, first_day, n_days, n_students)
    want = {k: np.zeros(n_students * n_days, dtype=np.int64) for k in ("rows", "started", "secs", "late")}
    for s, a, b in zip(sidx, start, end, strict=True):  # second by second is too slow: by day
        b = min(b, a + DAY_S)
        for day in (a // DAY_S, a // DAY_S + 1):
            lo, hi = max(a, day * DAY_S), min(b, (day + 1) * DAY_S)
            if (day > a // DAY_S and hi <= lo) or not first_day <= day < first_day + n_days:
                continue
            p = s * n_days + day - first_day
            want["rows"][p] += 1
            want["started"][p] += day == a // DAY_S
            want["secs"][p] += hi - lo
            want["late"][p] += max(min(hi, day * DAY_S + 5 * HOUR_S) - lo, 0)
    for k, got in zip(("rows", "started", "secs", "late"), (rows, started, secs, late), strict=True):
        np.testing.assert_array_equal(got, want[k], err_msg=k)


def test_segment_term_sums_equal_bincount_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    key = rng.integers(0, 7, 500)
    valid = rng.random(500) > 0.2
    x = np.where(valid, rng.normal(size=500) * 1e3, np.nan)
    i = rng.integers(0, 365, 500).astype("float64")
    n, s = valid.astype("float64"), np.where(valid, x, 0.0)
    want = {"n": n, "s": s, "q": s * s, "ni": n * i, "nii": n * i * i, "si": s * i}
    every = np.ones(6, dtype=bool)
    got = segment_term_sums(key, valid, x, i, every, 7)
    for row, (kind, w) in enumerate(want.items()):
        np.testing.assert_array_equal(got[row], np.bincount(key, weights=w, minlength=7), err_msg=kind)
    only_q = segment_term_sums(key, valid, x, i, np.array([False, False, True, False, False, False]), 7)
    assert not only_q[[0, 1, 3, 4, 5]].any() and np.array_equal(only_q[2], got[2])
