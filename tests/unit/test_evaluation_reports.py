import json
from pathlib import Path

import numpy as np
import pytest

from shared.corpora.items import CorpusItem, Manifest
from shared.errors import SpecError
from shared.evaluation.metrics import compute_metrics
from shared.evaluation.protocols import cross_corpus, pretrain_finetune_kfold, speaker_kfold
from shared.evaluation.reports import ComparisonRow, FoldResult, Report, comparison_table

CLASSES = ("angry", "sad")


@pytest.fixture
def manifest():
    items = [
        CorpusItem(Path(f"/{c}/{s}_{k}.wav"), c, "en", f"s{s}", None, lab, lab)
        for c in ("ravdess", "tess", "savee")
        for s in range(3)
        for k, lab in enumerate(CLASSES * 2)
    ]
    return Manifest(tuple(items), classes=CLASSES)


def fold(split, y_pred):
    y_true = [i.label for i in split.test]
    return FoldResult.of(split, compute_metrics(y_true, y_pred, CLASSES), seconds=1.5)


def test_report_json_markdown_and_plots(tmp_path, manifest):
    splits = cross_corpus(manifest, ["ravdess", "tess"], ["savee"])
    n = len(splits[0].test)  # 12 items alternating angry, sad
    pred = ["angry"] * n  # UAR 0.5, accuracy 0.5
    report = Report("demo", "cct_tiny", "cross_corpus", [fold(splits[0], pred)], params=1234, metadata={"label_map": "2class"})
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(20, 5))
    paths = report.write(
        tmp_path, embeddings=emb, embedding_corpora=["a", "b"] * 10, embedding_emotions=["angry", "sad"] * 10
    )
    for key in ("json", "markdown", "confusion", "tsne", "confusion:ravdess+tess->savee"):
        assert paths[key].is_file() and paths[key].stat().st_size > 0
    assert paths["tsne"].read_bytes()[:4] == b"\x89PNG"
    data = json.loads(paths["json"].read_text())
    assert data["aggregate"]["uar"]["mean"] == 0.5 and data["params"] == 1234
    assert data["folds"][0]["split"]["test"]["per_corpus"] == {"savee": 12}
    assert data["folds"][0]["extra"] == {"seconds": 1.5}
    md = paths["markdown"].read_text()
    assert "| UAR | 50.0 ± 0.0 | 50.0 |" in md
    assert "ravdess+tess->savee" in md and "digest" in md
    back = Report.load_json(paths["json"])
    assert back.aggregate().summary["uar"].mean == 0.5 and back.folds[0].name == report.folds[0].name


def test_report_never_mixes_target_label_protocols(manifest):
    zero = cross_corpus(manifest, ["ravdess", "tess"], ["savee"])[0]
    ft = pretrain_finetune_kfold(manifest, ["ravdess"], "savee", k=3)[0]
    zf = fold(zero, ["angry"] * len(zero.test))
    ff = fold(ft, [i.label for i in ft.test])
    with pytest.raises(SpecError, match="mix"):
        Report("x", "m", "p", [zf, ff])
    r_zero = Report("a", "cct", "cross_corpus", [zf], params=10)
    r_ft = Report("b", "vacnn", "pretrain_finetune_kfold", [ff], params=20)
    table = comparison_table([r_zero, r_ft])
    zero_part, ft_part = table.split("### Sees target labels")
    assert "cct" in zero_part and "vacnn" not in zero_part
    assert "vacnn" in ft_part and "Zero-shot" in zero_part
    assert "**sees target labels**" in r_ft.to_markdown()


def test_comparison_table_columns_and_spread(manifest):
    folds = speaker_kfold(manifest.filter(corpus="savee"), 3, seed=0)
    # fold 1 perfect, folds 2-3 always "angry" -> UAR 1.0, 0.5, 0.5
    results = [fold(s, [i.label for i in s.test] if j == 0 else ["angry"] * len(s.test)) for j, s in enumerate(folds)]
    report = Report("k", "logreg", "speaker_kfold", results, params=None)
    row = ComparisonRow.from_report(report)
    assert list(row.per_test) == ["savee"]
    table = comparison_table([row])
    assert "| model | params | savee WA | savee UAR | savee macro-F1 |" in table
    assert "66.7 ± 28.9" in table  # mean of 1.0, 0.5, 0.5; sample std 0.2887
    assert "| logreg (speaker_kfold) | - |" in table
