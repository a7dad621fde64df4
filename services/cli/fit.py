"""``ser fit vocabulary|speaker-pca``: build a fit job spec from flags, submit it, optionally watch it."""
from __future__ import annotations

import argparse
from typing import Any

from services.cli.jobs import describe, exit_status, make_client, watch
from shared.errors import SpecError
from shared.settings import Settings

KINDS = {"vocabulary": "fit_vocabulary", "speaker-pca": "fit_speaker_pca"}


def parse_corpus(text: str) -> dict[str, str]:
    """``NAME=ROOT`` -> a corpus reference of the spec."""
    name, sep, root = text.partition("=")
    if not sep or not name.strip() or not root.strip():
        raise SpecError(f"--corpus takes NAME=ROOT (e.g. savee=/data/SAVEE), got {text!r}")
    return {"name": name.strip(), "root": root.strip()}


def parse_k_candidates(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise SpecError(f"--k-candidates takes comma-separated integers, got {text!r}") from exc


def spec_from_args(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """(job kind, spec dict); validation is the job client's (pydantic, SpecError)."""
    spec: dict[str, Any] = {"corpora": [parse_corpus(c) for c in args.corpus or []], "name": args.name, "seed": args.seed}
    if args.manifest:
        spec["manifest"] = args.manifest
    if args.fit_command == "vocabulary":
        spec.update({"k": args.k, "max_images": args.max_images, "preset": args.preset})
        if args.k_candidates:
            spec["k_candidates"] = parse_k_candidates(args.k_candidates)
    else:
        spec.update({"width": args.width, "max_utterances": args.max_utterances})
    return KINDS[args.fit_command], spec


def run_fit(args: argparse.Namespace, settings: Settings) -> int:
    kind, spec = spec_from_args(args)
    client = make_client(settings)
    job = client.submit(kind, spec)
    print(f"submitted {kind} job {job.id}")
    if not args.watch:
        return 0
    job = watch(client, job.id)
    print(describe(job))
    return exit_status(job)
