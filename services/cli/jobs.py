"""``ser jobs ...``: submit, get, watch (with a progress bar), cancel and list jobs."""
from __future__ import annotations

import argparse
import datetime as dt
import json

from tqdm import tqdm

from services.jobs.client import JobClient
from services.jobs.store import Job, JobStore
from shared.settings import Settings


def make_client(settings: Settings) -> JobClient:
    from services.jobs.app import make_app

    return JobClient(make_app(settings), JobStore.from_url(settings.redis_url))


def describe(job: Job) -> str:
    when = dt.datetime.fromtimestamp(job.created).isoformat(timespec="seconds")
    lines = [f"job {job.id}  {job.kind}  {job.state.value}  {job.progress:.0%} ({job.done}/{job.total})",
             f"  created {when}, attempts {job.attempts}" + ("  [cancel requested]" if job.cancel_requested else ""),
             f"  {job.message}"]
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
            return 0 if job.state.value == "SUCCEEDED" else 1
        return 0
    if cmd == "get":
        print(describe(client.get(args.job_id)))
    elif cmd == "watch":
        job = watch(client, args.job_id)
        print(describe(job))
    elif cmd == "cancel":
        print(describe(client.cancel(args.job_id)))
    elif cmd == "list":
        for job in client.list(limit=args.limit):
            print(f"{job.id}  {job.kind:<14} {job.state.value:<9} {job.progress:4.0%}  {job.message[:50]}")
    return 0
