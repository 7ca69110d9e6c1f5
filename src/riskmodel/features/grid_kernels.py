"""Compiled one-pass loops behind the daily table's grid kernels (numba).

Each function walks the events once and updates per-position accumulators on the students x
days grid (position ``student * n_days + (day - first_day)``), where the numpy version needed
a boolean mask, a fancy-indexed copy and a ``bincount`` per output column. They are pure
functions of arrays; :mod:`riskmodel.features.daily_grid` turns their results into Arrow
columns. Sums run in the events' order, as ``np.bincount`` does, so the results are the
numpy version's to the last bit. ``nogil``: the pipeline runs two of them side by side.

Compiled on first use and cached next to this file (``cache=True``): about 3 s the first
time on a machine, a fraction of a second after.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from riskmodel.features.asof import DAY_S, HOUR_S, NIGHT_SHIFT_S

_FOUR_AM = 4 * HOUR_S
_FIVE_AM = 5 * HOUR_S
_NIGHT_0600 = 18 * HOUR_S  # seconds since 12:00 of the evening's day: 06:00
_NIGHT_0400 = 16 * HOUR_S  # 04:00


@njit(cache=True, nogil=True)
def card_day_sums(sidx: np.ndarray, day: np.ndarray, cat: np.ndarray, mcode: np.ndarray,
                  amount: np.ndarray, cslot: np.ndarray, cbin: np.ndarray, first_day: int, n_days: int,
                  n_students: int, n_bins: int) -> tuple[np.ndarray, ...]:
    """Card day aggregates per grid position from the swipes (one row each).

    ``cat``: 0 canteen, 1 supermarket, 2 bathhouse, 3 other; ``mcode``: merchant code (-1:
    none); ``cslot`` / ``cbin``: meal slot 0-2 and meal-time bin 0..n_bins-1 of a canteen
    swipe (-1 otherwise). Swipes outside the grid's days are skipped.

    Returns (count, slot taken [3 x n], spend by category [3 x n], has a swipe of the
    category [3 x n], total spend, distinct merchants, swipes per meal-time bin [n_bins x n]).
    """
    n = n_students * n_days
    count = np.zeros(n, np.int64)
    slots = np.zeros((3, n), np.bool_)
    spend = np.zeros((3, n), np.float64)
    has_cat = np.zeros((3, n), np.bool_)
    total = np.zeros(n, np.float64)
    bins = np.zeros((n_bins, n), np.int64)
    start = np.zeros(n + 1, np.int64)  # merchant codes per position: counting sort
    pos_of = np.empty(len(sidx), np.int64)
    for i in range(len(sidx)):
        d = day[i] - first_day
        if d < 0 or d >= n_days:
            pos_of[i] = -1
            continue
        p = sidx[i] * n_days + d
        pos_of[i] = p
        count[p] += 1
        if cslot[i] >= 0:
            slots[cslot[i], p] = True
        c = cat[i]
        if c < 3:
            spend[c, p] += amount[i]
            has_cat[c, p] = True
        total[p] += amount[i]
        if cbin[i] >= 0:
            bins[cbin[i], p] += 1
        if mcode[i] >= 0:
            start[p + 1] += 1
    for p in range(n):
        start[p + 1] += start[p]
    fill = start[:-1].copy()
    codes = np.empty(start[n], np.int64)
    for i in range(len(sidx)):
        p = pos_of[i]
        if p >= 0 and mcode[i] >= 0:
            codes[fill[p]] = mcode[i]
            fill[p] += 1
    merchants = np.zeros(n, np.int64)
    for p in range(n):  # a student-day has a handful of swipes: compare each with the earlier ones
        a, b = start[p], start[p + 1]
        k = 0
        for j in range(a, b):
            seen = False
            for q in range(a, j):
                if codes[q] == codes[j]:
                    seen = True
                    break
            if not seen:
                k += 1
        merchants[p] = k
    return count, slots, spend, has_cat, total, merchants, bins


@njit(cache=True, nogil=True)
def door_day_night(sidx: np.ndarray, sec: np.ndarray, is_in: np.ndarray, first_day: int, n_days: int,
                   n_students: int) -> tuple[np.ndarray, ...]:
    """Door aggregates per grid position from the door events (local epoch seconds, 1 for an
    entry): by the event's day, (count, entries, first exit at or after 04:00 in seconds of
    the day, ``DAY_S`` when none); by the night's day (from 12:00 the day before), the
    largest ``ntod * 2 + is_in`` (seconds since that 12:00, doubled, plus the entry flag: the
    latest event wins, an entry wins a tie) over all its events, those before 06:00 and those
    before 04:00 (-1 when none).
    """
    n = n_students * n_days
    count = np.zeros(n, np.int64)
    entries = np.zeros(n, np.int64)
    first_out = np.full(n, DAY_S, np.int64)
    code_all = np.full(n, -1, np.int64)
    code_0600 = np.full(n, -1, np.int64)
    code_0400 = np.full(n, -1, np.int64)
    for i in range(len(sidx)):
        s = sec[i]
        inn = np.int64(is_in[i])
        d = s // DAY_S - first_day
        if d >= 0 and d < n_days:
            p = sidx[i] * n_days + d
            count[p] += 1
            entries[p] += inn
            tod = s % DAY_S
            if inn == 0 and tod >= _FOUR_AM and tod < first_out[p]:
                first_out[p] = tod
        shifted = s + NIGHT_SHIFT_S
        nd = shifted // DAY_S - first_day
        if nd >= 0 and nd < n_days:
            p = sidx[i] * n_days + nd
            ntod = shifted % DAY_S
            code = ntod * 2 + inn
            code_all[p] = max(code_all[p], code)
            if ntod < _NIGHT_0600:
                code_0600[p] = max(code_0600[p], code)
            if ntod < _NIGHT_0400:
                code_0400[p] = max(code_0400[p], code)
    return count, entries, first_out, code_all, code_0600, code_0400


@njit(cache=True, nogil=True)
def network_day_sums(sidx: np.ndarray, start: np.ndarray, end: np.ndarray, first_day: int, n_days: int,
                     n_students: int) -> tuple[np.ndarray, ...]:
    """Network aggregates per grid position from the sessions (local epoch seconds), each
    capped at 24 h and split at midnight into its start day and the next day.

    Returns (rows: parts on the day, sessions started on the day, seconds online, seconds
    online from 00:00 to 05:00), all whole numbers.
    """
    n = n_students * n_days
    rows = np.zeros(n, np.int64)
    started = np.zeros(n, np.int64)
    secs = np.zeros(n, np.int64)
    late = np.zeros(n, np.int64)
    for i in range(len(sidx)):
        s = start[i]
        e = min(end[i], s + DAY_S)
        d0 = s // DAY_S
        mid = (d0 + 1) * DAY_S
        d = d0 - first_day
        if d >= 0 and d < n_days:
            p = sidx[i] * n_days + d
            rows[p] += 1
            started[p] += 1
            secs[p] += min(e, mid) - s
            late[p] += max(min(e, d0 * DAY_S + _FIVE_AM) - s, 0)
        if e > mid and d + 1 >= 0 and d + 1 < n_days:
            p = sidx[i] * n_days + d + 1
            rows[p] += 1
            secs[p] += e - mid
            late[p] += max(min(e, mid + _FIVE_AM) - mid, 0)
    return rows, started, secs, late


@njit(cache=True, nogil=True)
def carried_state(night: np.ndarray, state: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Per student and day (students x days grids): ``state`` of the latest earlier day with
    a night (``night``), else the student's ``seed`` (NaN: unknown)."""
    n_students, n_days = night.shape
    out = np.empty((n_students, n_days), np.float64)
    for i in range(n_students):
        current = seed[i]
        for d in range(n_days):
            out[i, d] = current
            if night[i, d]:
                current = state[i, d]
    return out


@njit(cache=True, nogil=True)
def activity_sums(packed: np.ndarray, time_bits: int, n_days: int, n_students: int,
                  library_stay_cap_s: int) -> tuple[np.ndarray, ...]:
    """Activity span, overnight quiet gap and library stay per grid position, in seconds,
    from every event of every student as sorted packed keys (student index, seconds since
    00:00 of the day before the grid's first day doubled, library-entry flag; see
    :func:`riskmodel.features.daily_grid.packed_event_times`), in one pass with neighbours
    in the sorted array:

    * span of day d: last event minus first event of the day;
    * quiet gap of the night ending on d: the longest gap before an event in
      [d-1 18:00, d 12:00), from the previous event of the student or 18:00, whichever is
      later (no earlier event: from 18:00, only when that 18:00 is inside the data);
    * library stay of day d: from each entry to the student's next event, the day's end or
      ``library_stay_cap_s``, whichever comes first, summed.

    Returns (span, has span, quiet, has quiet, library seconds, has an entry).
    """
    n = n_students * n_days
    span = np.zeros(n, np.float64)
    has_span = np.zeros(n, np.bool_)
    quiet = np.zeros(n, np.int64)
    has_quiet = np.zeros(n, np.bool_)
    stay = np.zeros(n, np.int64)
    has_stay = np.zeros(n, np.bool_)
    mask = (np.int64(1) << time_bits) - 1
    m = len(packed)
    run_first = np.int64(0)
    run_day = np.int64(-1)
    prev_student = np.int64(-1)
    prev_t = np.int64(0)
    for i in range(m):
        key = packed[i]
        student = key >> time_bits
        rest = key & mask
        t = rest >> 1
        day = t // DAY_S  # 1: the grid's first day
        new_student = student != prev_student
        if new_student or day != run_day:
            run_first, run_day = t, day
        g = day - 1
        if g >= 0 and g < n_days:
            p = student * n_days + g
            span[p] = t - run_first  # the run's last event leaves the span
            has_span[p] = True
        shifted = t + NIGHT_SHIFT_S
        if shifted % DAY_S >= 6 * HOUR_S:  # in [d-1 18:00, d 12:00) of the night's day d
            nday = shifted // DAY_S
            night_start = nday * DAY_S - 6 * HOUR_S
            if not new_student or night_start >= DAY_S:
                prev = night_start if new_student else max(prev_t, night_start)
                g = nday - 1
                if g >= 0 and g < n_days:
                    p = student * n_days + g
                    if not has_quiet[p] or t - prev > quiet[p]:
                        quiet[p] = t - prev
                    has_quiet[p] = True
        if rest & 1:
            end = t + 10 * DAY_S
            if i + 1 < m and (packed[i + 1] >> time_bits) == student:
                end = ((packed[i + 1] & mask) >> 1)
            end = min(end, (day + 1) * DAY_S, t + library_stay_cap_s)
            g = day - 1
            if g >= 0 and g < n_days:
                p = student * n_days + g
                stay[p] += end - t
                has_stay[p] = True
        prev_student, prev_t = student, t
    return span, has_span, quiet, has_quiet, stay, has_stay


#: the window terms :func:`segment_term_sums` knows, in the order of its output rows
SEGMENT_TERMS = ("n", "s", "q", "ni", "nii", "si")


@njit(cache=True, nogil=True, inline="always")
def _add_terms(out: np.ndarray, k: int, n: float, s: float, day: float, want: np.ndarray) -> None:
    """Add one daily row's terms (n = value present, s = value or 0, day number ``day``) to
    cell ``k``: the rows of :data:`SEGMENT_TERMS` that ``want`` marks."""
    if want[0]:
        out[0, k] += n
    if want[1]:
        out[1, k] += s
    if want[2]:
        out[2, k] += s * s
    if want[3]:
        out[3, k] += n * day
    if want[4]:
        out[4, k] += n * day * day
    if want[5]:
        out[5, k] += s * day


@njit(cache=True, nogil=True)
def segment_term_sums(key: np.ndarray, valid: np.ndarray, x: np.ndarray, i: np.ndarray, want: np.ndarray,
                      n_cells: int) -> np.ndarray:
    """Window terms of one channel summed per (student, segment) cell, in one pass over the
    daily rows: row r adds to cell ``key[r]``, with n = value present, s = value or 0,
    q = s * s, ni = n * i, nii = n * i * i, si = s * i (``i``: day number). Rows
    :data:`SEGMENT_TERMS` of the result; only the terms ``want`` marks are summed (the others
    stay 0). Sums run in row order, as ``np.bincount`` does."""
    out = np.zeros((len(SEGMENT_TERMS), n_cells), np.float64)
    for r in range(len(key)):
        k = key[r]
        n = 1.0 if valid[r] else 0.0
        s = x[r] if valid[r] else 0.0
        _add_terms(out, k, n, s, i[r], want)
    return out


@njit(cache=True, nogil=True)
def add_segment_terms(out: np.ndarray, key: np.ndarray, bits: np.ndarray, bit_offset: int, has_nulls: bool,
                      x: np.ndarray, i: np.ndarray, want: np.ndarray) -> None:
    """:func:`segment_term_sums` of a run of rows added into ``out``, reading the values and
    the validity of an Arrow array in place: ``x`` its values (garbage at NULLs), ``bits``
    its validity bitmap from bit ``bit_offset`` (read only when ``has_nulls``). Runs added
    one after another in row order give the sums of :func:`segment_term_sums` bit for bit."""
    for r in range(len(key)):
        k = key[r]
        ok = True
        if has_nulls:
            b = bit_offset + r
            ok = (bits[b >> 3] >> (b & 7)) & 1 == 1
        n = 1.0 if ok else 0.0
        s = x[r] if ok else 0.0
        _add_terms(out, k, n, s, i[r], want)


@njit(cache=True, nogil=True)
def pack_peer_keys(merchant: np.ndarray, day: np.ndarray, group: np.ndarray, tod: np.ndarray, who: np.ndarray,
                   slot: np.ndarray, n_days: int, n_groups: int, tod_bits: int, who_bits: int) -> np.ndarray:
    """One int64 per canteen swipe of a student with a peer group (``group`` >= 0): place
    (merchant, day, group), time of day, student and meal slot, packed so that one sort
    orders the swipes by place, then time (:func:`accompanied_slots` reads them back)."""
    n = 0
    for i in range(len(group)):
        if group[i] >= 0:
            n += 1
    out = np.empty(n, np.int64)
    k = 0
    for i in range(len(group)):
        g = group[i]
        if g >= 0:
            place = (merchant[i] * n_days + day[i]) * n_groups + g
            out[k] = (((place << tod_bits | tod[i]) << who_bits | who[i]) << 2) | slot[i]
            k += 1
    return out


@njit(cache=True, nogil=True)
def accompanied_slots(keys: np.ndarray, tod_bits: int, who_bits: int, n_groups: int, n_days: int,
                      within: int) -> np.ndarray:
    """From the sorted keys of :func:`pack_peer_keys`: the student-day-slots
    (``(who * n_days + day) * 3 + slot``) of the swipes whose previous or next swipe at the
    same place is another student's within ``within`` seconds (repeats possible)."""
    n = len(keys)
    tod_mask = (np.int64(1) << tod_bits) - 1
    who_mask = (np.int64(1) << who_bits) - 1
    place_shift = 2 + who_bits + tod_bits
    out = np.empty(n, np.int64)
    k = 0
    for i in range(n):
        key = keys[i]
        place = key >> place_shift
        t = (key >> (2 + who_bits)) & tod_mask
        w = (key >> 2) & who_mask
        near = False
        if i > 0:
            prev = keys[i - 1]
            near = ((prev >> place_shift) == place and ((prev >> 2) & who_mask) != w
                    and t - ((prev >> (2 + who_bits)) & tod_mask) <= within)
        if not near and i + 1 < n:
            nxt = keys[i + 1]
            near = ((nxt >> place_shift) == place and ((nxt >> 2) & who_mask) != w
                    and ((nxt >> (2 + who_bits)) & tod_mask) - t <= within)
        if near:
            day = (place // n_groups) % n_days
            out[k] = (w * n_days + day) * 3 + (key & 3)
            k += 1
    return out[:k]
