"""One comparison table over many reports (deep models and baselines alike): per model WA, UAR,
macro-F1 per test corpus (or test language), parameters and run time.

Reports go into three sections that are never mixed, because their numbers answer different
questions:
- zero-shot cross-corpus: no test corpus appears in training;
- within-corpus: speaker-independent, but other speakers of the test corpus are in training;
- fine-tune: pretrained on source corpora, then fine-tuned on the target's training folds
  (the split says ``sees_target_labels``).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shared.errors import SpecError
from shared.evaluation.metrics import SUMMARY_METRICS, AggregateMetrics
from shared.evaluation.reports import METRIC_TITLES, Report

SECTIONS: dict[str, str] = {
    "zero_shot": "Zero-shot cross-corpus (the test corpora are unseen in training)",
    "within_corpus": "Within-corpus, speaker-independent (other speakers of the test corpus are in training)",
    "fine_tune": "Pretrain on source corpora, then fine-tune on the target (sees target labels; not zero-shot)",
}


def section_of(report: Report) -> str:
    if report.sees_target_labels:
        return "fine_tune"
    for fold in report.folds:
        train = set((fold.split.get("train") or {}).get("per_corpus", {}))
        if train & set(fold.split["test"]["per_corpus"]):
            return "within_corpus"
    return "zero_shot"


def load_reports(paths: Sequence[str | Path]) -> list[Report]:
    """Reports from report.json files (or folders holding one)."""
    reports = []
    for p in paths:
        path = Path(p)
        path = path / "report.json" if path.is_dir() else path
        if not path.is_file():
            raise SpecError(f"no report at {path}")
        reports.append(Report.load_json(path))
    if not reports:
        raise SpecError("give at least one report.json")
    return reports


def _cell(agg: AggregateMetrics | None, metric: str) -> str:
    if agg is None:
        return "-"
    s = agg.summary[metric]
    return f"{100 * s.mean:.1f}" if s.n == 1 else f"{100 * s.mean:.1f} ± {100 * s.std:.1f}"


def comparison_rows(reports: Sequence[Report]) -> list[dict[str, Any]]:
    """Machine-readable rows (fractions, not percent) in the table's order."""
    rows = []
    for r in reports:
        by_test = r.by_test_key()
        rows.append({
            "model": r.model, "title": r.title, "protocol": r.protocol, "section": section_of(r), "params": r.params,
            "seconds": r.metadata.get("seconds"), "sees_target_labels": r.sees_target_labels,
            "by_test": {k: {m: round(getattr(a.pooled, m), 4) for m in SUMMARY_METRICS} | {"folds": a.folds}
                        for k, a in by_test.items()},
        })
    return rows


def comparison_markdown(reports: Sequence[Report], *, seconds: bool = True) -> str:
    """Markdown with one table per section; columns: model, protocol, parameters, then WA / UAR /
    macro-F1 per test key (mean ± std over splits when there are several), then run time."""
    if not reports:
        raise SpecError("comparison needs at least one report")
    out = []
    for section, heading in SECTIONS.items():
        group = [r for r in reports if section_of(r) == section]
        if not group:
            continue
        tests = sorted({k for r in group for k in r.by_test_key()})
        head = ["model", "protocol", "params"] + [f"{t} {METRIC_TITLES[m]}" for t in tests for m in SUMMARY_METRICS]
        head += ["time (s)"] if seconds else []
        lines = [f"### {heading}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in group:
            by_test = r.by_test_key()
            cells = [r.model, r.protocol, f"{r.params:,}" if r.params else "-"]
            cells += [_cell(by_test.get(t), m) for t in tests for m in SUMMARY_METRICS]
            if seconds:
                s = r.metadata.get("seconds")
                cells.append("-" if s is None else f"{float(s):.0f}")
            lines.append("| " + " | ".join(cells) + " |")
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n\nPercent; mean ± sample std over splits where a test key has several.\n"
