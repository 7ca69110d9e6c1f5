"""A plain-pandas reference implementation of the daily table, for a subset of channels.

Written independently of the ibis engine (pandas groupby on dates, no epoch arithmetic) so
that a test can compare the two, and the benchmark can time it. Same definitions as
:mod:`riskmodel.features.daily` for the channels in :data:`REFERENCE_CHANNELS`.

It is pandas used well: vectorised group-bys and rolling windows, no Python function per
group, so the benchmark's "engine against pandas" ratio is not inflated by a strawman.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from riskmodel.features.registry import EVENT_SOURCES, MEAL_SLOTS

REFERENCE_CHANNELS: tuple[str, ...] = (
    "door_return_min", "door_first_out_min", "door_in_count", "door_out_count",
    "card_breakfast", "card_lunch", "card_dinner", "card_meals", "card_canteen_spend",
    "card_supermarket_spend", "card_total_spend", "card_merchants",
    "library_entries",
    "network_minutes", "network_late_min", "network_sessions",
)
_TIME_CHANNELS = {"door_return_min", "door_first_out_min"}  # NaN when undefined, not 0
_DAY = pd.Timedelta(days=1)


def _minutes_of_day(ts: pd.Series) -> pd.Series:
    return (ts - ts.dt.normalize()) / pd.Timedelta(minutes=1)


def _door(door: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    d = door.assign(date=door["ts"].dt.normalize(), is_in=door["direction"].eq("in"))
    g = d.groupby(["student_id", "date"])
    out = pd.DataFrame({"door_in_count": g["is_in"].sum().astype(float)})
    out["door_out_count"] = g.size().astype(float) - out["door_in_count"]
    exits = d[~d["is_in"] & (_minutes_of_day(d["ts"]) >= 240)]
    out["door_first_out_min"] = exits.assign(m=_minutes_of_day(exits["ts"])).groupby(
        ["student_id", "date"])["m"].min()
    shifted = d["ts"] + pd.Timedelta(hours=12)  # night of d: [d-1 12:00, d 12:00)
    before6 = d[_minutes_of_day(shifted) < 18 * 60]  # up to 06:00 on d
    sh = before6["ts"] + pd.Timedelta(hours=12)
    ev = pd.DataFrame({"student_id": before6["student_id"], "date": sh.dt.normalize(),
                       "m": _minutes_of_day(sh) - 360, "is_in": before6["is_in"]})
    ev = ev.sort_values(["student_id", "date", "m", "is_in"])
    last = ev.groupby(["student_id", "date"]).tail(1).set_index(["student_id", "date"])
    night = last["m"].where(last["is_in"]).rename("door_return_min")
    return out, night


def _card(card: pd.DataFrame) -> pd.DataFrame:
    c = card.assign(date=card["ts"].dt.normalize(), hour=_minutes_of_day(card["ts"]) / 60)
    canteen = c["category"].eq("canteen")
    for name, (a, b) in MEAL_SLOTS.items():
        c[f"card_{name}"] = (canteen & (c["hour"] >= a) & (c["hour"] < b)).astype(float)
    c["card_canteen_spend"] = c["amount"].where(canteen, 0.0)
    c["card_supermarket_spend"] = c["amount"].where(c["category"].eq("supermarket"), 0.0)
    g = c.groupby(["student_id", "date"])
    out = g[[f"card_{m}" for m in MEAL_SLOTS] + ["card_canteen_spend", "card_supermarket_spend"]].agg(
        {**{f"card_{m}": "max" for m in MEAL_SLOTS}, "card_canteen_spend": "sum", "card_supermarket_spend": "sum"})
    out["card_meals"] = out[[f"card_{m}" for m in MEAL_SLOTS]].sum(axis=1)
    out["card_total_spend"] = g["amount"].sum()
    out["card_merchants"] = g["merchant_id"].nunique().astype(float)
    return out


def _network(net: pd.DataFrame) -> pd.DataFrame:
    s = net["start_ts"]
    e = np.minimum(net["end_ts"], s + _DAY)
    d0 = s.dt.normalize()
    mid = d0 + _DAY
    minute = pd.Timedelta(minutes=1)
    late_a = (np.minimum(e, d0 + pd.Timedelta(hours=5)) - s).clip(lower=pd.Timedelta(0))
    a = pd.DataFrame({"student_id": net["student_id"], "date": d0, "mins": (np.minimum(e, mid) - s) / minute,
                      "late": late_a / minute, "started": 1.0})
    over = e > mid
    late_b = (np.minimum(e[over], mid[over] + pd.Timedelta(hours=5)) - mid[over]).clip(lower=pd.Timedelta(0))
    b = pd.DataFrame({"student_id": net["student_id"][over], "date": mid[over],
                      "mins": (e[over] - mid[over]) / minute, "late": late_b / minute, "started": 0.0})
    g = pd.concat([a, b]).groupby(["student_id", "date"])
    return pd.DataFrame({"network_minutes": g["mins"].sum(), "network_late_min": g["late"].sum(),
                         "network_sessions": g["started"].sum(), "network_rows": g.size()})


def reference_daily(tables: Mapping[str, pd.DataFrame], start: str | pd.Timestamp, end: str | pd.Timestamp,
                    observed_lookback_days: int = 28) -> pd.DataFrame:
    """Daily table (reference channels only) for days ``start..end`` (inclusive).

    Columns: student_id, date, observed_<source> for the present event sources, and the
    present :data:`REFERENCE_CHANNELS`, sorted by student_id, date.
    """
    dates = pd.date_range(pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize(), freq="D")
    ids = pd.Index(tables["students"]["student_id"].unique(), name="student_id")
    idx = pd.MultiIndex.from_product([ids, dates], names=["student_id", "date"])
    out = pd.DataFrame(index=idx)
    events: dict[str, pd.Series] = {}
    if "door_events" in tables:
        day, night = _door(tables["door_events"])
        out = out.join(day).join(night)
        events["door_events"] = tables["door_events"].groupby(
            ["student_id", tables["door_events"]["ts"].dt.normalize().rename("date")]).size()
    if "card_transactions" in tables:
        out = out.join(_card(tables["card_transactions"]))
        t = tables["card_transactions"]
        events["card_transactions"] = t.groupby(["student_id", t["ts"].dt.normalize().rename("date")]).size()
    if "library_events" in tables:
        t = tables["library_events"]
        g = t["kind"].eq("entry").astype(float).groupby([t["student_id"], t["ts"].dt.normalize().rename("date")])
        out = out.join(g.sum().rename("library_entries"))
        events["library_events"] = g.size()
    if "network_sessions" in tables:
        n = _network(tables["network_sessions"])
        events["network_sessions"] = n.pop("network_rows")
        out = out.join(n)
    cols = ["student_id", "date"]
    res = out.reset_index()
    for src, counts in events.items():
        flag_name = f"observed_{EVENT_SOURCES[src]}"
        # rows are student-major and day-minor: a student's run is len(dates) rows
        has = counts.reindex(idx, fill_value=0).gt(0).to_numpy().reshape(len(ids), len(dates))
        roll = pd.DataFrame(has.T.astype(int)).rolling(observed_lookback_days, min_periods=1).sum()
        res[flag_name] = roll.to_numpy().T.ravel() > 0
        cols.append(flag_name)
    present = [c for c in REFERENCE_CHANNELS if c in res.columns]
    for c in present:
        src = next(s for s, p in EVENT_SOURCES.items() if c.startswith(p + "_"))
        flag = res[f"observed_{EVENT_SOURCES[src]}"]
        vals = res[c].astype(float)
        if c not in _TIME_CHANNELS:
            vals = vals.fillna(0.0)
        res[c] = vals.where(flag)
    return res[cols + present].sort_values(["student_id", "date"]).reset_index(drop=True)
