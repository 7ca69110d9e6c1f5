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
# # 2. Train and compare models with the job's own config
#
# The same Hydra config a training job uses (`conf/train.yaml`), composed here with the compose
# API and shrunk by overrides; then the runs are read back from MLflow.

# %%
import os
from pathlib import Path

import mlflow
import pandas as pd
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import riskmodel
from riskmodel.train import comparison_markdown, config_from_hydra, run_training

STUDENTS = int(os.environ.get("RISKMODEL_NB_STUDENTS", "1000"))
DAYS = int(os.environ.get("RISKMODEL_NB_DAYS", "365"))
MODELS = os.environ.get("RISKMODEL_NB_MODELS", "[census,logreg,lgbm]")
WORKDIR = Path(os.environ.get("RISKMODEL_NB_WORKDIR", "../.riskmodel/notebooks")).resolve()
CONF = Path(riskmodel.__file__).resolve().parents[2] / "conf"

# %%
overrides = [f"data.sim.students={STUDENTS}", f"data.sim.days={DAYS}", f"model={MODELS}",
             "eval.min_group_size=50", "eval.min_group_positives=2", f"project_root={WORKDIR}"]
overrides += ["model.lgbm.params.n_estimators=60"] if "lgbm" in MODELS else []
with initialize_config_dir(config_dir=str(CONF), version_base=None):
    cfg = compose("train", overrides=overrides)
print(OmegaConf.to_yaml(cfg, resolve=True)[:1500])

# %%
result = run_training(config_from_hydra(cfg))
result.comparison  # noqa: B018

# %%
print(comparison_markdown(result))

# %% [markdown]
# ## Read the runs back from MLflow
# `mlflow ui --backend-store-uri <tracking uri>` shows the same runs in a browser.

# %%
client = mlflow.MlflowClient(tracking_uri=result.tracking_uri)
experiment = client.get_experiment_by_name(cfg.tracking.experiment_name)
runs = client.search_runs([experiment.experiment_id], filter_string=f"tags.training_id = '{result.training_id}'")
pd.DataFrame([{"run_id": r.info.run_id, "model": r.data.tags.get("model_family", r.info.run_name),
               **{k: v for k, v in r.data.metrics.items() if k in ("test_auroc", "test_auprc", "test_brier")}}
              for r in runs])

# %%
print(result.tracking_uri)
[(v.name, v.version, v.aliases) for v in client.search_model_versions(f"name = '{cfg.tracking.registered_model_name}'")]
