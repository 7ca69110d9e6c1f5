"""Contract v1.1 unknowns: a class or room declared "unknown" is no peer group."""

from __future__ import annotations

import pandas as pd
import pytest

from features_campus import KEY, hand_campus
from riskmodel.contracts import validate_tables
from riskmodel.features import FeatureConfig, build_daily

pytestmark = pytest.mark.slow


def _accompanied(students_update: dict) -> float:
    tables = hand_campus()
    for col, value in students_update.items():
        tables["students"][col] = value
    daily = build_daily(validate_tables(tables, KEY), FeatureConfig())
    return float(pd.to_numeric(daily["card_meals_accompanied"], errors="coerce").fillna(0).sum())


def test_unknown_class_and_room_do_not_make_everyone_peers():
    own = [f"own-{i}" for i in range(3)]
    alone = _accompanied({"class_id": own, "dorm_room": own})
    unknown = _accompanied({"class_id": ["unknown"] * 3, "dorm_room": ["unknown"] * 3})
    shared = _accompanied({"class_id": ["same"] * 3, "dorm_room": ["same"] * 3})
    assert alone == unknown == 0.0  # no one eats "with" the unknown group
    assert shared > 0.0  # while a real shared group does
