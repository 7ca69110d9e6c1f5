"""The academic calendar of a Chinese university, day by day.

Two semesters a year: the autumn term starts in the first week of September and ends with
two exam weeks before the winter vacation, which is laid around the Spring Festival (lunar
new year, from a table); the spring term starts about three weeks after the festival and
ends with two exam weeks in early July, followed by the summer vacation. Holidays: New
Year's Day, Qingming (Apr 4-6), Labour Day (May 1-5) and the National Day week (Oct 1-7).
Grades of a term are published a week after its exams end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

#: Spring Festival (lunar new year) dates.
SPRING_FESTIVAL = {
    2018: date(2018, 2, 16), 2019: date(2019, 2, 5), 2020: date(2020, 1, 25),
    2021: date(2021, 2, 12), 2022: date(2022, 2, 1), 2023: date(2023, 1, 22),
    2024: date(2024, 2, 10), 2025: date(2025, 1, 29), 2026: date(2026, 2, 17),
    2027: date(2027, 2, 6), 2028: date(2028, 1, 26), 2029: date(2029, 2, 13),
    2030: date(2030, 2, 3), 2031: date(2031, 1, 23), 2032: date(2032, 2, 11),
    2033: date(2033, 1, 31), 2034: date(2034, 2, 19), 2035: date(2035, 2, 8),
}

PERIODS = ("teaching", "exam", "holiday", "vacation")
TEACHING, EXAM, HOLIDAY, VACATION = range(4)


def _monday_on_or_after(d: date) -> date:
    return d + timedelta(days=(7 - d.weekday()) % 7)


@dataclass(frozen=True)
class Term:
    """One semester: its name (e.g. 2023-2024-1), first and last day, grade publication."""

    name: str
    first: date
    last: date  # last exam day
    exams_from: date
    grades_on: date


def academic_terms(academic_year: int) -> tuple[Term, Term]:
    """The two terms of academic year ``academic_year``-``academic_year+1``."""
    y = academic_year
    sf = SPRING_FESTIVAL.get(y + 1, date(y + 1, 2, 5))
    winter_start = min(max(sf - timedelta(days=18), date(y + 1, 1, 10)), date(y + 1, 1, 25))
    t1_first = _monday_on_or_after(date(y, 9, 1))
    t1_last = winter_start - timedelta(days=1)
    t2_first = max(_monday_on_or_after(sf + timedelta(days=17)), date(y + 1, 2, 17))
    summer_start = date(y + 1, 7, 8)
    t2_last = summer_start - timedelta(days=1)
    name = f"{y}-{y + 1}"
    return (
        Term(f"{name}-1", t1_first, t1_last, t1_last - timedelta(days=13), t1_last + timedelta(days=10)),
        Term(f"{name}-2", t2_first, t2_last, t2_last - timedelta(days=13), t2_last + timedelta(days=7)),
    )


def academic_year_of(d: date) -> int:
    """The academic year (its first calendar year) a date belongs to; it turns on Sep 1."""
    return d.year if d.month >= 9 else d.year - 1


@dataclass
class Calendar:
    """Day-level arrays over ``n`` days from ``start`` (index 0 is ``start``).

    ``period`` is an index into :data:`PERIODS`; ``term_idx`` is the index into ``terms``
    of the term a day belongs to (-1 outside terms); ``year_idx`` counts academic years
    from the first one in the period (for year-to-year shift).
    """

    start: date
    dates: list[date]
    period: np.ndarray  # int8
    weekday: np.ndarray  # 0 = Monday
    term_idx: np.ndarray  # int16
    year_idx: np.ndarray  # int16
    academic_year: np.ndarray  # int16
    terms: list[Term]
    epoch_s: np.ndarray  # int64 seconds of local midnight since 1970-01-01

    @property
    def n(self) -> int:
        return len(self.dates)

    def index(self, d: date) -> int:
        return (d - self.start).days

    @property
    def weekend(self) -> np.ndarray:
        return self.weekday >= 5

    @property
    def on_term(self) -> np.ndarray:
        return (self.period == TEACHING) | (self.period == EXAM)


def build_calendar(start: date, days: int) -> Calendar:
    """The calendar of ``days`` days from ``start``: period, term, weekday, epoch seconds."""
    dates = [start + timedelta(days=i) for i in range(days)]
    n = len(dates)
    period = np.full(n, VACATION, dtype=np.int8)
    term_idx = np.full(n, -1, dtype=np.int16)
    ay = np.array([academic_year_of(d) for d in dates], dtype=np.int16)
    first_year = int(ay[0]) if n else start.year
    terms: list[Term] = []
    for y in range(first_year - 1, int(ay[-1]) + 2 if n else first_year + 1):
        terms.extend(academic_terms(y))
    ords = np.array([d.toordinal() for d in dates], dtype=np.int64)
    for k, t in enumerate(terms):
        inside = (ords >= t.first.toordinal()) & (ords <= t.last.toordinal())
        period[inside] = TEACHING
        term_idx[inside] = k
        period[inside & (ords >= t.exams_from.toordinal())] = EXAM
    for i, d in enumerate(dates):
        md = (d.month, d.day)
        if period[i] == VACATION:
            continue
        if md == (1, 1) or (10, 1) <= md <= (10, 7) or (4, 4) <= md <= (4, 6) or (5, 1) <= md <= (5, 5):
            period[i] = HOLIDAY
    weekday = np.array([d.weekday() for d in dates], dtype=np.int8)
    epoch = (ords - date(1970, 1, 1).toordinal()) * 86400
    return Calendar(start=start, dates=dates, period=period, weekday=weekday, term_idx=term_idx,
                    year_idx=(ay - first_year).astype(np.int16), academic_year=ay, terms=terms,
                    epoch_s=epoch.astype(np.int64))


def calendar_pressure(cal: Calendar, exam_pressure: float, vacation_relief: float) -> np.ndarray:
    """Population-level push on well-being per day: exams press, vacations relieve."""
    p = np.zeros(cal.n, dtype=np.float64)
    p[cal.period == EXAM] = -exam_pressure
    # the week before exams presses half as much
    exam_idx = np.flatnonzero(cal.period == EXAM)
    if exam_idx.size:
        pre = np.zeros(cal.n, dtype=bool)
        for k in range(1, 8):
            j = exam_idx - k
            pre[j[j >= 0]] = True
        p[pre & (cal.period == TEACHING)] = -exam_pressure / 2
    p[(cal.period == VACATION) | (cal.period == HOLIDAY)] = vacation_relief
    return p
