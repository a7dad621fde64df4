"""``ser jobs ...``: submit, get, watch (with a progress bar), cancel and list jobs."""
from __future__ import annotations

import argparse
import datetime as dt
import json

from tqdm import tqdm

from services.jobs.client import JobClient
from services.jobs.store import Job, JobState, JobStore
from shared.settings import Settings

NOT_FINISHED = 2  # `ser jobs get` of a job still pending or running


def make_client(settings: Settings) -> JobClient:
    """Submitting writes straight to Redis (SER_REDIS_URL): its password is what authorises a submit."""
    from services.jobs.app import make_app

    return JobClient(make_app(settings), JobStore.for_settings(settings), settings)


def exit_status(job: Job) -> int:
    """0 only for SUCCEEDED (every item succeeded); 1 for PARTIAL, FAILED or CANCELLED; 2 while unfinished."""
    if job.state is JobState.SUCCEEDED:
        return 0
    return 1 if job.state.finished else NOT_FINISHED


def describe(job: Job) -> str:
    when = dt.datetime.fromtimestamp(job.created).isoformat(timespec="seconds")
    lines = [f"job {job.id}  {job.kind}  {job.state.value}  {job.progress:.0%} ({job.done}/{job.total})",
             f"  created {when}, attempts {job.attempts}" + ("  [cancel requested]" if job.cancel_requested else ""),
             f"  {job.message}"]
    if job.items_failed:
        lines.append(f"  failed items: {job.items_failed} of {job.items_failed + job.items_completed}")
    if job.error:
        lines.append(f"  error: {job.error}")
    if job.result:
        lines.append("  result: " + json.dumps({k: v for k, v in job.result.items() if k != "traceback"}))
    return "\n".join(lines)


def watch(client: JobClient, job_id: str) -> Job:
    """A progress bar until the job finishes; returns the final record."""
    with tqdm(total=1, unit="item", desc=job_id[:8], dynamic_ncols=True) as bar:
        for event in client.watch(job_id):
            if event.get("total"):
                bar.total = int(event["total"])
            if "done" in event:
                bar.n = int(event["done"])
            if event.get("message"):
                bar.set_postfix_str(str(event["message"])[:40])
            bar.refresh()
    return client.get(job_id)


def run_jobs(args: argparse.Namespace, settings: Settings) -> int:
    client = make_client(settings)
    cmd = args.jobs_command
    if cmd == "submit":
        job = client.submit(args.kind, args.spec)
        print(f"submitted {job.kind} job {job.id}")
        if args.watch:
            job = watch(client, job.id)
            print(describe(job))
            return exit_status(job)
        return 0
    if cmd == "get":
        job = client.get(args.job_id)
        print(describe(job))
        return exit_status(job)
    if cmd == "watch":
        job = watch(client, args.job_id)
        print(describe(job))
        return exit_status(job)
    if cmd == "cancel":
        print(describe(client.cancel(args.job_id)))
    elif cmd == "list":
        for job in client.list(limit=args.limit):
            print(f"{job.id}  {job.kind:<14} {job.state.value:<9} {job.progress:4.0%}  {job.message[:50]}")
    return 0
