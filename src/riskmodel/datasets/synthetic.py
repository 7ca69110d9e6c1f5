"""A small synthetic campus with a planted signal, for tests and notebooks of the model layer.

It is *not* the simulator (``riskmodel.simulate``) and not the feature engine: it makes, in a
second, the shapes the model layer consumes -- a roster, crisis events, census rows, a daily
behaviour table (``student_id``, ``date``, observed flags, channels), window features per
(student, as-of) computed strictly before the as-of date, and an oracle risk -- with raw ids,
so tests can pseudonymise them as the loader would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

CHANNELS = ("card__meals", "door__late_return", "library__visits", "network__hours")


@dataclass
class SyntheticCampus:
    students: pd.DataFrame
    crisis_events: pd.DataFrame
    census: pd.DataFrame
    daily: pd.DataFrame
    oracle: pd.DataFrame  # student_id, as_of, oracle
    start: pd.Timestamp
    end: pd.Timestamp  # last day (inclusive)
    truth_wellbeing: np.ndarray  # (students, days)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def synthetic_campus(n_students: int = 300, days: int = 150, start: str = "2024-09-02", seed: int = 0,
                     hazard_base: float = -6.2, hazard_beta: float = 1.6) -> SyntheticCampus:
    """A campus whose crises follow a latent well-being that also moves the daily channels."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start).normalize()
    dates = pd.date_range(t0, periods=days, freq="D")
    ids = [f"2024{i:06d}" for i in range(n_students)]
    trait = rng.normal(0, 0.6, n_students)
    w = np.zeros((n_students, days))
    state = rng.normal(0, 0.5, n_students)
    for d in range(days):
        state = 0.95 * state + rng.normal(0, 0.22, n_students)
        w[:, d] = trait + state
    hazard = _sigmoid(hazard_base - hazard_beta * w)
    crisis = rng.random((n_students, days)) < hazard
    si, di = np.nonzero(crisis)
    level = rng.choice([1, 2, 3], size=len(si), p=[0.65, 0.3, 0.05])
    events = pd.DataFrame({"student_id": np.array(ids)[si], "occurred_on": dates[di].date, "level": level,
                           "category": "severe_episode"})
    students = pd.DataFrame({
        "student_id": ids, "college": rng.choice(["CS", "Math", "Law"], n_students),
        "major": "m", "class_id": "c", "degree_level": rng.choice(["undergraduate", "master"], n_students, p=[.7, .3]),
        "enrollment_year": 2024, "gender": rng.choice(["F", "M"], n_students), "dorm_building": "B1",
        "dorm_room": "B1-1", "counselor_id": "T1", "econ_hardship": rng.random(n_students) < 0.2,
        "single_parent_or_orphan": False, "disability": False, "readmitted": False})
    lag = np.concatenate([w[:, :3], w[:, :-3]], axis=1)  # behaviour follows well-being with a lag
    observed = rng.random((n_students, days)) > 0.05
    chans = {
        "card__meals": rng.poisson(np.clip(2.2 + 0.7 * lag, 0.05, None)).astype(float),
        "door__late_return": (rng.random((n_students, days)) < _sigmoid(-2.0 - 1.5 * lag)).astype(float),
        "library__visits": rng.poisson(np.clip(0.4 + 0.3 * lag, 0.01, None)).astype(float),
        "network__hours": np.clip(rng.normal(3.0 - 0.8 * lag, 1.0), 0, None),
    }
    daily = pd.DataFrame({"student_id": np.repeat(ids, days), "date": np.tile(dates, n_students),
                          "card__observed": observed.reshape(-1)})
    for name, arr in chans.items():
        daily[name] = np.where(observed, arr, np.nan).reshape(-1)
    c_day = min(10, days - 1)
    screen = np.clip(np.round(1.2 - 1.0 * w[:, c_day] + rng.normal(0, 0.9, n_students)), 0, 3).astype(int)
    census = pd.DataFrame({"student_id": ids, "assessed_on": dates[c_day].date(), "instrument": "UPI",
                           "total_score": screen * 10.0, "key_item_positive": screen >= 3, "screen_level": screen})
    mondays = dates[dates.dayofweek == 0]
    rows = []
    for m in mondays:
        d = (m - t0).days
        p = 1 - np.prod(1 - hazard[:, d:d + 28], axis=1)
        rows.append(pd.DataFrame({"student_id": ids, "as_of": m, "oracle": p}))
    oracle = pd.concat(rows, ignore_index=True)
    return SyntheticCampus(students, events, census, daily, oracle, t0, dates[-1], w)


def window_features(daily: pd.DataFrame, as_of: pd.DatetimeIndex, windows: tuple[int, ...] = (7, 28)
                    ) -> pd.DataFrame:
    """Mean of each channel over the ``w`` days strictly before each as-of (a stand-in engine).

    Returns ``student_id``, ``as_of`` and ``<channel>__mean__<w>d`` (float64, NaN when no day).
    """
    chans = [c for c in daily.columns if c not in ("student_id", "date") and not pd.api.types.is_bool_dtype(daily[c])]
    d = daily.sort_values(["student_id", "date"])
    out = []
    for a in pd.DatetimeIndex(as_of):
        parts: dict[str | int, pd.DataFrame | None] = {"student_id": None}
        for w in windows:
            win = d[(d["date"] < a) & (d["date"] >= a - pd.Timedelta(days=w))]
            g = win.groupby("student_id")[chans].mean()
            g.columns = [f"{c}__mean__{w}d" for c in chans]
            parts[w] = g
        frame = pd.concat([parts[w] for w in windows], axis=1)
        frame = frame.reindex(pd.Index(sorted(d["student_id"].unique()), name="student_id"))
        out.append(frame.reset_index().assign(as_of=a))
    res = pd.concat(out, ignore_index=True)
    cols = ["student_id", "as_of"] + [c for c in res.columns if c not in ("student_id", "as_of")]
    return res[cols].astype({c: "float64" for c in cols[2:]})
