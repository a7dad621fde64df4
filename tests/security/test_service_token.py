"""Issue 13, findings 6-7: every client sends the token its server requires, and every service can require one.

A real stack in-process on ephemeral ports (preprocess, inference with a tiny model, gateway): the
gateway requires SER_GATEWAY_TOKEN, preprocess and inference require SER_SERVICE_TOKEN. The CLI
(``ser analyze``, ``ser segment --remote``), the analyze_batch task (on Redis DB 4) and the gateway's
own downstream calls all go through ``services.common.client.channel`` and must get through.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import grpc
import pytest
import redis
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ser.v1 import common_pb2, emotion_pb2, emotion_pb2_grpc, preprocess_pb2, preprocess_pb2_grpc

from services.common.client import channel
from services.gateway.server import serve as serve_gateway
from services.inference.config import InferenceConfig
from services.inference.server import serve as serve_inference
from services.jobs.progress import run_task
from services.jobs.store import JobState, JobStore
from services.preprocess.server import serve as serve_preprocess
from shared.assets import sample_call_path
from shared.registry import ModelRegistry
from shared.settings import Settings
from tests.contract.tiny_model import publish_tiny
from tests.helpers import REPO, clean_redis

GATEWAY_TOKEN = "gw-9c1d6f0e2b7a4c35"
SERVICE_TOKEN = "svc-4e8a1b2c3d5f6071"
DB = 7


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The services' settings (both tokens) and the addresses a client needs."""
    registry = tmp_path_factory.mktemp("registry")
    publish_tiny(registry)
    settings = dataclasses.replace(Settings.from_env(env={}), gateway_token=GATEWAY_TOKEN, service_token=SERVICE_TOKEN)
    preprocess, preprocess_port = serve_preprocess(settings, port=0)
    inference = serve_inference(settings, port=0, config=InferenceConfig(poll_s=5), registry=ModelRegistry(registry),
                                device="cpu")
    addresses = {**settings.addresses, "preprocess": f"127.0.0.1:{preprocess_port}",
                 "inference": f"127.0.0.1:{inference.port}"}
    settings = dataclasses.replace(settings, addresses=addresses)
    gateway = serve_gateway(settings, port=0)
    addresses = {**addresses, "gateway": f"127.0.0.1:{gateway.port}"}
    yield dataclasses.replace(settings, addresses=addresses)
    gateway.stop(0)
    inference.stop(0)
    preprocess.stop(0)


def client_env(stack: Settings, **tokens: str) -> dict[str, str]:
    env = {f"SER_{name.upper()}_ADDR": address for name, address in stack.addresses.items()}
    return {**env, **{f"SER_{k.upper()}": v for k, v in tokens.items()}}


def prepare_request() -> preprocess_pb2.PrepareRequest:
    audio = common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=sample_call_path().read_bytes()))
    return preprocess_pb2.PrepareRequest(audio=audio)


def test_ser_analyze_sends_the_gateway_token(stack, monkeypatch, tmp_path, capsys):
    from services.cli.main import main

    for key, value in client_env(stack, gateway_token=GATEWAY_TOKEN).items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "call.json"
    assert main(["analyze", str(sample_call_path()), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["timeline"]
    monkeypatch.setenv("SER_GATEWAY_TOKEN", "wrong")
    assert main(["analyze", str(sample_call_path())]) == 1  # a message, not a traceback
    err = capsys.readouterr().err
    assert err.startswith("error (unauthenticated): ") and "SER_GATEWAY_TOKEN" in err and err.count("\n") == 1


def test_internal_services_refuse_callers_without_the_service_token(stack):
    for name, stub_of, call in (
        ("preprocess", preprocess_pb2_grpc.PreprocessStub, lambda s: s.Prepare(prepare_request(), timeout=30)),
        ("inference", emotion_pb2_grpc.EmotionStub, lambda s: s.ListModels(emotion_pb2.ListModelsRequest(), timeout=30)),
    ):
        address = stack.address(name)
        for token in ("", GATEWAY_TOKEN):  # no token, or the gateway's: both refused
            with channel(address, stack, token=token) as ch, pytest.raises(grpc.RpcError) as err:
                call(stub_of(ch))
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED, (name, token)
        with channel(address, stack, token="") as ch:  # probes stay open
            health = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        with channel(address, stack, service=name) as ch:
            call(stub_of(ch))


def test_ser_segment_remote_sends_the_service_token(stack, monkeypatch, capsys):
    from services.cli.main import main

    for key, value in client_env(stack, service_token=SERVICE_TOKEN).items():
        monkeypatch.setenv(key, value)
    assert main(["segment", str(sample_call_path()), "--remote"]) == 0
    assert "segments" in capsys.readouterr().out


def test_the_container_probe_needs_no_token(stack):
    spec = importlib.util.spec_from_file_location("ser_deploy_healthcheck", REPO / "deploy" / "healthcheck.py")
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    env = {"SER_SERVICE": "preprocess", "SER_PREPROCESS_ADDR": stack.address("preprocess")}
    assert probe.main([], env) == 0


@pytest.fixture()
def worker_env(stack, monkeypatch, tmp_path):
    url = clean_redis(DB)
    env = {**client_env(stack, gateway_token=GATEWAY_TOKEN), "SER_REDIS_URL": url,
           "SER_ARTIFACTS_DIR": str(tmp_path / "artifacts")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield JobStore.from_url(url)
    redis.Redis.from_url(url).flushdb()


def test_analyze_batch_workers_send_the_token_and_a_job_that_could_not_authenticate_is_failed(worker_env, tmp_path,
                                                                                               monkeypatch):
    from services.jobs.tasks.analyze import analyze_files

    calls = tmp_path / "calls"
    calls.mkdir()
    for name in ("a.wav", "b.wav"):
        (calls / name).write_bytes(sample_call_path().read_bytes())
    spec = {"manifest": str(calls), "output_dir": str(tmp_path / "artifacts" / "batch"), "attempts": 1}

    def run(spec: dict) -> object:
        job = worker_env.create("analyze_batch", spec)
        run_task(None, job.id, analyze_files)
        return worker_env.get(job.id)

    monkeypatch.setenv("SER_GATEWAY_TOKEN", "not-the-token")
    denied = run(spec)
    assert denied.state is JobState.FAILED, denied
    assert denied.result["completed"] == 0 and denied.result["failed"] == 2
    assert denied.error.startswith("items_failed: all 2 items failed") and "UNAUTHENTICATED" in denied.error
    monkeypatch.setenv("SER_GATEWAY_TOKEN", GATEWAY_TOKEN)
    fixed = run(spec)  # the same output folder: a setup error is not final for a file, so it is redone
    assert fixed.state is JobState.SUCCEEDED, fixed
    assert fixed.result["completed"] == 2 and fixed.result["failed"] == 0 and fixed.result["skipped"] == 0
    assert (Path(fixed.result["output_dir"]) / "summary.csv").is_file()


def test_log_lines_never_show_a_secret(tmp_path):
    import io
    import logging

    from services.common.logs import configure_logging, redact_handlers

    settings = dataclasses.replace(Settings.from_env(env={}), gateway_token=GATEWAY_TOKEN, service_token=SERVICE_TOKEN,
                                   redis_url="redis://:hunter2-hunter2@redis:6379/0")
    stream = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    try:
        configure_logging(settings, stream=stream)
        try:
            raise RuntimeError(f"boom {SERVICE_TOKEN}")
        except RuntimeError:
            logging.getLogger("ser.test").exception("calling with %s via %s", GATEWAY_TOKEN, settings.redis_url)
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    text = stream.getvalue()
    assert "calling with *** via ***" in text and "boom ***" in text
    assert not [s for s in (GATEWAY_TOKEN, SERVICE_TOKEN, "hunter2-hunter2") if s in text]
    celery_like = logging.getLogger("ser.test.celery")  # a logger another library set up (Celery's worker)
    other = io.StringIO()
    celery_like.addHandler(logging.StreamHandler(other))
    redact_handlers(celery_like, settings)
    celery_like.error("task raised %s", GATEWAY_TOKEN)
    assert other.getvalue() == "task raised ***\n"
