"""``train``: run an experiment spec as a job. Rerunning the same job (a redelivery after a worker
crash) resumes: finished splits are kept and an unfinished one continues from its checkpoint.

The run gets the spec with its corpus roots already expanded and confined (``run_task``), and every
file those corpora list is checked before training starts: a training set cannot silently drop a
file, so one outside the data roots fails the job, naming it, before any audio is read."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from services.jobs.app import app
from services.jobs.inputs import confine_items
from services.jobs.progress import JobContext, run_task
from shared.corpora.registry import load_corpus
from shared.errors import InvalidInput
from shared.experiments.runner import ExperimentRun
from shared.experiments.spec import ExperimentSpec
from shared.paths import PathPolicy
from shared.runtime import limit_threads
from shared.settings import Settings


def job_dir(settings: Settings, job_id: str) -> Path:
    return settings.artifacts_dir / "jobs" / job_id


def check_corpus_files(spec: ExperimentSpec, paths: PathPolicy) -> None:
    """InvalidInput when a corpus (a CSV manifest, a symlink in a corpus folder) lists a file outside the roots."""
    for ref in spec.corpora:
        root = Path(ref.root)
        if not root.exists():
            continue  # the run skips or refuses a missing corpus (``missing_corpora``)
        _, outside = confine_items(load_corpus(ref.name, root, **ref.options), paths)
        if outside:
            raise InvalidInput(f"corpus {ref.name} lists {len(outside)} file(s) outside the data roots, first "
                               f"{outside[0].path}; training reads only inside SER_DATA_ROOTS")


def run_training(ctx: JobContext, settings: Settings, *, evaluate_only: bool = False) -> dict[str, Any]:
    limit_threads(settings.torch_threads)
    spec = ctx.spec
    assert isinstance(spec, ExperimentSpec)
    check_corpus_files(spec, ctx.paths)
    out = job_dir(settings, ctx.job.id)
    ctx.result = {"output_dir": str(out)}
    run = ExperimentRun(spec, out, progress=ctx.progress, should_stop=lambda: ctx.store.cancel_requested(ctx.job.id),
                        registry_root=settings.artifacts_dir / "registry", evaluate_only=evaluate_only)
    result = run.run()
    agg = result.report.aggregate()
    summary = {"output_dir": str(out), "report": str(out / "report.md"), "uar": round(agg.pooled.uar, 4),
               "accuracy": round(agg.pooled.accuracy, 4), "macro_f1": round(agg.pooled.macro_f1, 4),
               "folds": agg.folds}
    if result.model_ref:
        summary["model"] = f"{result.model_ref[0]}:{result.model_ref[1]}"
    return summary


@app.task(name="ser.train", bind=True)
def train(self: Any, job_id: str) -> dict[str, Any]:
    return run_task(self, job_id, run_training)


@app.task(name="ser.evaluate", bind=True)
def evaluate(self: Any, job_id: str) -> dict[str, Any]:
    return run_task(self, job_id, lambda ctx, settings: run_training(ctx, settings, evaluate_only=True))
