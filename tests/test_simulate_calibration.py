"""Realism bands and difficulty of the simulated campus (figures from SimSummary)."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskmodel.simulate import SimConfig, SimSummary, simulate_to_folder


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> SimSummary:
    return simulate_to_folder(SimConfig(students=400, days=365, seed=7),
                              tmp_path_factory.mktemp("small") / "c")


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> SimSummary:
    return simulate_to_folder(SimConfig(students=3000, days=365, seed=11),
                              tmp_path_factory.mktemp("large") / "c")


def test_card_magnitudes(small: SimSummary) -> None:
    assert 2.0 <= small.card_rows_per_student_teaching_day <= 3.0
    assert 3.0 <= small.breakfast_price_cny <= 6.0
    assert 8.0 <= small.lunch_dinner_price_cny <= 15.0
    assert 1000 <= small.living_spending_monthly_cny <= 1450
    assert 0.25 <= small.food_share_of_living <= 0.45


def test_vacations_collapse_activity(small: SimSummary) -> None:
    assert small.vacation_activity_ratio < 0.35


def test_hardship_and_aid_roster(small: SimSummary) -> None:
    assert 0.15 <= small.hardship_share <= 0.25
    assert 1 / 3 <= small.hardship_off_roster_share <= 1 / 2


def test_census_and_social(small: SimSummary) -> None:
    assert 0.04 <= small.census_class1_share <= 0.20
    assert 0.2 <= small.coswipe_share <= 0.8
    assert 0.01 <= small.night_away_rate_term <= 0.15


def test_crisis_incidence_small_campus_loose(small: SimSummary) -> None:
    assert 0.005 <= small.incidence_level1plus_recorded <= 0.08
    assert small.incidence_level3_recorded <= 0.01
    assert small.recorded_share < 1.0


def test_difficulty_and_incidence_on_a_larger_campus(large: SimSummary) -> None:
    assert 0.80 <= large.oracle_auroc <= 0.95
    assert 0.02 <= large.incidence_level1plus_recorded <= 0.04
    assert 0.0005 <= large.incidence_level3_recorded <= 0.004
    assert 0.4 <= large.recorded_share <= 0.9
    for name, auc in large.channel_auroc.items():
        assert auc < 0.70, f"channel {name} alone reaches AUROC {auc:.3f}"
        assert auc < large.oracle_auroc - 0.1, name
    assert max(large.channel_auroc.values()) > 0.55  # the data carries signal
    # a plain model on behaviour windows beats chance but stays far below the oracle
    assert large.behaviour_model_ap > large.target_rate_28d
    assert large.behaviour_model_auroc < large.oracle_auroc


def test_summary_rows_are_counted(small: SimSummary, tmp_path: Path) -> None:
    assert small.rows["card_transactions"] > small.rows["students"] * 100
    assert small.eligible_student_mondays > 0
