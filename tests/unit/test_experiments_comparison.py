"""The comparison table keeps zero-shot, within-corpus and fine-tune results in separate sections."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.cli.main import main
from shared.corpora.items import CorpusItem, Manifest
from shared.errors import SpecError
from shared.evaluation.metrics import compute_metrics
from shared.evaluation.protocols import cross_corpus, pretrain_finetune_kfold, speaker_kfold
from shared.evaluation.reports import FoldResult, Report
from shared.experiments.comparison import comparison_markdown, comparison_rows, section_of


def _manifest() -> Manifest:
    items = [CorpusItem(path=Path(f"/{c}/{s}_{lab}_{n}.wav"), corpus=c, language="en", speaker=s, gender=None,
                        label_original=lab, label=lab)
             for c in ("tess", "savee") for s in ("s1", "s2", "s3", "s4") for lab in ("angry", "sad") for n in range(2)]
    return Manifest(tuple(items), classes=("angry", "sad"))


def _report(model, splits, correct) -> Report:
    """``correct`` of the 4 first test items right, the rest wrong (so metrics are hand-checkable)."""
    folds = []
    for split in splits:
        y = [str(i.label) for i in split.test]
        pred = [t if n < correct else ("sad" if t == "angry" else "angry") for n, t in enumerate(y)]
        folds.append(FoldResult.of(split, compute_metrics(y, pred, ["angry", "sad"])))
    return Report(title=model, model=model, protocol=splits[0].protocol, folds=folds, params=1234,
                  metadata={"seconds": 12.0})


def test_sections_and_numbers(tmp_path):
    m = _manifest()
    zero = _report("cct_tiny", cross_corpus(m, ["tess"], ["savee"]), correct=16)  # all 16 SAVEE items right
    within = _report("parry_cnn", speaker_kfold(m.filter(corpus="savee"), k=2), correct=8)
    fine = _report("vacnn_bovw", pretrain_finetune_kfold(m, ["tess"], "savee", k=2), correct=4)
    assert [section_of(r) for r in (zero, within, fine)] == ["zero_shot", "within_corpus", "fine_tune"]
    table = comparison_markdown([fine, within, zero])
    zero_at, within_at, fine_at = (table.index(h) for h in ("### Zero-shot", "### Within-corpus", "### Pretrain on"))
    assert zero_at < within_at < fine_at
    assert table[:within_at].count("| cct_tiny |") == 1 and "vacnn_bovw" not in table[:fine_at]
    assert "| cct_tiny | cross_corpus | 1,234 | 100.0 | 100.0 | 100.0 | 12 |" in table
    # fine-tune: 2 folds of 8 test items, 4 right in each -> 50% WA in both, std 0
    assert "| vacnn_bovw | pretrain_finetune_kfold | 1,234 | 50.0 ± 0.0 |" in table
    rows = comparison_rows([zero, fine])
    assert rows[0]["by_test"]["savee"]["uar"] == 1.0 and rows[1]["sees_target_labels"] is True
    with pytest.raises(SpecError):
        comparison_markdown([])


def test_ser_report_compare_writes_one_table(tmp_path):
    m = _manifest()
    paths = []
    for name, report in (("a", _report("cct_tiny", cross_corpus(m, ["tess"], ["savee"]), 16)),
                         ("b", _report("vacnn_bovw", pretrain_finetune_kfold(m, ["tess"], "savee", k=2), 4))):
        report.save_json(tmp_path / name / "report.json")
        paths.append(str(tmp_path / name))
    out = tmp_path / "table.md"
    assert main(["report", "compare", *paths, "--out", str(out), "--json", str(tmp_path / "rows.json")]) == 0
    text = out.read_text()
    assert "### Zero-shot" in text and "### Pretrain on" in text
    assert [r["model"] for r in json.loads((tmp_path / "rows.json").read_text())] == ["cct_tiny", "vacnn_bovw"]
    assert main(["report", "compare", str(tmp_path / "missing")]) == 2
