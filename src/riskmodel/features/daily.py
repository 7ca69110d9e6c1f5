"""The daily behaviour table as ibis expressions (backend-neutral: DuckDB or PySpark).

One row per student (from ``students``) and calendar day of the period; days without
records are explicit rows. Timestamps are local wall-clock times; all arithmetic is done on
"local epoch seconds" (``ts.epoch_seconds()`` of the naive timestamp) so that day
boundaries fall at local midnight on every backend.

Windows (see :mod:`riskmodel.features.asof`):

* day channels of day d use events in [d 00:00, d+1 00:00);
* night channels of day d use the night that ends on the morning of d: events in
  [d-1 12:00, d 12:00). The night from d to d+1 is row d+1.

A source is *observed* for a student on day d when the student has at least one event of
that source in the ``observed_lookback_days`` days ending on d. Channels of an unobserved
source are NULL (NaN in pandas); count-like channels of an observed source are 0 on a day
without events.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa

from riskmodel.features.asof import DAY_S, HOUR_S, NIGHT_SHIFT_S, day_to_timestamp
from riskmodel.features.backends import arrow_view, is_duckdb, small_table
from riskmodel.features.config import FeatureConfig
from riskmodel.features.daily_grid import daily_columns, grid_spine, shared_meals_grid
from riskmodel.features.registry import (
    CHANNELS_BY_NAME,
    EVENT_SOURCES,
    LIBRARY_STAY_CAP_S,
    MEAL_BIN_HOURS,
    MEAL_SLOTS,
    RETURN_BINS,
)

H = HOUR_S
HALF_DAY = NIGHT_SHIFT_S
KEY = ["student_id", "day"]


def _sec(col: ir.TimestampValue) -> ir.IntegerValue:
    return col.epoch_seconds().cast("int64")


def _minutes(seconds: ir.NumericValue) -> ir.FloatingValue:
    """Seconds -> minutes as float64 (cast first: Spark reads ``60.0`` as a DECIMAL literal)."""
    return seconds.cast("float64") / 60


# ----------------------------------------------------------------------------- per source


def door_times(door: ir.Table) -> ir.Table:
    """Door events as (student_id, sec, is_in): local epoch seconds, 1 for an entry."""
    return door.select("student_id", sec=_sec(door.ts), is_in=ibis.ifelse(door.direction == "in", 1, 0))


def network_times(net: ir.Table) -> ir.Table:
    """Network sessions as (student_id, s, e): start and end in local epoch seconds."""
    return net.select("student_id", s=_sec(net.start_ts), e=_sec(net.end_ts))


def door_daily(door: ir.Table) -> tuple[ir.Table, ir.Table]:
    """Door events -> (day aggregates keyed by event day, night aggregates keyed by night day)."""
    d = door_times(door)
    d = d.mutate(day=d.sec // DAY_S, tod=d.sec % DAY_S, nday=(d.sec + HALF_DAY) // DAY_S,
                 ntod=(d.sec + HALF_DAY) % DAY_S)
    day = d.group_by(KEY).aggregate(
        door_n=d.count(),
        door_in_count=d.is_in.sum(),
        door_out_count=(1 - d.is_in).sum(),
        door_first_out_min=_minutes(d.tod).min(where=(d.is_in == 0) & (d.tod >= 4 * H)),
    )
    # ntod: seconds since 12:00 of the evening's day; 18 h -> 06:00, 16 h -> 04:00
    code = d.ntod * 2 + d.is_in  # the latest event wins, an entry wins a tie
    night = d.group_by(["student_id", d.nday.name("day")]).aggregate(
        door_code_0600=code.max(where=d.ntod < 18 * H),
        door_code_0400=code.max(where=d.ntod < 16 * H) % 2,
        door_code_all=code.max() % 2,
    )
    # last return: the last door event before 06:00 of the night, when it is an entry
    back = (night.door_code_0600 % 2) == 1
    night = night.mutate(door_return_min=ibis.ifelse(
        back, _minutes((night.door_code_0600 // 2) - 6 * H), ibis.null("float64"))).drop("door_code_0600")
    return day, night


def _meal_slot(tod: ir.IntegerValue) -> ir.IntegerValue:
    branches = [((tod >= a * H) & (tod < b * H), k) for k, (a, b) in enumerate(MEAL_SLOTS.values())]
    return ibis.cases(*branches, else_=ibis.null("int64"))


def _meal_bin(tod: ir.IntegerValue) -> ir.IntegerValue:
    """Index k of the meal-time bin [MEAL_BIN_HOURS[k], MEAL_BIN_HOURS[k+1]) holding ``tod``."""
    edges = MEAL_BIN_HOURS[1:-1]
    return ibis.cases(*[(tod < hi * H, k) for k, hi in enumerate(edges)], else_=len(edges))


def _card_prepared(card: ir.Table) -> ir.Table:
    c = card.select("student_id", "merchant_id", "category", "amount", sec=_sec(card.ts))
    c = c.mutate(day=c.sec // DAY_S, tod=c.sec % DAY_S, canteen=c.category == "canteen")
    return c.mutate(slot=_meal_slot(c.tod))


def card_binned(card: ir.Table) -> ir.Table:
    """Card swipes with day, time of day, category flags, and for canteen swipes the meal
    slot (``cslot``) and meal-time bin (``cbin``; NULL for other categories)."""
    c = _card_prepared(card)
    return c.mutate(cbin=ibis.ifelse(c.canteen, _meal_bin(c.tod), ibis.null("int64")),
                    cslot=ibis.ifelse(c.canteen, c.slot, ibis.null("int64")))


def card_day(card: ir.Table) -> ir.Table:
    """Card day aggregates: meals by slot, spending by category, merchants, meal-time bins.

    Counts are filtered counts over one precomputed slot / bin column (a conditional sum
    per bin costs DuckDB twice as much)."""
    c = card_binned(card)
    aggs = {
        "card_n": c.count(),
        "card_breakfast": c.count(where=c.cslot == 0) > 0,
        "card_lunch": c.count(where=c.cslot == 1) > 0,
        "card_dinner": c.count(where=c.cslot == 2) > 0,
        "card_canteen_spend": c.amount.sum(where=c.canteen),
        "card_supermarket_spend": c.amount.sum(where=c.category == "supermarket"),
        "card_bathhouse_spend": c.amount.sum(where=c.category == "bathhouse"),
        "card_total_spend": c.amount.sum(),
        "card_merchants": c.merchant_id.nunique(),
    }
    for k in range(len(MEAL_BIN_HOURS) - 1):
        aggs[f"card_meal_bin{k}"] = c.count(where=c.cbin == k)
    return c.group_by(KEY).aggregate(**aggs)


def canteen_swipes(card: ir.Table, students: ir.Table) -> ir.Table:
    """Canteen swipes in a meal slot, with the student's class and dorm room (inner join:
    students not on the roster have no peers)."""
    c = _card_prepared(card)
    can = c.filter(c.canteen & c.slot.notnull())
    return can.join(students.select("student_id", "class_id", "dorm_room"), "student_id")


def card_shared(card: ir.Table, students: ir.Table, cfg: FeatureConfig, con: Any = None,
                merchants: ir.Table | None = None) -> ir.Table:
    """Shared canteen meals per student and day (``card_meals_accompanied``).

    Needs the whole campus (a student's roommates and classmates), so the chunked engine
    computes it once before it splits the students.

    A canteen swipe is *accompanied* when the previous or next swipe at the same merchant on
    the same day by someone of the same dorm room, or of the same class, is another student
    within ``cfg.coswipe_seconds`` (neighbour windows over swipes sorted by place and time,
    not a range self-join). A meal slot is shared when any of its swipes is accompanied.
    On DuckDB (``con``, unless ``cfg.numpy_kernels`` is off) the neighbours come from a numpy
    sort (:func:`~riskmodel.features.daily_grid.shared_meals_grid`; ``merchants``: the
    campus' merchant codes), same rows and values.
    """
    if is_duckdb(con) and cfg.numpy_kernels:
        fast = shared_meals_grid(con, _card_prepared(card), students, cfg.coswipe_seconds,
                                 workers=cfg.threads or os.cpu_count() or 1, merchants=merchants)
        if fast is not None:
            return fast
    can = canteen_swipes(card, students)

    def accompanied(group: str) -> ir.BooleanValue:
        w = ibis.window(group_by=[can.merchant_id, can.day, can[group]],
                        order_by=[can.sec, can.student_id, can.amount])
        near_prev = (can.student_id.lag().over(w) != can.student_id) & (
            (can.sec - can.sec.lag().over(w)) <= cfg.coswipe_seconds)
        near_next = (can.student_id.lead().over(w) != can.student_id) & (
            (can.sec.lead().over(w) - can.sec) <= cfg.coswipe_seconds)
        return can[group].notnull() & (near_prev.fill_null(False) | near_next.fill_null(False))

    can = can.mutate(acc=ibis.ifelse(accompanied("dorm_room") | accompanied("class_id"), 1, 0))
    slots = can.group_by(["student_id", "day", "slot"]).aggregate(acc=can.acc.max())
    shared = slots.group_by(KEY).aggregate(card_meals_accompanied=slots.acc.sum())
    return shared


def library_daily(library: ir.Table) -> ir.Table:
    lib = library.select("student_id", "kind", sec=_sec(library.ts))
    lib = lib.mutate(day=lib.sec // DAY_S)
    return lib.group_by(KEY).aggregate(library_n=lib.count(), library_entries=lib.count(where=lib.kind == "entry"))


def _network_parts(net: ir.Table) -> ir.Table:
    """Sessions capped at 24 h, split at midnight into the start day and the next day."""
    n = network_times(net)
    n = n.mutate(e2=ibis.least(n.e, n.s + DAY_S), d0=n.s // DAY_S)
    mid = (n.d0 + 1) * DAY_S
    a = n.select("student_id", day=n.d0, secs=ibis.least(n.e2, mid) - n.s,
                 late=ibis.greatest(ibis.least(n.e2, n.d0 * DAY_S + 5 * H) - n.s, 0), started=ibis.literal(1))
    b = n.filter(n.e2 > mid).select("student_id", day=n.d0 + 1, secs=n.e2 - mid,
                                    late=ibis.greatest(ibis.least(n.e2, mid + 5 * H) - mid, 0),
                                    started=ibis.literal(0))
    return a.union(b, distinct=False)


def network_daily(net: ir.Table) -> ir.Table:
    u = _network_parts(net)
    return u.group_by(KEY).aggregate(
        network_n=u.count(),
        network_minutes=_minutes(u.secs.sum()),
        network_late_min=_minutes(u.late.sum()),
        network_sessions=u.started.sum(),
    )


def library_times(library: ir.Table) -> ir.Table:
    """Library events as (student_id, sec, lib): local epoch seconds, 1 for an entry."""
    return library.select("student_id", sec=_sec(library.ts), lib=ibis.ifelse(library.kind == "entry", 1, 0))


def event_times(tables: Mapping[str, ir.Table]) -> ir.Table | None:
    """All event times of a student (door, card, library, network start and capped end):
    columns student_id, sec (local epoch seconds), lib (1 for a library entry, else 0)."""
    parts = []
    if "door_events" in tables:
        t = tables["door_events"]
        parts.append(t.select("student_id", sec=_sec(t.ts), lib=ibis.literal(0)))
    if "card_transactions" in tables:
        t = tables["card_transactions"]
        parts.append(t.select("student_id", sec=_sec(t.ts), lib=ibis.literal(0)))
    if "library_events" in tables:
        parts.append(library_times(tables["library_events"]))
    if "network_sessions" in tables:
        t = tables["network_sessions"]
        s, e = _sec(t.start_ts), _sec(t.end_ts)
        parts.append(t.select("student_id", sec=s, lib=ibis.literal(0)))
        parts.append(t.select("student_id", sec=ibis.least(e, s + DAY_S), lib=ibis.literal(0)))
    if not parts:
        return None
    ev = parts[0]
    for p in parts[1:]:
        ev = ev.union(p, distinct=False)
    return ev


def event_stream(tables: Mapping[str, ir.Table], cache: bool = False) -> ir.Table | None:
    """:func:`event_times` with the previous and next event time of the student (``prev``,
    ``nxt``) and the ``day``; ``cache`` materialises it (it is read three times)."""
    ev = event_times(tables)
    if ev is None:
        return None
    w = ibis.window(group_by=ev.student_id, order_by=[ev.sec, ev.lib])
    out = ev.mutate(prev=ev.sec.lag().over(w), nxt=ev.sec.lead().over(w), day=ev.sec // DAY_S)
    return out.cache() if cache else out


def activity_daily(ev: ir.Table, first_day: int) -> tuple[ir.Table, ir.Table, ir.Table]:
    """(activity span per day, longest overnight quiet gap per night, library minutes per day).

    The quiet gap of the night ending on d runs from 18:00 on d-1, or from the previous
    event when that is later, to each event before 12:00 on d; when the student has no
    earlier event in the data, from 18:00 only if that lies inside the period (days from
    ``first_day``): the night before the data starts is not observed.
    """
    span = ev.group_by(KEY).aggregate(activity_n=ev.count(),
                                      activity_span_min=_minutes(ev.sec.max() - ev.sec.min()))
    q = ev.mutate(nday=(ev.sec + HALF_DAY) // DAY_S, ntod=(ev.sec + HALF_DAY) % DAY_S)
    q = q.filter(q.ntod >= 6 * H)  # gap ends in [d-1 18:00, d 12:00)
    night_start = q.nday * DAY_S - 6 * H
    q = q.filter(q.prev.notnull() | (night_start >= first_day * DAY_S))
    gap = q.sec - ibis.greatest(q.prev.fill_null(night_start), night_start)
    quiet = q.group_by(["student_id", q.nday.name("day")]).aggregate(activity_quiet_min=_minutes(gap.max()))
    lib = ev.filter(ev.lib == 1)
    big = lib.sec + 10 * DAY_S
    end = ibis.least(lib.nxt.fill_null(big), (lib.day + 1) * DAY_S, lib.sec + LIBRARY_STAY_CAP_S)
    libmin = lib.group_by(KEY).aggregate(library_minutes=_minutes((end - lib.sec).sum()))
    return span, quiet, libmin


# ----------------------------------------------------------------------------- assembly


def _days_table(first_day: int, last_day: int, con: Any = None) -> ir.Table:
    days = np.arange(first_day, last_day + 1, dtype="int64")
    return small_table(con, pd.DataFrame({"day": days, "date": day_to_timestamp(days)}))


def door_state_before(door: ir.Table, first_day: int) -> ir.Table:
    """(student_id, door_in_before): 1 when the student's last door event before the night
    of ``first_day`` (before 12:00 the day before) was an entry, 0 for an exit.

    Seeds the carried door state, so that a daily table that starts late (the engine
    builds only the days the windows read) carries the same state as one built from the
    first day of the data.
    """
    cut = day_to_timestamp([first_day - 1])[0] + pd.Timedelta(hours=12)
    d = door.filter(door.ts < cut)
    d = d.select("student_id", code=_sec(d.ts) * 2 + ibis.ifelse(d.direction == "in", 1, 0))
    return d.group_by("student_id").aggregate(door_in_before=d.code.max() % 2)


def _left_on(spine: ir.Table, other: ir.Table, key: str) -> ir.Table:
    joined = spine.left_join(other, key)
    drop = [c for c in joined.columns if c.endswith("_right")]
    return joined.drop(*drop) if drop else joined


def _left(spine: ir.Table, other: ir.Table) -> ir.Table:
    joined = spine.left_join(other, KEY)
    drop = [c for c in joined.columns if c.endswith("_right")]
    return joined.drop(*drop) if drop else joined


def _observed(flag_count: ir.NumericValue, lookback: int) -> ir.BooleanValue:
    w = ibis.window(group_by=ibis._.student_id, order_by=ibis._.day, rows=(-(lookback - 1), 0))
    return ibis.ifelse(flag_count.fill_null(0) > 0, 1, 0).sum().over(w) > 0


EVENT_TIME_COLUMNS = {"door_events": "ts", "card_transactions": "ts", "library_events": "ts",
                      "network_sessions": "start_ts"}


def events_in_period(tables: Mapping[str, ir.Table], first_day: int, last_day: int) -> dict[str, ir.Table]:
    """Event tables cut to the events a daily table over ``first_day..last_day`` can use:
    from 00:00 of the day before ``first_day`` (night channels and sessions that run past
    midnight) to 24:00 of ``last_day``. Other tables pass unchanged."""
    lo = day_to_timestamp([first_day - 1])[0]
    hi = day_to_timestamp([last_day + 1])[0]
    out = dict(tables)
    for name, col in EVENT_TIME_COLUMNS.items():
        if name in out:
            t = out[name]
            out[name] = t.filter((t[col] >= lo) & (t[col] < hi))
    return out


def daily_expr(tables: Mapping[str, ir.Table], first_day: int, last_day: int,
               cfg: FeatureConfig, con: Any = None, shared: ir.Table | None = None,
               channels: Collection[str] | None = None,
               merchants: ir.Table | None = None, in_memory: bool = False) -> tuple[ir.Table, list[str]]:
    """The daily table over days ``first_day..last_day`` (day indices, inclusive).

    Returns the expression (columns ``student_id, day, date, observed_<prefix>...,
    <channels>``) and the list of channel names present (registry order). ``shared`` may
    give the shared-meal counts precomputed on the whole campus (:func:`card_shared`),
    when ``tables`` hold only some of the students, and ``merchants`` the campus' merchant
    codes (:func:`~riskmodel.features.daily_grid.merchant_codes`, grid kernels only).
    ``channels`` keeps only those channels (and skips the shared-meal and event-stream steps
    when none of theirs is asked for).

    ``in_memory`` (DuckDB with the numpy kernels) computes the table now, in numpy, and
    returns a view of it (:func:`~riskmodel.features.backends.to_arrow` hands the Arrow
    table back without a copy): for a caller that reads the table several times. Otherwise
    the channel formulas are a projection that runs where the expression goes (a Parquet
    write streams it, nothing is held).
    """
    want = None if channels is None else set(channels)
    unknown = sorted(want - set(CHANNELS_BY_NAME)) if want is not None else []
    if unknown:
        raise ValueError(f"unknown daily channels: {', '.join(unknown)}")
    need_shared = want is None or "card_meals_accompanied" in want
    need_stream = want is None or bool(want & {"activity_span_min", "activity_quiet_min", "library_minutes"})
    door_before = door_state_before(tables["door_events"], first_day) if "door_events" in tables else None
    tables = events_in_period(tables, first_day, last_day)
    students = tables["students"]
    present = [s for s in EVENT_SOURCES if s in tables]
    parts: list[ir.Table] = []  # per-source aggregates keyed by (student_id, day)
    marks: list[ir.Table] = []  # which sources have events per (student_id, day), narrow

    def mark(part: ir.Table, **cols: ir.Value) -> ir.Table:
        return part.select("student_id", "day", **{c: v.cast("int64") for c, v in cols.items()})

    if "door_events" in tables:
        dday, dnight = door_daily(tables["door_events"])
        parts += [dday, dnight]
        marks += [mark(dday, door_n=dday.door_n),
                  mark(dnight, door_key=dnight.day * 2 + dnight.door_code_all)]
    use_grid = is_duckdb(con) and cfg.numpy_kernels
    card_part = None
    if "card_transactions" in tables:
        cday = card_part = card_day(tables["card_transactions"])
        parts.append(cday)
        marks.append(mark(cday, card_n=cday.card_n))
        if need_shared:
            if shared is None:
                shared = card_shared(tables["card_transactions"], students, cfg, con, merchants=merchants)
            parts.append(shared)
    if "library_events" in tables:
        lday = library_daily(tables["library_events"])
        parts.append(lday)
        marks.append(mark(lday, library_n=lday.library_n))
    if "network_sessions" in tables:
        nday = network_daily(tables["network_sessions"])
        parts.append(nday)
        marks.append(mark(nday, network_n=nday.network_n))
    spine = None
    if use_grid:
        card = card_binned(tables["card_transactions"]) if card_part is not None else None
        door = door_times(tables["door_events"]) if "door_events" in tables else None
        net = network_times(tables["network_sessions"]) if "network_sessions" in tables else None
        by_kernel = [x for x in (card_part, dday if door is not None else None, dnight if door is not None else None,
                                 nday if net is not None else None) if x is not None]
        spine = grid_spine(con, students, [p for p in parts if not any(p is x for x in by_kernel)], present,
                       door_before, first_day, last_day, cfg.observed_lookback_days,
                       activity=need_stream,
                       library=library_times(tables["library_events"]) if "library_events" in tables else None,
                       card=card, door=door, network=net, workers=cfg.threads or os.cpu_count() or 1,
                       merchants=merchants)
    if spine is not None and in_memory:  # the channel formulas in numpy on the in-memory spine
        arrays = daily_columns(spine, present, shared="card_transactions" in tables and need_shared,
                               stream=need_stream, workers=cfg.threads or os.cpu_count() or 1)
        order = _channel_order(arrays, want)
        heads = [c for c in arrays if c.startswith("observed_")]
        out = pa.table({"student_id": spine.column("student_id"), "day": spine.column("day"),
                        "date": spine.column("date"), **{c: arrays[c] for c in heads + order}})
        return arrow_view(con, out, "rm_daily"), order
    if spine is not None:  # the projection below runs where the expression goes (a Parquet write)
        s = arrow_view(con, spine, "rm_daily_spine")
    else:
        ev = event_stream(tables, cache=True) if need_stream else None
        if ev is not None:
            span, quiet, libmin = activity_daily(ev, first_day)
            parts += [span, quiet] + ([libmin] if "library_events" in tables else [])
        s = _joined_spine(students, parts, marks, present, door_before, first_day, last_day, cfg, con)

    cols: dict[str, ir.Value] = {}
    obs_any = None
    for src in present:
        flag = s[f"observed_{EVENT_SOURCES[src]}"]
        cols[f"observed_{EVENT_SOURCES[src]}"] = flag
        obs_any = flag if obs_any is None else (obs_any | flag)
    if obs_any is not None:
        cols["observed_activity"] = obs_any

    def val(name: str, expr: ir.Value, flag: ir.BooleanValue) -> None:
        cols[name] = ibis.ifelse(flag, expr.cast("float64"), ibis.null("float64"))

    def zero(col: str) -> ir.NumericValue:
        return s[col].cast("float64").fill_null(0.0)

    if "door_events" in tables:
        f = s.observed_door
        val("door_return_min", s.door_return_min, f)
        state = s.door_code_0400.cast("int64").fill_null(s.door_carried)
        val("door_away_night", 1 - state, f)
        val("door_first_out_min", s.door_first_out_min, f)
        val("door_in_count", zero("door_in_count"), f)
        val("door_out_count", zero("door_out_count"), f)
        for k, (lo, hi) in enumerate(RETURN_BINS):
            inbin = (s.door_return_min >= lo) & (s.door_return_min < hi)
            val(f"door_return_bin{k}", ibis.ifelse(inbin.fill_null(False), 1.0, 0.0), f)
    if "card_transactions" in tables:
        f = s.observed_card
        meals = sum((ibis.ifelse(s[m].fill_null(False), 1.0, 0.0) for m in
                     ("card_breakfast", "card_lunch", "card_dinner")), ibis.literal(0.0))
        for m in ("card_breakfast", "card_lunch", "card_dinner"):
            val(m, ibis.ifelse(s[m].fill_null(False), 1.0, 0.0), f)
        val("card_meals", meals, f)
        canteen = zero("card_canteen_spend")
        val("card_canteen_spend", canteen, f)
        val("card_meal_price", ibis.ifelse(meals > 0, canteen / meals, ibis.null("float64")), f)
        for m in ("card_supermarket_spend", "card_bathhouse_spend", "card_total_spend", "card_merchants"):
            val(m, zero(m), f)
        if need_shared:
            val("card_meals_accompanied", zero("card_meals_accompanied"), f)
        for k in range(len(MEAL_BIN_HOURS) - 1):
            val(f"card_meal_bin{k}", zero(f"card_meal_bin{k}"), f)
    if "library_events" in tables:
        f = s.observed_library
        val("library_entries", zero("library_entries"), f)
        if need_stream:
            val("library_minutes", zero("library_minutes"), f)
    if "network_sessions" in tables:
        f = s.observed_network
        for m in ("network_minutes", "network_late_min", "network_sessions"):
            val(m, zero(m), f)
    if obs_any is not None and need_stream:
        any_flag = obs_any_expr(s, present)
        val("activity_span_min", s.activity_span_min, any_flag)
        val("activity_quiet_min", s.activity_quiet_min, any_flag)
    order = _channel_order(cols, want)
    flags = [c for c in cols if c.startswith("observed_")]
    out = s.select("student_id", "day", "date", *[cols[f].name(f) for f in flags],
                   *[cols[c].name(c) for c in order])
    return out, order


def _channel_order(cols: Collection[str], want: Collection[str] | None) -> list[str]:
    """The channels among ``cols`` (those in ``want``, when given) in registry order."""
    return [c.name for c in CHANNELS_BY_NAME.values() if c.name in cols and (want is None or c.name in want)]


def _joined_spine(students: ir.Table, parts: Sequence[ir.Table], marks: Sequence[ir.Table],
                  present: Sequence[str], door_before: ir.Table | None, first_day: int, last_day: int,
                  cfg: FeatureConfig, con: Any) -> ir.Table:
    """The spine of :func:`daily_expr` as ibis joins and windows (any backend): every student
    and day, observed flags, the carried door state, and the per-source ``parts``."""
    # observed flags and the carried door state need windows over the dense spine: they are
    # computed on a narrow spine (a window sorts every column it is given), which then
    # takes the wide per-source aggregates
    spine = students.select("student_id").cross_join(_days_table(first_day, last_day, con))
    if door_before is not None:
        spine = _left_on(spine, door_before, "student_id")
    for m in marks:  # narrow joins: cheaper than a group-by over the union of the marks
        spine = _left(spine, m)
    win = {}
    for src in present:
        p = EVENT_SOURCES[src]
        win[f"observed_{p}"] = _observed(spine[f"{p}_n"], cfg.observed_lookback_days)
    if "door_key" in spine.columns:
        # the state after the last door event of an earlier night, however long ago
        w = ibis.window(group_by=spine.student_id, order_by=spine.day, rows=(None, -1))
        carried = spine.door_key.max().over(w) % 2
        win["door_carried"] = carried.fill_null(spine.door_in_before) if door_before is not None else carried
    s = spine.select("student_id", "day", "date", **win)
    for part in parts:
        s = _left(s, part)
    return s


def obs_any_expr(s: ir.Table, present: list[str]) -> ir.BooleanValue:
    """Observed in any present event source."""
    flags = [s[f"observed_{EVENT_SOURCES[src]}"] for src in present]
    out = flags[0]
    for f in flags[1:]:
        out = out | f
    return out
