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
# # 3. Explain a flag: waterfall, reasons, radar
#
# Train a gradient-boosted model on a simulated campus (the job's config, MLflow off), score one
# week through the same `Scorer` the information center imports (scoped and audited), and
# explain the top flag.

# %%
import os
from pathlib import Path

import pandas as pd
from hydra import compose, initialize_config_dir

import riskmodel
from riskmodel.contracts import generate_key_file
from riskmodel.features import FeatureConfig
from riskmodel.scoping import AccessConfig, CallerEntry, read_audit_log
from riskmodel.scoring.scorer import Scorer
from riskmodel.simulate import SimConfig, simulate_to_folder
from riskmodel.train import config_from_hydra, run_training

STUDENTS = int(os.environ.get("RISKMODEL_NB_STUDENTS", "1000"))
DAYS = int(os.environ.get("RISKMODEL_NB_DAYS", "365"))
WORKDIR = Path(os.environ.get("RISKMODEL_NB_WORKDIR", "../.riskmodel/notebooks")).resolve()
CONF = Path(riskmodel.__file__).resolve().parents[2] / "conf"

# %%
campus = WORKDIR / f"campus-{STUDENTS}x{DAYS}"
if not (campus / "students.parquet").exists():
    simulate_to_folder(SimConfig(students=STUDENTS, start="2023-09-01", days=DAYS, seed=2023), campus)
key_file = generate_key_file(WORKDIR / "pseudonym.key")
with initialize_config_dir(config_dir=str(CONF), version_base=None):
    cfg = compose("train", overrides=["data=folder", f"data.folder={campus}", f"data.key_file={key_file}",
                                      "model=lgbm", "model.lgbm.params.n_estimators=60", "tracking.enabled=false",
                                      "eval.min_group_size=50", "eval.min_group_positives=2",
                                      f"project_root={WORKDIR}"])
tcfg = config_from_hydra(cfg)
result = run_training(tcfg)
fitted = result.fitted["lgbm"]
result.comparison  # noqa: B018

# %% [markdown]
# ## Score the last week, as a counselling-center caller

# %%
access = AccessConfig(callers={"notebook": CallerEntry(role="counselling_center")},
                      audit_log=str(WORKDIR / "audit.jsonl"))
scorer = Scorer(fitted.model, name="crisis-warning", version="notebook",
                feature_config=FeatureConfig(**tcfg.features), access=access)
as_of = pd.Timestamp(fitted.test_scored["as_of"].max())
week = scorer.prepare(campus, as_of, key=key_file.read_bytes())  # featurise once, score and explain from it
flags = scorer.score(week, as_of, caller="notebook")
flags.head(10)[["student_id", "college", "grade", "class_id", "probability", "rank", "band", "reasons_en"]]

# %% [markdown]
# ## Why is the top student flagged?

# %%
top = flags.loc[flags["band"] == "flag", "student_id"].iloc[0]
one = scorer.explain(top, as_of, data=week, caller="notebook")
print(f"probability {one.probability:.3f}")
for r in one.reasons:
    print("-", r.text_zh, "/", r.text_en)

# %%
one.waterfall(lang="en")

# %%
one.radar(lang="en")

# %% [markdown]
# Every scoring and explanation call above is in the audit log (no student id in it):

# %%
pd.DataFrame(read_audit_log(WORKDIR / "audit.jsonl")).tail(3)
