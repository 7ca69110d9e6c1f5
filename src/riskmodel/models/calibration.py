"""Score calibration fitted on the validation split, stored as plain numbers (JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


@dataclass
class Calibrator:
    """Maps an uncalibrated score to a probability.

    ``method``: ``"isotonic"`` (step function through the pooled-adjacent-violators fit,
    interpolated) or ``"platt"`` (logistic on the score; ``score_is_probability`` scores are
    first turned into log-odds) or ``"identity"``.
    """

    method: str = "isotonic"
    score_is_probability: bool = False
    x_: list[float] = field(default_factory=list)
    y_: list[float] = field(default_factory=list)
    a_: float = 1.0
    b_: float = 0.0

    def _z(self, s: np.ndarray) -> np.ndarray:
        s = np.asarray(s, dtype=float)
        return _logit(s) if self.score_is_probability else s

    def fit(self, score: np.ndarray, y: np.ndarray) -> Calibrator:
        s, y = self._z(score), np.asarray(y, dtype=float)
        if self.method == "isotonic":
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(s, y)
            self.x_ = [float(v) for v in iso.X_thresholds_]
            self.y_ = [float(v) for v in iso.y_thresholds_]
        elif self.method == "platt":
            lr = LogisticRegression(C=1e6).fit(s.reshape(-1, 1), y)
            self.a_, self.b_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        elif self.method != "identity":
            raise ValueError(f"Calibrator.method must be 'isotonic', 'platt' or 'identity', got {self.method!r}")
        return self

    def transform(self, score: np.ndarray) -> np.ndarray:
        s = self._z(score)
        if self.method == "isotonic":
            if not self.x_:
                raise ValueError("Calibrator is not fitted; call fit(validation_scores, validation_labels)")
            return np.interp(s, self.x_, self.y_)
        if self.method == "platt":
            return 1.0 / (1.0 + np.exp(-(self.a_ * s + self.b_)))
        return np.clip(np.asarray(score, dtype=float), 0.0, 1.0)

    def to_dict(self) -> dict:
        return {"method": self.method, "score_is_probability": self.score_is_probability,
                "x": self.x_, "y": self.y_, "a": self.a_, "b": self.b_}

    @classmethod
    def from_dict(cls, d: dict) -> Calibrator:
        return cls(method=d["method"], score_is_probability=d["score_is_probability"], x_=list(d["x"]),
                   y_=list(d["y"]), a_=float(d["a"]), b_=float(d["b"]))
