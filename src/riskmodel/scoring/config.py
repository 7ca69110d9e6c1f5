"""Scoring configuration and errors."""

from __future__ import annotations

from dataclasses import dataclass


class ScoringError(ValueError):
    """A scoring request that cannot be answered: bad model, as-of, data or scope.

    The message names the thing and how to fix it; it never holds a student id.
    """


@dataclass(frozen=True)
class ScoringConfig:
    """How a week is scored.

    Attributes
    ----------
    capacity : the top share (0 < capacity <= 1) of the ranked students in scope that is
        flagged; a whole number >= 1 is a count of students instead.
    watch_multiple : the watch band is the next ``watch_multiple * capacity`` after the flags.
    known_recent_days : a student with a recorded crisis (any level) on a day in
        ``[as_of - known_recent_days, as_of)`` is marked ``known`` and not ranked (the
        counselling center already supports them); 0 disables. Same rule as training.
    top_reasons : reasons per student (one per feature family).
    reasons_for : ``"ranked"`` (every ranked student) or ``"flagged"`` (flag and watch only,
        faster on a whole campus).
    usual_lookback_days : the student's own usual value of a feature is the median of that
        feature at these many days before as-of, using only lookbacks whose window does not
        overlap the current one (lookback >= the feature's window).
    enrollment_month : a student counts as enrolled from the 1st of this month of
        ``enrollment_year`` (September).
    require_observed : score only students with at least one event of a present event
        source before as-of (a student silent for weeks is still scored: that silence may be
        the warning).
    """

    capacity: float = 0.01
    watch_multiple: float = 2.0
    known_recent_days: int = 180
    top_reasons: int = 3
    reasons_for: str = "ranked"
    usual_lookback_days: tuple[int, ...] = (28, 56, 84, 112)
    enrollment_month: int = 9
    require_observed: bool = True

    def __post_init__(self) -> None:
        check_capacity(self.capacity)
        if self.watch_multiple < 0:
            raise ValueError(f"ScoringConfig.watch_multiple must be >= 0, got {self.watch_multiple}")
        if self.reasons_for not in ("ranked", "flagged"):
            raise ValueError(f"ScoringConfig.reasons_for must be 'ranked' or 'flagged', got {self.reasons_for!r}")
        if self.top_reasons < 0:
            raise ValueError(f"ScoringConfig.top_reasons must be >= 0, got {self.top_reasons}")


def check_capacity(capacity: float) -> float:
    """Validate a capacity (a share in (0, 1] or a whole count >= 1) and return it."""
    c = float(capacity)
    if not (0 < c <= 1 or (c >= 1 and c == int(c))):
        raise ScoringError(f"capacity must be a share in (0, 1] (e.g. 0.01 for the top 1%) or a whole number "
                           f"of students >= 1, got {capacity!r}")
    return c
