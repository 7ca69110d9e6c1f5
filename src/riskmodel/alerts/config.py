"""Typed configuration of the alerts, read from ``conf/alerts/<name>.yaml``.

Each warning has one frozen dataclass; :func:`load_alert_config` reads the YAML file of the
config group (or a given path), applies flat overrides and rejects unknown keys by name.
The library never imports hydra: a Hydra job passes ``OmegaConf.to_container(cfg.alerts)``
to :func:`alert_config_from_dict`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CONF_DIR = Path(__file__).resolve().parents[3] / "conf" / "alerts"


@dataclass(frozen=True)
class NightAbsenceConfig:
    """Night absence (未归寝). Times are hours after midnight of the night's date (24.5 = 00:30 next day)."""

    curfew_hour: float = 23.0
    grace_minutes: float = 60.0
    morning_hour: float = 30.0  # 06:00 the next day: a return after this is not "by morning"
    lookback_days: int = 14  # door history searched for the last swipe before the cut-off
    excluded_periods: tuple[str, ...] = ("vacation", "holiday")
    max_consecutive_nights: int = 14  # how far back "since when" looks
    escalation: tuple[int, int] = (2, 3)  # consecutive nights for level 2, level 3
    outage_min_events: int = 1  # a building with fewer door events in the night window is dark
    outage_window: tuple[float, float] = (18.0, 32.0)  # night window for the outage check (hours)
    suppress_outages: bool = True
    use_network_evidence: bool = False  # online in the own building after curfew = home (off: see alerts_results.md)


@dataclass(frozen=True)
class LostContactConfig:
    """Lost contact (失联): no activity on any channel for ``hours`` outside vacation and leave."""

    hours: float = 48.0
    hours_off_campus: float = 96.0  # students living off campus are seen less often
    excluded_periods: tuple[str, ...] = ("vacation", "holiday")
    max_gap_days: int = 60  # silences longer than this are reported as "card unused", not lost contact
    source_gap_share: float = 0.2  # a source below this share of its usual volume is a data gap


@dataclass(frozen=True)
class HiddenAidConfig:
    """Hidden financial aid (隐性资助) from spending alone."""

    window_days: int = 120  # spending window before the as-of date
    meal_gap_minutes: float = 30.0  # canteen swipes closer than this are one meal
    min_meals: int = 20  # students with fewer canteen meals in the window are not scored
    candidate_min_meals_per_month: float = 30.0  # rarer canteen eaters spend elsewhere: never candidates
    threshold_meals_per_month: float = 60.0  # published rule: more than 60 meals ...
    threshold_spend_per_month: float = 420.0  # ... and less than 420 CNY a month (adjust to local prices)
    peer_bins: int = 10  # peers = students with a similar number of meals (quantile bins)
    peer_ratio: float = 0.75  # peer rule: meal spending below this share of the peers' median
    n_bags: int = 25  # PU bagging rounds
    bag_unlabelled_ratio: float = 1.0  # unlabelled drawn per positive in each bag
    n_candidates: int = 50  # candidates listed
    seed: int = 0


@dataclass(frozen=True)
class AnomalyConfig:
    """Behavioural anomaly (行为异常): CUSUM on robust z-scores against self and peers."""

    baseline_days: int = 42  # own baseline: this many days ...
    baseline_gap_days: int = 21  # ... ending this many days before each day (lets a change build up)
    min_baseline_days: int = 14
    cusum_k: float = 0.5  # allowance (in robust z units)
    cusum_h: float = 10.0  # decision threshold (robust z units accumulated beyond k)
    z_clip: float = 4.0
    min_channels: int = 3  # channels over the CUSUM threshold (in their worrying direction) for an alert
    one_sided: bool = True  # only each channel's worrying direction counts (see anomaly.CONCERN)
    multivariate_window: int = 14  # days averaged for the concern index
    multivariate_threshold: float = 1.0  # concern index (mean signed z) that alerts on its own
    mad_floor: float = 0.25  # MAD floor: this share of the pooled spread (and at least the channel's smallest change)
    excluded_periods: tuple[str, ...] = ("vacation", "holiday")
    history_days: int = 120  # days of history read before the as-of date


@dataclass(frozen=True)
class AcademicConfig:
    """Academic warning (学业预警): grades counted from ``published_on``."""

    recent_days: int = 60  # a first failure published this recently is news
    failed_credits_limit: float = 6.0  # failed credits in the latest term above this
    credits_behind_limit: float = 10.0  # earned credits this far below the plan
    plan: str = "cohort"  # "cohort": median of the same degree, year and major; "config": per term below
    plan_credits_per_term: tuple[tuple[str, float], ...] = (
        ("undergraduate", 20.0), ("master", 8.0), ("doctoral", 4.0))
    gpa_drop_points: float = 10.0  # latest term average this far below the earlier terms' average
    min_courses_term: int = 2


_TYPES: dict[str, type] = {
    "night_absence": NightAbsenceConfig,
    "lost_contact": LostContactConfig,
    "hidden_aid": HiddenAidConfig,
    "anomaly": AnomalyConfig,
    "academic": AcademicConfig,
}


def alert_config_from_dict(name: str, values: dict[str, Any] | None = None, **overrides: Any) -> Any:
    """Build the config dataclass of alert ``name`` from a dict plus flat overrides."""
    if name not in _TYPES:
        raise ValueError(f"unknown alert {name!r}; known: {', '.join(_TYPES)}")
    cls = _TYPES[name]
    merged = {**(values or {}), **overrides}
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(merged) - known)
    if unknown:
        raise ValueError(f"alerts config {name!r}: unknown key(s) {unknown}; known: {sorted(known)}")
    kwargs = {}
    for k, v in merged.items():
        default = getattr(cls(), k)
        if isinstance(default, tuple) and isinstance(v, list | tuple):
            v = tuple(tuple(x) if isinstance(x, list) else x for x in v)
        kwargs[k] = v
    return cls(**kwargs)


def load_alert_config(name: str, path: str | Path | None = None, **overrides: Any) -> Any:
    """Read ``conf/alerts/<name>.yaml`` (or ``path``) into the alert's config dataclass."""
    p = Path(path) if path is not None else CONF_DIR / f"{name}.yaml"
    values: dict[str, Any] = {}
    if p.exists():
        with open(p, encoding="utf-8") as fh:
            values = yaml.safe_load(fh) or {}
    elif path is not None:
        raise FileNotFoundError(f"alerts config file {p} does not exist")
    return alert_config_from_dict(name, values, **overrides)
