"""fit_vocabulary and fit_speaker_pca on a real Redis and a real Celery worker, then served.

The training corpus is a tiny synthetic SAVEE in its flat layout (``DC_a01.wav``) with one
corrupt file; the artifacts the jobs publish are loaded by in-process features and speaker
servers pointed at the same artifacts folder.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from ser.v1 import common_pb2, features_pb2, features_pb2_grpc, speaker_pb2, speaker_pb2_grpc

from services.common.client import channel
from services.common.convert import tensor_to_ndarray
from services.jobs.store import JobState
from shared.errors import SpecError
from shared.features.artifacts import SPEAKER_PCA, VOCABULARIES, ArtifactStore, read_provenance
from tests.contract.voices import voice, wav_bytes, write_savee

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.celery]

SPEAKERS = {"DC": 105.0, "JE": 150.0, "JK": 200.0, "KL": 250.0}


@pytest.fixture()
def savee(tmp_path: Path) -> Path:
    root = write_savee(tmp_path / "SAVEE", SPEAKERS)
    (root / "DC_h01.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 10)  # parses as SAVEE, does not decode
    return root


def _finish(job_client, job_id: str, timeout_s: float = 240) -> tuple[list[dict], object]:
    events = list(job_client.watch(job_id, timeout_s=timeout_s))
    final = job_client.get(job_id)
    assert final.state.finished, f"job did not finish: {final}"
    return events, final


def test_fit_jobs_publish_artifacts_that_the_services_load(worker, job_client, settings, savee, monkeypatch, capsys):
    corpus = [{"name": "savee", "root": str(savee)}]
    job = job_client.submit("fit_vocabulary", {"corpora": corpus, "k_candidates": [4, 8], "name": "itest",
                                               "max_images": 50})
    events, final = _finish(job_client, job.id)
    assert final.state is JobState.PARTIAL, final  # published, but one training file did not decode
    result = final.result
    assert (result["name"], result["version"], result["corpora"]) == ("itest", "1", ["savee"])
    assert result["items"] == 13 and result["skipped"] == 1 and result["images"] == 12
    assert (result["completed"], result["failed"]) == (12, 1)
    assert set(result["silhouette_scores"]) == {"4", "8"} and result["k"] in (4, 8)
    assert any(e.get("done") == e.get("total") == 14 for e in events), "progress must reach the end"
    folder = settings.artifacts_dir / VOCABULARIES / "itest" / "1"
    assert Path(result["path"]) == folder
    provenance = read_provenance(folder)
    assert provenance["job_id"] == job.id and provenance["sources"][0]["corpus"] == "savee"
    assert json.loads((folder / "vocabulary.json").read_text())["corpora"] == ["savee"]

    # the CLI submits the PCA job and watches it to the end
    monkeypatch.setenv("SER_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("SER_ARTIFACTS_DIR", str(settings.artifacts_dir))
    from services.cli.main import main

    # PARTIAL (the corrupt file again): published, and the CLI says so with a non-zero exit
    assert main(["fit", "speaker-pca", "--corpus", f"savee={savee}", "--width", "8", "--name", "itest", "--watch"]) == 1
    out = capsys.readouterr().out
    assert "fit_speaker_pca" in out and "PARTIAL" in out and "failed items: 1 of 13" in out
    version, pca_folder = ArtifactStore(settings.artifacts_dir, SPEAKER_PCA).resolve("itest", "latest")
    assert version == "1" and read_provenance(pca_folder)["sources"][0]["items"] == 13

    # a second fit of the same name is version 2, and "latest" moves to it
    again = job_client.submit("fit_vocabulary", {"corpora": corpus, "k": 4, "name": "itest"})
    _, final = _finish(job_client, again.id)
    assert final.state is JobState.PARTIAL and final.result["version"] == "2", final
    assert ArtifactStore(settings.artifacts_dir, VOCABULARIES).versions("itest") == [1, 2]

    serve_settings = dataclasses.replace(settings, grpc_workers=2)
    audio = common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=wav_bytes(voice(1.5, f0=170.0, seed=7))))
    from services.features.server import serve as serve_features
    from services.speaker.server import serve as serve_speaker

    server, port = serve_features(serve_settings, port=0)
    try:
        with channel(f"127.0.0.1:{port}", serve_settings) as ch:
            stub = features_pb2_grpc.FeaturesStub(ch)
            for version, k in (("1", result["k"]), ("", 4)):
                reply = stub.ExtractBovw(features_pb2.ExtractBovwRequest(
                    input=features_pb2.FeatureInput(audio=audio),
                    vocabulary=common_pb2.ModelRef(name="itest", version=version)), timeout=60)
                hist = tensor_to_ndarray(reply.items[0].tensor)
                assert hist.shape == (k,) and hist.sum() == pytest.approx(1.0, abs=1e-5)
                assert reply.vocabulary.version == (version or "2")
    finally:
        server.stop(0).wait()

    server, port = serve_speaker(serve_settings, port=0)
    try:
        with channel(f"127.0.0.1:{port}", serve_settings) as ch:
            reply = speaker_pb2_grpc.SpeakerStub(ch).Embed(
                speaker_pb2.EmbedRequest(audio=audio, projection=common_pb2.ModelRef(name="itest")), timeout=60)
            vector = tensor_to_ndarray(reply.embeddings[0].vector)
            assert reply.dim == 8 and vector.shape == (8,) and np.isfinite(vector).all() and np.abs(vector).sum() > 0
    finally:
        server.stop(0).wait()


def test_fit_specs_are_refused_before_queueing(job_client):
    for kind, spec, match in (
        ("fit_vocabulary", {"k": 8}, "corpora"),
        ("fit_vocabulary", {"manifest": "x", "k_candidates": [1, 8]}, ">= 2"),
        ("fit_vocabulary", {"manifest": "x", "preset": "nope"}, "preset"),
        ("fit_speaker_pca", {"manifest": "x", "width": 0}, "width"),
        ("fit_speaker_pca", {"manifest": "x", "name": "../up"}, "name"),
        ("fit_speaker_pca", {"manifest": "x", "bogus": 1}, "bogus"),
    ):
        with pytest.raises(SpecError, match=match):
            job_client.submit(kind, spec)
