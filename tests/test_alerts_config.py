"""conf/alerts/*.yaml load into the typed configs; unknown keys are named; the registry loads."""

from __future__ import annotations

import pytest

from riskmodel.alerts import ALERTS
from riskmodel.alerts.config import CONF_DIR, alert_config_from_dict, load_alert_config
from riskmodel.scoping import load_access_config


@pytest.mark.parametrize("name", ALERTS)
def test_each_config_file_loads_and_matches_the_defaults(name: str) -> None:
    assert (CONF_DIR / f"{name}.yaml").is_file()
    assert load_alert_config(name) == alert_config_from_dict(name)  # YAML and code defaults agree


def test_unknown_keys_and_overrides() -> None:
    with pytest.raises(ValueError, match="curfew_hours"):
        alert_config_from_dict("night_absence", {"curfew_hours": 23})
    assert load_alert_config("lost_contact", hours=24).hours == 24
    assert load_alert_config("night_absence", escalation=[3, 5]).escalation == (3, 5)
    with pytest.raises(ValueError, match="unknown alert"):
        alert_config_from_dict("curfew")


def test_the_shipped_registry_has_no_counselor_ids_and_names_roles() -> None:
    acc = load_access_config(CONF_DIR / "access.yaml")
    assert acc.callers["aid-office"].role == "aid_office"
    assert all(e.counselor_id is None for e in acc.callers.values())
