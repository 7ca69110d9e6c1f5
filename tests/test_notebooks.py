"""Every notebook runs top to bottom on a tiny campus (nbclient, the venv's own kernel).

The jupytext ``.py`` files are the source of record; the ``.ipynb`` beside each must be the
same cells (regenerate with ``.venv/bin/jupytext --to ipynb notebooks/*.py``). Notebooks
import riskmodel and define no functions of their own. The kernel spec lives in a temporary
folder, so nothing is written to the user's home.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
KERNEL = "riskmodel-venv"
#: tiny-campus settings per notebook (environment of the kernel)
#: a fixed key: the held-out students (a keyed hash of the pseudonyms), and so every split part of
#: the tiny campus are the same on every machine
NB_KEY = "notebook-test-key-c-0123456789abcdef"  # every part of the tiny campus holds positives
TINY = {
    "01_explore_campus": {"RISKMODEL_NB_STUDENTS": "60", "RISKMODEL_NB_DAYS": "160"},
    "02_train_compare": {"RISKMODEL_NB_STUDENTS": "300", "RISKMODEL_NB_DAYS": "200",
                         "RISKMODEL_NB_MODELS": "[census,logreg]", "RISKMODEL_PSEUDONYM_KEY": NB_KEY},
    "03_explain_flag": {"RISKMODEL_NB_STUDENTS": "300", "RISKMODEL_NB_DAYS": "200"},
    "04_hidden_aid_real_card": {"RISKMODEL_SHARED_DIR": "/nonexistent-riskmodel-shared"},
    "05_spark_features": {"RISKMODEL_NB_STUDENTS": "30", "RISKMODEL_NB_DAYS": "160", "RISKMODEL_NB_SPARK_DATES": "0"},
}


def test_there_are_five_notebooks_each_paired():
    assert [p.stem[:2] for p in SOURCES] == ["01", "02", "03", "04", "05"]
    for py in SOURCES:
        ipynb = py.with_suffix(".ipynb")
        assert ipynb.exists(), f"{ipynb.name} missing: run .venv/bin/jupytext --to ipynb {py}"
        want = [(c.cell_type, c.source) for c in jupytext.read(py).cells]
        got = [(c.cell_type, c.source) for c in nbformat.read(ipynb, as_version=4).cells]
        assert got == want, f"{ipynb.name} is out of date: run .venv/bin/jupytext --to ipynb {py}"


@pytest.mark.parametrize("py", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_imports_riskmodel_and_defines_no_function(py):
    code = "\n".join(c.source for c in jupytext.read(py).cells if c.cell_type == "code")
    tree = ast.parse(code)
    defined = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
                                                       | ast.ClassDef)]
    assert not defined, f"{py.name} defines {[getattr(n, 'name', 'lambda') for n in defined]}: move it into riskmodel"
    mods = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | {
        n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert any(m == "riskmodel" or m.startswith("riskmodel.") for m in mods)


@pytest.fixture()
def kernel_env(tmp_path, monkeypatch):
    """A kernel spec for this interpreter in a temporary JUPYTER_PATH (nothing in $HOME)."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "riskmodel (.venv)", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    return tmp_path


@pytest.mark.slow
@pytest.mark.parametrize("py", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_runs_top_to_bottom(py, kernel_env, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("RISKMODEL_NB_WORKDIR", str(kernel_env / "work"))
    (kernel_env / "work").mkdir()
    (kernel_env / "work" / "pseudonym.key").write_text(NB_KEY + "\n", encoding="utf-8")  # 03 reads this file
    for k, v in TINY.get(py.stem, {}).items():
        monkeypatch.setenv(k, v)
    nb = jupytext.read(py)
    NotebookClient(nb, kernel_name=KERNEL, timeout=240, allow_errors=False,
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    if py.stem.startswith("04"):
        assert "stops here" in outputs
