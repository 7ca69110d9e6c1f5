"""Where each student spends each night and day: vacations, trips, leave, lost contact.

Every night of every student gets a reason code (0 = in the dorm). Reasons are painted in
order of precedence, later ones overwriting earlier ones: benign nights out, risky
unexplained nights (tied to low well-being for students of the "away" type), weekend trips
home (with or without a leave record), lost contact (tied to very low well-being), sick
leave (and hospital stays after a crisis), internships, vacations and holidays at home.
Students of the "stay-in" type react to low well-being by not leaving the dorm at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskmodel.simulate.calendar import HOLIDAY, TEACHING, VACATION, Calendar
from riskmodel.simulate.config import SimConfig
from riskmodel.simulate.population import CHANNELS, Population
from riskmodel.simulate.wellbeing import Latent

REASONS = ("in_dorm", "unexplained", "risky_unexplained", "home_unrecorded", "leave_home",
           "lost_contact", "leave_sick", "leave_internship", "vacation")
IN_DORM, BENIGN, RISKY, HOME_UNREC, LEAVE_HOME, LOST, SICK, INTERN, VAC = range(9)
MULTI_DAY = np.array([HOME_UNREC, LEAVE_HOME, LOST, SICK, INTERN, VAC])
AWAY_CH = CHANNELS.index("away")


@dataclass
class DayStates:
    """Whereabouts of a chunk: arrays (n, days)."""

    active: np.ndarray  # enrolled that day
    reason: np.ndarray  # int8 night reason code (night of day d)
    offsite: np.ndarray  # not on campus at all during the day
    stay_in: np.ndarray  # on campus but never leaves the dorm
    card_off: np.ndarray  # card lost or unused: no card rows
    has_leave: np.ndarray  # night covered by a leave record
    leave: pd.DataFrame  # local_idx, start_s, end_s, kind
    episodes: pd.DataFrame  # local_idx, onset, end, kind (day indices, end exclusive)


def paint(shape: tuple[int, int], i: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Boolean (n, days) mask of the intervals [start, end) per row ``i`` (clipped)."""
    n, days = shape
    start = np.clip(start, 0, days)
    end = np.clip(end, 0, days)
    keep = end > start
    diff = np.zeros((n, days + 1), np.int32)
    np.add.at(diff, (i[keep], start[keep]), 1)
    np.add.at(diff, (i[keep], end[keep]), -1)
    return np.cumsum(diff[:, :days], axis=1) > 0


def _blocks(mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True in a 1-D mask as [start, end) pairs."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def effect(pop: Population, lat: Latent, channel: str, threshold: float, power: float = 1.0) -> np.ndarray:
    """Behaviour effect size (n, days) of one channel: sensitivity * ((threshold - lagged w)+)^power."""
    k = CHANNELS.index(channel)
    return pop.sens[:, k][:, None] * np.maximum(0.0, threshold - lat.z) ** power


def simulate_whereabouts(pop: Population, cal: Calendar, lat: Latent, cfg: SimConfig,
                         rng: np.random.Generator) -> DayStates:
    """Night reasons, off-campus days, stay-in days, card outages and leave records."""
    rc, cc = cfg.routine, cfg.crisis
    n, days = pop.n, cal.n
    shape = (n, days)
    dayn = np.arange(days)
    active = (dayn[None, :] >= pop.active_from[:, None]) & (dayn[None, :] < pop.active_to[:, None])
    on_term = cal.on_term
    reason = np.zeros(shape, np.int8)
    leave_parts: list[pd.DataFrame] = []
    episodes: list[pd.DataFrame] = []
    grad = pop.degree > 0

    def add_leave(i: np.ndarray, s: np.ndarray, e: np.ndarray, kind: str,
                  h0: tuple[float, float] = (15.0, 19.0), h1: tuple[float, float] = (13.0, 20.0)) -> None:
        if i.size == 0:
            return
        start_s = cal_s(s) + (rng.uniform(*h0, i.size) * 3600).astype(np.int64)
        end_s = cal_s(e) + (rng.uniform(*h1, i.size) * 3600).astype(np.int64)
        leave_parts.append(pd.DataFrame({"local_idx": i, "start_s": start_s, "end_s": end_s, "kind": kind,
                                         "start_day": s, "end_day": e}))

    def cal_s(d: np.ndarray) -> np.ndarray:
        return cal.epoch_s[0] + d.astype(np.int64) * 86400

    # benign nights out (Friday and Saturday nights more)
    fri_sat = np.isin(cal.weekday, (4, 5))
    p_benign = pop.p_benign_out[:, None] * np.where(fri_sat, 3.0, 1.0)[None, :] * on_term[None, :]
    reason[rng.random(shape) < p_benign] = BENIGN
    # risky unexplained nights and stay-in days (low well-being)
    e_away = effect(pop, lat, "away", cfg.wellbeing.behaviour_threshold, cfg.behaviour.power)
    u = rng.random(shape)
    risky = pop.away_type[:, None] & (u < np.minimum(0.5, cfg.behaviour.risky_night * e_away)) & on_term[None, :]
    reason[risky] = RISKY
    stay_p = np.where(pop.away_type[:, None], 0.0, np.minimum(0.6, cfg.behaviour.stay_in * e_away)) + \
        np.where(cal.weekend, 0.05, 0.01)[None, :]
    stay_in = rng.random(shape) < stay_p
    # weekend trips home
    fridays = np.flatnonzero((cal.weekday == 4) & (cal.period == TEACHING))
    if fridays.size:
        p_trip = np.where(pop.local_home, rc.weekend_trip_local, rc.weekend_trip_other)
        trip = rng.random((n, fridays.size)) < p_trip[:, None]
        ti, tj = np.nonzero(trip)
        f = fridays[tj]
        rec = rng.random(ti.size) < pop.leave_compliance[ti]
        reason[paint(shape, ti[~rec], f[~rec], f[~rec] + 2)] = HOME_UNREC
        reason[paint(shape, ti[rec], f[rec], f[rec] + 2)] = LEAVE_HOME
        add_leave(ti[rec], f[rec], f[rec] + 2, "home")
    # lost contact: start rate rises steeply at very low well-being
    lc_rate = cc.lost_contact_per_year_at_low / 365.0 / (1 + np.exp((lat.w + 1.6) / 0.25))
    lc = (rng.random(shape) < lc_rate) & active & on_term[None, :]
    li, ld = np.nonzero(lc)
    if li.size:
        first = pd.DataFrame({"i": li, "d": ld}).groupby("i", sort=True)["d"].min()
        li, ld = first.index.to_numpy(), first.to_numpy()
        ll = rng.integers(2, 9, li.size)
        reason[paint(shape, li, ld, ld + ll)] = LOST
        episodes.append(pd.DataFrame({"local_idx": li, "onset": ld, "end": np.minimum(ld + ll, days),
                                      "kind": "lost_contact"}))
    lost_mask = reason == LOST
    # sick leave, and hospital stays after a recorded crisis of level >= 2
    sick = (rng.random(shape) < rc.sick_leave_per_year / 365.0) & on_term[None, :]
    si, sd = np.nonzero(sick)
    sl = rng.integers(1, 5, si.size)
    cr = lat.crises
    hosp = cr[(cr["level"] >= 2) & cr["recorded"]]
    if len(hosp):
        hi_ = hosp["local_idx"].to_numpy()
        hd = hosp["day"].to_numpy() + 1
        hl = rng.integers(7, 29, hi_.size)
        si, sd, sl = np.concatenate([si, hi_]), np.concatenate([sd, hd]), np.concatenate([sl, hl])
    reason[paint(shape, si, sd, sd + sl)] = SICK
    add_leave(si, sd, sd + sl, "sick", (8.0, 12.0), (9.0, 18.0))
    # internships of final-year undergraduates and senior master students
    for t in cal.terms:
        t0, t1 = cal.index(t.first), cal.index(t.last)
        if t1 < 0 or t0 >= days or t1 - t0 < 30:
            continue
        ay = int(t.name[:4])
        yr = ay - pop.enrollment_year
        elig = ((pop.degree == 0) & (yr >= 3)) | ((pop.degree == 1) & (yr >= 1))
        go = elig & (rng.random(n) < rc.internship_per_term)
        ii = np.flatnonzero(go)
        s0 = rng.integers(t0, t1 - 20, ii.size)
        ln = rng.integers(14, 57, ii.size)
        reason[paint(shape, ii, s0, s0 + ln)] = INTERN
        add_leave(ii, np.clip(s0, 0, days), np.clip(s0 + ln, 0, days + 30), "internship")
    # vacations and long holidays at home
    brk = (cal.period == VACATION) | (cal.period == HOLIDAY)
    for b0, b1 in _blocks(brk):
        is_vac = bool((cal.period[b0:b1] == VACATION).any())
        if not is_vac and b1 - b0 < 3:
            continue
        if is_vac:
            p_leave = 1 - rc.stay_on_campus_vacation * np.where(grad, 2.0, 0.7)
            dep = b0 - rng.integers(0, 3, n) if b0 > 0 else np.full(n, -1)
            ret = b1 - rng.integers(0, 4, n) if b1 < days else np.full(n, days + 1)
        else:
            p_leave = np.minimum(0.95, rc.national_day_leave * np.where(pop.local_home, 1.5, 0.8))
            dep = b0 - rng.integers(0, 2, n)
            ret = b1 - rng.integers(0, 2, n)
        go = rng.random(n) < p_leave
        ii = np.flatnonzero(go)
        reason[paint(shape, ii, dep[ii], ret[ii])] = VAC
    # lost contact is kept where it happened (it is what the warning is for)
    reason[lost_mask] = LOST
    reason[~active] = IN_DORM
    # days spent entirely off campus
    multi = np.isin(reason, MULTI_DAY)
    prev = np.concatenate([multi[:, :1], multi[:, :-1]], axis=1)
    offsite = (multi & prev) | (reason == LOST) | ~active
    offsite[:, 0] |= multi[:, 0]
    nonres = ~pop.resident
    if nonres.any():  # commuters: on campus on most teaching weekdays, seldom otherwise
        p_come = np.where(on_term & ~cal.weekend, 0.85, np.where(on_term, 0.25, 0.05))
        stay_home = rng.random((int(nonres.sum()), days)) >= p_come[None, :]
        offsite[nonres] |= stay_home
    stay_in &= (reason == IN_DORM) & np.concatenate([np.ones((n, 1), bool), reason[:, :-1] == IN_DORM], axis=1)
    stay_in &= pop.resident[:, None] & ~offsite
    # card lost for a few days, or never used
    cl = (rng.random(shape) < rc.card_lost_per_year / 365.0) & active
    ci, cd = np.nonzero(cl)
    cln = rng.integers(3, 11, ci.size)
    card_off = paint(shape, ci, cd, cd + cln) | pop.card_unused[:, None]
    if ci.size:
        episodes.append(pd.DataFrame({"local_idx": ci, "onset": cd, "end": np.minimum(cd + cln, days),
                                      "kind": "card_lost"}))
    leave = pd.concat(leave_parts, ignore_index=True) if leave_parts else pd.DataFrame(
        columns=["local_idx", "start_s", "end_s", "kind", "start_day", "end_day"])
    has_leave = paint(shape, leave["local_idx"].to_numpy(np.int64), leave["start_day"].to_numpy(np.int64),
                      leave["end_day"].to_numpy(np.int64)) if len(leave) else np.zeros(shape, bool)
    eps = pd.concat(episodes, ignore_index=True) if episodes else pd.DataFrame(
        columns=["local_idx", "onset", "end", "kind"])
    return DayStates(active=active, reason=reason, offsite=offsite, stay_in=stay_in, card_off=card_off,
                     has_leave=has_leave, leave=leave, episodes=eps)
