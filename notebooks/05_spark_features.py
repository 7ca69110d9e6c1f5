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
# # 5. The feature build on Spark (local mode), compared with DuckDB
#
# Features are Ibis expressions: the same code runs in-process on DuckDB (the default) and on
# Apache Spark when one machine is not enough. Here Spark runs in local mode on this machine;
# point `FeatureConfig.spark_master` at a cluster to scale out.

# %%
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel.contracts import generate_key_file, load_sources
from riskmodel.features import FeatureConfig, build_daily, build_features, weekly_as_of_dates
from riskmodel.simulate import SimConfig, simulate_to_folder

STUDENTS = int(os.environ.get("RISKMODEL_NB_STUDENTS", "300"))
DAYS = int(os.environ.get("RISKMODEL_NB_DAYS", "160"))
N_DATES = int(os.environ.get("RISKMODEL_NB_SPARK_DATES", "2"))  # 0: compare the daily table only
WORKDIR = Path(os.environ.get("RISKMODEL_NB_WORKDIR", "../.riskmodel/notebooks")).resolve()
# Tiny data: whole-stage code generation and shuffles cost more than they save.
TINY_SPARK = (("spark.sql.codegen.wholeStage", "false"), ("spark.sql.shuffle.partitions", "1"),
              ("spark.sql.adaptive.enabled", "false"), ("spark.default.parallelism", "1"))
duck_cfg = FeatureConfig(engine="duckdb")
spark_cfg = FeatureConfig(engine="spark", spark_master="local[1]", spark_conf=TINY_SPARK)

# %%
campus = WORKDIR / f"campus-{STUDENTS}x{DAYS}"
if not (campus / "students.parquet").exists():
    simulate_to_folder(SimConfig(students=STUDENTS, start="2023-09-01", days=DAYS, seed=2023), campus)
loaded = load_sources(campus, key_file=generate_key_file(WORKDIR / "pseudonym.key"))
print(f"{len(loaded.tables['students'])} students, {DAYS} days")

# %% [markdown]
# ## The daily behaviour table on both engines

# %%
t0 = time.perf_counter()
daily_duck = build_daily(loaded, duck_cfg)
t_duck = time.perf_counter() - t0
t0 = time.perf_counter()
daily_spark = build_daily(loaded, spark_cfg)
t_spark = time.perf_counter() - t0
print(f"DuckDB {t_duck:.1f} s, Spark (local, incl. start-up) {t_spark:.1f} s; {daily_duck.shape}")

# %% [markdown]
# Same rows, same columns, same values (up to floating-point summation order):

# %%
keys = ["student_id", "date"]
a = daily_duck.sort_values(keys).reset_index(drop=True)
b = daily_spark.sort_values(keys).reset_index(drop=True)[a.columns]
num = [c for c in a.columns if c not in keys and a[c].dtype.kind == "f"]
diff = (a[num] - b[num]).abs().max()
print(f"rows {len(a)} vs {len(b)}; same columns: {sorted(a.columns) == sorted(daily_spark.columns)}; "
      f"same ids and days: {a[keys].equals(b[keys])}")
print(f"largest absolute difference {np.nanmax(diff.to_numpy(), initial=0):.2e}; NaN pattern equal: "
      f"{bool((a[num].isna() == b[num].isna()).all().all())}")
diff.sort_values(ascending=False).head(5)

# %% [markdown]
# ## Window features at a few as-of dates, on Spark from the Spark daily table

# %%
start = pd.Timestamp("2023-09-01")
dates = weekly_as_of_dates(start + pd.Timedelta(days=28), start + pd.Timedelta(days=DAYS - 1))[-N_DATES:] if N_DATES else []
if dates:
    feats_duck = build_features(loaded, dates, duck_cfg, daily=daily_duck)
    feats_spark = build_features(loaded, dates, spark_cfg, daily=daily_spark)
    keys = ["student_id", "as_of"]
    fa = feats_duck.sort_values(keys).reset_index(drop=True)
    fb = feats_spark.sort_values(keys).reset_index(drop=True)[fa.columns]
    fnum = [c for c in fa.columns if c not in keys]
    print(f"{len(fnum)} features at {[d.date() for d in dates]}; largest absolute difference "
          f"{np.nanmax((fa[fnum] - fb[fnum]).abs().to_numpy(), initial=0):.2e}")
