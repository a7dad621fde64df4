"""Evaluation reports (JSON + Markdown + PNG) and the cross-model comparison table.

A ``Report`` holds one model's results under one protocol: per split, the split itself
(serialised: corpora, speakers, counts, a digest of the items) and its metrics. Results of a
protocol that sees target labels (pretrain then fine-tune) are never mixed with zero-shot ones:
a report refuses to hold both, and the comparison table puts them in separate sections.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shared.errors import SpecError
from shared.evaluation.metrics import SUMMARY_METRICS, AggregateMetrics, Metrics, aggregate
from shared.evaluation.plots import plot_confusion, plot_tsne
from shared.evaluation.protocols import Split

METRIC_TITLES = {"accuracy": "WA", "uar": "UAR", "macro_f1": "macro-F1"}


@dataclass(frozen=True)
class FoldResult:
    split: dict[str, Any] = field(hash=False)
    metrics: Metrics
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def of(cls, split: Split, metrics: Metrics, **extra: Any) -> FoldResult:
        return cls(split.to_dict(), metrics, extra)

    @property
    def name(self) -> str:
        return str(self.split["name"])

    @property
    def test_key(self) -> str:
        """Column key in comparisons: the test corpora (or the test language for LOLO)."""
        details = self.split.get("details") or {}
        if "test_language" in details:
            return f"lang:{details['test_language']}"
        return "+".join(sorted(self.split["test"]["per_corpus"]))

    def to_dict(self) -> dict[str, Any]:
        return {"split": self.split, "metrics": self.metrics.to_dict(), "extra": self.extra}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FoldResult:
        return cls(dict(d["split"]), Metrics.from_dict(d["metrics"]), dict(d.get("extra", {})))


@dataclass
class Report:
    title: str
    model: str
    protocol: str
    folds: list[FoldResult]
    params: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.folds:
            raise SpecError("a report needs at least one fold result")
        flags = {bool(f.split.get("sees_target_labels")) for f in self.folds}
        if len(flags) > 1:
            raise SpecError("a report cannot mix splits that see target labels with zero-shot splits")
        if len({f.metrics.classes for f in self.folds}) > 1:
            raise SpecError("all folds of a report must share one class list")

    @property
    def classes(self) -> tuple[str, ...]:
        return self.folds[0].metrics.classes

    @property
    def sees_target_labels(self) -> bool:
        return bool(self.folds[0].split.get("sees_target_labels"))

    def aggregate(self) -> AggregateMetrics:
        return aggregate([f.metrics for f in self.folds])

    def by_test_key(self) -> dict[str, AggregateMetrics]:
        groups: dict[str, list[Metrics]] = {}
        for f in self.folds:
            groups.setdefault(f.test_key, []).append(f.metrics)
        return {k: aggregate(v) for k, v in sorted(groups.items())}

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "model": self.model,
            "protocol": self.protocol,
            "params": self.params,
            "sees_target_labels": self.sees_target_labels,
            "classes": list(self.classes),
            "metadata": self.metadata,
            "aggregate": self.aggregate().to_dict(),
            "by_test": {k: a.to_dict() for k, a in self.by_test_key().items()},
            "folds": [f.to_dict() for f in self.folds],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Report:
        return cls(
            title=d["title"],
            model=d["model"],
            protocol=d["protocol"],
            folds=[FoldResult.from_dict(f) for f in d["folds"]],
            params=d.get("params"),
            metadata=dict(d.get("metadata", {})),
        )

    def save_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False, default=_json_default))
        return path

    @classmethod
    def load_json(cls, path: str | Path) -> Report:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def to_markdown(self) -> str:
        agg = self.aggregate()
        lines = [f"# {self.title}", ""]
        lines += [f"- model: `{self.model}`" + (f" ({self.params:,} parameters)" if self.params else "")]
        lines += [f"- protocol: `{self.protocol}`"]
        if self.sees_target_labels:
            lines += ["- **sees target labels** (fine-tuned on the target): not comparable to zero-shot results"]
        lines += [f"- classes: {', '.join(self.classes)}"]
        lines += [f"- {k}: {v}" for k, v in self.metadata.items()]
        lines += ["", "## Summary", ""]
        lines += [
            "| metric | mean ± std (%) | pooled (%) |",
            "|---|---|---|",
        ]
        for m in SUMMARY_METRICS:
            lines.append(f"| {METRIC_TITLES[m]} | {agg.summary[m]} | {100 * getattr(agg.pooled, m):.1f} |")
        lines += ["", f"Over {agg.folds} split(s); std is the sample standard deviation across splits.", ""]
        lines += ["## Per split", "", "| split | train | valid | test | WA | UAR | macro-F1 |", "|---|---|---|---|---|---|---|"]
        for f in self.folds:
            s, mt = f.split, f.metrics
            valid = s["valid"]["items"] if s.get("valid") else "-"
            lines.append(
                f"| {f.name} | {s['train']['items']} | {valid} | {s['test']['items']} | "
                f"{100 * mt.accuracy:.1f} | {100 * mt.uar:.1f} | {100 * mt.macro_f1:.1f} |"
            )
        lines += ["", "## Per class (pooled over splits)", "", "| class | support | precision | recall | F1 |", "|---|---|---|---|---|"]
        for c, sc in agg.pooled.per_class.items():
            lines.append(f"| {c} | {sc.support} | {_pct(sc.precision)} | {_pct(sc.recall)} | {_pct(sc.f1)} |")
        lines += ["", "## Splits", ""]
        for f in self.folds:
            s = f.split
            lines.append(f"- **{f.name}** ({s['normalization']} normalisation): {s['description']}")
            for part in ("pretrain", "train", "valid", "test"):
                p = s.get(part)
                if p:
                    lines.append(
                        f"  - {part}: {p['items']} items, {len(p['speakers'])} speakers, "
                        f"corpora {p['per_corpus']}, digest `{p['digest']}`"
                    )
        return "\n".join(lines) + "\n"

    def write(
        self,
        out_dir: str | Path,
        *,
        plots: bool = True,
        embeddings: np.ndarray | None = None,
        embedding_corpora: Sequence[str] | None = None,
        embedding_emotions: Sequence[str] | None = None,
        seed: int = 0,
    ) -> dict[str, Path]:
        """report.json, report.md and PNGs (pooled and per-split confusion; t-SNE if embeddings given)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"json": self.save_json(out / "report.json")}
        md = out / "report.md"
        md.write_text(self.to_markdown())
        paths["markdown"] = md
        if plots:
            agg = self.aggregate()
            paths["confusion"] = plot_confusion(
                agg.pooled.confusion, self.classes, out / "confusion_pooled.png", f"{self.model}: pooled"
            )
            for f in self.folds:
                slug = re.sub(r"[^A-Za-z0-9._-]+", "_", f.name)
                paths[f"confusion:{f.name}"] = plot_confusion(
                    f.metrics.confusion, self.classes, out / f"confusion_{slug}.png", f"{self.model}: {f.name}"
                )
            if embeddings is not None:
                if embedding_corpora is None or embedding_emotions is None:
                    raise SpecError("t-SNE needs corpus and emotion labels for the embeddings")
                paths["tsne"] = plot_tsne(
                    embeddings, embedding_corpora, embedding_emotions, out / "tsne.png", seed=seed, title=self.model
                )
        return paths


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


@dataclass(frozen=True)
class ComparisonRow:
    model: str
    params: int | None
    per_test: dict[str, AggregateMetrics] = field(hash=False)
    protocol: str = ""
    sees_target_labels: bool = False

    @classmethod
    def from_report(cls, report: Report) -> ComparisonRow:
        return cls(report.model, report.params, report.by_test_key(), report.protocol, report.sees_target_labels)


def _cell(agg: AggregateMetrics | None, metric: str) -> str:
    if agg is None:
        return "-"
    s = agg.summary[metric]
    return f"{100 * s.mean:.1f}" if s.n == 1 else f"{100 * s.mean:.1f} ± {100 * s.std:.1f}"


def comparison_table(rows: Sequence[ComparisonRow | Report], tests: Sequence[str] | None = None) -> str:
    """Markdown: one row per model; per test corpus WA, UAR, macro-F1; parameter count.

    Zero-shot rows and rows that saw target labels go into separate tables.
    """
    rows = [r if isinstance(r, ComparisonRow) else ComparisonRow.from_report(r) for r in rows]
    if not rows:
        raise SpecError("comparison_table needs at least one row")
    tests = list(tests or sorted({k for r in rows for k in r.per_test}))
    sections = []
    for sees, heading in ((False, "Zero-shot (no target labels in training)"), (True, "Sees target labels (fine-tuned on the target)")):
        group = [r for r in rows if r.sees_target_labels == sees]
        if not group:
            continue
        head = ["model", "params"] + [f"{t} {METRIC_TITLES[m]}" for t in tests for m in SUMMARY_METRICS]
        lines = [f"### {heading}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in group:
            cells = [f"{r.model} ({r.protocol})" if r.protocol else r.model, f"{r.params:,}" if r.params else "-"]
            cells += [_cell(r.per_test.get(t), m) for t in tests for m in SUMMARY_METRICS]
            lines.append("| " + " | ".join(cells) + " |")
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"
