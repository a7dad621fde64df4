"""Paths a caller gives the Jobs API stay inside SER_DATA_ROOTS (``..`` and symlink escapes refused), and a
malformed spec is INVALID_ARGUMENT naming the field. Over real gRPC to the gateway, with Redis on DB 5;
the manifest-content checks also run a real worker, since the worker reads the manifest."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import grpc
import pytest
import redis
from ser.v1 import jobs_pb2, jobs_pb2_grpc

from services.common.client import channel
from services.gateway.server import serve as serve_gateway
from services.jobs.client import JobClient
from shared.assets import sample_call_path
from shared.settings import Settings
from tests.helpers import clean_redis, start_worker, stop, wait_worker

pytestmark = pytest.mark.redis
DB = 5


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> dict[str, Path]:
    """root/ (the data root) with calls, a list manifest, a spec and symlinks out; outside/ next to it."""
    base = tmp_path_factory.mktemp("confine")
    root, outside = base / "root", base / "outside"
    for d in (root / "calls", outside):
        d.mkdir(parents=True)
    shutil.copy(sample_call_path(), root / "calls" / "a.wav")
    shutil.copy(sample_call_path(), outside / "secret.wav")
    (outside / "spec.yaml").write_text("name: stolen\ninputs: [x.wav]\n")
    (root / "spec.yaml").write_text(f"name: ok\ninputs: [{root / 'calls' / 'a.wav'}]\n")
    (root / "escape_dir").symlink_to(outside, target_is_directory=True)
    (root / "escape_spec.yaml").symlink_to(outside / "spec.yaml")
    (root / "escape.wav").symlink_to(outside / "secret.wav")
    (root / "dotdot.txt").write_text("calls/a.wav\n../outside/secret.wav\n")
    (root / "linked.txt").write_text("calls/a.wav\nescape.wav\n")
    return {"base": base, "root": root, "outside": outside}


@pytest.fixture(scope="module")
def jobs(tree):
    from services.jobs.app import make_app
    from services.jobs.store import JobStore

    url = clean_redis(DB)
    settings = dataclasses.replace(Settings.from_env(env={}), redis_url=url, data_roots=(tree["root"],),
                                   artifacts_dir=tree["base"] / "artifacts")
    gateway = serve_gateway(settings, port=0, jobs=JobClient(make_app(settings), JobStore.from_url(url), settings))
    with channel(f"127.0.0.1:{gateway.port}", settings) as ch:
        yield jobs_pb2_grpc.JobsStub(ch), settings
    gateway.stop(0)
    redis.Redis.from_url(url).flushdb()


def refused(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(request, timeout=10)
    return err.value


def segment_request(path: Path | str, out: Path) -> jobs_pb2.SubmitBatchAnalysisRequest:
    return jobs_pb2.SubmitBatchAnalysisRequest(input=str(path), output_dir=str(out),
                                               mode=jobs_pb2.BATCH_MODE_SEGMENT_ONLY)


@pytest.mark.parametrize("escape", ["{root}/../outside", "{root}/calls/../../outside/secret.wav", "{root}/escape_dir",
                                    "{root}/escape.wav", "{outside}", "/etc/passwd"])
def test_batch_inputs_outside_the_data_roots_are_refused(jobs, tree, escape):
    stub, _ = jobs
    path = escape.format(root=tree["root"], outside=tree["outside"])
    err = refused(stub.SubmitBatchAnalysis, segment_request(path, tree["base"] / "artifacts" / "out"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "outside the configured data roots" in err.details()


def test_batch_inputs_inside_the_data_roots_are_accepted(jobs, tree):
    stub, _ = jobs
    job = stub.SubmitBatchAnalysis(segment_request(tree["root"] / "calls", tree["base"] / "artifacts" / "out"),
                                   timeout=10)
    assert job.state == jobs_pb2.JOB_STATE_PENDING
    stub.CancelJob(jobs_pb2.CancelJobRequest(id=job.id), timeout=10)


@pytest.mark.parametrize("name", ["../outside/spec.yaml", "escape_spec.yaml", "escape_dir/spec.yaml"])
def test_spec_files_outside_the_data_roots_are_refused(jobs, tree, name):
    stub, _ = jobs
    request = jobs_pb2.SubmitFitRequest(target=jobs_pb2.FIT_TARGET_VOCABULARY,
                                        spec=jobs_pb2.JobSpec(path=str(tree["root"] / name)))
    err = refused(stub.SubmitFit, request)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "outside the configured data roots" in err.details()


def test_a_spec_file_inside_the_data_roots_is_read(jobs, tree):
    stub, _ = jobs
    job = stub.SubmitFit(jobs_pb2.SubmitFitRequest(target=jobs_pb2.FIT_TARGET_VOCABULARY,
                                                   spec=jobs_pb2.JobSpec(path=str(tree["root"] / "spec.yaml"))),
                         timeout=10)
    assert '"name": "ok"' in job.spec.text
    stub.CancelJob(jobs_pb2.CancelJobRequest(id=job.id), timeout=10)


@pytest.mark.parametrize("text, field", [
    ("name: v1\ninputs: [a.wav]\nbogus_field: 1\n", "bogus_field"),
    ("name: v1\ninputs: [a.wav]\nk: many\n", "k"),
    ("name: v1\ninputs: [a.wav]\nk: 1\n", "k"),
    ("name: ../../etc\ninputs: [a.wav]\n", "name"),
    ("name: v1\ncorpora: [{name: savee}]\n", "corpora.0.root"),
])
def test_a_malformed_spec_is_invalid_argument_naming_the_field(jobs, text, field):
    stub, _ = jobs
    err = refused(stub.SubmitFit, jobs_pb2.SubmitFitRequest(target=jobs_pb2.FIT_TARGET_VOCABULARY,
                                                            spec=jobs_pb2.JobSpec(text=text)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"{field}:" in err.details(), err.details()


def test_a_malformed_training_spec_is_invalid_argument(jobs):
    stub, _ = jobs
    for text in ("model: 3\n", "- a list\n- not a mapping\n", "{unclosed: [\n", "not_a_field: 1\n"):
        err = refused(stub.SubmitTraining, jobs_pb2.SubmitTrainingRequest(spec=jobs_pb2.JobSpec(text=text)))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "spec" in err.details(), text


@pytest.mark.slow
@pytest.mark.celery
def test_manifest_entries_outside_the_data_roots_are_each_files_failure_and_are_never_opened(jobs, tree, tmp_path):
    """Each manifest is inside the root but lists a file outside it (by ``..``, by a symlink): that entry is
    recorded as its file's failure, unopened, and the rest of the batch goes on (a PARTIAL job)."""
    from services.jobs.app import make_app

    stub, settings = jobs
    env = {**os.environ, "SER_REDIS_URL": settings.redis_url, "SER_DATA_ROOTS": str(tree["root"]),
           "SER_ARTIFACTS_DIR": str(settings.artifacts_dir), "OMP_NUM_THREADS": "1"}
    worker = start_worker(env, tmp_path / "worker.log", queues="batch")
    try:
        wait_worker(make_app(settings), worker, tmp_path / "worker.log")
        for manifest, escape in (("dotdot.txt", "../outside/secret.wav"), ("linked.txt", "escape.wav")):
            out = settings.artifacts_dir / manifest
            job = stub.SubmitBatchAnalysis(segment_request(tree["root"] / manifest, out), timeout=10)
            final = list(stub.WatchJob(jobs_pb2.WatchJobRequest(id=job.id), timeout=60))[-1].job
            assert final.state == jobs_pb2.JOB_STATE_PARTIAL, (manifest, jobs_pb2.JobState.Name(final.state))
            assert final.progress.items_failed == 1
            records = {Path(r["path"]).name: r for r in map(json.loads, next(out.rglob("segments.jsonl")).open())}
            assert records["a.wav"]["ok"], manifest
            refused = records[Path(escape).name]
            assert refused["error"] == "invalid_input" and "outside the configured data roots" in refused["message"]
            assert "segments" not in refused and "duration_s" not in refused, "an escaping file must not be read"
    finally:
        stop(worker)
