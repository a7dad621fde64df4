"""Every RPC of every service on hostile requests over real gRPC: arbitrary bytes as the serialized
request, and structurally valid protobufs with hostile field values (extremes, NaN, unknown enum
values, path traversal, junk audio, real audio with absurd options). Always a deliberate status code
(never INTERNAL or UNKNOWN, which mean an unhandled exception, nor a deadline, which means a hang),
and every server still serves afterwards."""
from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
import redis
from google.protobuf import descriptor as pbd
from google.protobuf import message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import given
from hypothesis import strategies as st
from ser.v1 import analysis_pb2, emotion_pb2, features_pb2, jobs_pb2, preprocess_pb2, speaker_pb2

from services.common.client import channel
from services.features.server import serve as serve_features
from services.gateway.server import serve as serve_gateway
from services.inference.config import InferenceConfig
from services.inference.server import serve as serve_inference
from services.jobs.client import JobClient
from services.preprocess.server import serve as serve_preprocess
from services.speaker.server import serve as serve_speaker
from shared.assets import sample_call_path
from shared.registry import ModelRegistry
from shared.settings import Settings
from tests.contract.tiny_model import FakeEncoder, publish_tiny
from tests.fuzz.budget import FUZZ
from tests.fuzz.test_decode_fuzz import SEEDS
from tests.helpers import scratch_redis_url

TIMEOUT_S = 30.0
SLOW_S = 10.0
FAULTS = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED}
SERVICES = {  # service -> the module whose descriptor declares it
    "preprocess": (preprocess_pb2, "Preprocess"), "features": (features_pb2, "Features"),
    "speaker": (speaker_pb2, "Speaker"), "inference": (emotion_pb2, "Emotion"),
    "gateway": (analysis_pb2, "CallAnalysis"), "jobs": (jobs_pb2, "Jobs"),
}
REDIS_DB = 4


@dataclass(frozen=True)
class Rpc:
    service: str
    path: str
    request: type
    client_streaming: bool
    server_streaming: bool

    def __str__(self) -> str:
        return self.path


RPCS = [Rpc(name, f"/{svc.full_name}/{m.name}", message_factory.GetMessageClass(m.input_type), m.client_streaming,
            m.server_streaming)
        for name, (module, service) in SERVICES.items()
        for svc in [module.DESCRIPTOR.services_by_name[service]] for m in svc.methods]


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[dict[str, str]]:
    from services.jobs.app import make_app
    from services.jobs.store import JobStore

    root = tmp_path_factory.mktemp("fuzz")
    publish_tiny(root / "artifacts" / "registry")
    (root / "data").mkdir()
    url = scratch_redis_url(REDIS_DB)
    try:
        redis.Redis.from_url(url).flushdb()
    except redis.ConnectionError:
        pass  # the Jobs API then answers UNAVAILABLE, which is a deliberate status too
    settings = dataclasses.replace(Settings.from_env(env={}), artifacts_dir=root / "artifacts", grpc_workers=8,
                                   redis_url=url, data_roots=(root / "data",))
    preprocess, preprocess_port = serve_preprocess(settings, port=0)
    features, features_port = serve_features(settings, port=0)
    speaker, speaker_port = serve_speaker(settings, port=0, encoder=FakeEncoder())
    inference = serve_inference(settings, port=0, config=InferenceConfig(poll_s=5),
                                registry=ModelRegistry(root / "artifacts" / "registry"), device="cpu",
                                encoder=FakeEncoder())
    addresses = {**settings.addresses, "preprocess": f"127.0.0.1:{preprocess_port}",
                 "inference": f"127.0.0.1:{inference.port}"}
    gateway_settings = dataclasses.replace(settings, addresses=addresses)
    gateway = serve_gateway(gateway_settings, port=0,
                            jobs=JobClient(make_app(gateway_settings), JobStore.from_url(url), gateway_settings))
    yield {"preprocess": addresses["preprocess"], "features": f"127.0.0.1:{features_port}",
           "speaker": f"127.0.0.1:{speaker_port}", "inference": addresses["inference"],
           "gateway": f"127.0.0.1:{gateway.port}", "jobs": f"127.0.0.1:{gateway.port}"}
    for server in (gateway, inference):
        server.stop(0)
    for server in (preprocess, features, speaker):
        if not server.stop(0).wait(30):  # as services.common.server.stop_server: report, do not hang the suite
            warnings.warn(f"{server} did not stop within 30 s of stop(0)", stacklevel=1)
    try:
        redis.Redis.from_url(url).flushdb()
    except redis.ConnectionError:
        pass


@pytest.fixture(scope="module")
def channels(stack) -> Iterator[dict[str, grpc.Channel]]:
    base = Settings.from_env(env={})
    opened = {name: channel(address, base) for name, address in stack.items()}
    yield opened
    for ch in opened.values():
        ch.close()


# gRPC's own answer when a request does not parse, before any service code runs
GRPC_PARSE_FAILURE = (grpc.StatusCode.INTERNAL, "Exception deserializing request!")


def invoke(ch: grpc.Channel, rpc: Rpc, payloads: list[bytes]) -> tuple[grpc.StatusCode, str]:
    """Send already-serialized request bytes (identity serializers) and return the final status."""
    try:
        if rpc.client_streaming and rpc.server_streaming:
            for _ in ch.stream_stream(rpc.path)(iter(payloads), timeout=TIMEOUT_S):
                pass
        elif rpc.client_streaming:
            ch.stream_unary(rpc.path)(iter(payloads), timeout=TIMEOUT_S)
        elif rpc.server_streaming:
            for _ in ch.unary_stream(rpc.path)(payloads[0], timeout=TIMEOUT_S):
                pass
        else:
            ch.unary_unary(rpc.path)(payloads[0], timeout=TIMEOUT_S)
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


def assert_handled(ch: grpc.Channel, rpc: Rpc, payloads: list[bytes]) -> None:
    started = time.perf_counter()
    code, details = invoke(ch, rpc, payloads)
    took = time.perf_counter() - started
    assert (code, details) == GRPC_PARSE_FAILURE or code not in FAULTS, (
        f"{rpc}: {code.name} ({details}) after {took:.1f} s for payload(s) {[p[:80] for p in payloads]}")
    assert took < SLOW_S, f"{rpc}: {code.name} took {took:.1f} s for payload(s) {[p[:80] for p in payloads]}"


# ---- hostile values for each protobuf field type ---------------------------------------------------
HOSTILE_TEXT = ["", "../../../../etc/passwd", "/etc/passwd", "..", "\x00", "a" * 5000, "%s%n%x", "{{7*7}}",
                "model: 3\n", "name: x\ninputs: [/etc/passwd]\n", "default", "*", "🙂" * 10, "\ud7ff", "NaN"]
F = pbd.FieldDescriptor


def ints(bits: int, signed: bool) -> st.SearchStrategy[int]:
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    edges = [v for v in (lo, hi, 0, 1, -1, 2, 16000, 44100, 1 << 20, hi // 2) if lo <= v <= hi]
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi))


def scalar(field: pbd.FieldDescriptor) -> st.SearchStrategy:
    t = field.type
    if t in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32):
        return ints(32, True)
    if t in (F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64):
        return ints(64, True)
    if t in (F.TYPE_UINT32, F.TYPE_FIXED32):
        return ints(32, False)
    if t in (F.TYPE_UINT64, F.TYPE_FIXED64):
        return ints(64, False)
    if t in (F.TYPE_FLOAT, F.TYPE_DOUBLE):
        return st.one_of(st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-45, 3.4e38, -1.0]),
                         st.floats(width=32 if t == F.TYPE_FLOAT else 64))
    if t == F.TYPE_BOOL:
        return st.booleans()
    if t == F.TYPE_ENUM:
        return st.one_of(st.sampled_from([v.number for v in field.enum_type.values]), st.integers(-3, 1000))
    if t == F.TYPE_STRING:
        return st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=40))
    if t == F.TYPE_BYTES:
        return st.one_of(st.sampled_from([SEEDS["wav16"], SEEDS["flac"], b"", b"\x00" * 4096]), st.binary(max_size=512))
    raise AssertionError(f"unhandled field type {t}")


def value_of(field: pbd.FieldDescriptor, depth: int) -> st.SearchStrategy:
    if field.type == F.TYPE_MESSAGE:
        return messages(field.message_type, depth + 1)
    return scalar(field)


def messages(descriptor: pbd.Descriptor, depth: int = 0) -> st.SearchStrategy:
    """A message of ``descriptor`` type with a random subset of fields set to hostile values."""
    cls = message_factory.GetMessageClass(descriptor)
    if depth > 3:
        return st.just(cls())
    optional = {}
    for field in descriptor.fields:
        if field.is_repeated:
            if field.type == F.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
                key, val = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
                optional[field.name] = st.dictionaries(scalar(key), value_of(val, depth), max_size=3)
            else:
                optional[field.name] = st.lists(value_of(field, depth), max_size=3)
        else:
            optional[field.name] = value_of(field, depth)
    return st.fixed_dictionaries({}, optional=optional).map(lambda values: build(cls, values))


def build(cls: type, values: dict) -> object:
    msg = cls()
    for name, value in values.items():
        field = msg.DESCRIPTOR.fields_by_name[name]
        target = getattr(msg, name)
        if isinstance(value, dict):
            for k, v in value.items():
                if hasattr(v, "DESCRIPTOR"):
                    target[k].CopyFrom(v)
                else:
                    target[k] = v
        elif field.is_repeated:
            if field.type == F.TYPE_MESSAGE:
                for v in value:
                    target.add().CopyFrom(v)
            else:
                target.extend(value)
        elif field.type == F.TYPE_MESSAGE:
            target.CopyFrom(value)
        else:
            setattr(msg, name, value)
    return msg


def request_batch(rpc: Rpc) -> st.SearchStrategy[list[bytes]]:
    one = messages(rpc.request.DESCRIPTOR).map(lambda m: m.SerializeToString())
    return st.lists(one, min_size=1, max_size=4) if rpc.client_streaming else one.map(lambda b: [b])


# ---- the properties ------------------------------------------------------------------------------
@FUZZ
@given(data=st.data())
def test_arbitrary_bytes_as_any_request(channels, data):
    rpc = data.draw(st.sampled_from(RPCS), label="rpc")
    count = data.draw(st.integers(1, 4)) if rpc.client_streaming else 1
    payloads = data.draw(st.lists(st.binary(max_size=1024), min_size=count, max_size=count), label="payloads")
    assert_handled(channels[rpc.service], rpc, payloads)


@FUZZ
@given(data=st.data())
def test_hostile_but_well_formed_requests(channels, data):
    rpc = data.draw(st.sampled_from(RPCS), label="rpc")
    payloads = data.draw(request_batch(rpc), label="payloads")
    assert_handled(channels[rpc.service], rpc, payloads)


@pytest.mark.parametrize("rpc", RPCS, ids=str)
def test_each_rpc_handles_an_empty_and_a_truncated_request(channels, rpc):
    assert_handled(channels[rpc.service], rpc, [b""])
    assert_handled(channels[rpc.service], rpc, [b"\x0a\xff\xff\xff\xff\x0f"])  # a length past the end


def test_every_server_still_serves_after_the_fuzzing(channels):
    for name, ch in channels.items():
        reply = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, name
    from ser.v1 import common_pb2, preprocess_pb2_grpc

    audio = common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=sample_call_path().read_bytes()))
    prepared = preprocess_pb2_grpc.PreprocessStub(channels["preprocess"]).Prepare(
        preprocess_pb2.PrepareRequest(audio=audio), timeout=60)
    assert prepared.source_channels == 2 and len(prepared.segments) > 0
