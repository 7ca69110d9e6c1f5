"""Quickstart: score a week with the champion model, explain one flag, draw its radar.

Run ``make demo`` first (it simulates the demo campus, trains and registers a champion).
Every path below is the demo's default; the environment variables only let a test point
the same lines at a tiny model.
"""

import os

from riskmodel.contracts import resolve_key
from riskmodel.scoping import load_access_config
from riskmodel.scoring import Scorer

data = os.environ.get("RISKMODEL_DATA", ".riskmodel/demo/data")  # the demo campus
as_of = os.environ.get("RISKMODEL_AS_OF", "2024-06-03")  # a Monday: the weekly check
key = resolve_key(key_file=os.environ.get("RISKMODEL_PSEUDONYM_KEY_FILE", ".riskmodel/pseudonym.key"))
access = load_access_config(os.environ.get("RISKMODEL_ACCESS", "conf/alerts/access.yaml"))

# 1. load the champion from the MLflow registry (the project's local store by default)
scorer = Scorer.from_registry("crisis-warning", alias="champion", access=access)

# 2. featurise the week once, then score one college as the counselling center
week = scorer.prepare(data, as_of, key=key)
flags = scorer.score(week, as_of, scope="college=CS", capacity=0.05, caller="counselling-center")
print(flags.head(10)[["student_id", "class_id", "probability", "rank", "band", "reasons_en"]])

# 3. explain the top flag: probability, reasons in Chinese and English
top = flags.loc[flags.band == "flag", "student_id"].iloc[0]
one = scorer.explain(top, as_of, data=week, caller="counselling-center")
print(f"{top}: probability {one.probability:.3f}")
for r in one.reasons:
    print(" -", r.text_zh, "/", r.text_en)

# 4. its risk radar over the behaviour families (PNG or SVG)
one.radar("radar.png")
