"""The annual psychological census (UPI) and the aid roster.

UPI (University Personality Inventory) as scored in Chinese universities: 60 items, 56
scored, total 0-56; class I at a total >= 25 or item 25 ("thought of ending my life")
positive; class II at 20-24; class III otherwise. Here ``screen_level`` is 3 for class I with
item 25 positive, 2 for class I by score, 1 for class II, 0 for class III. Answers follow the
student's well-being on the day of the census, with noise; some students answer
defensively (scores shrunk, item 25 mostly denied).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from riskmodel.simulate.calendar import Calendar
from riskmodel.simulate.population import Population
from riskmodel.simulate.wellbeing import Latent


def upi_screen_level(total: np.ndarray, key_item: np.ndarray) -> np.ndarray:
    """0..3 from UPI total and item 25 (see module docstring)."""
    class1 = (total >= 25) | key_item
    return np.where(key_item, 3, np.where(class1, 2, np.where(total >= 20, 1, 0))).astype(np.int64)


def simulate_census(pop: Population, cal: Calendar, lat: Latent, present: np.ndarray,
                    rng: np.random.Generator) -> pd.DataFrame:
    """One UPI per student and academic year, on a class's date between Sep 20 and Oct 31."""
    rows = []
    for ay in np.unique(cal.academic_year):
        lo = cal.index(date(int(ay), 9, 20))
        hi = cal.index(date(int(ay), 10, 31)) + 1
        lo, hi = max(lo, 0), min(hi, cal.n)
        if hi - lo < 7:
            continue
        days = np.array([d for d in range(lo, hi) if cal.weekday[d] < 5 and cal.on_term[d]])
        if days.size == 0:
            continue
        classes, inv = np.unique(pop.class_idx, return_inverse=True)
        class_day = days[rng.integers(0, days.size, classes.size)]
        d = class_day[inv]
        i = np.arange(pop.n)
        take = present[i, d] & (rng.random(pop.n) < 0.93)
        i, d = i[take], d[take]
        w = lat.w[i, d]
        total = 8 + 9.0 * (-w) + rng.normal(0, 5, i.size)
        total = np.where(pop.defensive[i], total * rng.uniform(0.2, 0.6, i.size), total)
        total = np.clip(np.round(total), 0, 56)
        key = rng.random(i.size) < 1 / (1 + np.exp(4.5 + 2.0 * w)) * np.where(pop.defensive[i], 0.3, 1.0)
        rows.append(pd.DataFrame({"local_idx": i, "day": d, "total": total.astype(float), "key": key,
                                  "level": upi_screen_level(total, key)}))
    if not rows:
        return pd.DataFrame({"local_idx": np.array([], int), "day": np.array([], int),
                             "total": np.array([], float), "key": np.array([], bool),
                             "level": np.array([], int)})
    return pd.concat(rows, ignore_index=True).sort_values(["local_idx", "day"], kind="stable")


def aid_roster(pop: Population, cal: Calendar) -> pd.DataFrame:
    """Aid granted per academic year to students who applied (registered hardship).

    Level 3 (special hardship) for the poorest third of the applicants, level 1 for the
    better-off third. Only students enrolled during that academic year are listed.
    """
    rows = []
    applied = np.flatnonzero(pop.applied_for_aid)
    if applied.size == 0:
        return pd.DataFrame({"idx": np.array([], int), "academic_year": np.array([], object),
                             "level": np.array([], int)})
    inc = pop.family_income[applied]
    q1, q2 = np.quantile(inc, [1 / 3, 2 / 3])
    level = np.where(inc <= q1, 3, np.where(inc <= q2, 2, 1))
    for ay in np.unique(cal.academic_year):
        days = np.flatnonzero(cal.academic_year == ay)
        enrolled = (pop.active_from[applied] < days.max() + 1) & (pop.active_to[applied] > days.min())
        rows.append(pd.DataFrame({"idx": applied[enrolled], "academic_year": f"{ay}-{ay + 1}",
                                  "level": level[enrolled]}))
    return pd.concat(rows, ignore_index=True)
