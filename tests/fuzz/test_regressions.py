"""Regressions for what hostile-input testing found, over real gRPC where a caller would send it:

1. A WAV header claiming a 1 Hz sample rate: 3.6 KB decoded to 30 min of audio, resampled to 16 kHz
   (800 MB, 40 s of VAD) -- a tiny request that could take a service down. Now refused (< 8 kHz).
2. A YAML alias bomb ("billion laughs") in a job spec: 511 bytes expanded to 10^7 values during
   validation and JSON encoding (and 10^9 with two more lines). Now refused by size after parsing.
3. A deeply nested YAML spec raised RecursionError in the parser (INTERNAL). Now INVALID_ARGUMENT.
4. A batch input or spec path with a NUL byte, an unknown ``~user`` or a name too long raised
   ValueError/RuntimeError/OSError while being confined or read (INTERNAL). Now INVALID_ARGUMENT.
5. ``window_frames`` near 2**32 on ExtractLogMel/BatchExtract padded each clip to terabytes
   (MemoryError, INTERNAL; a few million frames would have taken the service down). Now at most 60 s.
   The same for an image size near 2**32 (ExtractImage). Now at most 1024 pixels.
6. ListJobs with a page_token of 2310000000000000000 (or -5): Redis refused the index (INTERNAL).
"""
from __future__ import annotations

import dataclasses
import io
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import soundfile as sf
from ser.v1 import common_pb2, jobs_pb2, jobs_pb2_grpc, preprocess_pb2, preprocess_pb2_grpc

from services.common.client import channel
from services.gateway.server import serve as serve_gateway
from services.preprocess.server import serve as serve_preprocess
from shared.audio.decode import MIN_SAMPLE_RATE, decode
from shared.errors import SpecError, UnsupportedAudio
from shared.settings import Settings
from shared.spec_io import read_mapping
from tests.helpers import free_port


def low_rate_wav(rate: int, seconds: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, (0.1 * np.random.default_rng(0).standard_normal(rate * seconds)).astype(np.float32), rate,
             format="WAV", subtype="PCM_16")
    return buf.getvalue()


def alias_bomb(levels: int = 9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    options = "\n".join("      " + line for line in lines)
    return f"name: v1\ncorpora:\n  - name: savee\n    root: /data\n    options:\n{options}\n"


def test_audio_below_the_minimum_sample_rate_is_refused_by_the_decoder():
    for rate in (1, 100, MIN_SAMPLE_RATE - 1):
        with pytest.raises(UnsupportedAudio, match="below the minimum"):
            decode(low_rate_wav(rate, 2))
    assert decode(low_rate_wav(MIN_SAMPLE_RATE, 1)).sample_rate == MIN_SAMPLE_RATE


def test_a_tiny_low_rate_wav_is_refused_promptly_over_grpc():
    settings = Settings.from_env(env={})
    server, port = serve_preprocess(settings, port=0)
    try:
        with channel(f"127.0.0.1:{port}", settings) as ch:
            data = low_rate_wav(1, 3600)  # 7 KB claiming one hour
            started = time.perf_counter()
            with pytest.raises(grpc.RpcError) as err:
                preprocess_pb2_grpc.PreprocessStub(ch).Prepare(preprocess_pb2.PrepareRequest(
                    audio=common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=data))), timeout=30)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "below the minimum" in err.value.details()
        assert time.perf_counter() - started < 2.0
    finally:
        server.stop(0).wait()


def test_yaml_alias_bombs_and_deep_nesting_are_spec_errors():
    started = time.perf_counter()
    with pytest.raises(SpecError, match="expands to over"):
        read_mapping(alias_bomb(), "job")
    with pytest.raises(SpecError, match="expands to over"):
        read_mapping("a: &a [*a]\n", "job")  # a self-referencing cycle
    with pytest.raises(SpecError, match="nested too deeply"):
        read_mapping("a: " + "[" * 5000 + "]" * 5000 + "\n", "job")
    assert time.perf_counter() - started < 15.0
    assert read_mapping("a: &x [1, 2]\nb: *x\n", "job") == {"a": [1, 2], "b": [1, 2]}, "modest aliases still work"


def test_hostile_yaml_specs_are_invalid_argument_through_the_jobs_api():
    """No Redis is needed: specs are validated before anything is stored."""
    base = Settings.from_env(env={})
    gateway = serve_gateway(dataclasses.replace(base, redis_url=f"redis://127.0.0.1:{free_port()}/0"), port=0)
    try:
        with channel(f"127.0.0.1:{gateway.port}", base) as ch:
            stub = jobs_pb2_grpc.JobsStub(ch)
            for text in (alias_bomb(), "name: v1\nx: " + "[" * 3000 + "]" * 3000 + "\n"):
                started = time.perf_counter()
                with pytest.raises(grpc.RpcError) as err:
                    stub.SubmitFit(jobs_pb2.SubmitFitRequest(target=jobs_pb2.FIT_TARGET_VOCABULARY,
                                                             spec=jobs_pb2.JobSpec(text=text)), timeout=30)
                assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
                assert time.perf_counter() - started < 10.0
    finally:
        gateway.stop(0)


@pytest.mark.parametrize("roots", [(), ("/var/lib/ser/data",)])
def test_unresolvable_paths_are_invalid_argument_through_the_jobs_api(roots, tmp_path):
    base = dataclasses.replace(Settings.from_env(env={}), redis_url=f"redis://127.0.0.1:{free_port()}/0",
                               data_roots=tuple(map(Path, roots)))
    gateway = serve_gateway(base, port=0)
    try:
        with channel(f"127.0.0.1:{gateway.port}", base) as ch:
            stub = jobs_pb2_grpc.JobsStub(ch)
            for bad in ("\x00", "calls\x00.wav", "~no_such_user_here/calls", "a" * 5000):
                batch = (stub.SubmitBatchAnalysis, jobs_pb2.SubmitBatchAnalysisRequest(input=bad))
                fit = (stub.SubmitFit, jobs_pb2.SubmitFitRequest(target=jobs_pb2.FIT_TARGET_VOCABULARY,
                                                                 spec=jobs_pb2.JobSpec(path=bad)))
                # a long name is a valid batch input when no roots confine it (it fails in the worker)
                for call, request in (fit,) if len(bad) > 1000 and not roots else (batch, fit):
                    with pytest.raises(grpc.RpcError) as err:
                        call(request, timeout=10)
                    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (bad[:20], err.value.details())
    finally:
        gateway.stop(0)


def test_a_huge_log_mel_window_or_image_is_invalid_argument_and_a_normal_one_works(tmp_path):
    from ser.v1 import features_pb2, features_pb2_grpc

    from services.features.server import serve as serve_features

    settings = dataclasses.replace(Settings.from_env(env={}), artifacts_dir=tmp_path)
    server, port = serve_features(settings, port=0)
    audio = common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=low_rate_wav(16000, 1)))
    try:
        with channel(f"127.0.0.1:{port}", settings) as ch:
            stub = features_pb2_grpc.FeaturesStub(ch)
            for frames in (2**32 - 1, 10_000_000, 6002):
                started = time.perf_counter()
                with pytest.raises(grpc.RpcError) as err:
                    stub.ExtractLogMel(features_pb2.ExtractLogMelRequest(
                        input=features_pb2.FeatureInput(audio=audio), window_frames=frames), timeout=30)
                assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "window_frames" in err.value.details()
                assert time.perf_counter() - started < 2.0
            reply = stub.ExtractLogMel(features_pb2.ExtractLogMelRequest(
                input=features_pb2.FeatureInput(audio=audio), window_frames=100), timeout=30)
            assert len(reply.items) == 1
            for size in (2**32 - 1, 50_000, 1025):
                with pytest.raises(grpc.RpcError) as err:
                    stub.ExtractImage(features_pb2.ExtractImageRequest(
                        input=features_pb2.FeatureInput(audio=audio),
                        image=features_pb2.ImageOptions(height=size, width=size)), timeout=30)
                assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "image size" in err.value.details()
    finally:
        server.stop(0).wait()


@pytest.mark.redis
def test_list_jobs_with_an_absurd_page_token_is_invalid_argument():
    import redis

    from services.jobs.app import make_app
    from services.jobs.client import JobClient
    from services.jobs.store import JobStore
    from tests.helpers import scratch_redis_url

    url = scratch_redis_url(4)
    try:
        redis.Redis.from_url(url).ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {url}")
    settings = dataclasses.replace(Settings.from_env(env={}), redis_url=url)
    gateway = serve_gateway(settings, port=0, jobs=JobClient(make_app(settings), JobStore.from_url(url), settings))
    try:
        with channel(f"127.0.0.1:{gateway.port}", settings) as ch:
            stub = jobs_pb2_grpc.JobsStub(ch)
            for token in ("2310000000000000000", "-5", "99999999999999999999999"):
                with pytest.raises(grpc.RpcError) as err:
                    stub.ListJobs(jobs_pb2.ListJobsRequest(page_token=token), timeout=10)
                assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, token
            assert stub.ListJobs(jobs_pb2.ListJobsRequest(page_token="0"), timeout=10) is not None
    finally:
        gateway.stop(0)
