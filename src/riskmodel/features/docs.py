"""Generate the feature reference (``docs/features.md``) from the registry.

``python -m riskmodel.features.docs`` writes it; ``--check`` exits 1 when the file is out of
date (a test runs the same check).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from riskmodel.features.registry import DAILY_CHANNELS, FAMILIES, FEATURES, REGISTRY_VERSION

DEFAULT_PATH = Path("docs/features.md")

_HEADER = """# Feature reference

Generated from the feature registry (`riskmodel.features.registry`, version {version}) by
`python -m riskmodel.features.docs`; do not edit by hand. {n_features} features, {n_channels} daily channels.

## Rules

- **As-of rule** (`riskmodel.features.asof`): a record counts for as-of date t (midnight at the
  start of day t) only if its event time is before t. Grades count from `published_on`, census
  from `assessed_on`, leave records from `start_ts`. A daily row d is used at t only if d < t.
- **Day and night**: day channels of day d use events of [d 00:00, d+1 00:00); night channels of
  day d use the night that ends on the morning of d, [d-1 12:00, d 12:00). The night from t-1 to
  t is incomplete at t and is therefore never used (it is row t).
- **Observed**: a source is observed for a student on day d when the student has at least one
  event of it in the 28 days ending on d. Channels of an unobserved source are NaN, never 0; a
  window aggregate over days with no observed value is NaN.
- **Windows** end the day before the as-of date: `__14d` covers days t-14 .. t-1.
- **Missing sources**: an absent table removes its channels and features, with a warning naming them.
- **Concerning**: the direction in which a value is a reason for a counselor to reach out
  (`higher`, `lower`, `either`, `none`). A flag is an invitation to support, never a verdict.
- **Reason templates** fill `{{value}}` (the student's value), `{{usual}}` (the student's own
  earlier value) and `{{peer}}` (classmates or roommates).
"""


def _esc(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    """The whole reference as Markdown."""
    lines = [_HEADER.format(version=REGISTRY_VERSION, n_features=len(FEATURES), n_channels=len(DAILY_CHANNELS))]
    lines += ["## Daily channels", "", "| channel | source | family | timing | unit | 说明 | meaning |",
              "|---|---|---|---|---|---|---|"]
    for c in DAILY_CHANNELS:
        lines.append(f"| `{c.name}` | {c.source} | {c.family} | {c.timing} | {_esc(c.unit)} | "
                     f"{_esc(c.description_zh)} | {_esc(c.description_en)} |")
    lines.append("")
    for fam in FAMILIES:
        feats = [f for f in FEATURES if f.family == fam]
        if not feats:
            continue
        lines += [f"## Family: {fam}", "",
                  "| feature | source | window | unit | concerning | 说明 | meaning | reason (zh / en) |",
                  "|---|---|---|---|---|---|---|---|"]
        for f in feats:
            win = f"{f.window_days} d" if f.window_days else "-"
            lines.append(f"| `{f.name}` | {f.source} | {win} | {_esc(f.unit)} | {f.concerning} | "
                         f"{_esc(f.description_zh)} | {_esc(f.description_en)} | "
                         f"{_esc(f.reason_zh)} / {_esc(f.reason_en)} |")
        lines.append("")
    return "\n".join(lines)


def write(path: Path = DEFAULT_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    return path


def is_up_to_date(path: Path = DEFAULT_PATH) -> bool:
    return path.exists() and path.read_text(encoding="utf-8") == render()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    p.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    args = p.parse_args(argv)
    if args.check:
        ok = is_up_to_date(args.path)
        print(f"{args.path}: {'up to date' if ok else 'OUT OF DATE (run python -m riskmodel.features.docs)'}")
        return 0 if ok else 1
    print(f"wrote {write(args.path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
