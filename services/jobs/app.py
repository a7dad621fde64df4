"""The Celery application (apart from the task modules, as in Celery's ``proj/`` example).

Settings chosen for long ML jobs:
- ``acks_late`` + ``reject_on_worker_lost``: a job whose worker dies is redelivered, not lost.
- ``prefetch_multiplier=1``: a worker holds one long job at a time, never a queue of them.
- ``visibility_timeout`` above the longest job: Redis does not redeliver a job still running.
"""
from __future__ import annotations

import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, worker_process_init

from shared.settings import Settings

QUEUES = ("default", "batch", "fit", "train", "eval")
HOUR = 3600


def make_app(settings: Settings) -> Celery:
    app = Celery("ser", broker=settings.redis_url, backend=settings.redis_url, include=["services.jobs.tasks"])
    longest_job_s = int(os.environ.get("SER_JOB_TIME_LIMIT_S", str(24 * HOUR)))
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_track_started=True,
        worker_prefetch_multiplier=1,
        worker_max_tasks_per_child=int(os.environ.get("SER_WORKER_MAX_TASKS", "50")),
        task_time_limit=longest_job_s,
        task_soft_time_limit=max(longest_job_s - 60, 60),
        broker_transport_options={
            "visibility_timeout": int(os.environ.get("SER_VISIBILITY_TIMEOUT_S", str(longest_job_s + HOUR)))
        },
        result_backend_transport_options={"retry_policy": {"timeout": 5.0}},
        result_extended=True,
        result_expires=7 * 24 * HOUR,
        task_default_queue="default",
        task_routes={
            "ser.segment_batch": {"queue": "batch"},
            "ser.analyze_batch": {"queue": "batch"},
            "ser.fit_vocabulary": {"queue": "fit"},
            "ser.fit_speaker_pca": {"queue": "fit"},
            "ser.train": {"queue": "train"},
            "ser.evaluate": {"queue": "eval"},
            "ser.deliver_webhook": {"queue": "default"},
        },
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    return app


app = make_app(Settings.from_env())


@worker_process_init.connect
def _limit_threads(**_: object) -> None:
    """Each prefork child gets its own small thread budget (two torch processes at default threads
    made feature extraction >10x slower on 2 cores)."""
    from shared.runtime import limit_threads

    limit_threads(Settings.from_env().torch_threads)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact_logs(logger: object = None, **_: object) -> None:
    """The worker's log lines never show a secret (a token, the Redis URL or password), like the services'."""
    import logging

    from services.common.logs import redact_handlers

    if isinstance(logger, logging.Logger):
        redact_handlers(logger, Settings.from_env())
