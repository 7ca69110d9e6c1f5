"""Shared pytest fixtures: a small simulated campus (once per session) and the test key."""

from __future__ import annotations

from pathlib import Path

import pytest

SIM_KEY = "test-key-0123456789abcdef"


@pytest.fixture(scope="session")
def sim_key() -> str:
    """The pseudonymisation key used with the simulated test campus."""
    return SIM_KEY


@pytest.fixture(scope="session")
def sim_campus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated campus: ~300 students, 160 days from 2023-09-01, seed 7.

    The folder holds the eleven contract-v1 tables (``<table>.parquet``, raw student numbers)
    and ``truth/``. 160 days reach the first term's grades (published early February).
    Generated once per session (about a second).
    """
    from riskmodel.simulate import SimConfig, simulate_to_folder

    out = tmp_path_factory.mktemp("sim_campus") / "campus"
    simulate_to_folder(SimConfig(students=300, start="2023-09-01", days=160, seed=7), out)
    return out
