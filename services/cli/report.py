"""``ser report compare A/report.json B/report.json ... [--out table.md]``: one comparison table."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from shared.experiments.comparison import comparison_markdown, comparison_rows, load_reports
from shared.settings import Settings


def run_report(args: argparse.Namespace, settings: Settings) -> int:
    reports = load_reports(args.reports)
    table = comparison_markdown(reports)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(table)
        if args.json:
            Path(args.json).write_text(json.dumps(comparison_rows(reports), indent=2, default=str))
        print(f"wrote {out}")
    else:
        print(table)
    return 0
