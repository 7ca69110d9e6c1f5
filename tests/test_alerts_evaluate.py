"""The evaluations against simulated truth run and say something (small simulated campus)."""

from __future__ import annotations

import pandas as pd
import pytest

from riskmodel.alerts.config import HiddenAidConfig
from riskmodel.alerts.evaluate import evaluate_hidden_aid_sim, evaluate_night_absence, read_truth
from riskmodel.contracts import PseudonymKey, load_sources


@pytest.fixture(scope="module")
def sim(sim_campus_dir, sim_key):
    key = PseudonymKey(sim_key)
    return load_sources(sim_campus_dir, key).tables, sim_campus_dir, key


def test_truth_ids_join_the_pseudonymised_tables(sim) -> None:
    tables, folder, key = sim
    hard = read_truth(folder, "hardship", key)
    assert set(hard["student_id"]) == set(tables["students"]["student_id"])


@pytest.mark.slow
def test_night_absence_finds_most_unexplained_nights_and_outages_help(sim) -> None:
    tables, folder, key = sim
    res = evaluate_night_absence(tables, folder, key)
    on, off = res["default (outage rule on)"], res["outage rule off"]
    assert on["precision"] > 0.7 and on["recall"] > 0.7
    assert on["false_alarms_on_dark_gate_nights"] == 0
    assert off["false_alarms_on_dark_gate_nights"] >= on["false_alarms_on_dark_gate_nights"]
    assert on["false_alarms_per_1000"] <= off["false_alarms_per_1000"]


@pytest.mark.slow
def test_hidden_aid_detector_beats_the_threshold_rule_on_simulated_truth(sim) -> None:
    tables, folder, key = sim
    last = pd.to_datetime(tables["calendar"]["date"]).max()
    res = evaluate_hidden_aid_sim(tables, folder, key, last, HiddenAidConfig(window_days=90, n_bags=10))
    assert res["hidden_in_pool"] > 0
    assert res["pu_score"]["recall_at_k"] > res["threshold_rule"]["recall_at_k"]
    assert set(res["by_gender"]) == {"F", "M"}
