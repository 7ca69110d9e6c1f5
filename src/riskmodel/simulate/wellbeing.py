"""Latent well-being, crisis hazard, crises, grades and the oracle (per chunk of students).

Model (per student i and day t)::

    w[i,t] = mu[i] + a[i,t] + x[i,t] + s[i,t]
    a[i,t] = exam_sensitivity[i] * min(p[t], 0) + max(p[t], 0)     calendar pressure p[t]
    x[i,t] = phi * x[i,t-1] + ar_sd[i] * eps                      persistent drift, AR(1)
    s[i,t] = delta * s[i,t-1] - shocks[i,t] + support[i,t]        decaying shocks
    y[i,t] = y[i,t-1] + (w[i,t] - y[i,t-1]) / L                  sustained level (EMA, L days)
    h[i,t] = min(cap, exp(base + vulnerability[i] - beta * y[i,t]))   daily crisis hazard

Shocks arrive at ``shock_rate_per_year`` (a breakup, family trouble) and on the day grades
are published for a student who failed (hardest for the first failure). Behaviour reads a
lagged copy ``z`` (an exponential moving average with a student-specific span of days), so
behaviour trails the hazard. The oracle is the probability of a recorded crisis in the 28
days from an as-of date given ``(mu, x, s)`` on that day: closed form from the Gaussian law of
the future AR(1) path pushed through the smoothing (future shocks left out),
``1 - exp(-sum_k r[t+k] E[h[t+k]])`` with ``E[h] = exp(base + v - beta m_k + beta^2 s_k^2 / 2)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskmodel.simulate.calendar import VACATION, Calendar
from riskmodel.simulate.config import SimConfig
from riskmodel.simulate.population import Population

CRISIS_CATEGORIES = {
    1: (("other", "severe_episode", "self_harm"), (0.45, 0.40, 0.15)),
    2: (("self_harm", "severe_episode", "hospitalization"), (0.40, 0.30, 0.30)),
    3: (("suicide_attempt", "hospitalization"), (0.7, 0.3)),
}
ORACLE_HORIZON = 28


@dataclass
class Latent:
    """Daily hidden state of a chunk: arrays of shape (n, days)."""

    w: np.ndarray  # float32 well-being
    z: np.ndarray  # float32 lagged well-being (what behaviour reads)
    x: np.ndarray  # float32 AR(1) part
    s: np.ndarray  # float32 shock part
    hazard: np.ndarray  # float32
    y: np.ndarray  # float32 sustained level the hazard reads
    crises: pd.DataFrame  # local_idx, day, level, category, recorded
    grades: pd.DataFrame  # local_idx, term, course_k, credits, score, passed, day
    shocks: pd.DataFrame  # local_idx, day, kind (life_event / failed_exam)


def pressure_matrix(pop: Population, pressure: np.ndarray) -> np.ndarray:
    """Per-student calendar push a[i, t] (n, len(pressure))."""
    neg = np.minimum(pressure, 0)[None, :] * pop.exam_sensitivity[:, None]
    return (neg + np.maximum(pressure, 0)[None, :]).astype(np.float64)


def record_prob_per_day(cal_period: np.ndarray, cfg: SimConfig) -> np.ndarray:
    """Mean chance a crisis on that day is recorded (over levels), per day."""
    cc = cfg.crisis
    r = float(np.dot(cc.level_probs, cc.record_probs))
    return np.where(cal_period == VACATION, r * cc.vacation_record_factor, r)


def _courses(pop: Population, academic_year: int, term_no: int) -> np.ndarray:
    """Number of graded courses per student in a term."""
    yr = academic_year - pop.enrollment_year  # 0 for first-years
    n = np.where(pop.degree == 0, 6, np.where(pop.degree == 1, np.where(yr < 2, 4, 0),
                                              np.where(yr < 1, 2, 0)))
    if term_no == 2:
        n = np.where((pop.degree == 0) & (yr >= 3), 3, n)  # final-year undergraduates: thesis term
    return n


def simulate_latent(pop: Population, cal: Calendar, pressure: np.ndarray, cfg: SimConfig,
                    rng: np.random.Generator) -> Latent:
    """Run the day loop for one chunk: well-being, hazard, crises, grades and their shocks."""
    wc, cc = cfg.wellbeing, cfg.crisis
    n, days = pop.n, cal.n
    a = pressure_matrix(pop, pressure[:days])
    w = np.empty((n, days), np.float32)
    z = np.empty((n, days), np.float32)
    xs = np.empty((n, days), np.float32)
    ss = np.empty((n, days), np.float32)
    hz = np.empty((n, days), np.float32)
    ys = np.empty((n, days), np.float32)
    a_h = 1.0 / max(wc.hazard_smoothing_days, 1.0)
    x = rng.normal(0, 1, n) * pop.ar_sd / np.sqrt(1 - wc.ar_phi ** 2)
    s = np.zeros(n)
    zl = pop.mu + x
    yl = pop.mu + x
    alpha = 1.0 / pop.lag_days
    refractory = np.zeros(n, dtype=np.int64) - 10**6
    failed_before = rng.random(n) < np.where(pop.enrollment_year < cal.academic_year[0], 0.15, 0.0)
    grades_days = {cal.index(t.grades_on): k for k, t in enumerate(cal.terms)}
    crisis_rows: list[tuple[np.ndarray, int, np.ndarray, np.ndarray]] = []
    grade_frames: list[pd.DataFrame] = []
    shock_rows: list[tuple[np.ndarray, int, str]] = []
    rec_day = record_prob_per_day(cal.period, cfg)
    level_p = np.asarray(cc.level_probs) / np.sum(cc.level_probs)
    rec_p = np.asarray(cc.record_probs)
    shock_p = wc.shock_rate_per_year / 365.0
    active = (np.arange(days)[None, :] >= pop.active_from[:, None]) & \
        (np.arange(days)[None, :] < pop.active_to[:, None])
    for t in range(days):
        x = wc.ar_phi * x + pop.ar_sd * rng.standard_normal(n)
        hit = rng.random(n) < shock_p
        s = wc.shock_decay * s
        if hit.any():
            s[hit] -= rng.exponential(wc.shock_mean, int(hit.sum()))
            shock_rows.append((np.flatnonzero(hit), t, "life_event"))
        if t in grades_days:
            g, fails = _grades(pop, cal, grades_days[t], z[:, :t] if t else None, active[:, t], rng, t)
            if g is not None:
                grade_frames.append(g)
                first = fails & ~failed_before
                again = fails & failed_before
                s[first] -= wc.fail_shock_first
                s[again] -= wc.fail_shock_again
                failed_before |= fails
                if fails.any():
                    shock_rows.append((np.flatnonzero(fails), t, "failed_exam"))
        wt = pop.mu + a[:, t] + x + s
        zl = zl + alpha * (wt - zl)
        yl = yl + a_h * (wt - yl)
        h = np.minimum(cc.hazard_cap, np.exp(cc.hazard_log_base + pop.vulnerability - cc.hazard_beta * yl))
        h = np.where(active[:, t], h, 0.0)
        happen = (rng.random(n) < h) & (t - refractory > cc.refractory_days)
        if happen.any():
            idx = np.flatnonzero(happen)
            lv = rng.choice(3, size=idx.size, p=level_p) + 1
            recorded = rng.random(idx.size) < rec_p[lv - 1] * (rec_day[t] / rec_day.max())
            crisis_rows.append((idx, t, lv, recorded))
            refractory[idx] = t
            s[idx[recorded]] += cc.support_boost
        w[:, t], z[:, t], xs[:, t], ss[:, t], hz[:, t], ys[:, t] = wt, zl, x, s, h, yl
    crises = _crisis_frame(crisis_rows, rng)
    grades = pd.concat(grade_frames, ignore_index=True) if grade_frames else pd.DataFrame(
        columns=["local_idx", "term", "course_k", "credits", "score", "passed", "day"])
    sh = pd.DataFrame({
        "local_idx": np.concatenate([r[0] for r in shock_rows]) if shock_rows else np.array([], int),
        "day": np.concatenate([np.full(len(r[0]), r[1]) for r in shock_rows]) if shock_rows else np.array([], int),
        "kind": np.concatenate([np.full(len(r[0]), r[2], dtype=object) for r in shock_rows])
        if shock_rows else np.array([], object),
    })
    return Latent(w=w, z=z, x=xs, s=ss, hazard=hz, y=ys, crises=crises, grades=grades, shocks=sh)


def _crisis_frame(rows: list, rng: np.random.Generator) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({"local_idx": np.array([], np.int64), "day": np.array([], np.int64),
                             "level": np.array([], np.int64), "category": np.array([], object),
                             "recorded": np.array([], bool)})
    idx = np.concatenate([r[0] for r in rows])
    day = np.concatenate([np.full(len(r[0]), r[1]) for r in rows])
    lv = np.concatenate([r[2] for r in rows])
    rec = np.concatenate([r[3] for r in rows])
    cat = np.empty(idx.size, dtype=object)
    for level, (names, p) in CRISIS_CATEGORIES.items():
        m = lv == level
        cat[m] = np.array(names, dtype=object)[rng.choice(len(names), size=int(m.sum()), p=p)]
    return pd.DataFrame({"local_idx": idx, "day": day, "level": lv, "category": cat, "recorded": rec})


def _grades(pop: Population, cal: Calendar, term_k: int, z_past: np.ndarray | None,
            active_now: np.ndarray, rng: np.random.Generator, t: int):  # type: ignore[no-untyped-def]
    """Grades of term ``term_k`` published on day ``t``; returns (frame, failed any)."""
    term = cal.terms[term_k]
    ay = int(term.name[:4])
    term_no = int(term.name[-1])
    ncourses = _courses(pop, ay, term_no) * active_now
    if ncourses.sum() == 0:
        return None, np.zeros(pop.n, bool)
    lo = max(0, cal.index(term.first))
    hi = min(t, cal.index(term.last) + 1)
    if z_past is not None and hi > lo:
        deficit = np.maximum(0, -0.3 - z_past[:, lo:hi]).mean(axis=1)
    else:
        deficit = np.zeros(pop.n)
    shows = ~pop.silent_in_trouble
    stu = np.repeat(np.arange(pop.n), ncourses)
    k = np.concatenate([np.arange(c) for c in ncourses]) if stu.size else np.array([], int)
    difficulty = rng.normal(0, 5, stu.size)
    score = pop.ability[stu] + difficulty + rng.normal(0, 8, stu.size) - 9.0 * deficit[stu] * shows[stu]
    score = np.clip(np.round(score), 0, 100)
    passed = score >= 60
    pf = rng.random(stu.size) < 0.05  # pass/fail courses: no score
    credits = rng.choice([1.0, 1.5, 2.0, 2.5, 3.0, 4.0], size=stu.size, p=[0.1, 0.1, 0.25, 0.1, 0.3, 0.15])
    frame = pd.DataFrame({"local_idx": stu, "term": term.name, "course_k": k, "credits": credits,
                          "score": np.where(pf, np.nan, score), "passed": passed, "day": t})
    fails = np.bincount(stu[~passed], minlength=pop.n) > 0
    return frame, fails


def oracle_risk(pop: Population, lat: Latent, a_ext: np.ndarray, rec_ext: np.ndarray,
                mondays: np.ndarray, cfg: SimConfig) -> np.ndarray:
    """P(recorded crisis of level >= 1 in [t, t+28)) given the true state on each Monday ``t``.

    ``a_ext`` (n, days + 28) and ``rec_ext`` (days + 28,) extend the calendar pressure and the
    record probability past the period end. Returns (n, len(mondays)).
    """
    wc, cc = cfg.wellbeing, cfg.crisis
    K = ORACLE_HORIZON
    k = np.arange(K)
    a_h = 1.0 / max(wc.hazard_smoothing_days, 1.0)
    # y[t+k] = (1-a)^k y[t] + sum_{j=1..k} B[k, j] w[t+j]
    kk, jj = np.meshgrid(k, k, indexing="ij")
    B = np.where((jj >= 1) & (jj <= kk), a_h * (1 - a_h) ** (kk - jj), 0.0)
    decay_y = (1 - a_h) ** k
    phij = wc.ar_phi ** k
    delj = wc.shock_decay ** k
    # variance of y[t+k] per unit AR innovation sd: G[k, m] = sum_{j=m..k} B[k, j] phi^(j-m)
    mm = jj  # innovation index m (1..k)
    G = np.zeros((K, K))
    for m_ in range(1, K):
        G[:, m_] = (B[:, m_:] * wc.ar_phi ** (k[m_:] - m_)[None, :]).sum(axis=1)
    vk = (G ** 2).sum(axis=1)
    _ = mm
    out = np.empty((pop.n, len(mondays)), np.float64)
    beta = cc.hazard_beta
    for j, t in enumerate(mondays):
        x = lat.x[:, t].astype(np.float64)[:, None]
        s = lat.s[:, t].astype(np.float64)[:, None]
        y = lat.y[:, t].astype(np.float64)[:, None]
        ew = pop.mu[:, None] + a_ext[:, t:t + K] + phij * x + delj * s
        m = decay_y * y + ew @ B.T
        logh = cc.hazard_log_base + pop.vulnerability[:, None] - beta * m + \
            0.5 * beta ** 2 * (pop.ar_sd[:, None] ** 2) * vk
        h = np.minimum(cc.hazard_cap, np.exp(logh))
        days_idx = t + k
        alive = (days_idx[None, :] < pop.active_to[:, None]) & (days_idx[None, :] >= pop.active_from[:, None])
        total = (h * alive * rec_ext[t:t + K][None, :]).sum(axis=1)
        out[:, j] = 1 - np.exp(-total)
    return out
