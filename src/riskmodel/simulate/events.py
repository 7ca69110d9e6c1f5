"""Observable daily routines: door swipes, card purchases, library visits, network sessions.

All draws are vectorised over (student, day) arrays of one chunk. Routines differ a lot
between students (wake, return and sleep times, meal habits, library and network habits,
weekend rhythm) and shift with each student's lagged well-being through per-channel
sensitivities (zero for the silent ones): later and more irregular returns, late-night
network use, skipped and cheaper meals, eating alone, fewer library visits.

Times are seconds since 1970-01-01 in local (Asia/Shanghai) wall-clock time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskmodel.simulate.absences import BENIGN, IN_DORM, LOST, RISKY, DayStates, effect
from riskmodel.simulate.calendar import EXAM, TEACHING, VACATION, Calendar
from riskmodel.simulate.config import SimConfig
from riskmodel.simulate.population import Population
from riskmodel.simulate.wellbeing import Latent

N_CANTEENS = 8
MEALS = ("breakfast", "lunch", "dinner")
#: on a night away from the dorm, campus network sessions end before this hour of the day
#: (a minute and a half before 23:00, so that the start's seconds jitter keeps them before it)
AWAY_NET_END_H = 23.0 - 1.5 / 60
#: ... and none starts after this hour (the student has left campus for the night)
AWAY_NET_LAST_START_H = 22.5
#: on the day before a lost-contact episode, every record ends before midnight
PRE_LOST_END_H = 23.95
#: a late-night session in the dorm ends by 05:30 the next morning at the latest (hours from
#: the evening's midnight; very low well-being used to push it into the following day)
LATE_NET_MAX_END_H = 29.5


@dataclass
class Events:
    """Raw event frames of one chunk (local student index, seconds) and per-day channels."""

    door: pd.DataFrame  # local_idx, ts_s, building, direction
    card: pd.DataFrame  # local_idx, ts_s, merchant_id, category, amount, meal
    library: pd.DataFrame  # local_idx, ts_s, kind
    network: pd.DataFrame  # local_idx, start_s, end_s, building, bytes
    channels: dict[str, np.ndarray]  # (n, days) per-day behaviour channel values


def _secs(cal: Calendar, d: np.ndarray, hour: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return cal.epoch_s[d] + (hour * 3600).astype(np.int64) + rng.integers(0, 60, d.size)


def _frame(parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    parts = [p for p in parts if len(next(iter(p.values())))]
    if not parts:
        return pd.DataFrame()
    return pd.concat([pd.DataFrame(p) for p in parts], ignore_index=True)


def _away_sessions(i: np.ndarray, d: np.ndarray, start_h: np.ndarray, end_h: np.ndarray, b: np.ndarray,
                   dorm: np.ndarray, elsewhere: np.ndarray, night_away: np.ndarray, away_from: np.ndarray,
                   next_lost: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep network sessions consistent with where the student spends the night.

    Sessions are rows ``(i, d)`` (student, day) with hours ``start_h``/``end_h`` from the day's
    midnight and building code ``b`` (``dorm`` is the student's own dorm code, -1 for none;
    ``elsewhere`` a teaching-building or library code per row). ``night_away`` (n, days) marks
    days whose night is spent away from the dorm while the student is on campus by day, and
    ``away_from`` (n, days) the hour the student left the dorm that day (0: not there all day).
    On such days a session in the own dorm that starts after leaving moves to ``elsewhere``
    (the student is out on campus), one started before leaving is cut at the departure, no
    session starts after :data:`AWAY_NET_LAST_START_H` and every session ends before
    :data:`AWAY_NET_END_H` (off campus for the night). On the day before a lost-contact
    episode (``next_lost``) sessions end before :data:`PRE_LOST_END_H`. Returns the new end
    hours, buildings and a keep mask (sessions left with under a minute are dropped).
    """
    away = night_away[i, d]
    af = away_from[i, d]
    own = (b == dorm) & (dorm >= 0)
    after = away & own & (start_h >= af)
    b = np.where(after, elsewhere, b)
    end_h = np.where(away & own & ~after, np.minimum(end_h, af), end_h)
    end_h = np.where(away, np.minimum(end_h, AWAY_NET_END_H), end_h)
    end_h = np.where(next_lost[i, d], np.minimum(end_h, PRE_LOST_END_H), end_h)
    keep = ~(away & (start_h >= AWAY_NET_LAST_START_H)) & (end_h - start_h >= 1 / 60)
    return end_h, b, keep


def simulate_events(pop: Population, cal: Calendar, lat: Latent, st: DayStates, cfg: SimConfig,
                    outages: set[tuple[int, int]], rng: np.random.Generator) -> Events:
    """Draw all observable events of one chunk."""
    n, days = pop.n, cal.n
    shape = (n, days)
    thr = cfg.wellbeing.behaviour_threshold
    rc, ec, bc = cfg.routine, cfg.economy, cfg.behaviour
    weekend = cal.weekend[None, :]
    teaching_wd = ((cal.period == TEACHING) & ~cal.weekend)[None, :]
    vac = (cal.period == VACATION)[None, :]
    infl = ((1 + ec.inflation_per_year) ** cal.year_idx)[None, :]
    present = st.active & ~st.offsite
    res = pop.resident[:, None]
    e_ret = effect(pop, lat, "return", thr, bc.power)
    e_net = effect(pop, lat, "night_net", thr, bc.power)
    e_meal = effect(pop, lat, "meals", thr, bc.power)
    e_soc = effect(pop, lat, "social", thr, bc.power)
    e_lib = effect(pop, lat, "library", thr, bc.power)

    # ------------------------------------------------------------------ door
    night_in = (st.reason == IN_DORM) & st.active
    start_in = np.concatenate([night_in[:, :1], night_in[:, :-1]], axis=1)
    prev_reason = np.concatenate([st.reason[:, :1], st.reason[:, :-1]], axis=1)
    t_out = pop.wake_hour[:, None] + rng.uniform(0.2, 1.0, shape) + 1.2 * weekend + 1.0 * vac
    t_out = np.minimum(t_out, 13.0)
    curfew_shift = np.where(cal.year_idx >= 1, rc.curfew_hour_year2 - rc.curfew_hour, 0.0)[None, :]
    t_ret = pop.return_hour[:, None] + 0.4 * weekend + bc.return_later_h * e_ret + curfew_shift + \
        rng.standard_normal(shape) * pop.return_sd_h[:, None] * (1 + bc.return_irregular * e_ret)
    t_ret = np.clip(t_ret, t_out + 0.5, 28.0)
    # the day before a lost-contact episode: back before midnight (the episode starts at 00:00)
    next_lost = np.concatenate([st.reason[:, 1:] == LOST, np.zeros((n, 1), bool)], axis=1) & (st.reason != LOST)
    t_ret = np.where(next_lost, np.minimum(t_ret, PRE_LOST_END_H), t_ret)
    door_present = present & res
    normal = door_present & start_in & night_in & ~st.stay_in
    leaving = door_present & start_in & ~night_in
    arriving = door_present & ~start_in & night_in
    casual_leave = np.isin(st.reason, (BENIGN, RISKY))
    casual_back = np.isin(prev_reason, (BENIGN, RISKY))
    midday = (normal | (leaving & casual_leave)) & (rng.random(shape) < pop.p_midday_return[:, None])
    mid_in = 11.8 + rng.uniform(0, 1.2, shape)
    mid_out = mid_in + rng.uniform(0.3, 1.8, shape)
    arr_h = np.where(casual_back, rng.uniform(7.0, 11.0, shape), rng.uniform(12.0, 21.0, shape))
    morning_arr = arriving & casual_back
    arr_out = arr_h + rng.uniform(0.5, 2.0, shape)
    leave_h = np.where(casual_leave, t_out, rng.uniform(14.0, 19.0, shape))
    door_parts = []
    for mask, hours, direction in (
        (normal, t_out, "out"), (normal, t_ret, "in"),
        (midday, mid_in, "in"), (midday, mid_out, "out"),
        (leaving, leave_h, "out"),
        (arriving, arr_h, "in"), (morning_arr, arr_out, "out"), (morning_arr & ~st.stay_in, t_ret, "in"),
    ):
        i, d = np.nonzero(mask)
        door_parts.append({"local_idx": i, "ts_s": _secs(cal, d, hours[i, d], rng),
                           "building": pop.building[i], "direction": np.full(i.size, direction, object),
                           "day": d})
    door = _frame(door_parts)
    if len(door) and outages:
        night0 = cal.epoch_s[0] + ((door["ts_s"].to_numpy() - cal.epoch_s[0] - 8 * 3600) // 86400) * 86400
        night_day = (night0 - cal.epoch_s[0]) // 86400
        hour = ((door["ts_s"].to_numpy() - cal.epoch_s[0]) % 86400) / 3600
        in_window = (hour >= 18) | (hour < 8)
        key = pd.MultiIndex.from_arrays([door["building"].to_numpy(), night_day])
        dark = key.isin(list(outages)) & in_window
        door = door[~dark].reset_index(drop=True)

    # ------------------------------------------------------------------ card
    card_ok = present & ~st.card_off
    stay = st.stay_in
    nonres_f = np.where(pop.resident, 1.0, 0.35)[:, None]
    p_b = pop.p_breakfast[:, None] * np.exp(-bc.breakfast_skip * e_meal) * np.where(weekend, 0.6, 1.0) * \
        np.where(stay, 0.2, 1.0) * nonres_f
    p_l = pop.p_lunch[:, None] * np.exp(-bc.meal_skip * e_meal) * np.where(stay, 0.5, 1.0) * np.where(weekend, 0.85, 1.0)
    p_d = pop.p_dinner[:, None] * np.exp(-bc.meal_skip * e_meal) * np.where(stay, 0.5, 1.0) * nonres_f
    eat = [card_ok & (rng.random(shape) < p) for p in (p_b, p_l, p_d)]
    cheap = 1 - np.minimum(0.35, bc.cheaper * e_meal)
    p_tog = pop.p_together[:, None] * np.exp(-bc.eat_alone * e_soc) * res
    # roommates share a meal time and canteen for lunch and dinner
    room = np.where(pop.room >= 0, pop.room, -1 - np.arange(n))
    _, group = np.unique(room, return_inverse=True)
    n_groups = int(group.max()) + 1 if n else 0
    g_time = {1: 11.6 + rng.uniform(0, 1.1, (n_groups, days)), 2: 17.3 + rng.uniform(0, 1.3, (n_groups, days))}
    g_canteen = {m: rng.integers(0, N_CANTEENS, (n_groups, days)) for m in (1, 2)}
    card_parts = []
    together_count = np.zeros(shape, np.int16)
    meals_count = np.zeros(shape, np.int16)
    for m, mask in enumerate(eat):
        i, d = np.nonzero(mask)
        k = i.size
        if m == 0:
            hour = np.minimum(pop.wake_hour[i] + rng.uniform(0.15, 0.7, k), 9.8)
            price = rng.uniform(*ec.breakfast_price, k)
            canteen = np.where(rng.random(k) < 0.7, pop.home_canteen[i], rng.integers(0, N_CANTEENS, k))
            price = np.round(price * pop.price_level[i] * infl[0, d] * cheap[i, d] * 2) / 2
        else:
            tog = rng.random(k) < p_tog[i, d]
            own_h = (11.4 if m == 1 else 17.1) + rng.uniform(0, 1.6, k)
            hour = np.where(tog, g_time[m][group[i], d] + rng.uniform(0, 100, k) / 3600, own_h)
            own_c = np.where(rng.random(k) < 0.6, pop.home_canteen[i], rng.integers(0, N_CANTEENS, k))
            canteen = np.where(tog, g_canteen[m][group[i], d], own_c)
            price = ec.meal_price_median * np.exp(rng.normal(0, ec.meal_price_sd, k))
            price = np.round(price * pop.price_level[i] * infl[0, d] * cheap[i, d], 1)
            np.add.at(together_count, (i[tog], d[tog]), 1)
        np.add.at(meals_count, (i, d), 1)
        card_parts.append({
            "local_idx": i, "ts_s": _secs(cal, d, hour, rng),
            "merchant_id": np.array([f"CANTEEN-{c + 1:02d}" for c in range(N_CANTEENS)], object)[canteen],
            "category": np.full(k, "canteen", object), "amount": np.maximum(price, 1.0),
            "meal": np.full(k, m, np.int8), "day": d})
    extras = (
        ("supermarket", rc.supermarket * np.where(pop.hardship, 0.8, 1.0)[:, None] * np.ones(shape),
         (9.0, 22.5), 3),
        ("bathhouse", rc.shower * res * np.ones(shape), (18.5, 23.0), 2),
        ("laundry", rc.laundry * res * np.ones(shape), (9.0, 22.0), 2),
        ("print", rc.printing * np.where(cal.on_term, 1.0, 0.2)[None, :] * np.ones(shape), (8.0, 21.0), 1),
        ("medical", rc.medical * np.ones(shape), (8.0, 17.0), 1),
        ("transport", rc.transport * np.ones(shape), (7.0, 21.0), 1),
        ("other", rc.other * np.ones(shape), (8.0, 22.0), 2),
    )
    for cat, p, (h0, h1), n_merch in extras:
        i, d = np.nonzero(card_ok & (rng.random(shape) < p))
        k = i.size
        pl = pop.price_level[i] * infl[0, d]
        if cat == "supermarket":
            amt = np.round(ec.supermarket_median * np.exp(rng.normal(0, 0.8, k)) * pl, 1)
        elif cat == "bathhouse":
            amt = np.round(rng.uniform(*ec.shower_price, k), 2)
        elif cat == "laundry":
            amt = np.round(rng.uniform(2.0, 4.0, k) * 2) / 2
        elif cat == "print":
            amt = np.round(rng.uniform(0.2, 6.0, k), 1)
        elif cat == "medical":
            amt = np.round(rng.uniform(5.0, 60.0, k), 1)
        elif cat == "transport":
            amt = rng.choice([1.0, 2.0, 3.0], k)
        else:
            amt = np.round(rng.uniform(2.0, 30.0, k) * pl, 1)
        merch = np.array([f"{cat.upper()}-{j + 1:02d}" for j in range(n_merch)], object)[rng.integers(0, n_merch, k)]
        card_parts.append({"local_idx": i, "ts_s": _secs(cal, d, rng.uniform(h0, h1, k), rng),
                           "merchant_id": merch, "category": np.full(k, cat, object),
                           "amount": np.maximum(amt, 0.1), "meal": np.full(k, -1, np.int8), "day": d})
    card = _frame(card_parts)

    # ------------------------------------------------------------------ library
    period = cal.period[None, :]
    lib_mult = np.where(period == EXAM, 1.6, np.where(period == TEACHING, 1.0, 0.3)) * np.where(weekend, 0.7, 1.0)
    p_lib = np.minimum(0.98, pop.p_library[:, None] * lib_mult * np.exp(-bc.library_drop * e_lib) * np.where(res, 1.0, 0.8))
    lib_day = present & ~stay & (rng.random(shape) < p_lib)
    i, d = np.nonzero(lib_day)
    h = rng.uniform(8.0, 20.0, i.size)
    lib_parts = [{"local_idx": i, "ts_s": _secs(cal, d, h, rng), "kind": np.full(i.size, "entry", object)}]
    again = rng.random(i.size) < 0.2
    lib_parts.append({"local_idx": i[again], "ts_s": _secs(cal, d[again], np.minimum(h[again] + rng.uniform(
        1.5, 4.0, int(again.sum())), 21.8), rng), "kind": np.full(int(again.sum()), "entry", object)})
    for kind in ("borrow", "return"):
        sel = rng.random(i.size) < 0.05
        lib_parts.append({"local_idx": i[sel], "ts_s": _secs(cal, d[sel], h[sel] + rng.uniform(
            0.1, 1.0, int(sel.sum())), rng), "kind": np.full(int(sel.sum()), kind, object)})
    library = _frame(lib_parts)
    lib_count = np.zeros(shape, np.int16)
    np.add.at(lib_count, (i, d), 1)

    # ------------------------------------------------------------------ network
    lam = pop.net_sessions[:, None] * np.where(stay, 1.4, 1.0) * np.where(res, 1.0, 0.5)
    k_sess = np.where(present, np.minimum(rng.poisson(lam), 8), 0)
    i = np.repeat(np.repeat(np.arange(n), days), k_sess.ravel())
    d = np.repeat(np.tile(np.arange(days), n), k_sess.ravel())
    m = i.size
    lo = pop.wake_hour[i] + 0.2
    hi = np.maximum(lo + 0.5, np.minimum(pop.sleep_hour[i], 23.9) - 0.3)
    st_h = rng.uniform(lo, hi)
    dur_h = np.clip(np.exp(rng.normal(np.log(35 / 60), 0.9, m)), 1 / 60, 5.0)
    daytime = (st_h >= 8) & (st_h < 17.5) & teaching_wd[0, d] & ~stay[i, d]
    u = rng.random(m)
    dorm_b = pop.building[i]
    bld = np.where(daytime, np.where(u < 0.6, 100 + rng.integers(0, 6, m), np.where(u < 0.8, 200, dorm_b)),
                   np.where(u < 0.85, dorm_b, 200))
    teach = 100 + rng.integers(0, 6, m)
    bld = np.where((bld < 0), np.where(u < 0.5, teach, 200), bld)
    bld = np.where(rng.random(m) < 0.08, -1, bld)  # roaming, no building known
    sess = {"local_idx": i, "start_h": st_h, "end_h": st_h + dur_h, "b": bld, "day": d}
    # late-night session in the dorm
    s_eff = pop.sleep_hour[:, None] + 0.5 * weekend + bc.night_net_h * e_net + \
        0.8 * pop.night_owl[:, None] * rng.standard_normal(shape) * 0.6 + 0.4 * rng.standard_normal(shape)
    late = present & res & night_in & (s_eff > 24.0)
    li, ld = np.nonzero(late)
    end_h = np.minimum(s_eff[li, ld], LATE_NET_MAX_END_H)
    start_late = end_h - rng.uniform(0.5, 1.5, li.size)
    late_min = np.zeros(shape, np.float32)
    late_min[li, ld] = (end_h - np.maximum(start_late, 24.0)) * 60
    late_min[next_lost] = 0.0  # cut before midnight below
    net_i = np.concatenate([sess["local_idx"], li])
    net_d = np.concatenate([sess["day"], ld])
    net_s = np.concatenate([sess["start_h"], start_late])
    net_e = np.concatenate([sess["end_h"], end_h])
    net_b = np.concatenate([sess["b"], pop.building[li]])
    # nights away and lost contact (no random draws here, so the stream stays as it was)
    net_e, net_b, keep = _away_sessions(
        net_i, net_d, net_s, net_e, net_b, dorm=pop.building[net_i],
        elsewhere=np.concatenate([np.where(teach <= 102, teach, 200), np.full(li.size, 200)]),
        night_away=(st.reason != IN_DORM) & present, away_from=np.where(start_in, leave_h, 0.0),
        next_lost=next_lost)
    start_s = _secs(cal, net_d, net_s, rng)
    dur_s = ((net_e - net_s) * 3600).astype(np.int64)
    mb = np.exp(rng.normal(np.log(1.5e6), 1.0, net_i.size)) * dur_s / 60
    byt = np.where(rng.random(net_i.size) < 0.03, -1, mb.astype(np.int64))
    network = pd.DataFrame({"local_idx": net_i, "start_s": start_s, "end_s": start_s + dur_s,
                            "b": net_b, "bytes": byt, "day": net_d})[keep].reset_index(drop=True)
    ret_h = np.where(normal | (morning_arr & ~st.stay_in), t_ret, np.nan)
    channels = {
        "late_night_minutes": late_min,
        "canteen_meals": meals_count.astype(np.float32),
        "meals_together": together_count.astype(np.float32),
        "library_visits": lib_count.astype(np.float32),
        "return_hour": ret_h.astype(np.float32),
    }
    return Events(door=door, card=card, library=library, network=network, channels=channels)
