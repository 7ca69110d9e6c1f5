"""Render one of each report in headless Chromium: title shown, charts decoded, no broken image.

Needs Debian's ``chromium`` (``.ci/run`` installs it). A missing browser FAILS this test on
purpose: the render check is part of ``make test``. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from riskmodel.reports import (
    MonthlyConfig,
    ReportScope,
    WeeklyConfig,
    monthly_report,
    render_model_card,
    student_file,
    weekly_check,
)
from test_reports import alerts, card_info, daily, history, roster, scores

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]
HARNESS = """<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var out = document.createElement("pre"); out.id = "render-check";
  out.textContent = JSON.stringify({title: document.title,
    h1: (document.getElementById("report-title") || {}).textContent || "",
    images: imgs.length, svgs: document.querySelectorAll("svg").length,
    broken: imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; }).length,
    widths: imgs.map(function (i) { return i.naturalWidth; })});
  document.body.appendChild(out);
});
</script>"""


def _browser() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package "
                    "(apt-get install -y chromium fonts-noto-cjk); .ci/run does this in CI")
    return CHROMIUM


def _run(args: list[str], user_dir: Path) -> str:
    proc = subprocess.run([_browser(), *FLAGS, f"--user-data-dir={user_dir}", *args],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}"
    return proc.stdout


def _pages() -> dict[str, tuple[str, str, int]]:
    """name -> (html, expected title, expected chart count)."""
    ev = pd.DataFrame({"student_id": ["p010"], "occurred_on": pd.to_datetime(["2024-03-01"])})
    weekly = weekly_check(scores("2024-03-11", {"p000", "p002"}), previous=scores("2024-03-04", {"p002"}),
                          alerts=alerts(), scope=ReportScope("college", college="CS"))
    monthly = monthly_report(history(), month="2024-03", events=ev, cfg=MonthlyConfig(min_group_size=5))
    student = student_file("p000", as_of="2024-03-30", roster=roster(), daily=daily(), history=history(),
                           alerts=alerts(), channels={"late_return": "晚归", "meals": "就餐"})
    _, card = render_model_card(card_info(), "en")
    weekly_en = weekly_check(scores("2024-03-11", {"p000"}), cfg=WeeklyConfig(lang="en"))
    return {"weekly": (weekly, "心理危机风险周查", 1), "monthly": (monthly, "心理危机风险月报", 3),
            "student": (student, "一人一档 · p000", 2), "model_card": (card, "Model card · crisis-warning v3", 1),
            "weekly_en": (weekly_en, "Weekly check of crisis risk", 1)}


def test_reports_render_in_headless_chromium(tmp_path):
    _browser()
    ARTIFACTS.mkdir(exist_ok=True)
    user_dir = tmp_path / "chromium-profile"
    for name, (html, title, n_charts) in _pages().items():
        page = tmp_path / f"{name}.html"
        page.write_text(html, encoding="utf-8")
        probe = tmp_path / f"{name}.probe.html"
        probe.write_text(html.replace("</body>", HARNESS + "</body>"), encoding="utf-8")
        dom = _run(["--virtual-time-budget=5000", "--dump-dom", probe.as_uri()], user_dir)
        m = re.search(r'<pre id="render-check">(.*?)</pre>', dom, re.S)
        assert m, f"{name}: the check script did not run; DOM starts {dom[:300]!r}"
        check = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
        assert check["title"] == title and check["h1"] == title, check
        assert check["images"] + check["svgs"] >= n_charts, (name, check)
        assert check["broken"] == 0 and all(w > 100 for w in check["widths"]), (name, check)
        shot = ARTIFACTS / f"report_{name}.png"
        shot.unlink(missing_ok=True)
        _run(["--window-size=1200,1600", f"--screenshot={shot}", page.as_uri()], user_dir)
        assert shot.exists() and shot.stat().st_size > 20_000, f"{name}: no usable screenshot at {shot}"
    shutil.rmtree(user_dir, ignore_errors=True)
