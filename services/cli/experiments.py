"""``ser train SPEC.yaml`` / ``ser eval SPEC.yaml``: run a recipe as a job (default) or in-process."""
from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from shared.experiments.spec import load_spec, parse_overrides
from shared.settings import Settings


def run_local(kind: str, spec_path: str, overrides: list[str], out: str | None, settings: Settings) -> int:
    from shared.experiments.runner import ExperimentRun
    from shared.runtime import limit_threads

    limit_threads(settings.torch_threads)
    spec = load_spec(spec_path, parse_overrides(overrides))
    out_dir = Path(out) if out else settings.artifacts_dir / "experiments" / Path(spec_path).stem
    with tqdm(total=100, unit="%", dynamic_ncols=True, desc=spec.name[:30]) as bar:
        def progress(done: int, total: int, message: str) -> None:
            bar.total = total
            bar.n = done
            bar.set_postfix_str(message[:60])
            bar.refresh()

        run = ExperimentRun(spec, out_dir, progress=progress, registry_root=settings.artifacts_dir / "registry",
                            evaluate_only=kind == "evaluate")
        result = run.run()
    print(result.report.to_markdown())
    print(f"report: {out_dir / 'report.md'}")
    if result.model_ref:
        print(f"published model {result.model_ref[0]}:{result.model_ref[1]}")
    return 0


def run_experiment_command(args: argparse.Namespace, settings: Settings) -> int:
    kind = "evaluate" if args.command == "eval" else "train"
    if args.local:
        return run_local(kind, args.spec, args.set or [], args.out, settings)
    from services.cli.jobs import describe, exit_status, make_client, watch

    spec = load_spec(args.spec, parse_overrides(args.set or []))
    client = make_client(settings)
    job = client.submit(kind, spec.model_dump(mode="json"))
    print(f"submitted {kind} job {job.id} ({spec.name})")
    if args.no_watch:
        return 0
    job = watch(client, job.id)
    print(describe(job))
    return exit_status(job)


def list_architectures() -> int:
    from shared.models.registry import architectures, build_model, count_parameters

    print(f"{'architecture':<28} {'family':<12} {'input':<9} {'side input':<10} {'parameters':>12}  description")
    for name, spec in sorted(architectures().items()):
        params = count_parameters(build_model(name, 4))
        side = "speaker" if spec.uses_speaker else ("bovw" if spec.uses_bovw else "-")
        print(f"{name:<28} {spec.family:<12} {spec.input_kind:<9} {side:<10} {params:>12,}  {spec.description}")
    print("(parameter counts for 4 classes)")
    return 0
