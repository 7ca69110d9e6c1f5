# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. Explore a simulated campus
#
# The embedded default data: a synthetic campus written exactly as an information center would
# export it (contract v1), then validated and pseudonymised by `riskmodel.contracts`. We look at
# the sources, the daily behaviour table and one student's month.
#
# Size and working folder come from the environment so the test suite can run this notebook on
# a tiny campus: `RISKMODEL_NB_STUDENTS`, `RISKMODEL_NB_DAYS`, `RISKMODEL_NB_WORKDIR`.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from riskmodel.contracts import generate_key_file, load_sources
from riskmodel.features import DAILY_CHANNELS, build_daily
from riskmodel.simulate import SimConfig, simulate_to_folder

STUDENTS = int(os.environ.get("RISKMODEL_NB_STUDENTS", "1000"))
DAYS = int(os.environ.get("RISKMODEL_NB_DAYS", "240"))
WORKDIR = Path(os.environ.get("RISKMODEL_NB_WORKDIR", "../.riskmodel/notebooks")).resolve()
WORKDIR.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Simulate and validate
# The key stays in the git-ignored `.riskmodel/` folder; ids in every table below are pseudonyms.

# %%
campus = WORKDIR / f"campus-{STUDENTS}x{DAYS}"
if not (campus / "students.parquet").exists():
    print(simulate_to_folder(SimConfig(students=STUDENTS, start="2023-09-01", days=DAYS, seed=2023), campus))
key_file = generate_key_file(WORKDIR / "pseudonym.key")
loaded = load_sources(campus, key_file=key_file)
loaded.report.to_frame()

# %% [markdown]
# ## The sources

# %%
students = loaded.tables["students"]
print({name: len(frame) for name, frame in loaded.tables.items()})
students.groupby(["college", "degree_level"]).size().unstack(fill_value=0)

# %%
card = loaded.tables["card_transactions"]
card.groupby("category")["amount"].describe()

# %% [markdown]
# ## Daily behaviour
# One row per student and day; a day without records is an explicit row (NaN where a source
# saw nothing).

# %%
daily = build_daily(loaded)
channels = {c.name: c.label_en for c in DAILY_CHANNELS if c.name in daily.columns}
daily[list(channels)[:12]].describe().T  # noqa: B018

# %% [markdown]
# ## One student's month
# The student with the most nights away, over the last 30 days of the data.

# %%
sid = daily.groupby("student_id")["door_away_night"].sum().idxmax()
month = daily[(daily["student_id"] == sid) & (daily["date"] > daily["date"].max() - pd.Timedelta(days=30))]
shown = [c for c in ("door_return_min", "door_away_night", "card_meals", "card_total_spend", "network_late_min")
         if c in month.columns]
axes = month.set_index("date")[shown].rename(columns=channels).plot(subplots=True, figsize=(8, 7), marker=".")
plt.suptitle(f"student {sid} (pseudonym): last 30 days")
plt.tight_layout()
