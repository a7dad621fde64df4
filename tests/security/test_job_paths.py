"""Issue 13, findings 1-5: every path a job names goes through one rule, at submit and in the worker.

Jobs run in-process through ``run_task`` (what every Celery task calls) on Redis DB 3, with the
settings a worker reads from its environment; submits go through the gateway's Jobs API over gRPC
and through ``JobClient`` (what ``ser jobs submit`` uses).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path

import grpc
import pytest
import redis
import soundfile as sf
from ser.v1 import jobs_pb2, jobs_pb2_grpc

from services.common.client import channel
from services.gateway.server import serve as serve_gateway
from services.jobs.client import TASK_NAMES, JobClient
from services.jobs.progress import run_task
from services.jobs.store import JobState, JobStore
from shared.assets import sample_call_path
from shared.errors import InvalidInput, SpecError
from shared.settings import Settings
from tests.contract.voices import RATE, voice
from tests.helpers import clean_redis

pytestmark = pytest.mark.redis
DB = 3
TOKEN = "gateway-token-0123456789abcdef"
SERVICE_TOKEN = "service-token-fedcba9876543210"
PASSWORD = "redis-password-not-for-errors"


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> dict[str, Path]:
    """root/ (the data root), outside/ beside it, artifacts/ (the output root)."""
    base = tmp_path_factory.mktemp("jobpaths")
    root, outside = base / "root", base / "outside"
    (root / "calls").mkdir(parents=True)
    outside.mkdir()
    for i, folder in enumerate((root / "calls", outside)):
        sf.write(folder / "voice.wav", voice(1.5, f0=120.0 + 60 * i, seed=i), RATE, subtype="PCM_16")
    shutil.copy(sample_call_path(), root / "calls" / "call.wav")
    (outside / "passwd.csv").write_text("root:x:0:0:root:/root:/bin/bash\n")
    header = "path,label,speaker,corpus,language\n"
    (root / "corpus.csv").write_text(f"{header}calls/voice.wav,angry,s1,c,en\n{outside / 'voice.wav'},sad,s2,c,en\n")
    (root / "escape.wav").symlink_to(outside / "voice.wav")
    (root / "mixed.txt").write_text("calls/voice.wav\nescape.wav\n../outside/voice.wav\n")
    return {"base": base, "root": root, "outside": outside, "artifacts": base / "artifacts"}


@pytest.fixture()
def worker_env(tree, monkeypatch) -> Settings:
    """The environment a worker runs with: data roots, artifacts, a gateway token and a Redis password."""
    url = clean_redis(DB)
    env = {"SER_REDIS_URL": url, "SER_DATA_ROOTS": str(tree["root"]), "SER_ARTIFACTS_DIR": str(tree["artifacts"]),
           "SER_GATEWAY_TOKEN": TOKEN, "SER_SERVICE_TOKEN": SERVICE_TOKEN}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield Settings.from_env()
    redis.Redis.from_url(url).flushdb()


def run_job(settings: Settings, kind: str, spec: dict, body=None):
    """Store a job as an unchecking submitter would (an old client, a hand-written record) and run it the way
    its Celery task does; returns the final record."""
    from services.jobs.tasks import analyze, fit, segment, train

    bodies = {"segment_batch": segment.segment_files, "analyze_batch": analyze.analyze_files,
              "fit_vocabulary": fit.build_vocabulary, "fit_speaker_pca": fit.build_speaker_pca,
              "train": train.run_training, "evaluate": train.run_training}
    store = JobStore.from_url(settings.redis_url)
    job = store.create(kind, spec)
    try:
        run_task(None, job.id, body or bodies[kind])
    except Exception:  # noqa: BLE001 - the task re-raises what failed the job; the record is what counts
        pass
    return store.get(job.id)


def training_spec(root: str) -> dict:
    return {"name": "t", "corpora": [{"name": "csv", "root": root}], "protocol": {"kind": "cross_corpus"},
            "model": {"architecture": "baseline:egemaps+rf"}}


# -- finding 1: train jobs read outside SER_DATA_ROOTS ------------------------------------------------


def test_a_train_job_whose_corpus_root_is_outside_the_roots_fails_without_opening_it(worker_env, tree):
    final = run_job(worker_env, "train", training_spec(str(tree["outside"] / "passwd.csv")))
    assert final.state is JobState.FAILED, final
    assert "outside the configured data roots" in final.error, final.error
    assert "missing column" not in final.error, "the file outside the roots was opened and parsed"


def test_a_train_job_whose_in_root_csv_lists_a_file_outside_fails_before_training(worker_env, tree):
    final = run_job(worker_env, "train", training_spec(str(tree["root"] / "corpus.csv")))
    assert final.state is JobState.FAILED, final
    assert "lists 1 file(s) outside the data roots" in final.error and "outside/voice.wav" in final.error


# -- finding 2: fit jobs read files an in-root CSV lists outside the roots -----------------------------


def test_a_fit_job_leaves_out_files_its_corpus_lists_outside_the_roots_and_says_so(worker_env, tree, monkeypatch):
    import shared.experiments.data as data

    opened: list[str] = []
    real_decode = data.decode
    monkeypatch.setattr(data, "decode", lambda path, *a, **k: opened.append(str(path)) or real_decode(path, *a, **k))
    spec = {"name": "confined", "corpora": [{"name": "csv", "root": str(tree["root"] / "corpus.csv")}], "k": 2,
            "max_images": 10, "image_size": 64}
    final = run_job(worker_env, "fit_vocabulary", spec)
    assert opened == [str(tree["root"] / "calls" / "voice.wav")], opened
    assert final.state is JobState.PARTIAL, final
    assert final.result["completed"] == 1 and final.result["failed"] == 1
    assert final.result["refused"] == [str(tree["outside"] / "voice.wav")]


# -- finding 3: output_dir is never checked ------------------------------------------------------------


def test_job_client_refuses_an_output_dir_outside_the_artifacts_and_output_roots(worker_env, tree, tmp_path):
    from services.jobs.app import make_app

    client = JobClient(make_app(worker_env), JobStore.from_url(worker_env.redis_url), worker_env)
    manifest = str(tree["root"] / "calls")
    for kind in ("segment_batch", "analyze_batch"):
        with pytest.raises(InvalidInput, match="outside SER_ARTIFACTS_DIR and SER_OUTPUT_ROOTS"):
            client.submit(kind, {"manifest": manifest, "output_dir": str(tmp_path / "anywhere")})
    assert not client.list(limit=10), "nothing may be queued"
    job = client.submit("segment_batch", {"manifest": manifest, "output_dir": str(tree["artifacts"] / "seg")})
    assert job.spec["output_dir"] == str(tree["artifacts"] / "seg")
    allowed = dataclasses.replace(worker_env, output_roots=(tmp_path,))
    JobClient(make_app(allowed), JobStore.from_url(allowed.redis_url), allowed).submit(
        "segment_batch", {"manifest": manifest, "output_dir": str(tmp_path / "anywhere")})


def test_a_worker_refuses_an_output_dir_outside_the_roots_before_writing(worker_env, tree, tmp_path):
    target = tmp_path / "not-an-output-root"
    final = run_job(worker_env, "segment_batch", {"manifest": str(tree["root"] / "calls"), "output_dir": str(target)})
    assert final.state is JobState.FAILED and "outside SER_ARTIFACTS_DIR and SER_OUTPUT_ROOTS" in final.error
    assert not target.exists()


@pytest.fixture()
def gateway(worker_env, tree):
    from services.jobs.app import make_app

    settings = dataclasses.replace(worker_env, gateway_token="")  # the token is another test's business
    server = serve_gateway(settings, port=0, jobs=JobClient(make_app(settings), JobStore.from_url(settings.redis_url),
                                                            settings))
    with channel(f"127.0.0.1:{server.port}", settings) as ch:
        yield jobs_pb2_grpc.JobsStub(ch)
    server.stop(0)


def refused(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(request, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value
    return err.value


def test_gateway_refuses_outputs_and_corpora_outside_the_roots_before_queueing(gateway, tree, tmp_path):
    calls = str(tree["root"] / "calls")
    for mode in (jobs_pb2.BATCH_MODE_ANALYZE, jobs_pb2.BATCH_MODE_SEGMENT_ONLY):
        err = refused(gateway.SubmitBatchAnalysis,
                      jobs_pb2.SubmitBatchAnalysisRequest(input=calls, output_dir=str(tmp_path), mode=mode))
        assert "outside SER_ARTIFACTS_DIR and SER_OUTPUT_ROOTS" in err.details()
    spec = jobs_pb2.JobSpec(text=json.dumps(training_spec(str(tree["outside"] / "passwd.csv"))))
    err = refused(gateway.SubmitTraining, jobs_pb2.SubmitTrainingRequest(spec=spec))
    assert "outside the configured data roots" in err.details()
    fit = jobs_pb2.JobSpec(text=json.dumps({"name": "v", "corpora": [{"name": "csv", "root": str(tree["outside"])}]}))
    err = refused(gateway.SubmitFit, jobs_pb2.SubmitFitRequest(target=jobs_pb2.FIT_TARGET_VOCABULARY, spec=fit))
    assert "outside the configured data roots" in err.details()
    assert not gateway.ListJobs(jobs_pb2.ListJobsRequest(), timeout=10).jobs, "nothing may be queued"
    ok = gateway.SubmitBatchAnalysis(jobs_pb2.SubmitBatchAnalysisRequest(
        input=calls, output_dir=str(tree["artifacts"] / "batch")), timeout=10)
    assert ok.state == jobs_pb2.JOB_STATE_PENDING


# -- finding 4: secrets leak through variable expansion -----------------------------------------------

LEAKY_ROOT = "/nonexistent/${SER_GATEWAY_TOKEN}/${SER_REDIS_URL}/${SER_SERVICE_TOKEN}"


def secret_values(settings: Settings) -> list[str]:
    return [TOKEN, SERVICE_TOKEN, PASSWORD, settings.redis_url]


def test_corpus_roots_expand_only_the_allow_list_at_submit(gateway, worker_env):
    for kind, request in (
        ("train", jobs_pb2.SubmitTrainingRequest(spec=jobs_pb2.JobSpec(text=json.dumps(training_spec(LEAKY_ROOT))))),
        ("fit", jobs_pb2.SubmitFitRequest(target=jobs_pb2.FIT_TARGET_SPEAKER_PCA, spec=jobs_pb2.JobSpec(
            text=json.dumps({"corpora": [{"name": "savee", "root": LEAKY_ROOT}]})))),
    ):
        err = refused(gateway.SubmitTraining if kind == "train" else gateway.SubmitFit, request)
        assert "${SER_GATEWAY_TOKEN} is not expanded" in err.details(), err.details()
        assert not [s for s in secret_values(worker_env) if s in err.details()]


def test_no_job_error_log_line_or_report_holds_a_secret(worker_env, tree, monkeypatch, caplog):
    """The worker side, past any submit check: the leaky root, and a Redis URL with a password."""
    leaky = f"redis://:{PASSWORD}@127.0.0.1:6379/{DB}"
    monkeypatch.setenv("SER_REDIS_URL", leaky)  # the password is not checked (Redis has none), it must not echo
    settings = Settings.from_env()
    caplog.set_level(logging.DEBUG)
    jobs = [run_job(settings, "train", training_spec(LEAKY_ROOT)),
            run_job(settings, "fit_speaker_pca", {"corpora": [{"name": "savee", "root": "${SER_REDIS_URL}"}]}),
            run_job(settings, "segment_batch", {"manifest": str(tree["root"] / "mixed.txt"), "output_dir": LEAKY_ROOT})]

    def bad_body(ctx, settings):
        raise RuntimeError(f"a library error quoting the environment: {TOKEN} {leaky}")

    jobs.append(run_job(settings, "segment_batch", {"manifest": str(tree["root"] / "calls")}, body=bad_body))
    assert [j.state for j in jobs] == [JobState.FAILED] * 4, jobs
    assert "${SER_GATEWAY_TOKEN} is not expanded" in jobs[0].error and "***" in jobs[3].error
    text = json.dumps([j.to_dict() for j in jobs]) + caplog.text
    text += "".join(p.read_text(errors="replace") for p in tree["artifacts"].rglob("*") if p.is_file())
    leaked = [s for s in secret_values(settings) if s in text]
    assert not leaked, f"secrets in job records, logs or reports: {leaked}"


# -- finding 5: one rule for every task, and manifests' entries file by file --------------------------


@pytest.mark.parametrize("kind", sorted(TASK_NAMES))
def test_every_task_refuses_paths_outside_the_roots_before_its_body_runs(worker_env, tree, kind):
    outside = str(tree["outside"])
    specs = {
        "segment_batch": {"manifest": outside},
        "analyze_batch": {"manifest": str(tree["root"] / "calls"), "output_dir": outside},
        "fit_vocabulary": {"manifest": outside},
        "fit_speaker_pca": {"inputs": [str(tree["outside"] / "voice.wav")]},
        "train": training_spec(outside),
        "evaluate": training_spec(outside),
    }
    ran = []
    final = run_job(worker_env, kind, specs[kind], body=lambda ctx, settings: ran.append(ctx) or {})
    assert final.state is JobState.FAILED and not ran, final
    assert "outside" in final.error and final.error.startswith("invalid_input:"), final.error


def test_a_spec_type_that_does_not_declare_its_paths_cannot_be_submitted():
    from pydantic import BaseModel

    from services.jobs.specs import SPEC_TYPES, Confinable, confine_spec
    from shared.paths import PathPolicy

    assert all(issubclass(t, Confinable) for t in SPEC_TYPES.values())

    class Undeclared(BaseModel):
        output_dir: str = "/anywhere"

    with pytest.raises(SpecError, match="does not declare its paths"):
        confine_spec(Undeclared(), PathPolicy())


def test_an_escaping_entry_is_that_files_failure_and_the_batch_goes_on(worker_env, tree):
    final = run_job(worker_env, "segment_batch", {"manifest": str(tree["root"] / "mixed.txt")})
    assert final.state is JobState.PARTIAL, final
    assert (final.result["completed"], final.result["failed"]) == (1, 2)
    records = [json.loads(line) for line in Path(final.result["output"]).read_text().splitlines()]
    by_path = {r["path"]: r for r in records}
    assert by_path[str(tree["root"] / "calls" / "voice.wav")]["ok"]
    for entry in ("escape.wav", "../outside/voice.wav"):
        assert by_path[str(tree["root"] / entry)]["error"] == "invalid_input"


# -- issue 18, finding 1: a corpus option names a file -------------------------------------------------


def cremad_spec(kind: str, root: Path, **options: str) -> dict:
    corpora = [{"name": "crema-d", "root": str(root), "options": options}]
    if kind in ("train", "evaluate"):
        return {**training_spec(str(root)), "corpora": corpora}
    return {"corpora": corpora}


@pytest.fixture()
def cremad_root(tree) -> Path:
    root = tree["root"] / "cremad"
    (root / "AudioWAV").mkdir(parents=True, exist_ok=True)
    shutil.copy(tree["root"] / "calls" / "voice.wav", root / "AudioWAV" / "1001_DFA_ANG_XX.wav")
    return root


@pytest.mark.parametrize("kind", ["train", "fit_speaker_pca"])
def test_a_path_option_outside_the_roots_is_refused_at_submit_and_in_the_worker(gateway, worker_env, tree, cremad_root,
                                                                                 kind):
    spec = cremad_spec(kind, cremad_root, demographics=str(tree["outside"] / "passwd.csv"))
    request = (jobs_pb2.SubmitTrainingRequest(spec=jobs_pb2.JobSpec(text=json.dumps(spec))) if kind == "train" else
               jobs_pb2.SubmitFitRequest(target=jobs_pb2.FIT_TARGET_SPEAKER_PCA,
                                         spec=jobs_pb2.JobSpec(text=json.dumps(spec))))
    err = refused(gateway.SubmitTraining if kind == "train" else gateway.SubmitFit, request)
    assert "outside the configured data roots" in err.details() and "root:x" not in err.details()
    for leak in ("/proc/self/environ", str(tree["outside"] / "passwd.csv")):
        final = run_job(worker_env, kind, cremad_spec(kind, cremad_root, demographics=leak))
        assert final.state is JobState.FAILED, final
        assert final.error.startswith("invalid_input:") and "root:x" not in final.error, final.error
        assert "SER_GATEWAY_TOKEN" not in final.error and TOKEN not in final.error


def test_a_demographics_table_linked_out_of_the_corpus_is_never_read(worker_env, tree, cremad_root):
    link = cremad_root / "VideoDemographics.csv"
    link.symlink_to(tree["outside"] / "passwd.csv")
    try:
        final = run_job(worker_env, "train", cremad_spec("train", cremad_root))
    finally:
        link.unlink()
    assert final.state is JobState.FAILED and "resolves outside the corpus root" in final.error, final.error
    assert "root:x" not in final.error


def test_a_loader_error_names_the_file_and_the_rule_never_its_contents(tmp_path):
    from shared.corpora import cremad

    (tmp_path / "AudioWAV").mkdir()
    table = tmp_path / "table.csv"
    table.write_text("root:x:0:0:root:/root:/bin/bash\nSER_GATEWAY_TOKEN=secret\n")
    with pytest.raises(InvalidInput) as err:
        cremad.load(tmp_path, demographics=table)
    assert str(table) in str(err.value) and "ActorID and Sex" in str(err.value)
    assert "root:x" not in str(err.value) and "secret" not in str(err.value)


def test_every_path_typed_option_is_confined_by_its_type_not_its_name(tmp_path):
    from shared.corpora.registry import LOADERS, path_options
    from shared.experiments.spec import CorpusRef, ModelSection
    from shared.paths import PathPolicy

    assert path_options("crema-d") == ("demographics",)
    assert all(isinstance(path_options(name), tuple) for name in LOADERS)
    policy = PathPolicy(data_roots=(tmp_path,))
    with pytest.raises(InvalidInput, match="outside the configured data roots"):
        CorpusRef(name="crema-d", root=str(tmp_path), options={"demographics": "/etc/passwd"}).confined(policy)
    with pytest.raises(SpecError, match="has no option"):
        CorpusRef(name="crema-d", root=str(tmp_path), options={"nonsense": 1}).confined(policy)
    with pytest.raises(InvalidInput, match="outside the configured data roots"):
        ModelSection(architecture="resnet50", overrides={"weights_path": "/etc/passwd"}).confined(policy)


# -- issue 18, finding 4: a spec cannot choose where the worker sends its token ------------------------


def test_an_analyze_batch_spec_cannot_name_a_gateway(worker_env, tree):
    from services.jobs.app import make_app

    client = JobClient(make_app(worker_env), JobStore.from_url(worker_env.redis_url), worker_env)
    with pytest.raises(SpecError, match="`gateway` is not a spec field"):
        client.submit("analyze_batch", {"manifest": str(tree["root"] / "calls"), "gateway": "attacker.example:443"})
    assert not client.list(limit=10), "nothing may be queued"
    final = run_job(worker_env, "analyze_batch", {"manifest": str(tree["root"] / "calls"), "gateway": "evil:1"})
    assert final.state is JobState.FAILED and "`gateway` is not a spec field" in final.error, final.error


# -- issue 18, finding 7: links to one file, and a record that once broke GetJob ----------------------


def test_links_to_one_file_are_one_file_and_every_read_of_the_job_answers(gateway, worker_env, tree, tmp_path):
    links = tree["root"] / "links"
    links.mkdir(exist_ok=True)
    for i in range(5):
        (links / f"link{i}.wav").unlink(missing_ok=True)
        (links / f"link{i}.wav").symlink_to(tree["root"] / "calls" / "voice.wav")
    final = run_job(worker_env, "segment_batch", {"manifest": str(links),
                                                  "inputs": [str(tree["root"] / "calls" / "voice.wav")]})
    assert (final.state, final.result["files"], final.done, final.total) == (JobState.SUCCEEDED, 1, 1, 1), final
    assert len(Path(final.result["output"]).read_text().splitlines()) == 1
    store = JobStore.from_url(worker_env.redis_url)
    store.update(final.id, done=-299, total=1, progress=-299.0)  # what the worker before the fix stored
    got = gateway.GetJob(jobs_pb2.GetJobRequest(id=final.id), timeout=10)
    assert got.progress.items_done == 0 and got.progress.fraction == 0.0
    events = list(gateway.WatchJob(jobs_pb2.WatchJobRequest(id=final.id), timeout=10))
    assert events and events[-1].final


# -- issue 18, finding 6: writes never follow a link, and never land in what the services own -----------


def test_an_output_dir_inside_the_registry_run_or_call_store_is_refused(worker_env, tree):
    from services.jobs.app import make_app

    client = JobClient(make_app(worker_env), JobStore.from_url(worker_env.redis_url), worker_env)
    for owned in ("registry/default", "run", "http-calls/x", "cache"):
        with pytest.raises(InvalidInput, match="inside a folder the services own"):
            client.submit("segment_batch", {"manifest": str(tree["root"] / "calls"),
                                            "output_dir": str(tree["artifacts"] / owned)})
    final = run_job(worker_env, "segment_batch", {"manifest": str(tree["root"] / "calls"),
                                                  "output_dir": str(tree["artifacts"] / "registry")})
    assert final.state is JobState.FAILED and "inside a folder the services own" in final.error, final.error


def test_a_job_never_writes_through_a_link_placed_in_its_output_folder(worker_env, tree, tmp_path):
    from services.jobs.jsonl import JsonlWriter

    out, victim = tree["artifacts"] / "linked", tmp_path / "victim.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    victim.write_text("")
    (out / "results.jsonl").symlink_to(victim)
    with pytest.raises(InvalidInput, match="symbolic link"):
        JsonlWriter(out / "results.jsonl", out).write({"x": 1})
    (out / "calls").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(InvalidInput, match="symbolic link"):
        JsonlWriter(out / "calls" / "one.jsonl", out)
    from services.jobs.tasks.analyze import write_call

    with pytest.raises(InvalidInput, match="symbolic link"):
        write_call({"timeline": []}, out, out / "calls" / "one.jsonl")
    assert victim.read_text() == "" and list(tmp_path.iterdir()) == [victim]


# -- issue 18, finding 2 (part): a watcher that left frees its server thread within seconds -------------


def test_a_watch_whose_client_left_frees_its_thread_within_seconds(worker_env):
    import time

    from services.jobs.app import make_app

    settings = dataclasses.replace(worker_env, gateway_token="", grpc_workers=2)
    client = JobClient(make_app(settings), JobStore.from_url(settings.redis_url), settings)
    job = client.store.create("segment_batch", {})
    client.store.update(job.id, state=JobState.RUNNING, message="never changes")
    server = serve_gateway(settings, port=0, jobs=client)
    try:
        with channel(f"127.0.0.1:{server.port}", settings) as ch:
            stub = jobs_pb2_grpc.JobsStub(ch)
            for _ in range(2 * settings.grpc_workers):  # twice the pool: each must be freed for the next
                call = stub.WatchJob(jobs_pb2.WatchJobRequest(id=job.id), timeout=30)
                assert next(call).job.id == job.id
                call.cancel()
            time.sleep(2.5)
            started = time.monotonic()
            assert stub.GetJob(jobs_pb2.GetJobRequest(id=job.id), timeout=5).id == job.id
            assert time.monotonic() - started < 2.0
    finally:
        server.stop(0)
