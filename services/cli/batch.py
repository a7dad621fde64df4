"""``ser batch submit``: analyse a folder or manifest of call recordings as an ``analyze_batch`` job."""
from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

from services.jobs.inputs import AUDIO_SUFFIXES
from shared.settings import Settings


def spec_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Paths become absolute: the worker that runs the job need not share this shell's directory."""
    source = Path(args.input).expanduser().resolve()
    spec: dict[str, Any] = ({"inputs": [str(source)]} if source.is_file() and source.suffix.lower() in AUDIO_SUFFIXES
                            else {"manifest": str(source)})
    if args.model:
        spec["model"] = args.model
    if args.out:
        spec["output_dir"] = str(Path(args.out).expanduser().resolve())
    options: dict[str, Any] = {}
    if args.mono:
        options["mix_down"] = True
    if args.speaker_normalize:
        options["speaker_normalize"] = True
    if options:
        spec["options"] = options
    spec.update(redo_finished=args.redo, concurrency=args.concurrency)
    return spec


def print_summary(path: Path, limit: int = 20) -> None:
    """The first rows of summary.csv: per participant talk time and dominant emotion, or the error."""
    if not path.is_file():
        return
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    print(f"\nsummary ({len(rows)} files): {path}")
    for row in rows[:limit]:
        names = [k.removesuffix("_talk_s") for k in row if k.endswith("_talk_s") and row[k]]
        if row["ok"] == "True":
            state = "  ".join(f"{n} {row[n + '_talk_s']} s {row[n + '_dominant'] or '-'}" for n in names)
        else:
            state = f"ERROR {row['error'] or 'not analysed'}: {row['message'][:60]}"
        print(f"  {Path(row['file']).name:<32} {state}")
    if len(rows) > limit:
        print(f"  ... {len(rows) - limit} more")


def run_batch(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli.jobs import describe, exit_status, make_client, watch

    client = make_client(settings)
    job = client.submit("analyze_batch", spec_from_args(args))
    print(f"submitted analyze_batch job {job.id}")
    if not args.watch:
        print(f"follow it with `ser jobs watch {job.id}`")
        return 0
    job = watch(client, job.id)
    print(describe(job))
    if job.result.get("summary"):
        print_summary(Path(job.result["summary"]))
    return exit_status(job)


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("batch", help="analyse many call recordings as a job (through the gateway)")
    bsub = s.add_subparsers(dest="batch_command", required=True)
    b = bsub.add_parser("submit", help="submit a folder, list file or JSONL manifest of recordings")
    b.add_argument("input", help="a folder, a .txt list, a .jsonl manifest (field `path`) or one audio file")
    b.add_argument("--model", help="NAME[:VERSION_OR_ALIAS] (default: the 'default' model)")
    b.add_argument("--out", help="results folder, shared by resubmissions (default: a job folder under artifacts)")
    b.add_argument("--watch", action="store_true", help="watch with a progress bar until it ends")
    b.add_argument("--redo", action="store_true", help="re-analyse files already finished in --out")
    b.add_argument("--concurrency", type=int, default=4, help="calls in flight at once (default 4)")
    b.add_argument("--mono", action="store_true", help="mix channels down instead of one participant per channel")
    b.add_argument("--speaker-normalize", action="store_true", help="standardise features per channel over the call")
