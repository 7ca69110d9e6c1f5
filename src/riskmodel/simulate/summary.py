"""Realism and difficulty figures of a simulated campus (``SimSummary``).

Accumulated chunk by chunk while simulating (plain sums and per-(student, Monday) score
arrays), then reduced once. The difficulty figures compare the oracle's AUROC and AP on the
28-day recorded-crisis target with those of single behavioural channels computed from the
generated events over the 14 days before each Monday, on eligible student-Mondays: enrolled,
the 28-day window inside the period, no recorded crisis in the 180 days before.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

#: Single behavioural channels: name -> sign (+1: higher means more risk).
CHANNEL_SIGNS = {
    "nights_away_14d": 1.0,
    "late_night_minutes_14d": 1.0,
    "canteen_meals_14d": -1.0,
    "meals_together_14d": -1.0,
    "library_visits_14d": -1.0,
    "return_hour_14d": 1.0,
}


@dataclass
class SummaryAccumulator:
    """Running sums filled per chunk (see :func:`summarise`)."""

    days: int
    period: np.ndarray
    rows: dict[str, int] = field(default_factory=dict)
    card_rows_day: np.ndarray | None = None
    card_amount_day: np.ndarray | None = None
    active_day: np.ndarray | None = None
    canteen_amount_day: np.ndarray | None = None
    meal_price_sum: np.ndarray = field(default_factory=lambda: np.zeros(3))
    meal_count: np.ndarray = field(default_factory=lambda: np.zeros(3))
    together: float = 0.0
    lunch_dinner: float = 0.0
    offcard_monthly_sum: float = 0.0
    student_years: float = 0.0
    crisis_students: dict[str, int] = field(default_factory=lambda: {"1+": 0, "3": 0, "true_1+": 0})
    crises_true: int = 0
    crises_recorded: int = 0
    census_n: int = 0
    census_class1: int = 0
    nights_away_term: float = 0.0
    resident_term_nights: float = 0.0
    lost_contact_episodes: int = 0
    scores: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add_day_arrays(self, card_rows: np.ndarray, card_amount: np.ndarray, canteen_amount: np.ndarray,
                       active: np.ndarray) -> None:
        for name, arr in (("card_rows_day", card_rows), ("card_amount_day", card_amount),
                          ("canteen_amount_day", canteen_amount), ("active_day", active)):
            cur = getattr(self, name)
            setattr(self, name, arr.astype(np.float64) if cur is None else cur + arr)

    def add_scores(self, **arrays: np.ndarray) -> None:
        for k, v in arrays.items():
            self.scores.setdefault(k, []).append(v)


@dataclass
class SimSummary:
    """Realism and difficulty figures of one simulated campus (all computed, none typed in)."""

    students: int
    days: int
    rows: dict[str, int]
    card_rows_per_student_teaching_day: float
    breakfast_price_cny: float
    lunch_dinner_price_cny: float
    card_spending_monthly_cny: float
    living_spending_monthly_cny: float
    food_share_of_living: float
    vacation_activity_ratio: float
    coswipe_share: float
    night_away_rate_term: float
    lost_contact_episodes: int
    student_years: float
    incidence_level1plus_recorded: float
    incidence_level3_recorded: float
    incidence_level1plus_true: float
    recorded_share: float
    hardship_share: float
    hardship_off_roster_share: float
    census_class1_share: float
    eligible_student_mondays: int
    target_rate_28d: float
    oracle_auroc: float
    oracle_ap: float
    channel_auroc: dict[str, float]
    channel_ap: dict[str, float]
    behaviour_model_auroc: float
    behaviour_model_ap: float
    oracle_ap_same_rows: float
    behaviour_model_ap_ratio: float

    def to_table(self, title: str = "Simulated campus") -> Any:
        """The figures as a ``rich`` table (for printing at the edge)."""
        from rich.table import Table

        table = Table(title=title)
        table.add_column("figure")
        table.add_column("value", justify="right")
        for name, value in self.as_rows():
            table.add_row(name, value)
        return table

    def as_rows(self) -> list[tuple[str, str]]:
        """(figure, formatted value) pairs for printing."""
        out: list[tuple[str, str]] = []
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, dict):
                for k, x in v.items():
                    out.append((f"{f.name}.{k}", f"{x:,.3f}" if isinstance(x, float) else f"{x:,}"))
            elif isinstance(v, float):
                out.append((f.name, f"{v:,.4f}"))
            else:
                out.append((f.name, f"{v:,}"))
        return out


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    ok = np.isfinite(s)
    y, s = y[ok], s[ok]
    if y.sum() == 0 or y.sum() == y.size:
        return float("nan")
    return float(roc_auc_score(y, s))


def _ap(y: np.ndarray, s: np.ndarray) -> float:
    ok = np.isfinite(s)
    y, s = y[ok], s[ok]
    if y.sum() == 0:
        return float("nan")
    return float(average_precision_score(y, s))


def behaviour_model_check(x: np.ndarray, y: np.ndarray, monday: np.ndarray, oracle: np.ndarray,
                          seed: int = 0) -> tuple[float, float, float]:
    """A plain LightGBM on observable 28/84-day window features, temporal split.

    Trains on the earlier half of the as-of Mondays (negatives subsampled to 200,000; one
    thread, fixed seed), scores the later half. Returns (model AUROC, model AP, oracle AP on
    the same test rows): how much of the oracle's precision behaviour alone can recover.
    """
    import lightgbm as lgb

    nan = float("nan")
    if y.size == 0:
        return nan, nan, nan
    cut = np.median(np.unique(monday))
    train, test = monday < cut, monday >= cut
    if y[train].sum() < 10 or y[test].sum() < 1:
        return nan, nan, nan
    rng = np.random.default_rng(seed)
    idx = np.flatnonzero(train)
    neg = idx[~y[idx]]
    if neg.size > 200_000:
        neg = rng.choice(neg, 200_000, replace=False)
    fit_idx = np.sort(np.concatenate([idx[y[idx]], neg]))
    model = lgb.LGBMClassifier(n_estimators=300, learning_rate=0.03, num_leaves=15, min_child_samples=100,
                               subsample=0.8, subsample_freq=1, colsample_bytree=0.8, n_jobs=1,
                               random_state=seed, deterministic=True, force_row_wise=True, verbose=-1)
    model.fit(x[fit_idx], y[fit_idx])
    p = np.asarray(model.predict_proba(x[test]))[:, 1]
    return _auc(y[test], p), _ap(y[test], p), _ap(y[test], oracle[test])


def summarise(acc: SummaryAccumulator, students: int, hardship: np.ndarray, applied: np.ndarray) -> SimSummary:
    """Reduce the accumulator to the figures."""
    from riskmodel.simulate.calendar import TEACHING, VACATION

    per = acc.period
    act = acc.active_day if acc.active_day is not None else np.zeros(acc.days)
    rows_day = acc.card_rows_day if acc.card_rows_day is not None else np.zeros(acc.days)
    amt_day = acc.card_amount_day if acc.card_amount_day is not None else np.zeros(acc.days)
    can_day = acc.canteen_amount_day if acc.canteen_amount_day is not None else np.zeros(acc.days)
    teach = per == TEACHING
    vac = per == VACATION

    def ratio(a: float, b: float) -> float:
        return float(a / b) if b else float("nan")

    per_teach = ratio(rows_day[teach].sum(), act[teach].sum())
    per_vac = ratio(rows_day[vac].sum(), act[vac].sum())
    card_month = ratio(amt_day[teach].sum(), act[teach].sum()) * 30.44
    canteen_month = ratio(can_day[teach].sum(), act[teach].sum()) * 30.44
    offcard = ratio(acc.offcard_monthly_sum, students)
    living = card_month + offcard
    s = {k: np.concatenate(v) for k, v in acc.scores.items()}
    y = s.get("label", np.array([], bool)).astype(bool)
    n_elig = int(y.size)
    oracle = s.get("oracle", np.array([]))
    ch_auc = {k: _auc(y, sign * s[k]) for k, sign in CHANNEL_SIGNS.items() if k in s}
    ch_ap = {k: _ap(y, sign * s[k]) for k, sign in CHANNEL_SIGNS.items() if k in s}
    hs = int(hardship.sum())
    if "model_x" in s and n_elig:
        m_auc, m_ap, o_ap = behaviour_model_check(s["model_x"], y, s["monday"], oracle)
    else:
        m_auc = m_ap = o_ap = float("nan")
    return SimSummary(
        students=students, days=acc.days, rows=dict(acc.rows),
        card_rows_per_student_teaching_day=per_teach,
        breakfast_price_cny=ratio(acc.meal_price_sum[0], acc.meal_count[0]),
        lunch_dinner_price_cny=ratio(acc.meal_price_sum[1:].sum(), acc.meal_count[1:].sum()),
        card_spending_monthly_cny=card_month, living_spending_monthly_cny=living,
        food_share_of_living=ratio(canteen_month, living),
        vacation_activity_ratio=ratio(per_vac, per_teach),
        coswipe_share=ratio(acc.together, acc.lunch_dinner),
        night_away_rate_term=ratio(acc.nights_away_term, acc.resident_term_nights),
        lost_contact_episodes=acc.lost_contact_episodes,
        student_years=acc.student_years,
        incidence_level1plus_recorded=ratio(acc.crisis_students["1+"], acc.student_years),
        incidence_level3_recorded=ratio(acc.crisis_students["3"], acc.student_years),
        incidence_level1plus_true=ratio(acc.crisis_students["true_1+"], acc.student_years),
        recorded_share=ratio(acc.crises_recorded, acc.crises_true),
        hardship_share=ratio(hs, hardship.size),
        hardship_off_roster_share=ratio(int((hardship & ~applied).sum()), hs),
        census_class1_share=ratio(acc.census_class1, acc.census_n),
        eligible_student_mondays=n_elig, target_rate_28d=float(y.mean()) if n_elig else float("nan"),
        oracle_auroc=_auc(y, oracle), oracle_ap=_ap(y, oracle),
        channel_auroc=ch_auc, channel_ap=ch_ap,
        behaviour_model_auroc=m_auc, behaviour_model_ap=m_ap, oracle_ap_same_rows=o_ap,
        behaviour_model_ap_ratio=ratio(m_ap, o_ap),
    )
