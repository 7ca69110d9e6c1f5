"""The daily table's heaviest steps as numpy kernels on a students x days grid (DuckDB).

:func:`riskmodel.features.daily.daily_expr` defines the daily table as ibis expressions, and
that is what Spark runs. Written that way, DuckDB on 2 threads spent most of the daily
table's time in one left join per source onto the dense spine, a window per observed flag,
a lag/lead window over every event (sleep proxy, library stay), two windows over every
canteen swipe (shared meals) and a hash group-by with a distinct count (card day). The spine
is a full grid, so here:

* every (student, day) has a position ``student * n_days + (day - first_day)``; card, door
  and network day (and night) aggregates are accumulated on positions in one pass over the
  events, the library's ibis aggregate is scattered onto them, observed flags are running
  counts along the day axis, the carried door state a forward fill (:func:`grid_spine`,
  :func:`card_day_grid`, :func:`door_grid`, :func:`network_grid`);
* activity span, quiet gap and library minutes come from one SIMD sort of packed (student,
  time, entry flag) integers and one pass over them (:func:`_activity_columns`), shared
  meals from one sort per peer group (:func:`shared_meals_grid`);
* the per-event loops are compiled (:mod:`riskmodel.features.grid_kernels`).

DuckDB still reads and filters the events, joins the student index and computes the
per-event expressions (epoch seconds, meal slot and bin, category); the channel formulas are
the shared ibis projection. Tests build random campuses both ways and find the same table (spending sums
up to their last bits: another summation order). The as-of rule is untouched: a grid row of
day d holds only what the ibis definitions put on day d.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any

import ibis.expr.types as ir
import numpy as np

from riskmodel.features.asof import DAY_S, HOUR_S, day_to_timestamp
from riskmodel.features.backends import arrow_view, temp_arrow_table
from riskmodel.features.grid_kernels import (
    activity_sums,
    card_day_sums,
    carried_state,
    door_day_night,
    network_day_sums,
)
from riskmodel.features.registry import EVENT_SOURCES, LIBRARY_STAY_CAP_S, MEAL_BIN_HOURS

KEY = ("student_id", "day")


def _student_ids(con: Any, students: ir.Table) -> Any:
    """The roster's student ids as a sorted Arrow array, or None when an id is NULL or
    repeated (the ibis spine repeats such rows; the grid would not)."""
    import pyarrow.compute as pc

    ids = con.to_pyarrow(students.select("student_id")).column("student_id").combine_chunks()
    if ids.null_count or pc.count_distinct(ids).as_py() != len(ids):
        return None
    return ids.take(pc.sort_indices(ids))


def _positions(tbl: Any, ids: Any, first_day: int, n_days: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows of ``tbl`` that fall on the grid, their grid positions). Rows of students not on
    the roster or days outside the period are dropped, as the spine's left join drops them."""
    import pyarrow.compute as pc

    sidx = pc.index_in(tbl.column("student_id"), value_set=ids).fill_null(-1).to_numpy()
    day = tbl.column("day").to_numpy() - first_day
    keep = np.flatnonzero((sidx >= 0) & (day >= 0) & (day < n_days))
    return keep, sidx[keep].astype("int64") * n_days + day[keep]


def _validity(valid: np.ndarray) -> Any:
    """An Arrow validity bitmap buffer from booleans."""
    import pyarrow as pa

    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def _scatter(col: Any, keep: np.ndarray, pos: np.ndarray, on_grid: np.ndarray, on_grid_bits: Any) -> Any:
    """A grid column: ``col``'s values at ``pos``, NULL elsewhere (type kept).

    ``on_grid`` marks the positions the part has a row for (``on_grid_bits``: its bitmap),
    the validity of every column without NULLs of its own: built once per part."""
    import pyarrow as pa

    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    typ = col.type
    n = len(on_grid)
    if col.null_count:
        valid = np.zeros(n, dtype=bool)
        valid[pos] = col.is_valid().to_numpy(zero_copy_only=False)[keep]
        bits, nulls = _validity(valid), n - int(np.count_nonzero(valid))
        col = col.fill_null(pa.scalar(False if pa.types.is_boolean(typ) else 0, type=typ))
    else:
        bits, nulls = on_grid_bits, n - len(pos)
    vals = col.to_numpy(zero_copy_only=False)
    dense = np.zeros(n, dtype=vals.dtype)
    dense[pos] = vals[keep]
    data = _validity(dense) if pa.types.is_boolean(typ) else pa.py_buffer(dense)
    return pa.Array.from_buffers(typ, n, [bits, data], null_count=nulls)


def _present_count(col: Any, n_students: int, n_days: int) -> np.ndarray:
    """students x days boolean grid: the count column is > 0 (NULL counts as 0)."""
    import pyarrow as pa

    x = col.fill_null(pa.scalar(0, type=col.type)).to_numpy(zero_copy_only=False)
    return (x > 0).reshape(n_students, n_days)


def observed_grid(has: np.ndarray, lookback: int) -> np.ndarray:
    """Observed flag per student and day: an event in the ``lookback`` days ending on the day
    (``has``: students x days booleans, events on the day)."""
    c = np.cumsum(has, axis=1, dtype=np.int32)
    before = np.zeros_like(c)
    before[:, lookback:] = c[:, :-lookback] if lookback < c.shape[1] else before[:, lookback:]
    return (c - before) > 0


def carried_grid(night: np.ndarray, state: np.ndarray, seed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Door state carried into each day: ``state`` of the latest earlier day that has a night
    (``night``: students x days booleans), else the student's ``seed`` (NaN: unknown).
    Returns (value, known) grids."""
    value = carried_state(np.ascontiguousarray(night), np.ascontiguousarray(state, dtype=np.float64),
                          np.ascontiguousarray(seed, dtype=np.float64))
    return value, ~np.isnan(value)


def _index_table(con: Any, ids: Any) -> ir.Table:
    """(student_id, sidx): each roster id and its row in the grid."""
    import pyarrow as pa

    return temp_arrow_table(con, pa.table({"student_id": ids, "sidx": np.arange(len(ids), dtype="int64")}),
                            "rm_student_index")


class _Validity:
    """A validity bitmap built once and shared by every grid column with the same NULLs."""

    def __init__(self, valid: np.ndarray) -> None:
        self.bits = _validity(valid)
        self.nulls = len(valid) - int(np.count_nonzero(valid))


def _dense(typ: Any, values: np.ndarray, valid: np.ndarray | _Validity) -> Any:
    """An Arrow grid column of type ``typ`` from dense values and their validity."""
    import pyarrow as pa

    v = valid if isinstance(valid, _Validity) else _Validity(valid)
    data = _validity(values) if pa.types.is_boolean(typ) else pa.py_buffer(np.ascontiguousarray(values))
    return pa.Array.from_buffers(typ, len(values), [v.bits, data], null_count=v.nulls)


def _distinct(x: np.ndarray) -> np.ndarray:
    """Sorted distinct values (a SIMD sort; ``np.unique`` hashes, several times slower here)."""
    x = np.sort(x)
    return x[np.concatenate(([True], x[1:] != x[:-1]))] if len(x) else x


def card_events(con: Any, card: ir.Table, idx: ir.Table) -> Any:
    """The card swipes :func:`card_day_grid` needs, as an Arrow table fetched from DuckDB
    (``card``: :func:`~riskmodel.features.daily.card_binned`; students not on the roster
    are dropped, as by the spine's left join)."""
    import ibis

    # merchants as integer codes, joined in DuckDB (a few hundred distinct ids): no string
    # column to fetch and encode; equal ids get equal codes, NULL gets -1
    ids = card.select("merchant_id").filter(card.merchant_id.notnull()).distinct()
    codes = ids.select(code_merchant=ids.merchant_id, mcode=ibis.row_number().over(order_by=ids.merchant_id))
    j = card.join(idx, "student_id")
    j = j.left_join(codes, j.merchant_id == codes.code_merchant)
    cat = ibis.cases((j.category == "canteen", 0), (j.category == "supermarket", 1),
                     (j.category == "bathhouse", 2), else_=3)
    return con.to_pyarrow(j.select("sidx", "day", cat=cat, mcode=j.mcode.fill_null(-1).cast("int64"),
                                   amount=j.amount.fill_null(0.0), cslot=j.cslot.fill_null(-1),
                                   cbin=j.cbin.fill_null(-1)))


def card_day_grid(tbl: Any, first_day: int, n_days: int, n_students: int) -> dict[str, Any]:
    """The columns of :func:`riskmodel.features.daily.card_day` as grid columns, from the
    swipes of :func:`card_events`, in one compiled pass over the swipes
    (:func:`~riskmodel.features.grid_kernels.card_day_sums`) instead of a hash group-by
    (meal slot and bin, category and merchant come from the same ibis expressions). A
    spending sum is NULL where the student-day has no swipe of its category, as a filtered
    SQL sum; sums may differ from DuckDB's in the last bits (another summation order)."""
    import pyarrow as pa

    col = {c: tbl.column(c).to_numpy() for c in ("sidx", "day", "cat", "mcode", "amount", "cslot", "cbin")}
    del tbl
    count, slots, spend, has_cat, total, merchants, bins = card_day_sums(
        col["sidx"], col["day"], col["cat"], col["mcode"], col["amount"], col["cslot"], col["cbin"],
        first_day, n_days, n_students, len(MEAL_BIN_HOURS) - 1)
    del col
    present = _Validity(count > 0)
    out: dict[str, Any] = {"card_n": _dense(pa.int64(), count, present)}
    for k, name in enumerate(("card_breakfast", "card_lunch", "card_dinner")):
        out[name] = _dense(pa.bool_(), slots[k], present)
    for k, name in enumerate(("card_canteen_spend", "card_supermarket_spend", "card_bathhouse_spend")):
        out[name] = _dense(pa.float64(), spend[k], has_cat[k])
    out["card_total_spend"] = _dense(pa.float64(), total, present)
    out["card_merchants"] = _dense(pa.int64(), merchants, present)
    for k in range(len(bins)):
        out[f"card_meal_bin{k}"] = _dense(pa.int64(), bins[k], present)
    return out


def fetch_events(con: Any, events: ir.Table, idx: ir.Table, cols: Sequence[str]) -> dict[str, np.ndarray]:
    """Columns of ``events`` (keyed by student_id) as numpy, with ``sidx`` (grid row of the
    student; students not on the roster are dropped, as by the spine's left join)."""
    j = events.join(idx, "student_id")
    tbl = con.to_pyarrow(j.select("sidx", *cols))
    return {c: tbl.column(c).to_numpy() for c in ("sidx", *cols)}


DOOR_COLUMNS = ("sec", "is_in")
NETWORK_COLUMNS = ("s", "e")


def door_grid(ev: dict[str, np.ndarray], first_day: int, n_days: int, n_students: int) -> dict[str, Any]:
    """The columns of both parts of :func:`riskmodel.features.daily.door_daily` as grid
    columns, from the door events ``ev`` (:func:`fetch_events` of
    :func:`~riskmodel.features.daily.door_times`, columns :data:`DOOR_COLUMNS`): day counts
    and first exit by the event's day, return time and night states by the night's day
    (:func:`~riskmodel.features.grid_kernels.door_day_night`)."""
    import pyarrow as pa

    count, entries, first_out, code_all, code_0600, code_0400 = door_day_night(
        ev["sidx"], ev["sec"], ev["is_in"], first_day, n_days, n_students)
    present = _Validity(count > 0)
    back = (code_0600 >= 0) & (code_0600 % 2 == 1)
    return {
        "door_n": _dense(pa.int64(), count, present),
        "door_in_count": _dense(pa.int64(), entries, present),
        "door_out_count": _dense(pa.int64(), count - entries, present),
        "door_first_out_min": _dense(pa.float64(), first_out / 60, first_out < DAY_S),
        "door_return_min": _dense(pa.float64(), (code_0600 // 2 - 6 * HOUR_S) / 60, back),
        "door_code_0400": _dense(pa.int64(), code_0400 % 2, code_0400 >= 0),
        "door_code_all": _dense(pa.int64(), code_all % 2, code_all >= 0),
    }


def network_grid(ev: dict[str, np.ndarray], first_day: int, n_days: int, n_students: int) -> dict[str, Any]:
    """The columns of :func:`riskmodel.features.daily.network_daily` as grid columns, from
    the sessions ``ev`` (:func:`fetch_events` of
    :func:`~riskmodel.features.daily.network_times`, columns :data:`NETWORK_COLUMNS`):
    sessions capped at 24 h and split at midnight into the start day and the next day
    (:func:`~riskmodel.features.grid_kernels.network_day_sums`)."""
    import pyarrow as pa

    rows, started, secs, late = network_day_sums(ev["sidx"], ev["s"], ev["e"], first_day, n_days, n_students)
    present = _Validity(rows > 0)
    return {
        "network_n": _dense(pa.int64(), rows, present),
        "network_minutes": _dense(pa.float64(), secs / 60, present),
        "network_late_min": _dense(pa.float64(), late / 60, present),
        "network_sessions": _dense(pa.int64(), started, present),
    }


def _time_bits(n_students: int, span_s: int) -> int | None:
    """Bits of the doubled seconds in a packed event key, or None when (student index,
    doubled seconds, flag) does not fit in 63 bits or the doubled seconds not in 31 (a
    period of 34 years)."""
    time_bits = int(np.ceil(np.log2(2 * span_s + 2)))
    if time_bits > 31 or time_bits + int(np.ceil(np.log2(n_students + 1))) > 62:
        return None
    return time_bits


def packed_event_times(con: Any, times: ir.Table, idx: ir.Table, base: int, time_bits: int) -> np.ndarray:
    """Every event as one int64 packed by DuckDB: student index, seconds since ``base``
    doubled, library-entry flag (see :func:`_activity_columns`)."""
    j = times.join(idx, "student_id")
    key = (j.sidx * (1 << time_bits) + (j.sec - base) * 2 + j.lib).name("key")
    return con.to_pyarrow(j.select(key)).column("key").to_numpy()


class _Pipeline:
    """DuckDB fetches on the calling thread, numpy kernels on ``workers`` threads.

    Both release the GIL, so the next source's fetch runs while the previous source's kernel
    does. At most ``workers + 1`` fetched inputs are waiting or in a kernel at once, which
    bounds memory; results come back in submission order, so the table is the same as run one
    after another (each kernel is deterministic and independent of the others). One worker
    runs everything in order on the calling thread.
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="rm-grid") if self.workers > 1 else None
        self.slots = threading.BoundedSemaphore(self.workers + 1)
        self.results: list[Future[Any]] = []

    def submit(self, fetch: Callable[[], Any], kernel: Callable[[Any], Any]) -> None:
        if self.pool is None:
            done: Future[Any] = Future()
            done.set_result(kernel(fetch()))
            self.results.append(done)
            return
        self.slots.acquire()
        try:
            fetched = fetch()
            fut = self.pool.submit(kernel, fetched)
        except BaseException:
            self.slots.release()
            raise
        del fetched
        fut.add_done_callback(lambda _f: self.slots.release())
        self.results.append(fut)

    def collect(self) -> list[Any]:
        return [f.result() for f in self.results]

    def close(self) -> None:
        if self.pool is not None:
            for f in self.results:
                f.cancel()
            self.pool.shutdown(wait=True)


def _part_columns(tbl: Any, ids: Any, first_day: int, n_days: int) -> dict[str, Any]:
    """Every column of an ibis aggregate part (keyed by student_id, day) as a grid column."""
    keep, pos = _positions(tbl, ids, first_day, n_days)
    on_grid = np.zeros(len(ids) * n_days, dtype=bool)
    on_grid[pos] = True
    on_grid_bits = _validity(on_grid)
    return {name: _scatter(tbl.column(name), keep, pos, on_grid, on_grid_bits)
            for name in tbl.column_names if name not in KEY}


def _activity_columns(packed: np.ndarray, time_bits: int, n_days: int, n_students: int,
                      library: bool) -> dict[str, Any]:
    """``activity_span_min``, ``activity_quiet_min`` and (when ``library``) ``library_minutes``
    as grid columns, from the packed event keys of :func:`packed_event_times`: numpy sorts
    them (a SIMD sort of one int64 column; an entry sorts after another event of the same
    second, as the ibis stream orders it), then one compiled pass
    (:func:`~riskmodel.features.grid_kernels.activity_sums`) takes the definitions of
    :func:`riskmodel.features.daily.activity_daily` with neighbours in the sorted array
    instead of a window."""
    import pyarrow as pa

    packed = np.sort(packed)
    span, has_span, quiet, has_quiet, stay, has_stay = activity_sums(
        packed, time_bits, n_days, n_students, LIBRARY_STAY_CAP_S)
    del packed
    out = {"activity_span_min": _dense(pa.float64(), span / 60, has_span),
           "activity_quiet_min": _dense(pa.float64(), quiet / 60, has_quiet)}
    if library:
        out["library_minutes"] = _dense(pa.float64(), stay / 60, has_stay)
    return out


def grid_spine(con: Any, students: ir.Table, parts: Sequence[ir.Table], present: Sequence[str],
               door_before: ir.Table | None, first_day: int, last_day: int, lookback: int,
               times: ir.Table | None = None, library: bool = False,
               card: ir.Table | None = None, door: ir.Table | None = None,
               network: ir.Table | None = None, workers: int = 1) -> ir.Table | None:
    """The spine of :func:`~riskmodel.features.daily.daily_expr` (student_id, day, date,
    observed_<prefix>, door_carried, and every column of ``parts``) as a temporary DuckDB
    table, or None when the roster has NULL or repeated ids (use the ibis spine).

    ``parts`` are the per-source aggregates keyed by (student_id, day), each with its
    ``<prefix>_n`` event count for the observed flags; the door night part carries
    ``door_code_all`` (state after the night's last event). ``times``
    (:func:`~riskmodel.features.daily.event_times`) adds the activity channels and, when
    ``library``, the library minutes (:func:`_activity_columns`); ``card``
    (:func:`~riskmodel.features.daily.card_binned`) the card day aggregates
    (:func:`card_day_grid`), ``door`` and ``network`` theirs (:func:`door_grid`,
    :func:`network_grid`). The numpy kernels run on ``workers`` threads while DuckDB fetches
    the next source (same table whatever ``workers`` is).
    """
    import pyarrow as pa

    ids = _student_ids(con, students)
    if ids is None:
        return None
    n_students, n_days = len(ids), last_day - first_day + 1
    time_bits = _time_bits(n_students, (n_days + 3) * DAY_S) if times is not None else 0
    if time_bits is None:
        return None
    days = np.arange(first_day, last_day + 1, dtype="int64")
    cols: dict[str, Any] = {
        "student_id": ids.take(pa.array(np.repeat(np.arange(n_students), n_days))),
        "day": pa.array(np.tile(days, n_students)),
        "date": pa.array(np.tile(day_to_timestamp(days).values.astype("datetime64[ns]"), n_students)),
    }
    idx = _index_table(con, ids) if any(x is not None for x in (card, times, door, network)) else None
    shape = (first_day, n_days, n_students)
    run = _Pipeline(workers)
    try:
        for part in parts:
            run.submit(partial(con.to_pyarrow, part), lambda tbl: _part_columns(tbl, ids, first_day, n_days))
        if card is not None:
            run.submit(lambda: card_events(con, card, idx), lambda tbl: card_day_grid(tbl, *shape))
        if door is not None:
            run.submit(lambda: fetch_events(con, door, idx, DOOR_COLUMNS), lambda ev: door_grid(ev, *shape))
        if network is not None:
            run.submit(lambda: fetch_events(con, network, idx, NETWORK_COLUMNS), lambda ev: network_grid(ev, *shape))
        if times is not None:
            run.submit(lambda: packed_event_times(con, times, idx, (first_day - 1) * DAY_S, time_bits),
                       lambda packed: _activity_columns(packed, time_bits, n_days, n_students, library))
        results = run.collect()
    finally:
        run.close()
    data: dict[str, Any] = {}
    for k, res in enumerate(results):
        for name, col in res.items():
            if k >= len(parts) or name not in data:  # among parts the first wins, as the ibis spine's joins
                data[name] = col
    del results
    for src in present:
        p = EVENT_SOURCES[src]
        has = _present_count(data[f"{p}_n"], n_students, n_days)
        cols[f"observed_{p}"] = pa.array(observed_grid(has, lookback).ravel())
    if "door_code_all" in data:
        code = data["door_code_all"]
        night = code.is_valid().to_numpy(zero_copy_only=False).reshape(n_students, n_days)
        state = code.fill_null(0).to_numpy().astype("float64").reshape(n_students, n_days)
        seed = np.full(n_students, np.nan)
        if door_before is not None:
            tbl = con.to_pyarrow(door_before)
            sidx = tbl.column("student_id")
            import pyarrow.compute as pc

            at = pc.index_in(sidx, value_set=ids).fill_null(-1).to_numpy()
            val = tbl.column("door_in_before").to_numpy(zero_copy_only=False).astype("float64")
            seed[at[at >= 0]] = val[at >= 0]
        value, known = carried_grid(night, state, seed)
        cols["door_carried"] = pa.array(np.where(known, value, 0).astype("int64").ravel(), mask=~known.ravel())
    cols.update(data)
    return arrow_view(con, pa.table(cols), "rm_daily_spine")


def _codes(col: Any) -> np.ndarray:
    """Integer codes of a string column (equal strings, equal codes; NULL is -1)."""
    import pyarrow as pa

    enc = col.combine_chunks().dictionary_encode() if isinstance(col, pa.ChunkedArray) else col.dictionary_encode()
    return enc.indices.fill_null(-1).to_numpy().astype("int64", copy=False)


def _neighbour_with_other(part: np.ndarray, tod: np.ndarray, who: np.ndarray, within: int) -> np.ndarray:
    """Per row (rows sorted by part, then time): the previous or next row of the same part is
    another student within ``within`` seconds."""
    n = len(part)
    close = np.zeros(max(n - 1, 0), dtype=bool)
    if n > 1:
        close = (part[1:] == part[:-1]) & (who[1:] != who[:-1]) & (tod[1:] - tod[:-1] <= within)
    out = np.zeros(n, dtype=bool)
    out[1:] |= close
    out[:-1] |= close
    return out


def shared_meals_grid(con: Any, can: ir.Table, within_s: int, workers: int = 1) -> ir.Table | None:
    """``card_meals_accompanied`` per student and day from the canteen meal swipes ``can``
    (:func:`riskmodel.features.daily.canteen_swipes`): the rows and values of
    :func:`riskmodel.features.daily.card_shared`, with one numpy sort per peer group (room,
    class) instead of two windows over every swipe. None (use the windows) when the sort key
    would not fit in 63 bits.

    Which of several swipes in the same second comes first does not change the result: a
    student whose swipe shares a second with another student's is next to one of them in
    any order, and a meal counts when any of its swipes is accompanied. The two peer
    groups are sorted on ``workers`` threads (same result whatever ``workers`` is).
    """
    import pyarrow as pa

    tbl = con.to_pyarrow(can.select("student_id", "merchant_id", "day", "tod", "slot", "class_id", "dorm_room"))
    if tbl.num_rows == 0:
        empty = {"student_id": pa.array([], pa.string()), "day": pa.array([], pa.int64()),
                 "card_meals_accompanied": pa.array([], pa.int64())}
        return temp_arrow_table(con, pa.table(empty), "rm_shared_meals")
    who = _codes(tbl.column("student_id"))
    merchant = _codes(tbl.column("merchant_id"))
    day = tbl.column("day").to_numpy()
    day = day - day.min()
    tod = tbl.column("tod").to_numpy()
    n_days = int(day.max()) + 1

    def accompanied(group: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(rows, accompanied by someone of the same ``group``), or None when the sort key
        would not fit in 63 bits."""
        code = _codes(tbl.column(group))
        n_groups = int(code.max()) + 1
        bits = sum(int(np.ceil(np.log2(x + 1))) for x in (int(merchant.max()) + 1, n_days, n_groups, DAY_S))
        if bits > 62:
            return None
        rows = np.flatnonzero(code >= 0)  # no room / class: never accompanied by that group
        part = (merchant[rows] * n_days + day[rows]) * n_groups + code[rows]
        order = np.argsort(part * DAY_S + tod[rows], kind="stable")
        rows, part = rows[order], part[order]
        return rows, _neighbour_with_other(part, tod[rows], who[rows], within_s)

    groups = ("dorm_room", "class_id")
    if workers > 1:  # the two peer groups on threads (numpy releases the GIL while sorting)
        with ThreadPoolExecutor(min(workers, len(groups)), thread_name_prefix="rm-shared") as pool:
            found = list(pool.map(accompanied, groups))
    else:
        found = [accompanied(g) for g in groups]
    acc = np.zeros(tbl.num_rows, dtype=bool)
    for res in found:
        if res is None:
            return None
        acc[res[0]] |= res[1]
    # a meal slot is shared when any of its swipes is; count the shared slots per student-day
    student_day = who * n_days + day
    shared_slots = _distinct((student_day * 3 + tbl.column("slot").to_numpy())[acc]) // 3
    order = np.argsort(student_day)
    first_row = order[np.concatenate(([True], np.diff(student_day[order]) != 0))]
    days_seen = student_day[first_row]
    counts = np.bincount(np.searchsorted(days_seen, shared_slots), minlength=len(days_seen))
    take = pa.array(first_row)
    return temp_arrow_table(con, pa.table({
        "student_id": tbl.column("student_id").take(take), "day": tbl.column("day").take(take),
        "card_meals_accompanied": pa.array(counts.astype("int64"))}), "rm_shared_meals")
