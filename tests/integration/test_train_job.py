"""An experiment spec runs as a Celery job on a real worker, and survives the worker being killed."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import redis

from services.jobs.app import make_app
from services.jobs.client import JobClient
from services.jobs.store import JobState, JobStore
from shared.settings import Settings
from tests.helpers import scratch_redis_url, start_worker, stop, wait_worker
from tests.synthetic import make_savee, make_tess

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.celery]


def _spec(tmp_path: Path, epochs: int) -> dict:
    return {
        "name": "synthetic job",
        "corpora": [{"name": "tess", "root": str(make_tess(tmp_path / "TESS"))},
                    {"name": "savee", "root": str(make_savee(tmp_path / "SAVEE"))}],
        "protocol": {"kind": "cross_corpus", "params": {"train": ["tess"], "test": ["savee"]}},
        "inputs": {"window_s": 1.0, "stride_s": 0.5, "image": {"size": 48, "channels": 1}},
        "model": {"architecture": "cct_tiny", "overrides": {"in_chans": 1, "img_size": 48}},
        "training": {"optimizer": "adam", "lr": 0.002, "weight_decay": 0.0, "schedule": "constant",
                     "max_epochs": epochs, "batch_size": 8, "early_stopping_patience": None},
        "normalization": "per_speaker",
        "publish": {"name": "jobmodel"},
    }


def test_train_job_writes_report_and_publishes(worker, job_client, settings, tmp_path):
    job = job_client.submit("train", _spec(tmp_path, epochs=25))
    events = list(job_client.watch(job.id, timeout_s=300))
    final = job_client.get(job.id)
    assert final.state is JobState.SUCCEEDED, final
    assert any("epoch" in str(e.get("message", "")) for e in events), "training progress must be reported"
    assert Path(final.result["report"]).exists()
    assert final.result["uar"] >= 0.75 and final.result["model"] == "jobmodel:1"


def test_killed_worker_resumes_training_from_checkpoint(worker_env, tmp_path):
    # a Redis DB of its own, so the session's worker cannot pick the job up
    env = {**worker_env, "SER_REDIS_URL": scratch_redis_url(10), "SER_VISIBILITY_TIMEOUT_S": "15",
           "SER_JOB_LEASE_S": "6"}
    redis.Redis.from_url(env["SER_REDIS_URL"]).flushdb()
    settings = Settings.from_env(env)
    celery_app = make_app(settings)
    job_client = JobClient(celery_app, JobStore.from_url(settings.redis_url), settings)
    first = start_worker(env, tmp_path / "w1.log", queues="train")
    wait_worker(celery_app, first, tmp_path / "w1.log")
    job = job_client.submit("train", _spec(tmp_path, epochs=40) | {"publish": None})
    try:
        for event in job_client.watch(job.id, timeout_s=120):
            if "epoch 4/" in str(event.get("message", "")):
                break
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        assert job_client.get(job.id).state is JobState.RUNNING
        second = start_worker(env, tmp_path / "w2.log", queues="train")
        try:
            list(job_client.watch(job.id, timeout_s=240))
            final = job_client.get(job.id)
        finally:
            stop(second)
    finally:
        stop(first)
    assert final.state is JobState.SUCCEEDED, (final, (tmp_path / "w2.log").read_text()[-3000:])
    assert final.attempts == 2
    result = next(Path(final.result["output_dir"]).glob("split_*/result.json"))
    train = json.loads(result.read_text())["extra"]["train"]
    assert train["resumed_from_epoch"] >= 3, train["resumed_from_epoch"]
    assert len(train["history"]) == 40
