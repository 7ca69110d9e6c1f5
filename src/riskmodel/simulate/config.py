"""Every knob of the simulated campus, as typed dataclasses (loaded from conf/simulate/default.yaml).

``SimConfig`` holds the run's size (students, start, days, seed), the chunking, and one
section per part of the simulator. ``load_config(path, **overrides)`` reads a YAML file (the
default file when ``path`` is None) and applies flat overrides such as ``students=300``.
Unknown keys raise a ``ValueError`` that names them, so a typo never goes unnoticed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[3] / "conf" / "simulate" / "default.yaml"


@dataclass
class PopulationConfig:
    """Who studies here: degree mix, colleges, dorms, special groups, hidden traits."""

    share_undergraduate: float = 0.70
    share_master: float = 0.25
    n_colleges: int = 12
    majors_per_college: int = 3
    class_size: int = 30
    share_male: float = 0.52
    off_campus_undergraduate: float = 0.03
    off_campus_master: float = 0.15
    off_campus_doctoral: float = 0.35
    students_per_building: int = 1200
    students_per_counselor: int = 200
    single_parent_or_orphan: float = 0.04
    disability: float = 0.01
    readmitted: float = 0.005
    eats_out: float = 0.20  # share who often eat out / order delivery (no card row)
    card_unused: float = 0.015  # share who never use the campus card
    local_students: float = 0.25  # share whose home is near enough for weekend trips
    silent_in_trouble: float = 0.15  # share whose behaviour never shows their state
    channel_active: float = 0.5  # chance each behaviour channel reacts for a student
    away_type: float = 0.4  # in trouble: stays away (else stays in the dorm)


@dataclass
class WellbeingConfig:
    """Latent well-being: trait + AR(1) drift + decaying shocks + calendar pressure."""

    trait_sd: float = 0.7
    ar_phi: float = 0.97
    ar_sd: float = 0.16  # daily innovation sd (stationary sd = ar_sd / sqrt(1 - phi^2))
    shock_rate_per_year: float = 0.9  # relationship, family and other life events
    shock_mean: float = 0.9
    shock_decay: float = 0.96  # per day
    fail_shock_first: float = 1.2  # first failed exam, on the day grades are published
    fail_shock_again: float = 0.4
    exam_pressure: float = 0.35
    vacation_relief: float = 0.15
    behaviour_threshold: float = -0.1  # below this (lagged) level behaviour starts to shift
    lag_days_min: float = 2.0
    lag_days_max: float = 8.0
    hazard_smoothing_days: float = 7.0  # the hazard reads well-being smoothed over about a week
    sensitivity_sd: float = 0.6  # lognormal sd of per-student, per-channel sensitivity


@dataclass
class BehaviourConfig:
    """How strongly low well-being moves each behaviour channel (per unit of effect size).

    The effect size of a channel is ``sensitivity[i, channel] * ((threshold - lagged w)+) ** power``:
    convex, so mild lows move behaviour a little and severe lows a lot.
    """

    power: float = 2.0

    breakfast_skip: float = 1.0  # breakfast probability * exp(-k * e)
    meal_skip: float = 0.8  # lunch / dinner probability * exp(-k * e)
    cheaper: float = 0.10  # meal price * (1 - min(0.35, k * e))
    eat_alone: float = 1.5  # eating-together probability * exp(-k * e)
    library_drop: float = 1.5  # library probability * exp(-k * e)
    return_later_h: float = 1.5  # hours later back in the dorm
    return_irregular: float = 0.6  # return-time sd * (1 + k * e)
    night_net_h: float = 2.0  # hours later asleep (late-night network)
    risky_night: float = 0.15  # away type: chance per night of an unexplained night away
    stay_in: float = 0.30  # stay-in type: chance per day of not leaving the dorm


@dataclass
class CrisisConfig:
    """Crisis hazard, levels and recording."""

    hazard_beta: float = 1.7  # log-hazard per unit of low well-being
    hazard_log_base: float = -10.6  # log daily hazard at well-being 0
    vulnerability_sd: float = 0.5
    hazard_cap: float = 0.05
    level_probs: tuple[float, float, float] = (0.63, 0.315, 0.055)
    record_probs: tuple[float, float, float] = (0.65, 0.85, 0.97)
    vacation_record_factor: float = 0.6
    refractory_days: int = 14
    support_boost: float = 1.0  # well-being boost after a recorded crisis (support)
    lost_contact_per_year_at_low: float = 0.6  # per student-year when well-being is very low


@dataclass
class EconomyConfig:
    """Prices, spending and hardship (CNY)."""

    breakfast_price: tuple[float, float] = (3.0, 6.0)
    meal_price_median: float = 10.5
    meal_price_sd: float = 0.22  # lognormal
    supermarket_median: float = 9.0
    shower_price: tuple[float, float] = (0.3, 0.95)
    offcard_monthly_median: float = 620.0
    income_log_sd: float = 0.6
    hardship_share: float = 0.20
    apply_if_hardship: float = 0.60
    apply_if_not: float = 0.02
    hardship_price_factor: float = 0.82
    inflation_per_year: float = 0.03


@dataclass
class RoutineConfig:
    """Daily routine rates (per on-campus day unless stated)."""

    breakfast: float = 0.45
    lunch: float = 0.82
    dinner: float = 0.72
    eat_together: float = 0.55
    supermarket: float = 0.30
    shower: float = 0.30
    laundry: float = 0.06
    printing: float = 0.05
    medical: float = 0.008
    transport: float = 0.03
    other: float = 0.05
    library_mean: float = 0.30
    network_sessions_mean: float = 2.2
    curfew_hour: float = 23.0
    curfew_hour_year2: float = 23.5
    weekend_trip_local: float = 0.35
    weekend_trip_other: float = 0.02
    leave_compliance_mean: float = 0.5  # chance a trip away comes with a leave record
    benign_night_out: float = 0.01
    stay_on_campus_vacation: float = 0.12
    national_day_leave: float = 0.55
    internship_per_term: float = 0.15
    sick_leave_per_year: float = 0.4
    card_lost_per_year: float = 0.25
    gate_outage_per_building_year: float = 1.5


@dataclass
class FaultConfig:
    """Plant bad rows (for the validate demo). Off by default."""

    enabled: bool = False
    rows_per_fault: int = 5


@dataclass
class SimConfig:
    """The whole simulated campus: size, seed, chunking, and every section."""

    students: int = 2000
    start: str = "2023-09-01"
    days: int = 365
    seed: int = 7
    chunk_students: int = 2000
    drop_sources: list[str] = field(default_factory=list)
    population: PopulationConfig = field(default_factory=PopulationConfig)
    wellbeing: WellbeingConfig = field(default_factory=WellbeingConfig)
    behaviour: BehaviourConfig = field(default_factory=BehaviourConfig)
    crisis: CrisisConfig = field(default_factory=CrisisConfig)
    economy: EconomyConfig = field(default_factory=EconomyConfig)
    routine: RoutineConfig = field(default_factory=RoutineConfig)
    faults: FaultConfig = field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        if self.students < 1:
            raise ValueError(f"students must be >= 1, got {self.students}")
        if self.days < 1:
            raise ValueError(f"days must be >= 1, got {self.days}")
        if self.chunk_students < 8:
            raise ValueError(f"chunk_students must be >= 8, got {self.chunk_students}")
        date.fromisoformat(str(self.start))

    @property
    def start_date(self) -> date:
        return date.fromisoformat(str(self.start))


_SECTION_TYPES: dict[str, type] = {
    "population": PopulationConfig, "wellbeing": WellbeingConfig, "behaviour": BehaviourConfig,
    "crisis": CrisisConfig,
    "economy": EconomyConfig, "routine": RoutineConfig, "faults": FaultConfig,
}


def _build_section(name: str, values: dict[str, Any]) -> Any:
    cls = _SECTION_TYPES[name]
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"simulate config section {name!r}: unknown key(s) {unknown}; "
                         f"known: {sorted(known)}")
    kwargs = {}
    for k, v in values.items():
        default = getattr(cls(), k)
        kwargs[k] = tuple(v) if isinstance(default, tuple) else v
    return cls(**kwargs)


def config_from_dict(values: dict[str, Any]) -> SimConfig:
    """Build a :class:`SimConfig` from a nested dict (as read from YAML)."""
    top = {f.name for f in dataclasses.fields(SimConfig)}
    unknown = sorted(set(values) - top)
    if unknown:
        raise ValueError(f"simulate config: unknown key(s) {unknown}; known: {sorted(top)}")
    kwargs: dict[str, Any] = {}
    for k, v in values.items():
        if k in _SECTION_TYPES:
            kwargs[k] = _build_section(k, dict(v or {}))
        elif k == "start":
            kwargs[k] = str(v)
        else:
            kwargs[k] = v
    return SimConfig(**kwargs)


def config_to_dict(cfg: SimConfig) -> dict[str, Any]:
    """The config as a plain nested dict (tuples as lists), e.g. to write a YAML file."""
    def conv(v: Any) -> Any:
        if isinstance(v, tuple):
            return list(v)
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v
    return conv(dataclasses.asdict(cfg))


def load_config(path: str | Path | None = None, **overrides: Any) -> SimConfig:
    """Read a simulate config YAML (default: conf/simulate/default.yaml) and apply overrides.

    Overrides are top-level keys (``students``, ``start``, ``days``, ``seed``, ...) whose
    value is not None; a nested key is given as ``"section.key"`` in a dict passed as
    ``overrides={"crisis.hazard_beta": 1.4}``.
    """
    p = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    values: dict[str, Any] = {}
    if p.exists():
        values = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    elif path is not None:
        raise FileNotFoundError(f"simulate config file {p} not found")
    nested = overrides.pop("overrides", None) or {}
    for k, v in overrides.items():
        if v is not None:
            values[k] = v
    for dotted, v in nested.items():
        section, key = dotted.split(".", 1)
        values.setdefault(section, {})[key] = v
    return config_from_dict(values)
