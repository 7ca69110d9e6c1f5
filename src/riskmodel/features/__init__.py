"""Point-in-time behavioural features (ibis expressions: DuckDB by default, PySpark at scale).

Public API::

    from riskmodel.features import FeatureConfig, build_daily, build_features, weekly_as_of_dates
    daily = build_daily(loaded, FeatureConfig())
    feats = build_features(loaded, weekly_as_of_dates("2024-09-02", "2025-06-30"), FeatureConfig())
    paths = build_feature_store(loaded, dates, "store/", FeatureConfig())  # a whole campus, chunk by chunk

Every feature is declared once in :data:`FEATURES` (see ``docs/features.md``); the as-of rule
lives in :mod:`riskmodel.features.asof`.
"""

from riskmodel.features.asof import weekly_as_of_dates
from riskmodel.features.config import FeatureConfig
from riskmodel.features.engine import (
    FeatureEngineError,
    MissingSourceWarning,
    build_daily,
    build_feature_store,
    build_features,
    plan_features,
    read_daily,
    read_features,
)
from riskmodel.features.registry import (
    DAILY_CHANNELS,
    FEATURES,
    REGISTRY_VERSION,
    ChannelSpec,
    FeatureSpec,
    build_registry,
    feature_names,
)

__all__ = [
    "DAILY_CHANNELS",
    "FEATURES",
    "REGISTRY_VERSION",
    "ChannelSpec",
    "FeatureConfig",
    "FeatureEngineError",
    "FeatureSpec",
    "MissingSourceWarning",
    "build_daily",
    "build_feature_store",
    "build_features",
    "build_registry",
    "feature_names",
    "plan_features",
    "read_daily",
    "read_features",
    "weekly_as_of_dates",
]
