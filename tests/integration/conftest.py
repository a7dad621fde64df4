from __future__ import annotations

import os

import pytest
import redis

from shared.settings import Settings
from tests.helpers import scratch_redis_url, start_worker, stop, wait_worker


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = scratch_redis_url(13)
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError as exc:  # `make test` starts Redis first; a bare pytest run may not have
        pytest.fail(f"Redis is not reachable at {url}: run `make redis` (or `ser redis`) first ({exc})")
    client.flushdb()
    return url


@pytest.fixture(scope="session")
def worker_env(redis_url, tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("jobs")
    # outputs may go anywhere under pytest's temporary folder, as tests put them in tmp_path
    return {**os.environ, "SER_REDIS_URL": redis_url, "SER_ARTIFACTS_DIR": str(root / "artifacts"),
            "SER_OUTPUT_ROOTS": str(tmp_path_factory.getbasetemp()),
            "OMP_NUM_THREADS": "1", "SER_TORCH_THREADS": "1", "SER_VISIBILITY_TIMEOUT_S": "30"}


@pytest.fixture(scope="session")
def settings(worker_env) -> Settings:
    return Settings.from_env(worker_env)


@pytest.fixture(scope="session")
def celery_app(settings):
    from services.jobs.app import make_app

    return make_app(settings)


@pytest.fixture(scope="session")
def worker(worker_env, celery_app, tmp_path_factory):
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    proc = start_worker(worker_env, log)
    wait_worker(celery_app, proc, log)
    yield proc
    stop(proc)


@pytest.fixture()
def job_client(celery_app, redis_url, settings):
    from services.jobs.client import JobClient
    from services.jobs.store import JobStore

    return JobClient(celery_app, JobStore.from_url(redis_url), settings)
