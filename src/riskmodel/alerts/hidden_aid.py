"""Hidden financial aid (隐性资助): who may be in hardship without being on the aid roster.

From spending alone (campus-card purchases in a window before the as-of date), per student:
meal prices, meals and spending per month, canteen and supermarket spending, canteen share,
their stability, balance habits (when the export has a ``balance`` column), and each of these
compared with peers who eat a similar number of meals. Three scores:

* :class:`PUDetector`: bagged positive-unlabelled learning (Mordelet & Vert 2014). Students
  on the aid roster are positives, everyone else is unlabelled (many in hardship never apply);
  each bag trains a small LightGBM on all positives against a random draw of unlabelled
  students, and an unlabelled student's score is the mean over the bags it was left out of.
* the published threshold rule: more than 60 canteen meals and less than 420 CNY a month
  (both adjustable for local prices);
* the peer rule: meal spending far below peers with the same number of meals.

Candidates are students with a high detector score who are neither on the roster nor
registered in hardship; each comes with reasons measured against peers. The output is for
the aid office role only (see :mod:`riskmodel.scoping`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from riskmodel.alerts.common import ALERT_COLUMNS, as_details, require, table
from riskmodel.alerts.config import HiddenAidConfig

#: Features the detector uses (all computed from purchases; balance ones only when present).
BASE_FEATURES = [
    "meals_per_month", "canteen_per_month", "total_per_month", "supermarket_per_month",
    "meal_price_mean", "meal_price_median", "meal_price_p25", "meal_price_p75", "meal_price_cv",
    "canteen_share", "supermarket_share", "cheap_meal_share", "breakfast_share", "meals_per_active_day",
    "active_days_share", "monthly_total_cv", "purchase_p95", "n_categories", "bathhouse_per_month",
    "weekend_meal_share", "other_per_month", "purchases_per_day",
    "meal_price_vs_peers", "canteen_vs_peers", "total_vs_peers", "supermarket_vs_peers",
]
BALANCE_FEATURES = ["balance_mean", "balance_p10", "low_balance_share"]


class NotFittedError(RuntimeError):
    """The detector was used before :meth:`PUDetector.fit`."""


# ----------------------------------------------------------------------------- features


def meals(card: pd.DataFrame, gap_minutes: float = 30.0) -> pd.DataFrame:
    """Canteen swipes of one student closer than ``gap_minutes`` merged into one meal.

    Returns DataFrame[student_id, ts, amount] (ts of the meal's first swipe, total amount).
    """
    c = card.loc[card["category"] == "canteen", ["student_id", "ts", "amount"]]
    c = c.sort_values(["student_id", "ts"], kind="stable")
    new = c["student_id"].ne(c["student_id"].shift()) | (c["ts"].diff() > pd.Timedelta(minutes=gap_minutes))
    mid = new.cumsum().to_numpy()
    g = c.groupby(mid, sort=False)
    return pd.DataFrame({"student_id": g["student_id"].first().to_numpy(), "ts": g["ts"].first().to_numpy(),
                         "amount": g["amount"].sum().to_numpy()})


def spending_features(card: pd.DataFrame, as_of: pd.Timestamp | str, cfg: HiddenAidConfig) -> pd.DataFrame:
    """Per-student spending features from purchases in ``[as_of - window_days, as_of)``.

    ``card`` has contract-v1 columns (student_id, ts, category, amount) and optionally
    ``balance``. Amounts in CNY; "per month" = per 30 days on which the student used the
    card at all (so vacations away do not read as thrift). Students with fewer than
    ``cfg.min_meals`` meals are left out. Peer features divide by the median of students in
    the same quantile bin of meals per active day.
    """
    as_of = pd.Timestamp(as_of)
    c = card.loc[(card["ts"] < as_of) & (card["ts"] >= as_of - pd.Timedelta(days=cfg.window_days))]
    c = c.loc[c["amount"] > 0]
    m = meals(c, cfg.meal_gap_minutes)
    n_meals = m.groupby("student_id").size()
    keep = n_meals.index[n_meals >= cfg.min_meals]
    c = c.loc[c["student_id"].isin(keep)]
    m = m.loc[m["student_id"].isin(keep)]
    if c.empty:
        return pd.DataFrame(columns=["student_id", *BASE_FEATURES])
    day = c["ts"].dt.normalize()
    active = day.groupby(c["student_id"]).nunique()
    months = active / 30.0
    by = c.groupby(["student_id", "category"])["amount"].sum().unstack(fill_value=0.0)
    total = by.sum(axis=1)
    col = lambda k: by[k] if k in by else pd.Series(0.0, index=by.index)  # noqa: E731
    f = pd.DataFrame(index=pd.Index(keep, name="student_id"))
    f["meals_per_month"] = n_meals.reindex(f.index) / months
    f["canteen_per_month"] = col("canteen") / months
    f["total_per_month"] = total / months
    f["supermarket_per_month"] = col("supermarket") / months
    f["bathhouse_per_month"] = col("bathhouse") / months
    f["other_per_month"] = (total - col("canteen") - col("supermarket")) / months
    g = m.groupby("student_id")["amount"]
    f["meal_price_mean"] = g.mean()
    f["meal_price_median"] = g.median()
    f["meal_price_p25"] = g.quantile(0.25)
    f["meal_price_p75"] = g.quantile(0.75)
    f["meal_price_cv"] = g.std() / g.mean()
    f["canteen_share"] = col("canteen") / total
    f["supermarket_share"] = col("supermarket") / total
    cheap = m["amount"].quantile(0.25)
    f["cheap_meal_share"] = (m["amount"] <= cheap).groupby(m["student_id"]).mean()
    hour = m["ts"].dt.hour + m["ts"].dt.minute / 60
    f["breakfast_share"] = (hour < 9.5).groupby(m["student_id"]).sum() / active
    f["weekend_meal_share"] = (m["ts"].dt.dayofweek >= 5).groupby(m["student_id"]).mean()
    f["meals_per_active_day"] = n_meals.reindex(f.index) / active
    span = max(1.0, float((c["ts"].max() - c["ts"].min()) / pd.Timedelta(days=1)))
    f["active_days_share"] = active / span
    month = c["ts"].dt.to_period("M")
    per_month = c.groupby([c["student_id"], month])["amount"].sum()
    f["monthly_total_cv"] = per_month.groupby(level=0).std() / per_month.groupby(level=0).mean()
    f["purchase_p95"] = c.groupby("student_id")["amount"].quantile(0.95)
    f["n_categories"] = c.groupby("student_id")["category"].nunique()
    f["purchases_per_day"] = c.groupby("student_id").size() / active
    if "balance" in c.columns:
        b = c.groupby("student_id")["balance"]
        f["balance_mean"] = b.mean()
        f["balance_p10"] = b.quantile(0.10)
        f["low_balance_share"] = (c["balance"] < 5.0).groupby(c["student_id"]).mean()
    f = f.replace([np.inf, -np.inf], np.nan)
    # peers: students with a similar number of meals per active day
    bins = min(cfg.peer_bins, max(1, len(f) // 5))
    peer = (pd.qcut(f["meals_per_active_day"], bins, labels=False, duplicates="drop").fillna(-1)
            if bins > 1 else 0)
    f["peer_bin"] = peer
    for feat, name in (("meal_price_mean", "meal_price_vs_peers"), ("canteen_per_month", "canteen_vs_peers"),
                       ("total_per_month", "total_vs_peers"), ("supermarket_per_month", "supermarket_vs_peers")):
        med = f.groupby("peer_bin")[feat].transform("median")
        f[name] = f[feat] / med.replace(0, np.nan)
    return f.reset_index()


def feature_columns(features: pd.DataFrame) -> list[str]:
    """The detector's feature columns present in ``features``."""
    return [c for c in [*BASE_FEATURES, *BALANCE_FEATURES] if c in features.columns]


# ----------------------------------------------------------------------------- rules


def threshold_rule(features: pd.DataFrame, cfg: HiddenAidConfig) -> pd.Series:
    """The published rule as a 0/1 flag: more than ``threshold_meals_per_month`` canteen meals
    and less than ``threshold_spend_per_month`` CNY of canteen spending a month."""
    meets = (features["meals_per_month"] > cfg.threshold_meals_per_month) & (
        features["canteen_per_month"] < cfg.threshold_spend_per_month)
    return meets.astype(float).rename("threshold_rule")


def peer_rule(features: pd.DataFrame, cfg: HiddenAidConfig) -> pd.Series:
    """Peer rule score: how far the meal price falls below peers with as many meals (1 - ratio)."""
    return (1 - features["meal_price_vs_peers"]).fillna(0.0).rename("peer_rule")


def peer_rule_flag(features: pd.DataFrame, cfg: HiddenAidConfig) -> pd.Series:
    """Peer rule flag: meal price below ``peer_ratio`` of the median of peers with as many meals."""
    return features["meal_price_vs_peers"] < cfg.peer_ratio


# ----------------------------------------------------------------------------- PU detector


class PUDetector:
    """Bagged positive-unlabelled LightGBM over spending features.

    Parameters are stored untouched; ``fit(X, s)`` learns ``models_`` and ``oob_score_`` (the
    out-of-bag score of every training row: unlabelled rows are scored only by bags that did
    not draw them). ``predict_score(X)`` averages all bags; its scale is a ranking score, not
    a calibrated probability.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"a": rng.normal(size=200)}); s = (X["a"] > 1).to_numpy()
    >>> det = PUDetector(n_bags=3).fit(X, s)
    >>> det.predict_score(X).shape
    (200,)
    """

    def __init__(self, n_bags: int = 25, unlabelled_ratio: float = 1.0, seed: int = 0,
                 n_estimators: int = 150, learning_rate: float = 0.05, num_leaves: int = 15):
        self.n_bags = n_bags
        self.unlabelled_ratio = unlabelled_ratio
        self.seed = seed
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves

    def _model(self, seed: int, n_rows: int) -> Any:
        import lightgbm as lgb

        return lgb.LGBMClassifier(n_estimators=self.n_estimators, learning_rate=self.learning_rate,
                                  num_leaves=self.num_leaves, min_child_samples=max(2, min(10, n_rows // 20)),
                                  min_data_in_bin=1, subsample=0.8,
                                  subsample_freq=1, colsample_bytree=0.8, reg_lambda=1.0,
                                  random_state=seed, verbose=-1, n_jobs=1)

    def fit(self, X: pd.DataFrame, s: np.ndarray | pd.Series) -> PUDetector:
        """Fit on features ``X`` and labels ``s`` (True = known positive, False = unlabelled)."""
        s = np.asarray(s, dtype=bool)
        if len(s) != len(X):
            raise ValueError(f"X has {len(X)} rows but s has {len(s)} labels")
        pos, unl = np.flatnonzero(s), np.flatnonzero(~s)
        if len(pos) < 2 or len(unl) < 2:
            raise ValueError(f"PU learning needs >= 2 positives and >= 2 unlabelled rows; got {len(pos)}, {len(unl)}")
        rng = np.random.default_rng(self.seed)
        k = min(len(unl), max(2, int(round(self.unlabelled_ratio * len(pos)))))
        self.feature_names_in_ = list(X.columns)
        self.models_ = []
        oob_sum = np.zeros(len(X))
        oob_n = np.zeros(len(X))
        Xv = X.to_numpy(dtype=float)
        for b in range(self.n_bags):
            draw = rng.choice(unl, size=k, replace=False)
            idx = np.concatenate([pos, draw])
            y = np.concatenate([np.ones(len(pos)), np.zeros(k)])
            model = self._model(self.seed + b, len(idx)).fit(pd.DataFrame(Xv[idx], columns=self.feature_names_in_), y)
            self.models_.append(model)
            out = np.setdiff1d(unl, draw)
            if len(out):
                oob_sum[out] += model.predict_proba(pd.DataFrame(Xv[out], columns=self.feature_names_in_))[:, 1]
                oob_n[out] += 1
        full = self.predict_score(X)
        self.oob_score_ = np.where(oob_n > 0, oob_sum / np.maximum(oob_n, 1), full)
        return self

    def predict_score(self, X: pd.DataFrame) -> np.ndarray:
        """Mean positive-class score over the bags (higher = more like the aided students)."""
        if not hasattr(self, "models_"):
            raise NotFittedError("this PUDetector is not fitted yet; call fit(X, s) first")
        if list(X.columns) != self.feature_names_in_:
            raise ValueError(f"feature names differ from those seen at fit: expected {self.feature_names_in_}")
        Xv = pd.DataFrame(X.to_numpy(dtype=float), columns=self.feature_names_in_)
        return np.mean([m.predict_proba(Xv)[:, 1] for m in self.models_], axis=0)


# ----------------------------------------------------------------------------- candidates


_REASONS = [
    # feature, peer-ratio feature, direction (-1: lower is a sign), en, zh, unit
    ("meal_price_mean", "meal_price_vs_peers", -1, "average meal price", "平均每餐消费", "CNY"),
    ("canteen_per_month", "canteen_vs_peers", -1, "canteen spending per month", "每月食堂消费", "CNY"),
    ("total_per_month", "total_vs_peers", -1, "total spending per month", "每月总消费", "CNY"),
    ("supermarket_per_month", "supermarket_vs_peers", -1, "supermarket spending per month", "每月超市消费", "CNY"),
]


def _reasons(row: pd.Series, peers: pd.DataFrame) -> tuple[str, str, dict[str, float]]:
    en, zh, det = [], [], {}
    items = []
    for feat, ratio, _dir, e, z, unit in _REASONS:
        r = row.get(ratio)
        if r is None or pd.isna(r) or r >= 0.9:
            continue
        items.append((r, feat, e, z, unit))
    items.sort()
    for r, feat, e, z, unit in items[:3]:
        med = float(row[feat] / r) if r else float("nan")
        en.append(f"{e} {row[feat]:.1f} {unit}, {100 * (1 - r):.0f}% below peers who eat as often (median {med:.1f})")
        zh.append(f"{z}{row[feat]:.1f}元,比就餐次数相近的同学低{100 * (1 - r):.0f}%(中位数{med:.1f}元)")
        det[feat] = float(row[feat])
        det[feat + "_peer_median"] = med
    en.append(f"{row['meals_per_month']:.0f} canteen meals a month; canteen share {100 * row['canteen_share']:.0f}%")
    zh.append(f"每月食堂就餐{row['meals_per_month']:.0f}次,食堂消费占比{100 * row['canteen_share']:.0f}%")
    return "; ".join(en) + ".", ";".join(zh) + "。", det


def roster_ids(tables: Any, as_of: pd.Timestamp | str) -> set[str]:
    """Students on the aid roster of an academic year that started before ``as_of``."""
    aid = table(tables, "aid_roster")
    if aid is None or aid.empty:
        return set()
    first_year = aid["academic_year"].str.slice(0, 4).astype(int)
    started = pd.to_datetime(first_year.astype(str) + "-09-01") < pd.Timestamp(as_of)
    return set(aid.loc[started, "student_id"])


def hidden_aid(tables: Any, as_of: pd.Timestamp | str, cfg: HiddenAidConfig | None = None
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score every student from spending and list hidden-aid candidates with reasons.

    Returns ``(candidates, scores)``: candidates in the common alert shape (top
    ``cfg.n_candidates`` by detector score among students neither on the roster nor registered
    in hardship who eat in the canteen at least ``cfg.candidate_min_meals_per_month`` times a
    month, since the card says little about those who eat elsewhere), and scores = DataFrame[student_id, pu_score, threshold_rule, peer_rule,
    on_roster, registered_hardship, *features] for all scored students.
    """
    cfg = cfg or HiddenAidConfig()
    as_of = pd.Timestamp(as_of)
    students = require(tables, "students", "hidden aid")
    card = require(tables, "card_transactions", "hidden aid")
    feats = spending_features(card, as_of, cfg)
    feats = feats.loc[feats["student_id"].isin(set(students["student_id"]))].reset_index(drop=True)
    roster = roster_ids(tables, as_of)
    # econ_hardship is nullable (contract v1.1: unknown when the source lacks it): only a known True counts
    reg = set(students.loc[students["econ_hardship"].eq(True).fillna(False).to_numpy(dtype=bool), "student_id"])
    feats["on_roster"] = feats["student_id"].isin(roster)
    feats["registered_hardship"] = feats["student_id"].isin(reg)
    cols = feature_columns(feats)
    feats["threshold_rule"] = threshold_rule(feats, cfg)
    feats["peer_rule"] = peer_rule(feats, cfg)
    s = feats["on_roster"].to_numpy()
    if s.sum() >= 2 and (~s).sum() >= 2:
        det = PUDetector(n_bags=cfg.n_bags, unlabelled_ratio=cfg.bag_unlabelled_ratio, seed=cfg.seed)
        det.fit(feats[cols], s)
        feats["pu_score"] = det.oob_score_
        model = "pu_lightgbm"
    else:  # no roster to learn from: fall back on the peer rule
        feats["pu_score"] = feats["peer_rule"].rank(pct=True)
        model = "peer_rule"
    pool = feats.loc[~feats["on_roster"] & ~feats["registered_hardship"]
                     & (feats["meals_per_month"] >= cfg.candidate_min_meals_per_month)]
    top = pool.sort_values("pu_score", ascending=False).head(cfg.n_candidates)
    rows = []
    for _, r in top.iterrows():
        en, zh, det_d = _reasons(r, feats)
        flags = []
        if r["threshold_rule"] >= 1:
            flags.append("meets the threshold rule")
        if r["meal_price_vs_peers"] < cfg.peer_ratio:
            flags.append("meets the peer rule")
        if flags:
            en = en[:-1] + "; " + " and ".join(flags) + "."
        rows.append({"student_id": r["student_id"], "alert": "hidden_aid", "as_of": as_of.date().isoformat(),
                     "level": 1, "since": None, "score": float(r["pu_score"]),
                     "reason_en": "Spending looks like that of students on the aid roster: " + en,
                     "reason_zh": "消费特征与受助学生相似:" + zh,
                     "details": as_details({**det_d, "model": model, "threshold_rule": float(r["threshold_rule"]),
                                            "peer_rule": float(r["peer_rule"])})})
    cand = pd.DataFrame(rows, columns=ALERT_COLUMNS)
    out_cols = ["student_id", "pu_score", "threshold_rule", "peer_rule", "on_roster", "registered_hardship", *cols]
    return cand, feats[out_cols]
