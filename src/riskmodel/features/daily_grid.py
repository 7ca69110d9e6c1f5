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
  time, entry flag) integers and one pass over them (:func:`_activity_columns`); the keys are
  packed from the event times the card, door and network kernels fetched anyway, so each
  event table is read once per chunk. Shared meals come from one sort per peer group
  (:func:`shared_meals_grid`);
* the per-event loops are compiled (:mod:`riskmodel.features.grid_kernels`).

DuckDB still reads and filters the events, joins the student index and computes the
per-event expressions (epoch seconds, meal slot and bin, category); the channel formulas of
the ibis projection are computed in numpy on the spine (:func:`daily_columns`). Tests build
random campuses both ways and find the same table (spending sums up to their last bits:
another summation order). The as-of rule is untouched: a grid row of
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
from riskmodel.features.backends import temp_arrow_table
from riskmodel.features.grid_kernels import (
    accompanied_slots,
    activity_sums,
    card_day_sums,
    carried_state,
    door_day_night,
    network_day_sums,
    pack_peer_keys,
)
from riskmodel.features.registry import (
    EVENT_SOURCES,
    LIBRARY_STAY_CAP_S,
    MEAL_BIN_HOURS,
    RETURN_BINS,
)

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


def merchant_codes(con: Any, card: ir.Table) -> ir.Table:
    """(code_merchant, mcode): every merchant id of ``card`` and an integer code, as a small
    temporary table (a few hundred rows on a real campus). Built once for a whole campus,
    so that each chunk's swipes only probe it (:func:`card_events`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = con.to_pyarrow(card.select("merchant_id").filter(card.merchant_id.notnull()).distinct())
    ids = ids.column("merchant_id").combine_chunks()
    ids = ids.take(pc.sort_indices(ids))
    return temp_arrow_table(con, pa.table({"code_merchant": ids, "mcode": np.arange(len(ids), dtype="int64")}),
                            "rm_merchant_codes")


def card_events(con: Any, card: ir.Table, idx: ir.Table, codes: ir.Table | None = None) -> Any:
    """The card swipes :func:`card_day_grid` needs, as an Arrow table fetched from DuckDB
    (``card``: :func:`~riskmodel.features.daily.card_binned`; students not on the roster
    are dropped, as by the spine's left join). Merchants come as integer codes from
    ``codes`` (:func:`merchant_codes`, of ``card`` when None): no string column to fetch
    and encode; equal ids get equal codes, NULL gets -1."""
    import ibis

    codes = merchant_codes(con, card) if codes is None else codes
    j = card.join(idx, "student_id")
    j = j.left_join(codes, j.merchant_id == codes.code_merchant)
    cat = ibis.cases((j.category == "canteen", 0), (j.category == "supermarket", 1),
                     (j.category == "bathhouse", 2), else_=3)
    return con.to_pyarrow(j.select("sidx", "sec", cat=cat, mcode=j.mcode.fill_null(-1).cast("int64"),
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

    col = {c: tbl.column(c).to_numpy() for c in ("sidx", "sec", "cat", "mcode", "amount", "cslot", "cbin")}
    del tbl
    count, slots, spend, has_cat, total, merchants, bins = card_day_sums(
        col["sidx"], col["sec"] // DAY_S, col["cat"], col["mcode"], col["amount"], col["cslot"], col["cbin"],
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


def pack_event_times(sidx: np.ndarray, sec: np.ndarray, base: int, time_bits: int,
                     entry: np.ndarray | int = 0) -> np.ndarray:
    """Events as int64 keys: student index, seconds since ``base`` doubled, library-entry
    flag (see :func:`_activity_columns`); one sort orders them by student, then time, an
    entry after another event of the same second."""
    return (sidx.astype(np.int64) << time_bits) + (sec.astype(np.int64) - base) * 2 + entry


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
    as grid columns, from every event's key of :func:`pack_event_times`: numpy sorts them in
    place (a SIMD sort of one int64 column; an entry sorts after another event of the same
    second, as the ibis stream orders it), then one compiled pass
    (:func:`~riskmodel.features.grid_kernels.activity_sums`) takes the definitions of
    :func:`riskmodel.features.daily.activity_daily` with neighbours in the sorted array
    instead of a window."""
    import pyarrow as pa

    packed.sort()
    span, has_span, quiet, has_quiet, stay, has_stay = activity_sums(
        packed, time_bits, n_days, n_students, LIBRARY_STAY_CAP_S)
    out = {"activity_span_min": _dense(pa.float64(), span / 60, has_span),
           "activity_quiet_min": _dense(pa.float64(), quiet / 60, has_quiet)}
    if library:
        out["library_minutes"] = _dense(pa.float64(), stay / 60, has_stay)
    return out


def grid_spine(con: Any, students: ir.Table, parts: Sequence[ir.Table], present: Sequence[str],
               door_before: ir.Table | None, first_day: int, last_day: int, lookback: int,
               activity: bool = False, library: ir.Table | None = None,
               card: ir.Table | None = None, door: ir.Table | None = None,
               network: ir.Table | None = None, workers: int = 1,
               merchants: ir.Table | None = None) -> ir.Table | None:
    """The spine of :func:`~riskmodel.features.daily.daily_expr` (student_id, day, date,
    observed_<prefix>, door_carried, and every column of ``parts``) as an Arrow table (the
    channels come from it by :func:`daily_columns`), or None when the roster has NULL or
    repeated ids (use the ibis spine).

    ``parts`` are the per-source aggregates keyed by (student_id, day), each with its
    ``<prefix>_n`` event count for the observed flags; the door night part carries
    ``door_code_all`` (state after the night's last event). ``card``
    (:func:`~riskmodel.features.daily.card_binned`) adds the card day aggregates
    (:func:`card_day_grid`; ``merchants``: the campus' :func:`merchant_codes`), ``door`` and
    ``network`` theirs (:func:`door_grid`, :func:`network_grid`). ``activity`` adds the
    activity channels and, with ``library`` (:func:`~riskmodel.features.daily.library_times`),
    the library minutes (:func:`_activity_columns`), from the times of the events the
    kernels fetched (so ``card``, ``door`` and ``network`` must be given for each present
    source): the events of :func:`~riskmodel.features.daily.event_times`, read once. The
    compiled kernels run on ``workers`` threads while DuckDB fetches the next source (same
    table whatever ``workers`` is).
    """
    import pyarrow as pa

    ids = _student_ids(con, students)
    if ids is None:
        return None
    n_students, n_days = len(ids), last_day - first_day + 1
    time_bits = _time_bits(n_students, (n_days + 3) * DAY_S) if activity else 0
    if time_bits is None:
        return None
    days = np.arange(first_day, last_day + 1, dtype="int64")
    cols: dict[str, Any] = {
        "student_id": ids.take(pa.array(np.repeat(np.arange(n_students), n_days))),
        "day": pa.array(np.tile(days, n_students)),
        "date": pa.array(np.tile(day_to_timestamp(days).values.astype("datetime64[ns]"), n_students)),
    }
    idx = _index_table(con, ids) if any(x is not None for x in (card, library, door, network)) else None
    shape = (first_day, n_days, n_students)

    def keys(sidx: np.ndarray, sec: np.ndarray, entry: np.ndarray | int = 0) -> list[np.ndarray]:
        """The events' activity keys, when the activity channels are asked for."""
        return [pack_event_times(sidx, sec, (first_day - 1) * DAY_S, time_bits, entry)] if activity else []

    def card_kernel(tbl: Any) -> tuple[dict[str, Any], list[np.ndarray]]:
        times = keys(tbl.column("sidx").to_numpy(), tbl.column("sec").to_numpy())
        return card_day_grid(tbl, *shape), times

    def door_kernel(ev: dict[str, np.ndarray]) -> tuple[dict[str, Any], list[np.ndarray]]:
        return door_grid(ev, *shape), keys(ev["sidx"], ev["sec"])

    def network_kernel(ev: dict[str, np.ndarray]) -> tuple[dict[str, Any], list[np.ndarray]]:
        # a session's start and its end capped at 24 h are events of the activity stream
        capped = np.minimum(ev["e"], ev["s"] + DAY_S)
        return network_grid(ev, *shape), keys(ev["sidx"], ev["s"]) + keys(ev["sidx"], capped)

    run = _Pipeline(workers)
    try:
        for part in parts:
            run.submit(partial(con.to_pyarrow, part), lambda tbl: (_part_columns(tbl, ids, first_day, n_days), []))
        if card is not None:
            run.submit(lambda: card_events(con, card, idx, merchants), card_kernel)
        if door is not None:
            run.submit(lambda: fetch_events(con, door, idx, DOOR_COLUMNS), door_kernel)
        if network is not None:
            run.submit(lambda: fetch_events(con, network, idx, NETWORK_COLUMNS), network_kernel)
        if activity and library is not None:
            run.submit(lambda: fetch_events(con, library, idx, ("sec", "lib")),
                       lambda ev: ({}, keys(ev["sidx"], ev["sec"], ev["lib"])))
        results = run.collect()
    finally:
        run.close()
    if activity:
        times = [k for _, ks in results for k in ks]
        packed = np.concatenate(times) if times else np.zeros(0, dtype=np.int64)
        del times
        results = [(res, []) for res, _ in results]
        results.append((_activity_columns(packed, time_bits, n_days, n_students, library is not None), []))
        del packed
    data: dict[str, Any] = {}
    for k, (res, _) in enumerate(results):
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
    return pa.table(cols)


def _spine_values(col: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """(values, validity) of a spine column read from its Arrow buffers: the values as
    stored (a NULL slot holds anything; flags unpacked to bool), the validity as bools, or
    None when there is no NULL."""
    if hasattr(col, "num_chunks"):  # a table column: its one chunk is read in place
        arr = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    else:
        arr = col
    n, off = len(arr), arr.offset
    bitmap, data = arr.buffers()[:2]
    valid = None
    if arr.null_count:
        valid = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), count=off + n, bitorder="little")[off:]
        valid = valid.view(bool)
    if arr.type.bit_width == 1:
        values = np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=off + n, bitorder="little")[off:].view(bool)
    else:
        values = np.frombuffer(data, dtype=arr.type.to_pandas_dtype(), count=off + n)[off:]
    return values, valid


def _zero_filled(values: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """float64 copy of ``values`` with 0 where ``valid`` is False."""
    out = np.zeros(len(values), dtype="float64")
    np.copyto(out, values, where=True if valid is None else valid)
    return out


def _float_array(values: np.ndarray, ok: np.ndarray, bitmap: Any = None) -> Any:
    """A float64 Arrow array over ``values`` (no copy), NULL where ``ok`` is False
    (``bitmap``: ``ok`` already packed)."""
    import pyarrow as pa

    n = len(values)
    nulls = n - int(np.count_nonzero(ok))
    if nulls == 0:
        return pa.Array.from_buffers(pa.float64(), n, [None, pa.py_buffer(values)], null_count=0)
    if bitmap is None:
        bitmap = pa.py_buffer(np.packbits(ok, bitorder="little"))
    return pa.Array.from_buffers(pa.float64(), n, [bitmap, pa.py_buffer(values)], null_count=nulls)


def daily_columns(spine: Any, present: Sequence[str], shared: bool, stream: bool,
                  workers: int = 1) -> dict[str, Any]:
    """The observed flags and the channels of the daily table (Arrow arrays, insertion order
    as :func:`~riskmodel.features.daily.daily_expr`'s ibis projection) from the spine of
    :func:`grid_spine`: the same formulas computed in numpy on ``workers`` threads instead of
    a DuckDB projection. A channel of a source not observed that day is NULL; ``shared``
    adds the shared meals, ``stream`` the library minutes and the activity channels."""
    import pyarrow as pa

    out: dict[str, Any] = {}
    flag: dict[str, np.ndarray] = {}
    for src in present:
        p = EVENT_SOURCES[src]
        out[f"observed_{p}"] = spine.column(f"observed_{p}")
        flag[src] = _spine_values(out[f"observed_{p}"])[0]
    obs_any = np.logical_or.reduce(list(flag.values())) if flag else None
    if obs_any is not None:
        out["observed_activity"] = pa.array(obs_any)
    # an observed flag is the validity of ~10 channels: packed once
    packed = {id(f): pa.py_buffer(np.packbits(f, bitorder="little")) for f in [*flag.values(), obs_any]
              if f is not None}

    def col(name: str) -> tuple[np.ndarray, np.ndarray | None]:
        return _spine_values(spine.column(name))

    def zero(name: str, f: np.ndarray) -> Callable[[], Any]:  # NULL (no event that day) is 0
        return lambda: _float_array(_zero_filled(*col(name)), f, packed[id(f)])

    def as_is(name: str, f: np.ndarray) -> Callable[[], Any]:  # the spine's value, NULL stays NULL
        def run() -> Any:
            values, valid = col(name)
            return _float_array(_zero_filled(values, valid), f if valid is None else f & valid)
        return run

    tasks: dict[str, Callable[[], Any]] = {}
    if "door_events" in flag:
        door_seen = flag["door_events"]
        tasks["door_return_min"] = as_is("door_return_min", door_seen)

        def away() -> Any:
            state, known = col("door_code_0400")
            state = _zero_filled(state, known)
            known = np.ones(len(state), dtype=bool) if known is None else known
            if "door_carried" in spine.column_names:
                carried, carried_known = col("door_carried")
                state = np.where(known, state, _zero_filled(carried, carried_known))
                known = known | (True if carried_known is None else carried_known)
            return _float_array(1 - state, door_seen & known)

        tasks["door_away_night"] = away
        tasks["door_first_out_min"] = as_is("door_first_out_min", door_seen)
        tasks["door_in_count"] = zero("door_in_count", door_seen)
        tasks["door_out_count"] = zero("door_out_count", door_seen)

        def return_bin(lo: float, hi: float) -> Callable[[], Any]:
            def run() -> Any:
                ret, valid = col("door_return_min")
                inbin = (ret >= lo) & (ret < hi)
                if valid is not None:
                    inbin &= valid
                return _float_array(inbin.astype("float64"), door_seen, packed[id(door_seen)])
            return run

        for k, (lo, hi) in enumerate(RETURN_BINS):
            tasks[f"door_return_bin{k}"] = return_bin(lo, hi)
    if "card_transactions" in flag:
        card_seen = flag["card_transactions"]
        taken = {m: _zero_filled(*col(m)) for m in ("card_breakfast", "card_lunch", "card_dinner")}
        meals = 0.0 + taken["card_breakfast"] + taken["card_lunch"] + taken["card_dinner"]
        for m, v in taken.items():
            tasks[m] = partial(_float_array, v, card_seen, packed[id(card_seen)])
        tasks["card_meals"] = partial(_float_array, meals, card_seen, packed[id(card_seen)])

        def canteen_and_price() -> tuple[Any, Any]:
            canteen = _zero_filled(*col("card_canteen_spend"))
            had = meals > 0
            price = np.divide(canteen, meals, out=np.zeros_like(canteen), where=had)
            return _float_array(canteen, card_seen, packed[id(card_seen)]), _float_array(price, card_seen & had)

        tasks["card_canteen_spend+card_meal_price"] = canteen_and_price
        for m in ("card_supermarket_spend", "card_bathhouse_spend", "card_total_spend", "card_merchants"):
            tasks[m] = zero(m, card_seen)
        if shared:
            tasks["card_meals_accompanied"] = zero("card_meals_accompanied", card_seen)
        for k in range(len(MEAL_BIN_HOURS) - 1):
            tasks[f"card_meal_bin{k}"] = zero(f"card_meal_bin{k}", card_seen)
    if "library_events" in flag:
        tasks["library_entries"] = zero("library_entries", flag["library_events"])
        if stream:
            tasks["library_minutes"] = zero("library_minutes", flag["library_events"])
    if "network_sessions" in flag:
        for m in ("network_minutes", "network_late_min", "network_sessions"):
            tasks[m] = zero(m, flag["network_sessions"])
    if obs_any is not None and stream:
        tasks["activity_span_min"] = as_is("activity_span_min", obs_any)
        tasks["activity_quiet_min"] = as_is("activity_quiet_min", obs_any)
    if workers > 1 and len(tasks) > 1:
        with ThreadPoolExecutor(workers, thread_name_prefix="rm-daily") as pool:
            done = list(pool.map(lambda run: run(), tasks.values()))
    else:
        done = [run() for run in tasks.values()]
    for name, res in zip(tasks, done, strict=True):
        if "+" in name:
            out.update(zip(name.split("+"), res, strict=True))
        else:
            out[name] = res
    return out


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


#: the widest packed sort key of the shared meals (bits; an int64 holds 63)
PACKED_KEY_BITS = 63


def _bits(n: int) -> int:
    """Bits to hold the values 0..n-1."""
    return max(int(n - 1).bit_length(), 1)


def _accompanied_by_group(merchant: np.ndarray, day: np.ndarray, group: np.ndarray, tod: np.ndarray,
                          who: np.ndarray, slot: np.ndarray, n_merchants: int, n_days: int, n_students: int,
                          within_s: int) -> np.ndarray | None:
    """The student-day-slots (``(who * n_days + day) * 3 + slot``, repeats possible) with a
    swipe whose neighbour at the same place (merchant, day, ``group`` >= 0) in time order is
    another student's within ``within_s`` seconds.

    When place, time, student and slot fit in one int64 they are packed and sorted as one
    column (a SIMD sort) and read back in one compiled pass
    (:func:`~riskmodel.features.grid_kernels.pack_peer_keys`,
    :func:`~riskmodel.features.grid_kernels.accompanied_slots`); otherwise an argsort of
    (place, time), or None when even that key would not fit in 63 bits. Swipes of the same
    place and second may come in any order (see :func:`shared_meals_grid`).
    """
    n_groups = int(group.max()) + 1 if len(group) else 0
    if n_groups == 0:
        return np.zeros(0, dtype=np.int64)
    tod_bits, who_bits = _bits(DAY_S), _bits(n_students)
    place_bits = _bits(n_merchants * n_days * n_groups)
    if place_bits + tod_bits + who_bits + 2 <= PACKED_KEY_BITS:
        keys = pack_peer_keys(merchant, day, group, tod, who, slot, n_days, n_groups, tod_bits, who_bits)
        keys.sort()
        return accompanied_slots(keys, tod_bits, who_bits, n_groups, n_days, within_s)
    if place_bits + tod_bits > 62:
        return None
    rows = np.flatnonzero(group >= 0)  # no room / class: never accompanied by that group
    place = (merchant[rows] * n_days + day[rows]) * n_groups + group[rows]
    order = np.argsort(place * DAY_S + tod[rows])
    rows, place = rows[order], place[order]
    acc = _neighbour_with_other(place, tod[rows], who[rows], within_s)
    return ((who[rows] * n_days + day[rows]) * 3 + slot[rows])[acc]


def peer_index(con: Any, students: ir.Table) -> tuple[Any, ir.Table] | None:
    """(sorted roster ids, table ``student_id, who, room, cls``): each student's row in the
    roster and integer codes of the dorm room and class (-1: none), as a small temporary
    table; None when a roster id is NULL or repeated."""
    import pyarrow as pa
    import pyarrow.compute as pc

    roster = con.to_pyarrow(students.select("student_id", "class_id", "dorm_room"))
    ids = roster.column("student_id").combine_chunks()
    if ids.null_count or pc.count_distinct(ids).as_py() != len(ids):
        return None
    roster = roster.take(pc.sort_indices(ids))
    ids = roster.column("student_id").combine_chunks()
    return ids, temp_arrow_table(con, pa.table({
        "student_id": ids, "who": np.arange(len(ids), dtype="int64"),
        "room": _codes(roster.column("dorm_room")), "cls": _codes(roster.column("class_id"))}), "rm_peer_index")


def shared_meals_grid(con: Any, card: ir.Table, students: ir.Table, within_s: int, workers: int = 1,
                      merchants: ir.Table | None = None) -> ir.Table | None:
    """``card_meals_accompanied`` per student and day from the card swipes ``card``
    (:func:`riskmodel.features.daily._card_prepared`; canteen swipes in a meal slot of
    students on the roster ``students`` count): the rows and values of
    :func:`riskmodel.features.daily.card_shared`, with one numpy sort per peer group (room,
    class) instead of two windows over every swipe. DuckDB fetches integers only: the
    student's roster row and peer group codes (:func:`peer_index`) and the merchant code
    (``merchants``, :func:`merchant_codes`). None (use the windows) when a roster id is NULL
    or repeated, or the sort key would not fit in 63 bits.

    Which of several swipes in the same second comes first does not change the result: a
    student whose swipe shares a second with another student's is next to one of them in
    any order, and a meal counts when any of its swipes is accompanied. The two peer
    groups are sorted on ``workers`` threads (same result whatever ``workers`` is).
    """
    import pyarrow as pa

    index = peer_index(con, students)
    if index is None:
        return None
    ids, peers = index
    codes = merchant_codes(con, card) if merchants is None else merchants
    can = card.filter(card.canteen & card.slot.notnull())
    j = can.join(peers, "student_id")
    j = j.left_join(codes, j.merchant_id == codes.code_merchant)
    tbl = con.to_pyarrow(j.select("who", "day", "tod", "slot", "room", "cls",
                                  merchant=j.mcode.fill_null(-1).cast("int64") + 1))
    if tbl.num_rows == 0:
        empty = {"student_id": pa.array([], pa.string()), "day": pa.array([], pa.int64()),
                 "card_meals_accompanied": pa.array([], pa.int64())}
        return temp_arrow_table(con, pa.table(empty), "rm_shared_meals")
    col = {c: tbl.column(c).to_numpy() for c in tbl.column_names}
    del tbl
    first_day = int(col["day"].min())
    day = col["day"] - first_day
    n_days = int(day.max()) + 1
    n_merchants = int(col["merchant"].max()) + 1

    def accompanied(group: str) -> np.ndarray | None:
        return _accompanied_by_group(col["merchant"], day, col[group], col["tod"], col["who"], col["slot"],
                                     n_merchants, n_days, len(ids), within_s)

    groups = ("room", "cls")
    if workers > 1:  # the two peer groups on threads (numpy releases the GIL while sorting)
        with ThreadPoolExecutor(min(workers, len(groups)), thread_name_prefix="rm-shared") as pool:
            found = list(pool.map(accompanied, groups))
    else:
        found = [accompanied(g) for g in groups]
    if any(f is None for f in found):
        return None
    # a meal slot is shared when any of its swipes is; count the shared slots per student-day
    student_days = _distinct(col["who"] * n_days + day)  # every student-day with a swipe, 0 or more shared
    shared_slots = _distinct(np.concatenate(found)) // 3  # type: ignore[arg-type]
    counts = np.bincount(np.searchsorted(student_days, shared_slots), minlength=len(student_days))
    return temp_arrow_table(con, pa.table({
        "student_id": ids.take(pa.array(student_days // n_days)),
        "day": pa.array(student_days % n_days + first_day),
        "card_meals_accompanied": pa.array(counts.astype("int64"))}), "rm_shared_meals")
