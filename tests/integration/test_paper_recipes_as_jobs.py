"""Each paper's shipped recipe runs as a `train` job on a real worker and writes its report.

The recipes are loaded from shared/recipes and shrunk for CI: synthetic corpora in the real layouts
(tests/synthetic.py), tiny sizes and 2 epochs. Protocols that need more corpora or languages than
the synthetic set has (leave-one-corpus-out, leave-one-language-out) become tess -> savee; the VACNN
recipe keeps its own pretrain-then-fine-tune k-fold protocol.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from services.jobs.store import JobState
from shared.evaluation.reports import Report
from shared.experiments.spec import load_spec
from shared.recipes import recipes_dir
from tests.synthetic import make_savee, make_tess

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.celery]

SMALL = {"training": {"max_epochs": 2, "batch_size": 16, "early_stopping_patience": None},
         "inputs": {"window_s": 1.0, "stride_s": 1.0}, "tsne": False}
CROSS = {"protocol": {"kind": "cross_corpus", "params": {"train": ["tess"], "test": ["savee"]}}}
RECIPES = {
    "parry/table3_aggregate_unseen.yaml": {**CROSS},
    "vacnn/table3_finetuned.yaml": {
        "protocol": {"kind": "pretrain_finetune_kfold", "params": {"source": ["tess"], "target": "savee", "k": 2}},
        "inputs": {"image": {"size": 96}},
        "model": {"overrides": {"img_size": 96, "vocabulary_size": 8}, "pretrain_overrides": {"img_size": 96}},
        "bovw": {"k": 8, "max_images": 200}, "pretrain_training": {"max_epochs": 1}},
    "wav2vec/lolo_wccn.yaml": {**CROSS, "model": {"architecture": "wav2vec2_wccn_tiny", "overrides": {}}},
    "wav2vec/lolo_egemaps_rf.yaml": {**CROSS},
}


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> list[dict]:
    root = tmp_path_factory.mktemp("corpora")
    return [{"name": "tess", "root": str(make_tess(root / "TESS"))},
            {"name": "savee", "root": str(make_savee(root / "SAVEE"))}]


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_paper_recipe_runs_as_a_job(recipe, corpora, worker, job_client):
    shipped = load_spec(recipes_dir() / recipe).model_dump(mode="json")
    changes = RECIPES[recipe]
    data = _merge(_merge(shipped, SMALL), {k: v for k, v in changes.items() if k != "protocol"})
    data.update(corpora=corpora, protocol=changes.get("protocol", shipped["protocol"]))  # replaced, not merged
    spec = load_spec(data)
    job = job_client.submit("train", spec.model_dump(mode="json"))
    list(job_client.watch(job.id, timeout_s=400))
    final = job_client.get(job.id)
    assert final.state is JobState.SUCCEEDED, final
    report = Path(final.result["report"])
    assert report.exists() and spec.name in report.read_text()
    saved = Report.load_json(report.with_name("report.json")).aggregate().pooled
    recalls = [c.recall for c in saved.per_class.values() if c.support]
    assert final.result["uar"] == pytest.approx(sum(recalls) / len(recalls), abs=1e-4)  # job result == report
    assert int(saved.confusion.sum()) == sum(c.support for c in saved.per_class.values()) > 0
